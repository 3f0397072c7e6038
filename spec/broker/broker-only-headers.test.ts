/**
 * Headers only the broker sets (x-sender, user-name, redelivered, x-replay,
 * x-dead-letter-from) cannot be forged by a client in any case: a SEND's
 * copies are dropped, whatever their case, before subscribers or an /app
 * handler see the message. Who sent it is the broker's `x-sender` (the
 * sender's login) and the handler's `user`.
 */
import t from 'tap';
import type { AppMessage } from '../../src/broker/app-handlers.js';
import { startCore } from '../helpers/memory-connection.js';
import { raw } from '../helpers/stomp-assert.js';

const BROKER_ONLY = ['x-sender', 'user-name', 'redelivered', 'x-replay', 'x-dead-letter-from'];

/** Forged copies of every broker-only header, in several cases, plus an application header that must pass. */
const FORGED: Record<string, string> = {
  'X-Sender': 'admin',
  'x-SENDER': 'admin',
  'USER-NAME': 'admin',
  'User-Name': 'admin',
  'x-dead-letter-from': '/queue/x',
  'X-Dead-Letter-From': '/queue/y',
  Redelivered: 'true',
  REDELIVERED: 'true',
  'X-Replay': 'true',
  'x-app': 'kept',
};

/** Header names of `headers` equal to `name` regardless of case. */
function named(headers: Record<string, string>, name: string): string[] {
  return Object.keys(headers).filter((k) => k.toLowerCase() === name);
}

t.test('a SEND with forged broker-only headers: the subscriber sees only the broker x-sender, the real login', async (t) => {
  const core = await startCore(t);
  const sub = await core.user('bob');
  await sub.subscribe('s', '/topic/forged');
  const alice = await core.user('alice');
  alice.send(raw('SEND', { destination: '/topic/forged', ...FORGED }, 'hi'));
  const m = await sub.next('MESSAGE');
  t.equal(m.body.toString(), 'hi');
  t.same(named(m.headers, 'x-sender'), ['x-sender'], 'one x-sender, in lower case');
  t.equal(m.headers['x-sender'], 'alice', "the broker's x-sender: the real sender's login");
  for (const h of ['user-name', 'x-dead-letter-from', 'redelivered', 'x-replay'])
    t.same(named(m.headers, h), [], `no ${h} in any case`);
  t.notOk(Object.values(m.headers).includes('admin'), 'no forged value anywhere');
  t.equal(m.headers['x-app'], 'kept', 'application headers are passed on');
});

t.test('an anonymous sender cannot pass for anyone either', async (t) => {
  const core = await startCore(t);
  const sub = await core.user('bob');
  await sub.subscribe('s', '/topic/forged');
  const anon = await core.anonymous();
  anon.send(raw('SEND', { destination: '/topic/forged', ...FORGED }, 'hi'));
  const m = await sub.next('MESSAGE');
  t.same(named(m.headers, 'x-sender'), ['x-sender']);
  t.equal(m.headers['x-sender'], '', 'empty: no user');
  t.notOk(Object.values(m.headers).includes('admin'), 'no forged value anywhere');
});

t.test('a forged x-dead-letter-from on a queue message: the dead letter names its real origin', async (t) => {
  const core = await startCore(t, { deadLetterQueue: '/queue/dead' });
  const consumer = await core.user('consumer');
  await consumer.subscribe('w', '/queue/work', { ack: 'client-individual' });
  const dead = await core.user('auditor');
  await dead.subscribe('d', '/queue/dead');
  const alice = await core.user('alice');
  alice.send(raw('SEND', { destination: '/queue/work', 'x-dead-letter-from': '/queue/payroll', 'X-Dead-Letter-From': '/queue/payroll' }, 'job'));
  const m = await consumer.next('MESSAGE');
  t.same(named(m.headers, 'x-dead-letter-from'), [], 'not on the first delivery');
  consumer.send(raw('NACK', { id: m.headers['ack']!, requeue: 'false' }));
  const d = await dead.next('MESSAGE');
  t.equal(d.body.toString(), 'job');
  t.same(named(d.headers, 'x-dead-letter-from'), ['x-dead-letter-from']);
  t.equal(d.headers['x-dead-letter-from'], '/queue/work', 'the queue it really came from');
  t.equal(d.headers['x-sender'], 'alice');
});

t.test('an /app handler sees the SEND headers without broker-only names in any case, and the real user', async (t) => {
  const core = await startCore(t);
  const seen: AppMessage[] = [];
  core.handle('/forged', (msg) => {
    seen.push(msg);
  });
  const alice = await core.user('alice');
  await alice.withReceipt({ command: 'SEND', headers: { destination: '/app/forged', ...FORGED }, body: Buffer.from('hi') });
  t.equal(seen.length, 1, 'the handler ran once');
  const msg = seen[0]!;
  t.equal(msg.user, 'alice', 'user is the real login');
  t.equal(msg.text(), 'hi');
  for (const h of BROKER_ONLY) t.same(named(msg.headers, h), [], `no ${h} in any case`);
  t.notOk(Object.values(msg.headers).includes('admin'), 'no forged value anywhere');
  t.equal(msg.headers['x-app'], 'kept', 'application headers are kept');
  t.equal(msg.headers['destination'], '/app/forged', 'protocol headers are kept');
});

t.test('a handler that forwards the headers it got cannot forward a forged sender', async (t) => {
  const core = await startCore(t);
  const sub = await core.user('bob');
  await sub.subscribe('s', '/topic/relayed');
  core.handle('/relay', async (msg) => {
    const copy: Record<string, string> = {};
    for (const k in msg.headers) if (k !== 'destination' && k !== 'receipt' && k !== 'content-length') copy[k] = msg.headers[k]!;
    await core.broker.publish('/topic/relayed', msg.text(), copy);
  });
  const mallory = await core.user('mallory');
  await mallory.withReceipt({ command: 'SEND', headers: { destination: '/app/relay', ...FORGED }, body: Buffer.from('relayed') });
  const m = await sub.next('MESSAGE');
  t.equal(m.body.toString(), 'relayed');
  t.notOk(Object.values(m.headers).includes('admin'), 'no forged sender reaches the subscriber');
  for (const h of ['user-name', 'x-dead-letter-from', 'redelivered', 'x-replay']) t.same(named(m.headers, h), [], `no ${h}`);
});
