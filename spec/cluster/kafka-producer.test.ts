/**
 * The producer's batching (src/cluster/kafka/producer.ts): how the envelopes
 * of one turn are grouped into OutBatches by topic and key, within the
 * envelope-count and byte bounds, and in which order batches are queued.
 * No Kafka needed.
 */
import t from 'tap';
import { encodeEnvelopeBatch } from '../../src/cluster/envelope.js';
import { batchKey, type OutBatch, OutBatches, SEND_BATCH_BYTES, SEND_BATCH_MAX } from '../../src/cluster/kafka/producer.js';
import { makeEnvelope, makeTopicEnvelope } from '../conformance/fixtures.js';

/** A batcher, and how often it reported a batch closed because it was full. */
function batcher(maxBytes = SEND_BATCH_BYTES): { batches: OutBatches; full: () => number } {
  let full = 0;
  return { batches: new OutBatches(maxBytes, () => void full++), full: () => full };
}

const value = (tag: string, size = 16): Buffer => Buffer.concat([Buffer.from(tag), Buffer.alloc(Math.max(0, size - tag.length))]);
const tags = (b: OutBatch): string[] => b.values.map((v) => v.toString('latin1').replace(/\0+$/, ''));

t.test('batchKey: none on one partition; the user (else the destination) on more', async (t) => {
  t.equal(batchKey(makeEnvelope({ user: 'alice' }), 1), null);
  t.equal(batchKey(makeEnvelope({ user: 'alice' }), 4), 'alice');
  t.equal(batchKey(makeTopicEnvelope({ destination: '/topic/x' }), 4), '/topic/x');
});

t.test('one turn: one batch per topic (and key), closed at the end of the turn in the order opened', async (t) => {
  const { batches, full } = batcher();
  void batches.add('t1', null, value('a1'), SEND_BATCH_MAX);
  void batches.add('t2', null, value('b1'), SEND_BATCH_MAX);
  void batches.add('t1', null, value('a2'), SEND_BATCH_MAX);
  void batches.add('t3', 'u1', value('c1'), SEND_BATCH_MAX);
  void batches.add('t3', 'u2', value('d1'), SEND_BATCH_MAX);
  void batches.add('t3', 'u1', value('c2'), SEND_BATCH_MAX);
  t.same(batches.closed, [], 'nothing closed during the turn');
  batches.closeAll();
  t.same(
    batches.closed.map((b) => [b.topic, b.key, tags(b)]),
    [
      ['t1', null, ['a1', 'a2']],
      ['t2', null, ['b1']],
      ['t3', 'u1', ['c1', 'c2']],
      ['t3', 'u2', ['d1']],
    ],
  );
  t.equal(batches.closed[0]!.bytes, 32, 'bytes counted');
  t.equal(full(), 0, 'none was full');
  batches.closeAll();
  t.equal(batches.closed.length, 4, 'a second end of turn adds nothing');
});

t.test(`at most ${SEND_BATCH_MAX} envelopes in a batch: a full one is queued at once`, async (t) => {
  const { batches, full } = batcher();
  const n = 2 * SEND_BATCH_MAX + 500;
  for (let i = 0; i < n; i++) void batches.add('t', null, value(`#${i}`), SEND_BATCH_MAX);
  t.same(batches.closed.map((b) => b.values.length), [SEND_BATCH_MAX, SEND_BATCH_MAX], 'two full batches queued during the turn');
  t.equal(full(), 2, 'onFull once per full batch');
  batches.closeAll();
  t.same(batches.closed.map((b) => b.values.length), [SEND_BATCH_MAX, SEND_BATCH_MAX, 500]);
  t.same(batches.closed.flatMap(tags), Array.from({ length: n }, (_, i) => `#${i}`), 'in order');
});

t.test('at most 1 MiB in a batch, its framing included; a larger envelope goes alone', async (t) => {
  const { batches, full } = batcher();
  const size = 100 * 1024;
  for (let i = 0; i < 25; i++) void batches.add('t', null, value(`#${i}`, size), SEND_BATCH_MAX);
  void batches.add('t', null, value('big', SEND_BATCH_BYTES + 1), SEND_BATCH_MAX);
  void batches.add('t', null, value('after'), SEND_BATCH_MAX);
  batches.closeAll();
  t.same(batches.closed.map((b) => b.values.length), [10, 10, 5, 1, 1], 'ten 100 KiB envelopes fit, eleven do not');
  t.equal(full(), 4);
  for (const b of batches.closed.slice(0, 3)) {
    t.ok(encodeEnvelopeBatch(b.values).length <= SEND_BATCH_BYTES, `a batch of ${b.values.length} encodes within the bound`);
  }
  t.same(tags(batches.closed[3]!), ['big'], 'the oversized envelope travels on its own');
  t.same(tags(batches.closed[4]!), ['after']);
});

t.test('a smaller byte bound (maxMessageBytes under 1 MiB) is kept too', async (t) => {
  const { batches } = batcher(4096);
  for (let i = 0; i < 10; i++) void batches.add('t', null, value(`#${i}`, 1000), SEND_BATCH_MAX);
  batches.closeAll();
  t.same(batches.closed.map((b) => b.values.length), [4, 4, 2]);
  for (const b of batches.closed) t.ok(encodeEnvelopeBatch(b.values).length <= 4096);
});

t.test('maxCount 1 (the reader cannot take batches): every envelope alone, in order', async (t) => {
  const { batches } = batcher();
  for (let i = 0; i < 5; i++) void batches.add('t', null, value(`#${i}`), 1);
  batches.closeAll();
  t.same(batches.closed.map(tags), [['#0'], ['#1'], ['#2'], ['#3'], ['#4']]);
});

t.test("a full batch goes ahead of other topics' open batches; each topic keeps its order", async (t) => {
  const { batches } = batcher();
  void batches.add('a', null, value('a0'), 2);
  void batches.add('b', null, value('b0'), 2);
  void batches.add('b', null, value('b1'), 2);
  void batches.add('b', null, value('b2'), 2);
  t.same(batches.closed.map(tags), [['b0', 'b1']], 'the full one is queued at once');
  void batches.add('a', null, value('a1'), 2);
  batches.closeAll();
  t.same(batches.closed.map(tags), [['b0', 'b1'], ['a0', 'a1'], ['b2']]);
});

t.test("each send settles with its batch's delivery", async (t) => {
  const { batches } = batcher();
  const sent = [batches.add('t', null, value('x'), 2), batches.add('t', null, value('y'), 2), batches.add('t', null, value('z'), 2)];
  batches.closeAll();
  const [first, second] = batches.closed;
  t.equal(first!.waiters.length, 2);
  t.equal(second!.waiters.length, 1);
  for (const w of first!.waiters) w.resolve();
  for (const w of second!.waiters) w.reject(new Error('refused'));
  const results = await Promise.allSettled(sent);
  t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected']);
});
