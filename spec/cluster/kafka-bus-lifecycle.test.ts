/**
 * The KafkaBus facade's lifecycle (src/cluster/kafka/bus.ts) where it needs no
 * broker: refusals before start() and after close(). What needs Kafka is in
 * kafka-bus.test.ts.
 */
import t from 'tap';
import { ClusterErrorCode } from '../../src/cluster/errors.js';
import { KafkaBus } from '../../src/cluster/kafka/bus.js';
import { makeEnvelope } from '../conformance/fixtures.js';

/** Nothing listens there: a bus that tried to connect would fail, not hang the test. */
const unreachable = (): KafkaBus => new KafkaBus({ brokers: '127.0.0.1:1', prefix: 'lifecycle', startTimeoutMs: 1000 });
const noop = (): void => undefined;

t.test('names, and the metrics of a bus that never started', async (t) => {
  const bus = unreachable();
  t.equal(bus.nodeTopic('n1'), 'lifecycle.node.n1');
  t.equal(bus.broadcastTopic, 'lifecycle.broadcast');
  t.equal(bus.lag(), 0);
  t.same(bus.receiveStats(), { buffered: 0, paused: false, pauses: 0 });
  await bus.close();
});

t.test('a node id that cannot be part of a topic name is refused before anything starts', async (t) => {
  const bus = unreachable();
  for (const id of ['bad id', 'a/b', '']) {
    await t.rejects(bus.start(id, noop), { code: ClusterErrorCode.INVALID_STATE }, JSON.stringify(id));
  }
  await bus.close();
  t.pass('the refused bus closes without having connected to anything');
});

t.test('a closed bus refuses everything, and closing again is a no-op', async (t) => {
  const bus = unreachable();
  await bus.close();
  await bus.close({ deleteOwnTopic: true });
  await t.rejects(bus.start('n1', noop), { code: ClusterErrorCode.INVALID_STATE, message: /bus is closed/ });
  await t.rejects(bus.sendToNode('n2', makeEnvelope()), { code: ClusterErrorCode.CLOSED });
  await t.rejects(bus.broadcast(makeEnvelope()), { code: ClusterErrorCode.CLOSED });
  await t.rejects(bus.drainNode('n2', noop), { code: ClusterErrorCode.CLOSED });
  t.equal(await bus.leave(noop), 0, 'leave() of a bus that is not started just closes');
});

t.test('leave() before start() closes the bus', async (t) => {
  const bus = unreachable();
  t.equal(await bus.leave(noop), 0);
  await t.rejects(bus.sendToNode('n2', makeEnvelope()), { code: ClusterErrorCode.CLOSED });
});
