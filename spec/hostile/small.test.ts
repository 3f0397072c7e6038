/**
 * Small ways a client could upset the broker: headers named like
 * Object.prototype members, logins named like them, malformed topic paths on
 * the HTTP API. Each is a client mistake (or plain data), never a 500 or an
 * internal error.
 */
import t from 'tap';
import { ErrorCode } from '../../src/errors.js';
import { blockingHandler, startBroker } from '../helpers/broker.js';
import { expectError, raw } from '../helpers/stomp-assert.js';

t.test('headers named constructor, toString or __proto__ are delivered like any other', async (t) => {
  const b = await startBroker(t);
  const c = await b.user('u');
  await c.subscribe('s', '/topic/x');
  // (written out: an object literal cannot hold a `__proto__` key for raw())
  c.send('SEND\ndestination:/topic/x\nconstructor:c\ntoString:t\nhasOwnProperty:h\n__proto__:p\n\nbody\0');
  const m = await c.next('MESSAGE');
  t.equal(m.headers['constructor'], 'c');
  t.equal(m.headers['toString'], 't');
  t.equal(m.headers['hasOwnProperty'], 'h');
  t.equal(Object.getOwnPropertyDescriptor(m.headers, '__proto__')?.value, 'p');
});

t.test('a login named like an Object.prototype member is refused like any unknown login', async (t) => {
  const b = await startBroker(t, { users: { alice: 'secret' } });
  for (const login of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    const c = await b.client();
    c.send(raw('CONNECT', { 'accept-version': '1.2', host: 'h', login, passcode: 'x' }));
    const f = await expectError(t, c, ErrorCode.AUTH_FAILED);
    t.notMatch(f.body.toString(), /TypeError/, `${login}: no TypeError text`);
  }
  const ok = await b.client();
  await ok.connect({ login: 'alice', passcode: 'secret' });
  t.pass('a configured user still connects');
});

t.test('HTTP API: malformed topic paths are 400s, not 500s', async (t) => {
  const b = await startBroker(t, { apiToken: 'tok' });
  const post = (path: string): Promise<Response> =>
    fetch(`${b.httpUrl}/api/topics/${path}`, { method: 'POST', headers: { authorization: 'Bearer tok', 'content-type': 'application/json' }, body: '{"body":"x"}' });
  for (const path of ['a//b', '%00', 'a/%00/b']) {
    const r = await post(path);
    t.equal(r.status, 400, `/api/topics/${path}: 400`);
    const j = (await r.json()) as { error?: string };
    t.equal(j.error, ErrorCode.INVALID_DESTINATION, 'with the error code');
  }
  t.equal((await post('fine/path')).status, 202, 'a good path is still accepted');
});

t.test('frames piling up behind a slow handler are bounded even within one message', async (t) => {
  const b = await startBroker(t);
  const gate = blockingHandler(t, b.broker, '/slow');
  const observer = await b.user('observer');
  await observer.subscribe('o', '/topic/obs');
  const c = await b.user('piler');
  c.send(raw('SEND', { destination: '/app/slow' }, 'x'));
  await gate.started;
  // One WebSocket message, 45,000 tiny frames: pausing the socket cannot stop them, the bound does.
  c.send(raw('BEGIN', { transaction: 't' }).repeat(45_000));
  await expectError(t, c, ErrorCode.INPUT_OVERFLOW);
  await b.broker.publish('/topic/obs', 'fine');
  t.equal((await observer.next('MESSAGE')).body.toString(), 'fine', 'the observer never noticed');
  gate.release();
});
