/**
 * The session core without a server (in-memory Connection): CONNECT/STOMP,
 * version and heart-beat negotiation, CONNECTED headers, authentication
 * (default, configured users, the authenticate hook), the authorizeSubscribe /
 * authorizeSend hooks, connect timeout, heart-beat timeout.
 * spec/broker/connect.test.ts keeps what needs a real server: the hook seeing
 * the HTTP upgrade request, heart-beat bytes on a WebSocket, the start-up
 * warning.
 */
import t from 'tap';
import { ErrorCode, StompError } from '../../src/errors.js';
import { DEFAULTS } from '../../src/config.js';
import type { AuthorizeContext } from '../../src/session/auth.js';
import { negotiateHeartBeat, negotiateVersion, parseHeartBeat } from '../../src/session/handlers/connect.js';
import { startCore } from '../helpers/memory-connection.js';
import { expectError, raw } from '../helpers/stomp-assert.js';
import { waitFor } from '../helpers/wait.js';

function caught(fn: () => unknown): StompError | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof StompError) return e;
    throw e;
  }
  return undefined;
}

t.test('negotiateVersion: highest common version; none means 1.0; no common one is coded', async (t) => {
  t.equal(negotiateVersion(undefined), '1.0');
  t.equal(negotiateVersion('1.0'), '1.0');
  t.equal(negotiateVersion('1.1'), '1.1');
  t.equal(negotiateVersion('1.2'), '1.2');
  t.equal(negotiateVersion('1.0,1.1,1.2'), '1.2');
  t.equal(negotiateVersion('1.2, 1.1'), '1.2');
  t.equal(negotiateVersion('1.1,2.0'), '1.1');
  const e = caught(() => negotiateVersion('2.0,3.1'));
  t.equal(e?.code, ErrorCode.UNSUPPORTED_VERSION);
  t.equal(e?.headers['version'], '1.0,1.1,1.2');
});

t.test('heart-beat header parsing and negotiation (STOMP 1.2 "Heart-beating")', async (t) => {
  t.same(parseHeartBeat(undefined), [0, 0]);
  t.same(parseHeartBeat('0,0'), [0, 0]);
  t.same(parseHeartBeat('100,2000'), [100, 2000]);
  t.same(parseHeartBeat(' 5 , 7 '), [5, 7]);
  for (const bad of ['1', 'a,b', '-1,0', '1,2,3', '1;2', '1.5,2']) {
    t.equal(caught(() => parseHeartBeat(bad))?.code, ErrorCode.INVALID_HEARTBEAT, bad);
  }
  // client cx,cy against server sx,sy: server writes every max(sx,cy) unless either is 0; reads every max(cx,sy).
  const cases: Array<[[number, number], [number, number], { readMs: number; writeMs: number }]> = [
    [[0, 0], [10000, 10000], { readMs: 0, writeMs: 0 }],
    [[1000, 1000], [10000, 10000], { readMs: 10000, writeMs: 10000 }],
    [[20000, 500], [10000, 10000], { readMs: 20000, writeMs: 10000 }],
    [[500, 20000], [10000, 10000], { readMs: 10000, writeMs: 20000 }],
    [[1000, 0], [10000, 10000], { readMs: 10000, writeMs: 0 }],
    [[0, 1000], [10000, 10000], { readMs: 0, writeMs: 10000 }],
    [[1000, 1000], [0, 0], { readMs: 0, writeMs: 0 }],
    [[1000, 1000], [50, 0], { readMs: 0, writeMs: 1000 }],
    [[1000, 1000], [0, 50], { readMs: 1000, writeMs: 0 }],
  ];
  const open = { minMs: 1, maxMs: 2 ** 31 - 1 };
  for (const [client, server, want] of cases) t.same(negotiateHeartBeat(client, server, open), want, `${client} vs ${server}`);
  // Held within [minMs, maxMs]: no storm, no interval a Node timer cannot hold.
  const bounds = { minMs: 1000, maxMs: 3_600_000 };
  t.same(negotiateHeartBeat([0, 3_000_000_000], [1000, 1000], bounds), { readMs: 0, writeMs: 3_600_000 }, 'a huge wish is held at maxMs');
  // A client that promises beats less often than maxMs is not checked (checking it at maxMs would close it while it keeps its promise).
  t.same(negotiateHeartBeat([3_000_000_000, 0], [1000, 1000], bounds), { readMs: 0, writeMs: 0 }, 'a huge offer is not checked');
  t.same(negotiateHeartBeat([3_600_000, 0], [1000, 1000], bounds), { readMs: 3_600_000, writeMs: 0 }, 'an offer of exactly maxMs is checked');
  t.same(negotiateHeartBeat([1, 1], [1, 1], bounds), { readMs: 1000, writeMs: 1000 }, 'a tiny one is raised to minMs');
  t.same(negotiateHeartBeat([0, 1000], [1000, 1000], bounds), { readMs: 0, writeMs: 1000 }, "the client's wish of 1 s is granted");
});

