/**
 * The consumer's bookkeeping (src/cluster/kafka/consumer.ts): pausing and
 * resuming at the maxBuffered bound, the commit coalescing state machine,
 * which offsets a commit carries, lag. No Kafka needed.
 */
import t from 'tap';
import {
  CommitCoalescer,
  lagOf,
  markCommitted,
  markUncommitted,
  offsetsToCommit,
  type PartitionState,
  ReceiveBuffer,
} from '../../src/cluster/kafka/consumer.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test('ReceiveBuffer: pauses at the bound, resumes at half of it', async (t) => {
  const calls: boolean[] = [];
  const buf = new ReceiveBuffer(10, (paused) => {
    calls.push(paused);
    return true;
  });
  buf.added(6);
  t.notOk(buf.paused, 'under the bound');
  buf.added(6);
  t.ok(buf.paused, 'paused at 12 >= 10 (a fetch may overshoot)');
  buf.added(3);
  t.same(calls, [true], 'paused once');
  buf.taken(9);
  t.ok(buf.paused, '6 waiting: still paused');
  buf.taken(1);
  t.notOk(buf.paused, 'resumed at 5 = half the bound');
  t.same(calls, [true, false]);
  t.equal(buf.pauses, 1, 'pauses counted');
  t.equal(buf.buffered, 5);
});

t.test('ReceiveBuffer: a pause that did not take effect (consumer gone) changes nothing', async (t) => {
  let works = false;
  const buf = new ReceiveBuffer(2, () => works);
  buf.added(5);
  t.notOk(buf.paused);
  t.equal(buf.pauses, 0);
  works = true;
  buf.added(1);
  t.ok(buf.paused, 'tried again at the next arrival');
  t.equal(buf.pauses, 1);
});

/** A coalescer whose commits each wait until the test lets them end. */
function gatedCoalescer(intervalMs = 0): { c: CommitCoalescer; runs: Array<{ sync: boolean; end: () => void }> } {
  const runs: Array<{ sync: boolean; end: () => void }> = [];
  const c = new CommitCoalescer(intervalMs, (sync) => new Promise<void>((end) => runs.push({ sync, end })));
  return { c, runs };
}

t.test('CommitCoalescer: one commit at a time; calls meanwhile make it run once more, and wait for that run', async (t) => {
  const { c, runs } = gatedCoalescer();
  const first = c.commit(false);
  t.equal(c.running, first, 'running');
  t.equal(runs.length, 1);
  let laterDone = false;
  const later = [c.commit(false), c.commit(true)];
  void Promise.all(later).then(() => (laterDone = true));
  t.equal(runs.length, 1, 'no second commit while one runs');
  runs[0]!.end();
  await turn();
  t.equal(runs.length, 2, 'one more run for both calls');
  t.equal(runs[1]!.sync, true, 'sync, since a call meanwhile asked for it');
  t.notOk(laterDone, 'the callers wait for the run that carries their offsets');
  runs[1]!.end();
  await Promise.all([first, ...later]);
  t.equal(runs.length, 2, 'no third run');
  t.equal(c.running, null, 'idle again');
  const next = c.commit(false);
  t.equal(runs[2]!.sync, false, 'the sync request was used up');
  runs[2]!.end();
  await next;
});

t.test('CommitCoalescer: scheduled commits run in a later turn, at most one per interval', async (t) => {
  const at: number[] = [];
  const c = new CommitCoalescer(150, async () => void at.push(Date.now()));
  c.schedule();
  c.schedule();
  t.equal(at.length, 0, 'not in this turn');
  await turn();
  await turn();
  t.equal(at.length, 1, 'the first one at once (no commit before it), and once for both calls');
  c.schedule();
  c.schedule();
  await turn();
  t.equal(at.length, 1, 'the next one waits for the interval');
  await new Promise((r) => setTimeout(r, 300));
  t.equal(at.length, 2, 'then runs once');
  t.ok(at[1]! - at[0]! >= 140, `${at[1]! - at[0]!} ms apart`);
});

const part = (over: Partial<PartitionState>): PartitionState => ({
  topic: 'own',
  partition: 0,
  commits: true,
  queue: [],
  loop: null,
  done: -1,
  committed: -1,
  ...over,
});

const byKey = (parts: PartitionState[]): Map<string, PartitionState> => new Map(parts.map((p) => [`${p.topic}/${p.partition}`, p]));

t.test('a commit carries the own partitions handled past their committed offset', async (t) => {
  const parts = byKey([
    part({ partition: 0, done: 5, committed: 3 }),
    part({ partition: 1, done: 7, committed: 7 }),
    part({ partition: 2 }),
    part({ topic: 'broadcast', commits: false, done: 9 }),
  ]);
  const tps = offsetsToCommit(parts.values());
  t.same(tps, [{ topic: 'own', partition: 0, offset: 5 }], 'only partition 0 moved; broadcast is never committed');
  markCommitted(parts, tps);
  t.equal(parts.get('own/0')!.committed, 5);
  t.same(offsetsToCommit(parts.values()), [], 'nothing left');

  markUncommitted(parts, tps);
  t.equal(parts.get('own/0')!.committed, -1, 'a failed commit is forgotten');
  t.same(offsetsToCommit(parts.values()), [{ topic: 'own', partition: 0, offset: 5 }], 'so the next one carries it again');
  parts.get('own/0')!.committed = 6;
  markUncommitted(parts, [{ topic: 'own', partition: 0, offset: 8 }]);
  t.equal(parts.get('own/0')!.committed, 6, 'a failed commit of an offset past the committed one leaves that alone');
});

t.test('lag: high watermark minus the next offset to handle, own partitions only', async (t) => {
  const parts = [
    part({ partition: 0, done: 5, committed: 3 }),
    part({ partition: 1, committed: 10 }),
    part({ partition: 2 }),
    part({ partition: 3, done: 20 }),
    part({ topic: 'broadcast', commits: false, done: 1 }),
  ];
  const high = new Map([
    ['own/0', 9],
    ['own/1', 12],
    ['own/2', 50],
    ['own/3', 15],
    ['broadcast/0', 100],
  ]);
  t.equal(lagOf(parts, high), 4 + 2, 'handled offset first, else the committed one; none known: not counted; never negative');
  t.equal(lagOf(parts, new Map()), 0, 'no watermark read yet');
});
