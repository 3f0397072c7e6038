/**
 * Topic names (src/cluster/kafka/admin.ts) and the error classification and
 * bounded waits the bus's parts share (shared.ts). No Kafka needed.
 */
import t from 'tap';
import { broadcastTopic, nodeTopic } from '../../src/cluster/kafka/admin.js';
import { boundedWait, ERR, errCode, isUnknownTopic } from '../../src/cluster/kafka/shared.js';

t.test('topic names: one per node (its group has the same name), one for broadcasts', async (t) => {
  t.equal(nodeTopic('stomp-cluster', 'n-1'), 'stomp-cluster.node.n-1');
  t.equal(broadcastTopic('stomp-cluster'), 'stomp-cluster.broadcast');
  t.not(nodeTopic('p', 'broadcast'), broadcastTopic('p'), 'a node named "broadcast" does not take the broadcast topic');
});

t.test('errors meaning "no such topic or partition"', async (t) => {
  for (const code of [ERR.ERR_UNKNOWN_TOPIC_OR_PART, ERR.ERR__UNKNOWN_TOPIC, ERR.ERR__UNKNOWN_PARTITION]) {
    t.ok(isUnknownTopic({ code, message: 'x' }), `code ${code}`);
  }
  t.notOk(isUnknownTopic({ code: ERR.ERR__QUEUE_FULL }), 'another code');
  t.notOk(isUnknownTopic(new Error('no code')), 'no code at all');
  t.notOk(isUnknownTopic(null));
  t.equal(errCode({ code: ERR.ERR__TIMED_OUT }), ERR.ERR__TIMED_OUT);
  t.equal(errCode('a string'), undefined);
});

t.test('boundedWait: the value, or "timeout" once the time ran out', async (t) => {
  t.equal(await boundedWait(Promise.resolve(7), 1000), 7);
  t.equal(await boundedWait(new Promise<number>(() => undefined), 20), 'timeout');
  await t.rejects(boundedWait(Promise.reject(new Error('boom')), 1000), { message: 'boom' }, 'a rejection passes through');
});