t.test('version negotiation through a session', async (t) => {
  const core = await startCore(t);
  await t.test('no accept-version means STOMP 1.0', async (t) => {
    const c = core.open();
    c.send(raw('CONNECT', { login: 'old' }));
    const f = await c.next('CONNECTED');
    t.equal(f.headers['version'], '1.0');
    t.equal(c.session.version, '1.0');
  });
  for (const [offer, want] of [
    ['1.0', '1.0'],
    ['1.1', '1.1'],
    ['1.2', '1.2'],
    ['1.0,1.1', '1.1'],
    ['1.0,1.1,1.2', '1.2'],
    ['1.1,1.0,1.2', '1.2'],
  ] as const) {
    await t.test(`accept-version:${offer} -> ${want}`, async (t) => {
      const c = core.open();
      c.send(raw('CONNECT', { 'accept-version': offer, host: 'h' }));
      const f = await c.next('CONNECTED');
      t.equal(f.headers['version'], want);
    });
  }
  for (const [offer, receipt] of [
    ['2.0,3.0', 'c1'],
    ['0.9,2.0', undefined],
  ] as const) {
    await t.test(`no version in common (${offer}): ERROR with a version header, then close`, async (t) => {
      const c = core.open();
      c.send(raw('CONNECT', { 'accept-version': offer, host: 'h', ...(receipt ? { receipt } : {}) }));
      await expectError(t, c, ErrorCode.UNSUPPORTED_VERSION, { ...(receipt ? { receipt } : {}), headers: { version: '1.0,1.1,1.2' } });
      t.ok(c.ended, 'the session ended the connection');
    });
  }
  await t.test('the STOMP command works like CONNECT, host is optional', async (t) => {
    const c = core.open();
    c.send(raw('STOMP', { 'accept-version': '1.2' }));
    const f = await c.next('CONNECTED');
    t.equal(f.headers['version'], '1.2');
  });
});

t.test('CONNECTED headers', async (t) => {
  const core = await startCore(t, { heartbeat: { outgoingMs: 4000, incomingMs: 6000 }, serverName: 'test-server/9' });
  const named = core.open();
  const f = await named.connect({ login: 'alice' });
  t.equal(f.headers['version'], '1.2');
  t.equal(f.headers['heart-beat'], '4000,6000', 'the server heart-beat settings');
  t.equal(f.headers['server'], 'test-server/9');
  t.equal(f.headers['session'], named.session.id);
  t.equal(f.headers['user-name'], 'alice');
  const anon = core.open();
  const g = await anon.connect();
  t.notOk('user-name' in g.headers, 'no user-name for an anonymous session');
  t.not(g.headers['session'], f.headers['session'], 'session ids are unique');
  t.equal(DEFAULTS.heartbeat.outgoingMs, 1000);
  t.equal(DEFAULTS.heartbeat.incomingMs, 1000);

  const defaults = await startCore(t);
  const d = await defaults.open().connect();
  t.equal(d.headers['heart-beat'], `${DEFAULTS.heartbeat.outgoingMs},${DEFAULTS.heartbeat.incomingMs}`, 'by default: the default heart-beat settings');
  t.equal(d.headers['server'], DEFAULTS.serverName, 'by default: the default server name');
  t.match(d.headers['server'], /^stomp-cluster\/\d+\.\d+\.\d+/, 'which is stomp-cluster/<version>');
});

