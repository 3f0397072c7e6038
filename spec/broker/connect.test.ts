/**
 * CONNECT over a real WebSocket: version negotiation, the STOMP command,
 * CONNECTED headers, heart-beating (negotiation, EOL heart-beats, timeout of
 * a silent client), the connect timeout.
 */
import t from 'tap';
import { ErrorCode } from '../../src/errors.js';
import { DEFAULTS } from '../../src/config.js';
import { startBroker } from '../helpers/broker.js';
import { expectError, raw } from '../helpers/stomp-assert.js';

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
  const b = await startBroker(t, { heartbeat: { outgoingMs: 50, incomingMs: 50 } });

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
    const c = await b.client();
    await c.connect({ 'heart-beat': '50,0', login: 'beating' });
    const silent = await b.client();
    await silent.connect({ 'heart-beat': '50,0', login: 'silent2' });
    const timer = setInterval(() => c.send('\n'), 15);
    t.teardown(() => clearInterval(timer));
    await expectError(t, silent, ErrorCode.HEARTBEAT_TIMEOUT);
    // Well past its own window too: still connected and answering.
    await c.subscribe('s', '/topic/still-here');
    await b.broker.publish('/topic/still-here', 'yes');
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
  const b = await startBroker(t, { limits: { connectTimeoutMs: 100 } });
  const ok = await b.user('punctual');
  await ok.subscribe('s', '/topic/t');
  const idle = await b.client();
  await expectError(t, idle, ErrorCode.CONNECT_TIMEOUT);
  await b.broker.publish('/topic/t', 'still here');
  t.equal((await ok.next('MESSAGE')).body.toString(), 'still here', 'a connected session is not affected');
  t.equal(DEFAULTS.limits.connectTimeoutMs, 10_000);
});
