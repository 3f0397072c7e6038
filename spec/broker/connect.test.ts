/**
 * CONNECT over a real WebSocket: version negotiation, the STOMP command,
 * CONNECTED headers, heart-beating (negotiation, EOL heart-beats, timeout of
 * a silent client), the connect timeout; and who a session is: the default
 * (login is the user name, with a warning at start), configured users with
 * passcodes, a custom authenticate hook that looks at the HTTP upgrade
 * request, and the authorizeSubscribe / authorizeSend hooks.
 */
import { Writable } from 'node:stream';
import t from 'tap';
import { pino, type Logger } from 'pino';
import { ErrorCode } from '../../src/errors.js';
import { DEFAULTS, type AuthContext, type AuthorizeContext } from '../../src/config.js';
import { startBroker } from '../helpers/broker.js';
import { expectError, raw } from '../helpers/stomp-assert.js';
import { waitFor } from '../helpers/wait.js';

t.test('version negotiation', async (t) => {
  const b = await startBroker(t);
  const cases: Array<[string | undefined, string]> = [
    [undefined, '1.0'],
    ['1.0', '1.0'],
    ['1.1', '1.1'],
    ['1.2', '1.2'],
    ['1.0,1.1', '1.1'],
    ['1.0,1.1,1.2', '1.2'],
  ];
  for (const [offer, want] of cases) {
    const c = await b.client();
    const headers: Record<string, string> = { host: 'localhost', login: 'v' };
    if (offer !== undefined) headers['accept-version'] = offer;
    c.send(raw('CONNECT', headers));
    const f = await c.next();
    t.equal(f.command, 'CONNECTED', `accept-version ${offer ?? '(none)'}`);
    t.equal(f.headers['version'], want, `accept-version ${offer ?? '(none)'} -> ${want}`);
  }
  const bad = await b.client();
  bad.send(raw('CONNECT', { 'accept-version': '0.9,2.0', host: 'localhost' }));
  await expectError(t, bad, ErrorCode.UNSUPPORTED_VERSION, { headers: { version: '1.0,1.1,1.2' } });
});

t.test('STOMP frame, host optional, CONNECTED headers, user-name present or absent', async (t) => {
  const b = await startBroker(t);
  const named = await b.client();
  named.send(raw('STOMP', { 'accept-version': '1.2', login: 'alice' }));
  const f = await named.next();
  t.equal(f.command, 'CONNECTED');
  t.equal(f.headers['version'], '1.2');
  t.equal(f.headers['heart-beat'], `${DEFAULTS.heartbeat.outgoingMs},${DEFAULTS.heartbeat.incomingMs}`);
  t.equal(f.headers['server'], DEFAULTS.serverName);
  t.match(f.headers['server'], /^stomp-cluster\/\d+\.\d+\.\d+/);
  t.ok(f.headers['session'], 'session header');
  t.equal(f.headers['user-name'], 'alice');
  const anon = await b.client();
  const g = await anon.connect();
  t.notOk('user-name' in g.headers, 'anonymous session: no user-name');
  t.not(g.headers['session'], f.headers['session']);
});

t.test('heart-beating', async (t) => {
  const b = await startBroker(t, { heartbeat: { outgoingMs: 50, incomingMs: 50, minMs: 10 } });

  await t.test('CONNECTED states the server side; the server sends EOL heart-beats', async (t) => {
    const c = await b.client();
    const f = await c.connect({ 'heart-beat': '0,50', login: 'hb' });
    t.equal(f.headers['heart-beat'], '50,50');
    await c.until(() => c.heartbeats >= 3 || undefined, 3000, 'three heart-beats');
    t.pass('heart-beats arrive');
    t.notOk(c.closed, 'a client that sends nothing but did not promise heart-beats stays');
  });

  await t.test('a silent client that promised heart-beats is closed after the window', async (t) => {
    const c = await b.client();
    const started = Date.now();
    await c.connect({ 'heart-beat': '50,0', login: 'silent' });
    const err = await expectError(t, c, ErrorCode.HEARTBEAT_TIMEOUT);
    t.ok(Date.now() - started >= 50, 'not before the window');
    t.ok(err.body.toString().length > 0);
  });

  await t.test('a client that heart-beats stays connected', async (t) => {
    // A wider window than the other cases (300 ms * 1.5), so a loaded machine's timer jitter cannot fail it.
    const wide = await startBroker(t, { heartbeat: { outgoingMs: 0, incomingMs: 300 } });
    const c = await wide.client();
    await c.connect({ 'heart-beat': '300,0', login: 'beating' });
    const silent = await wide.client();
    await silent.connect({ 'heart-beat': '300,0', login: 'silent2' });
    const timer = setInterval(() => c.send('\n'), 30);
    t.teardown(() => clearInterval(timer));
    await expectError(t, silent, ErrorCode.HEARTBEAT_TIMEOUT);
    // Past its own window too: still connected and answering.
    await c.subscribe('s', '/topic/still-here');
    await wide.broker.publish('/topic/still-here', 'yes');
    t.equal((await c.next('MESSAGE')).body.toString(), 'yes');
    clearInterval(timer);
  });

  await t.test('an invalid heart-beat header is an ERROR', async (t) => {
    const c = await b.client();
    c.send(raw('CONNECT', { 'accept-version': '1.2', 'heart-beat': '10', receipt: 'r1' }));
    await expectError(t, c, ErrorCode.INVALID_HEARTBEAT, { receipt: 'r1' });
  });
});

t.test('connect timeout', async (t) => {
  const b = await startBroker(t, { limits: { connectTimeoutMs: 400 } });
  const ok = await b.user('punctual');
  await ok.subscribe('s', '/topic/t');
  const idle = await b.client();
  await expectError(t, idle, ErrorCode.CONNECT_TIMEOUT);
  await b.broker.publish('/topic/t', 'still here');
  t.equal((await ok.next('MESSAGE')).body.toString(), 'still here', 'a connected session is not affected');
  t.equal(DEFAULTS.limits.connectTimeoutMs, 10_000);
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

t.test('a session that closes while authorizeSubscribe is still deciding leaves no subscription behind', async (t) => {
  let release!: (ok: boolean) => void;
  let asked!: () => void;
  const askedP = new Promise<void>((r) => (asked = r));
  const b = await startBroker(t, {
    authorizeSubscribe: () =>
      new Promise<boolean>((r) => {
        release = r;
        asked();
      }),
  });
  const user = await b.user('slowpoke');
  user.send(raw('SUBSCRIBE', { id: '1', destination: '/topic/late' }));
  await askedP;
  user.close();
  await waitFor(() => b.broker.core.sessions.size === 0, { what: 'session closed' });
  release(true);
  await new Promise<void>((r) => setImmediate(r));
  t.same(b.broker.core.topics.match('/topic/late'), [], 'nothing indexed for the closed session');
});