t.test('frames sent while CONNECT is being authenticated wait for it, in order', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const core = await startCore(t, {}, {
    authenticate: async (ctx) => {
      await gate;
      return { name: ctx.headers['login']! };
    },
  });
  const c = core.open();
  c.send(raw('CONNECT', { 'accept-version': '1.2', login: 'slow' }) + raw('SUBSCRIBE', { id: '1', destination: '/topic/a', receipt: 's1' }));
  release();
  const first = await c.next();
  t.equal(first.command, 'CONNECTED');
  const second = await c.next();
  t.equal(second.command, 'RECEIPT');
  t.equal(second.headers['receipt-id'], 's1');
});

t.test('a connection that goes away while authenticating gets nothing written', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const core = await startCore(t, {}, {
    authenticate: async (ctx) => {
      if (ctx.headers['login'] === 'late') await gate;
      return { name: ctx.headers['login']! };
    },
  });
  const c = core.open();
  c.send(raw('CONNECT', { 'accept-version': '1.2', login: 'late' }));
  c.hangup();
  release();
  // A later session's round trip shows the first one's CONNECT finished processing.
  const other = await core.user('other');
  await other.subscribe('x', '/topic/x');
  t.equal(c.log.length, 0, 'no frame written after the transport closed');
  t.equal((await core.broker.presence('late')).sessions.length, 0, 'the user was not registered');
  t.notOk(core.broker.sessions.has(c.session), 'the session is gone');
});

t.test('authentication', async (t) => {
  await t.test('default: login is the user name, a passcode is not checked; no login is anonymous', async (t) => {
    const core = await startCore(t);
    const c = await core.user('bob');
    t.equal(c.session.user, 'bob');
    const any = core.open();
    t.equal((await any.connect({ login: 'anyone', passcode: 'whatever' })).headers['user-name'], 'anyone');
    const a = await core.anonymous();
    t.equal(a.session.user, null);
  });
  await t.test('users: wrong or missing passcode is AUTH_FAILED; other sessions unaffected', async (t) => {
    const core = await startCore(t, { users: { alice: 'secret', bob: 'hunter2' } });
    const ok = await core.user('alice', { passcode: 'secret' });
    t.equal(ok.session.user, 'alice');
    const observer = await core.user('bob', { passcode: 'hunter2' });
    await observer.subscribe('s', '/topic/alive');
    const attempts: Array<[string, Record<string, string>]> = [
      ['wrong passcode', { login: 'alice', passcode: 'nope' }],
      ['no passcode', { login: 'alice' }],
      ['unknown user', { login: 'mallory', passcode: 'secret' }],
      ["another user's passcode", { login: 'alice', passcode: 'hunter2' }],
      ['no login', {}],
    ];
    for (const [name, headers] of attempts) {
      const c = core.open();
      c.send(raw('CONNECT', { 'accept-version': '1.2', ...headers }));
      const err = await expectError(t, c, ErrorCode.AUTH_FAILED);
      t.ok(err.body.length > 0, `${name}: ERROR with a body`);
    }
    await core.broker.publish('/topic/alive', 'yes');
    t.equal((await observer.next('MESSAGE')).body.toString(), 'yes', 'other sessions unaffected');
  });
  await t.test('hook gets the CONNECT headers; false or a throw refuses', async (t) => {
    const seen: Array<{ login: string | undefined; remote: string }> = [];
    const core = await startCore(t, {}, {
      authenticate: (ctx) => {
        seen.push({ login: ctx.headers['login'], remote: ctx.remoteAddress });
        if (ctx.headers['login'] === 'refused') return false;
        if (ctx.headers['login'] === 'thrown') throw new Error('token expired');
        return { name: `u:${ctx.headers['login']}` };
      },
    });
    const c = await core.user('x');
    t.equal(c.session.user, 'u:x');
    for (const login of ['refused', 'thrown']) {
      const bad = core.open();
      bad.send(raw('CONNECT', { 'accept-version': '1.2', login }));
      await expectError(t, bad, ErrorCode.AUTH_FAILED);
    }
    t.same(seen[0], { login: 'x', remote: 'memory' });
  });
});

