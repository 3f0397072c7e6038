/**
 * Who a session is: the default (login is the user name, with a warning at
 * start), configured users with passcodes, a custom authenticate hook that
 * looks at the HTTP upgrade request, and the authorizeSubscribe /
 * authorizeSend hooks.
 */
import { Writable } from 'node:stream';
import t from 'tap';
import { pino, type Logger } from 'pino';
import { ErrorCode } from '../../src/errors.js';
import type { AuthContext, AuthorizeContext } from '../../src/config.js';
import { startBroker } from '../helpers/broker.js';
import { expectError, raw } from '../helpers/stomp-assert.js';

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

t.test('default: login is the user name; a warning is logged at start', async (t) => {
  const { logger, lines } = capturingLogger();
  const b = await startBroker(t, { logger });
  t.ok(lines.some((l) => l.level === 40 && /login/.test(l.msg)), 'a warning says logins are not checked');
  const c = await b.client();
  const f = await c.connect({ login: 'anyone', passcode: 'whatever' });
  t.equal(f.headers['user-name'], 'anyone');
  const anon = await b.client();
  t.notOk('user-name' in (await anon.connect()).headers, 'no login: anonymous');

  const { logger: quiet, lines: none } = capturingLogger();
  await startBroker(t, { logger: quiet, users: { a: 'b' } });
  t.equal(none.filter((l) => l.level >= 40).length, 0, 'no warning when users are configured');
});

t.test('users: passcodes are checked', async (t) => {
  const b = await startBroker(t, { users: { alice: 'secret', bob: 'hunter2' } });
  const ok = await b.client();
  t.equal((await ok.connect({ login: 'alice', passcode: 'secret' })).headers['user-name'], 'alice');
  const observer = await b.client();
  await observer.connect({ login: 'bob', passcode: 'hunter2' });
  await observer.subscribe('s', '/topic/alive');
  for (const [name, headers] of [
    ['wrong passcode', { login: 'alice', passcode: 'guess' }],
    ['no passcode', { login: 'alice' }],
    ['unknown user', { login: 'eve', passcode: 'secret' }],
    ["another user's passcode", { login: 'alice', passcode: 'hunter2' }],
    ['no login', {}],
  ] as const) {
    const c = await b.client();
    c.send(raw('CONNECT', { 'accept-version': '1.2', host: 'localhost', ...headers }));
    const err = await expectError(t, c, ErrorCode.AUTH_FAILED);
    t.ok(err.body.length > 0, `${name}: ERROR with a body`);
  }
  await b.broker.publish('/topic/alive', 'yes');
  t.equal((await observer.next('MESSAGE')).body.toString(), 'yes', 'other sessions unaffected');
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

t.test('authorizeSubscribe and authorizeSend refuse with FORBIDDEN', async (t) => {
  const subs: AuthorizeContext[] = [];
  const sends: AuthorizeContext[] = [];
  const b = await startBroker(t, {
    authorizeSubscribe: async (ctx) => {
      subs.push(ctx);
      return !ctx.destination.startsWith('/topic/admin');
    },
    authorizeSend: (ctx) => {
      sends.push(ctx);
      if (ctx.destination === '/topic/explode') throw new Error('policy engine down');
      return ctx.principal?.name === 'admin' || !ctx.destination.startsWith('/topic/admin');
    },
  });
  const user = await b.user('user');
  await user.subscribe('ok', '/topic/public', { 'x-scope': 'read' });
  t.equal(subs[0]!.destination, '/topic/public');
  t.equal(subs[0]!.principal?.name, 'user');
  t.ok(subs[0]!.sessionId);
  t.equal(subs[0]!.headers['x-scope'], 'read');

  user.send(raw('SUBSCRIBE', { id: 'no', destination: '/topic/admin/logs', receipt: 's' }));
  await expectError(t, user, ErrorCode.FORBIDDEN, { receipt: 's' });

  const admin = await b.user('admin');
  await admin.subscribe('pub', '/topic/public');
  admin.send(raw('SEND', { destination: '/topic/admin/cmd', receipt: 'a' }, 'allowed'));
  t.equal((await admin.next('RECEIPT')).headers['receipt-id'], 'a');
  t.equal(sends.at(-1)!.principal?.name, 'admin');

  const sender = await b.user('sender');
  sender.send(raw('SEND', { destination: '/topic/admin/cmd', receipt: 'x' }, 'refused'));
  await expectError(t, sender, ErrorCode.FORBIDDEN, { receipt: 'x' });

  const other = await b.user('other');
  other.send(raw('SEND', { destination: '/topic/explode' }, 'hook throws'));
  await expectError(t, other, ErrorCode.FORBIDDEN);

  await b.broker.publish('/topic/public', 'fine');
  t.equal((await admin.next('MESSAGE')).body.toString(), 'fine', 'other sessions unaffected');
});
