/**
 * Over a real WebSocket: RECEIPT for every frame type, DISCONNECT's RECEIPT
 * before the close, ACK/NACK in auto/client/client-individual modes on a
 * /queue, and BEGIN/COMMIT/ABORT covering SEND, ACK and NACK.
 */
import t from 'tap';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import type { RawClient } from '../helpers/client.js';
import { raw, type Asserts } from '../helpers/stomp-assert.js';

const text = (f: { body: Buffer }): string => f.body.toString();

/** Send `frame` with a receipt and wait for it. */
async function confirmed(c: RawClient, frame: string, receipt: string): Promise<void> {
  c.send(frame.replace('\n', `\nreceipt:${receipt}\n`));
  await c.until(() => {
    const i = c.frames.findIndex((f) => f.command === 'RECEIPT' && f.headers['receipt-id'] === receipt);
    if (i >= 0) return c.frames.splice(i, 1)[0];
    const e = c.frames.find((f) => f.command === 'ERROR');
    if (e) throw new Error(`ERROR ${e.headers['code']}: ${e.body.toString()}`);
    return undefined;
  }, 5000, `receipt ${receipt}`);
}

let markerSeq = 0;
/** Publish a marker to `destination`; `c` receives it as its next message. */
async function nextIsMarker(t: Asserts, b: TestBroker, c: RawClient, destination: string): Promise<void> {
  const marker = `marker-${++markerSeq}`;
  await b.broker.publish(destination, marker);
  t.equal(text(await c.next('MESSAGE')), marker, `next message is ${marker}`);
}

t.test('RECEIPT for every frame type; DISCONNECT RECEIPT arrives before the close', async (t) => {
  const b = await startBroker(t);
  const c = await b.user('r');
  const frames: Array<[string, string]> = [
    ['SUBSCRIBE', raw('SUBSCRIBE', { id: 'q', destination: '/queue/receipts', ack: 'client-individual' })],
    ['SEND', raw('SEND', { destination: '/queue/receipts' }, 'one')],
    ['BEGIN', raw('BEGIN', { transaction: 't' })],
    ['COMMIT', raw('COMMIT', { transaction: 't' })],
    ['BEGIN 2', raw('BEGIN', { transaction: 'u' })],
    ['ABORT', raw('ABORT', { transaction: 'u' })],
  ];
  for (const [name, f] of frames) {
    await confirmed(c, f, `rcpt-${name}`);
    t.pass(`RECEIPT for ${name}`);
  }
  const m1 = await c.next('MESSAGE');
  await confirmed(c, raw('NACK', { id: m1.headers['ack']! }), 'rcpt-NACK');
  t.pass('RECEIPT for NACK');
  const m1again = await c.next('MESSAGE');
  await confirmed(c, raw('ACK', { id: m1again.headers['ack']! }), 'rcpt-ACK');
  t.pass('RECEIPT for ACK');
  await confirmed(c, raw('UNSUBSCRIBE', { id: 'q' }), 'rcpt-UNSUBSCRIBE');
  t.pass('RECEIPT for UNSUBSCRIBE');
  c.send(raw('DISCONNECT', { receipt: 'rcpt-DISCONNECT' }));
  await c.waitClosed();
  const r = c.frames.find((f) => f.command === 'RECEIPT');
  t.equal(r?.headers['receipt-id'], 'rcpt-DISCONNECT', 'the RECEIPT arrived before the connection closed');
  t.equal(c.closeCode, 1000);
});

t.test('ACK modes on /queue', async (t) => {
  const b = await startBroker(t);

  await t.test('auto: no ack header; messages are done once written', async (t) => {
    const a = await b.user('a');
    await a.subscribe('s', '/queue/auto');
    await b.broker.publish('/queue/auto', 'm1');
    const m = await a.next('MESSAGE');
    t.equal(text(m), 'm1');
    t.notOk('ack' in m.headers);
    a.close();
    await a.waitClosed();
    const c = await b.user('c');
    await c.subscribe('s', '/queue/auto');
    await nextIsMarker(t, b, c, '/queue/auto');
  });

  await t.test('client (cumulative): ACK of the 2nd acknowledges the 1st; the 3rd is redelivered after disconnect', async (t) => {
    const a = await b.user('a');
    const other = await b.user('other');
    await a.subscribe('s', '/queue/client', { ack: 'client' });
    for (const n of [1, 2, 3]) await b.broker.publish('/queue/client', `m${n}`);
    const ms = await a.messages(3);
    t.same(ms.map(text), ['m1', 'm2', 'm3']);
    for (const m of ms) t.ok(m.headers['ack'], 'STOMP 1.2 ack header');
    await confirmed(a, raw('ACK', { id: ms[1]!.headers['ack']! }), 'ack-2');
    await other.subscribe('s', '/queue/client');
    a.send(raw('DISCONNECT', {}));
    await a.waitClosed();
    const [again] = await other.messages(1);
    t.equal(text(again!), 'm3', 'only the unacknowledged message is redelivered, to the other consumer');
    t.equal(again!.headers['redelivered'], 'true');
    await nextIsMarker(t, b, other, '/queue/client');
  });

  await t.test('client-individual: ACK one; NACK goes to another consumer; unacked at disconnect too', async (t) => {
    const a = await b.user('a');
    const other = await b.user('other');
    await a.subscribe('s', '/queue/ci', { ack: 'client-individual' });
    for (const n of [1, 2, 3]) await b.broker.publish('/queue/ci', `m${n}`);
    const [, m2, m3] = await a.messages(3);
    await other.subscribe('s', '/queue/ci', { ack: 'client-individual' });
    await confirmed(a, raw('ACK', { id: m2!.headers['ack']! }), 'ack-m2');
    await confirmed(a, raw('NACK', { id: m3!.headers['ack']! }), 'nack-m3');
    const n3 = await other.next('MESSAGE');
    t.equal(text(n3), 'm3', 'the NACKed message went to the other consumer');
    t.equal(n3.headers['redelivered'], 'true');
    a.close(); // drop the connection with m1 unacknowledged
    const n1 = await other.next('MESSAGE');
    t.equal(text(n1), 'm1', 'unacked at disconnect: redelivered to the other consumer');
    await confirmed(other, raw('ACK', { id: n3.headers['ack']! }), 'ack-n3');
    await confirmed(other, raw('ACK', { id: n1.headers['ack']! }), 'ack-n1');
    other.close();
    await other.waitClosed();
    const last = await b.user('last');
    await last.subscribe('s', '/queue/ci');
    await nextIsMarker(t, b, last, '/queue/ci');
  });
});