t.test('authorizeSubscribe and authorizeSend refuse with FORBIDDEN', async (t) => {
  const subs: AuthorizeContext[] = [];
  const sends: AuthorizeContext[] = [];
  const core = await startCore(t, {}, {
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
  const user = await core.user('user');
  await user.subscribe('ok', '/topic/public', { 'x-scope': 'read' });
  t.equal(subs[0]!.destination, '/topic/public');
  t.equal(subs[0]!.principal?.name, 'user');
  t.ok(subs[0]!.sessionId);
  t.equal(subs[0]!.headers['x-scope'], 'read');

  user.send(raw('SUBSCRIBE', { id: 'no', destination: '/topic/admin/logs', receipt: 's' }));
  await expectError(t, user, ErrorCode.FORBIDDEN, { receipt: 's' });

  const admin = await core.user('admin');
  await admin.subscribe('pub', '/topic/public');
  admin.send(raw('SEND', { destination: '/topic/admin/cmd', receipt: 'a' }, 'allowed'));
  t.equal((await admin.next('RECEIPT')).headers['receipt-id'], 'a');
  t.equal(sends.at(-1)!.principal?.name, 'admin');

  const sender = await core.user('sender');
  sender.send(raw('SEND', { destination: '/topic/admin/cmd', receipt: 'x' }, 'refused'));
  await expectError(t, sender, ErrorCode.FORBIDDEN, { receipt: 'x' });

  const other = await core.user('other');
  other.send(raw('SEND', { destination: '/topic/explode' }, 'hook throws'));
  await expectError(t, other, ErrorCode.FORBIDDEN);

  await core.broker.publish('/topic/public', 'fine');
  t.equal((await admin.next('MESSAGE')).body.toString(), 'fine', 'other sessions unaffected');
});

t.test('a session that closes while authorizeSubscribe is still deciding leaves no subscription behind', async (t) => {
  let release!: (ok: boolean) => void;
  let asked!: () => void;
  const askedP = new Promise<void>((r) => (asked = r));
  const core = await startCore(t, {}, {
    authorizeSubscribe: () =>
      new Promise<boolean>((r) => {
        release = r;
        asked();
      }),
  });
  const user = await core.user('slowpoke');
  user.send(raw('SUBSCRIBE', { id: '1', destination: '/topic/late' }));
  await askedP;
  user.hangup();
  await waitFor(() => core.broker.sessions.size === 0, { what: 'session closed' });
  release(true);
  await new Promise<void>((r) => setImmediate(r));
  await core.broker.publish('/topic/late', 'x');
  t.equal(core.broker.snapshot().topicDeliveries, 0, 'nothing indexed for the closed session');
});

t.test('connect timeout: no CONNECT in time is an ERROR and a close', async (t) => {
  const core = await startCore(t, { limits: { connectTimeoutMs: 30 } });
  const c = core.open();
  await expectError(t, c, ErrorCode.CONNECT_TIMEOUT);
  // A session that did CONNECT in time is not affected.
  const ok = core.open();
  await ok.connect();
  await ok.subscribe('s', '/topic/t');
  const late = core.open();
  await expectError(t, late, ErrorCode.CONNECT_TIMEOUT);
  t.notOk(ok.closed, 'the connected session stays open');
  await core.broker.publish('/topic/t', 'still here');
  t.equal((await ok.next('MESSAGE')).body.toString(), 'still here', 'and keeps receiving');
  t.equal(DEFAULTS.limits.connectTimeoutMs, 10_000);
});

t.test('heart-beats', async (t) => {
  await t.test('the server sends EOL heart-beats at the negotiated rate', async (t) => {
    const core = await startCore(t, { heartbeat: { outgoingMs: 20, incomingMs: 0, minMs: 10 } });
    const c = core.open();
    const f = await c.connect({ 'heart-beat': '0,20' });
    t.equal(f.headers['heart-beat'], '20,0');
    await c.until(() => c.heartbeats >= 3, 2000, '3 heart-beats');
    t.pass('heart-beats arrive');
  });
  await t.test('CONNECTED states both server settings; a client that promised no heart-beats is not timed out', async (t) => {
    const core = await startCore(t, { heartbeat: { outgoingMs: 20, incomingMs: 20, minMs: 10 } });
    const c = core.open();
    const f = await c.connect({ 'heart-beat': '0,20' });
    t.equal(f.headers['heart-beat'], '20,20');
    await c.until(() => c.heartbeats >= 3, 2000, '3 heart-beats'); // well past the 20 ms (x 1.5) read window
    t.notOk(c.closed, 'a client that sends nothing but did not promise heart-beats stays');
  });
  await t.test('no heart-beats when the client does not want them', async (t) => {
    const core = await startCore(t, { heartbeat: { outgoingMs: 20, incomingMs: 20, minMs: 10 } });
    const quiet = core.open();
    await quiet.connect({ 'heart-beat': '0,0' });
    const loud = core.open();
    await loud.connect({ 'heart-beat': '0,20' });
    await loud.until(() => loud.heartbeats >= 3, 2000, 'heart-beats on the other session');
    t.equal(quiet.heartbeats, 0, 'a 0,0 client gets no heart-beats');
    t.notOk(quiet.closed, 'and is not timed out');
  });
  await t.test('a silent client is closed with HEARTBEAT_TIMEOUT after the window', async (t) => {
    const core = await startCore(t, { heartbeat: { outgoingMs: 0, incomingMs: 30, minMs: 10 } });
    const c = core.open();
    const started = Date.now();
    await c.connect({ 'heart-beat': '30,0' });
    await expectError(t, c, ErrorCode.HEARTBEAT_TIMEOUT);
    t.ok(Date.now() - started >= 30 * DEFAULTS.heartbeat.graceFactor, 'not before the window (with the grace factor) passed');
  });
  await t.test('a client that heart-beats in time stays connected', async (t) => {
    // Window 100 ms * 1.5; the client beats every 20 ms (timer jitter on a loaded machine stays well inside).
    const core = await startCore(t, { heartbeat: { outgoingMs: 0, incomingMs: 100, minMs: 10 } });
    const c = core.open();
    await c.connect({ 'heart-beat': '100,0' });
    const timer = setInterval(() => c.send('\n'), 20);
    t.teardown(() => clearInterval(timer));
    const silent = core.open();
    await silent.connect({ 'heart-beat': '100,0' });
    await expectError(t, silent, ErrorCode.HEARTBEAT_TIMEOUT); // a silent peer in the same period is cut
    // Another full window later, the beating one is still there.
    const later = core.open();
    await later.connect({ 'heart-beat': '100,0' });
    await expectError(t, later, ErrorCode.HEARTBEAT_TIMEOUT);
    await c.subscribe('alive', '/topic/alive');
    t.notOk(c.closed, 'still connected');
    clearInterval(timer);
  });
  await t.test('an invalid heart-beat header is an ERROR', async (t) => {
    const core = await startCore(t);
    const c = core.open();
    c.send(raw('CONNECT', { 'accept-version': '1.2', 'heart-beat': 'soon', receipt: 'hb' }));
    await expectError(t, c, ErrorCode.INVALID_HEARTBEAT, { receipt: 'hb' });
  });
});
