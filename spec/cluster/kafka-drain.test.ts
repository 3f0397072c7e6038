/**
 * A drain's progress through a dead node's topic (src/cluster/kafka/drain.ts):
 * where each partition starts and ends, which messages are handed over, gaps
 * closed by end-of-partition events, an end that grows. No Kafka needed.
 */
import t from 'tap';
import { DrainProgress } from '../../src/cluster/kafka/drain.js';

const msg = (partition: number, offset: number, topic = 'p.node.a') => ({ topic, partition, offset });

t.test('each partition starts at its committed offset, else at its first; and reads to the high watermark', async (t) => {
  const d = new DrainProgress('p.node.a');
  t.equal(d.begin(0, 7, { lowOffset: 0, highOffset: 10 }), 7, 'committed');
  t.equal(d.begin(1, undefined, { lowOffset: 4, highOffset: 6 }), 4, 'nothing committed: the first offset still there');
  t.equal(d.begin(2, 2, { lowOffset: 5, highOffset: 9 }), 5, 'committed offset removed by retention: the first one still there');
  t.same(Object.fromEntries(d.end), { 0: 10, 1: 6, 2: 9 });
  t.same(d.offsets(), [
    { topic: 'p.node.a', partition: 0, offset: 7 },
    { topic: 'p.node.a', partition: 1, offset: 4 },
    { topic: 'p.node.a', partition: 2, offset: 5 },
  ], 'what a commit would carry');
});

t.test('behind until every partition was read to its end; only messages from the position on are wanted', async (t) => {
  const d = new DrainProgress('p.node.a');
  d.begin(0, 1, { lowOffset: 0, highOffset: 3 });
  d.begin(1, undefined, { lowOffset: 0, highOffset: 0 });
  t.ok(d.behind());
  t.notOk(d.wants(msg(0, 0)), 'before the committed offset: handled already');
  t.notOk(d.wants(msg(0, 1, 'p.node.b')), 'another topic');
  t.ok(d.wants(msg(0, 1)));
  d.handled(0, 1);
  t.ok(d.behind(), 'partition 0 not at its end yet; partition 1 is empty');
  t.notOk(d.wants(msg(0, 1)), 'a message handed over is not wanted again');
  d.handled(0, 2);
  t.notOk(d.behind(), 'at the end of both');
  t.equal(d.position.get(0), 3, 'the position is the next offset');
});

t.test('an end-of-partition past the last message closes a gap, once the batch was handled', async (t) => {
  const d = new DrainProgress('p.node.a');
  d.begin(0, 0, { lowOffset: 0, highOffset: 5 });
  d.handled(0, 2);
  d.eof({ topic: 'p.node.a', partition: 0, offset: 5 });
  d.eof({ topic: 'p.node.b', partition: 0, offset: 99 });
  t.ok(d.behind(), 'collected, not applied yet');
  d.applyEofs();
  t.notOk(d.behind(), 'position 5: the gap (e.g. transaction markers) is passed');
  t.equal(d.position.get(0), 5);
  d.eof({ topic: 'p.node.a', partition: 0, offset: 4 });
  d.applyEofs();
  t.equal(d.position.get(0), 5, 'an older end-of-partition never moves the position back');
});

t.test('an end that grows (late senders) makes the drain read on', async (t) => {
  const d = new DrainProgress('p.node.a');
  d.begin(0, 0, { lowOffset: 0, highOffset: 1 });
  d.handled(0, 0);
  t.notOk(d.behind());
  t.notOk(d.extend(0, 1), 'same end');
  t.ok(d.extend(0, 3), 'grew');
  t.ok(d.behind());
  t.equal(d.end.get(0), 3);
});