t.test('competing consumers: each message to exactly one, round robin', async (t) => {
  const b = await startBroker(t);
  const consumers = await Promise.all(['c1', 'c2', 'c3'].map((n) => b.user(n)));
  for (const c of consumers) await c.subscribe('s', '/queue/work');
  const producer = await b.user('producer');
  for (let i = 0; i < 9; i++) producer.send(raw('SEND', { destination: '/queue/work' }, `job${i}`));
  const got = await Promise.all(consumers.map((c) => c.messages(3)));
  const all = got.flat().map(text).sort();
  t.same(all, Array.from({ length: 9 }, (_, i) => `job${i}`).sort(), 'every job delivered exactly once');
  for (const [i, ms] of got.entries()) t.equal(ms.length, 3, `consumer ${i + 1} got its share`);
  // Three more: one each, and nothing else (no extra copies) arrived before them.
  for (let i = 0; i < 3; i++) await b.broker.publish('/queue/work', `marker-${i}`);
  const markers = await Promise.all(consumers.map((c) => c.next('MESSAGE')));
  t.same(markers.map(text).sort(), ['marker-0', 'marker-1', 'marker-2']);
});

t.test('transactions over the wire', async (t) => {
  const b = await startBroker(t);
  const obs = await b.user('obs');
  await obs.subscribe('o', '/queue/tx');

  await t.test('nothing is visible before COMMIT; COMMIT delivers in order', async (t) => {
    const c = await b.user('c');
    c.send(raw('BEGIN', { transaction: 'tx1' }));
    c.send(raw('SEND', { destination: '/queue/tx', transaction: 'tx1' }, 'a'));
    c.send(raw('SEND', { destination: '/queue/tx', transaction: 'tx1' }, 'b'));
    await confirmed(c, raw('SEND', { destination: '/queue/tx' }, 'outside'), 'outside');
    t.equal(text(await obs.next('MESSAGE')), 'outside', 'the non-transactional SEND arrives first');
    await confirmed(c, raw('COMMIT', { transaction: 'tx1' }), 'commit');
    t.same((await obs.messages(2)).map(text), ['a', 'b']);
  });

  await t.test('ABORT drops', async (t) => {
    const c = await b.user('c');
    c.send(raw('BEGIN', { transaction: 'tx2' }));
    c.send(raw('SEND', { destination: '/queue/tx', transaction: 'tx2' }, 'dropped'));
    await confirmed(c, raw('ABORT', { transaction: 'tx2' }), 'abort');
    await nextIsMarker(t, b, obs, '/queue/tx');
  });

  await t.test('disconnect aborts', async (t) => {
    const c = await b.user('c');
    c.send(raw('BEGIN', { transaction: 'tx3' }));
    await confirmed(c, raw('SEND', { destination: '/queue/tx', transaction: 'tx3' }, 'lost'), 'held');
    c.close();
    await c.waitClosed();
    await nextIsMarker(t, b, obs, '/queue/tx');
  });

  await t.test('ACK and NACK in a transaction apply at COMMIT', async (t) => {
    const a = await b.user('a');
    await a.subscribe('s', '/queue/txack', { ack: 'client-individual' });
    for (const n of [1, 2]) await b.broker.publish('/queue/txack', `m${n}`);
    const [m1, m2] = await a.messages(2);
    a.send(raw('BEGIN', { transaction: 'acks' }));
    a.send(raw('ACK', { id: m1!.headers['ack']!, transaction: 'acks' }));
    await confirmed(a, raw('NACK', { id: m2!.headers['ack']!, transaction: 'acks' }), 'nack-in-tx');
    // Before COMMIT the NACK has not happened: a marker is the next message.
    await nextIsMarker(t, b, a, '/queue/txack');
    await confirmed(a, raw('COMMIT', { transaction: 'acks' }), 'commit-acks');
    const back = await a.next('MESSAGE');
    t.equal(text(back), 'm2', 'the NACK took effect at COMMIT');
    t.equal(back.headers['redelivered'], 'true');
  });
});
