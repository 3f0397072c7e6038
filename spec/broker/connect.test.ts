/**
 * CONNECT through a real server: what the session core tests
 * (spec/session/connect.test.ts: negotiation, CONNECTED headers, users,
 * hooks, timeouts) cannot show. Heart-beats a client writes on a WebSocket
 * keep it connected; the broker warns at start when logins are not checked;
 * the authenticate hook decides from the HTTP upgrade request.
 */
import { Writable } from 'node:stream';
import t from 'tap';
import { pino, type Logger } from 'pino';
import { ErrorCode } from '../../src/errors.js';
import type { AuthContext } from '../../src/session/auth.js';
import { startBroker } from '../helpers/broker.js';
import { expectError, raw } from '../helpers/stomp-assert.js';

t.test('heart-beats a client writes on a WebSocket keep it connected; a silent one is cut', async (t) => {
  // A wider window than the core tests (300 ms * 1.5), so a loaded machine's timer jitter cannot fail it.
  const b = await startBroker(t, { heartbeat: { outgoingMs: 0, incomingMs: 300 } });
  const c = await b.client();
  await c.connect({ 'heart-beat': '300,0', login: 'beating' });
  const silent = await b.client();
  await silent.connect({ 'heart-beat': '300,0', login: 'silent2' });
  const timer = setInterval(() => c.send('\n'), 30);
  t.teardown(() => clearInterval(timer));
  await expectError(t, silent, ErrorCode.HEARTBEAT_TIMEOUT);
  // Past its own window too: still connected and answering.
  await c.subscribe('s', '/topic/still-here');
  await b.broker.publish('/topic/still-here', 'yes');
  t.equal((await c.next('MESSAGE')).body.toString(), 'yes');
  clearInterval(timer);
});

function capturingLogger(): { logger: Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as { level: number; msg: string });
      cb();
    },
  });
  return { logger: pino({ level: 'warn' }, stream), lines };
}

t.test('no authenticate hook and no users: a warning at start that logins are not checked', async (t) => {
  const { logger, lines } = capturingLogger();
  await startBroker(t, { logger });
  t.ok(lines.some((l) => l.level === 40 && /login/.test(l.msg)), 'a warning says logins are not checked');

  const { logger: quiet, lines: none } = capturingLogger();
  await startBroker(t, { logger: quiet, users: { a: 'b' } });
  t.equal(none.filter((l) => l.level >= 40).length, 0, 'no warning when users are configured');
});

t.test('authenticate hook: decides from the upgrade request, or refuses', async (t) => {
  const contexts: AuthContext[] = [];
  const b = await startBroker(t, {
    authenticate: async (ctx) => {
      contexts.push(ctx);
      const fromHeader = ctx.request?.headers['x-user'];
      if (typeof fromHeader === 'string') return { name: fromHeader, attributes: { via: 'header' } };
      const token = new URL(ctx.request?.url ?? '/', 'http://x').searchParams.get('token');
      if (token === 'good-token') return { name: 'token-user' };
      if (token === 'expired') throw new Error('token expired');
      if (ctx.headers['login'] === 'guest') return null;
      return false;
    },
  });
  const byHeader = await b.client({ headers: { 'x-user': 'carol' } });
  t.equal((await byHeader.connect()).headers['user-name'], 'carol');
  t.equal(contexts[0]!.transport, 'websocket');
  t.ok(contexts[0]!.remoteAddress.includes('127.0.0.1'), 'remote address');
  t.equal(contexts[0]!.headers['accept-version'], '1.2', 'CONNECT headers');

  const byQuery = await b.client({ path: '/ws?token=good-token' });
  t.equal((await byQuery.connect()).headers['user-name'], 'token-user');

  const guest = await b.client();
  t.notOk('user-name' in (await guest.connect({ login: 'guest' })).headers, 'null: anonymous');

  const refused = await b.client();
  refused.send(raw('CONNECT', { 'accept-version': '1.2', login: 'nobody', receipt: 'c' }));
  await expectError(t, refused, ErrorCode.AUTH_FAILED, { receipt: 'c' });

  const thrown = await b.client({ path: '/ws?token=expired' });
  thrown.send(raw('CONNECT', { 'accept-version': '1.2' }));
  await expectError(t, thrown, ErrorCode.AUTH_FAILED);

  // The authenticated name is what user destinations use.
  await byHeader.subscribe('q', '/user/queue/x');
  await b.broker.sendToUser('carol', '/queue/x', 'for carol');
  t.equal((await byHeader.next('MESSAGE')).body.toString(), 'for carol');
});
