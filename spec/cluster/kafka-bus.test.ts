/**
 * KafkaBus against a real Kafka broker (KRaft, single node): the Bus
 * conformance suite, then what is specific to Kafka (topic lifecycle, commit
 * timing, poison messages, restart from the committed offset, latency).
 *
 * Uses $KAFKA_BROKERS when set (`make test` starts one broker for the run),
 * else starts its own with scripts/kafka/start.sh (~5-10 s).
 */
import t from 'tap';
import Kafka from 'node-rdkafka';
import type { KafkaConsumer, Metadata, TopicPartitionOffset } from 'node-rdkafka';
import { KafkaBus, type KafkaBusOptions } from '../../src/cluster/kafka/bus.js';
import { isClusterError, ClusterErrorCode, type ClusterLogger } from '../../src/cluster/errors.js';
import type { Envelope } from '../../src/cluster/types.js';
import { busSuite } from '../conformance/bus.js';
import { makeEnvelope, uid } from '../conformance/fixtures.js';
import { startKafka, uniquePrefix } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const kafka = await startKafka();
t.teardown(() => kafka.stop());
t.comment(`kafka: ${kafka.brokers}${kafka.owned ? ' (started for this file)' : ' (shared, from KAFKA_BROKERS)'}`);

// ---------------------------------------------------------------------------
// a metadata/offsets probe and topic cleanup, straight on node-rdkafka

const probe: KafkaConsumer = new Kafka.KafkaConsumer(
  { 'metadata.broker.list': kafka.brokers, 'group.id': `probe-${uid('g')}`, 'enable.auto.commit': false },
  {},
);
await new Promise<void>((resolve, reject) => probe.connect({}, (err) => (err ? reject(err) : resolve())));
t.teardown(() => new Promise<void>((resolve) => probe.disconnect(() => resolve())));

async function topicNames(): Promise<string[]> {
  const md = await new Promise<Metadata>((resolve, reject) =>
    probe.getMetadata({ allTopics: true, timeout: 5000 }, (err, data) => (err ? reject(err) : resolve(data))),
  );
  return md.topics.map((x) => x.name);
}

async function deleteTopicsWithPrefix(prefix: string): Promise<void> {
  const doomed = (await topicNames()).filter((n) => n.startsWith(`${prefix}.`));
  if (doomed.length === 0) return;
  const admin = Kafka.AdminClient.create({ 'metadata.broker.list': kafka.brokers, 'client.id': 'test-cleanup' });
  try {
    await Promise.all(
      doomed.map((name) => new Promise<void>((resolve) => admin.deleteTopic(name, 10_000, () => resolve()))),
    );
  } finally {
    admin.disconnect();
  }
}

/** Committed offset of `group` for partition 0 of `topic` (-1 if none). */
async function committedOffset(group: string, topic: string): Promise<number> {
  const c = new Kafka.KafkaConsumer({ 'metadata.broker.list': kafka.brokers, 'group.id': group, 'enable.auto.commit': false }, {});
  await new Promise<void>((resolve, reject) => c.connect({ topic }, (err) => (err ? reject(err) : resolve())));
  try {
    const tps = await new Promise<TopicPartitionOffset[]>((resolve, reject) =>
      c.committed([{ topic, partition: 0 }], 5000, (err, r) => (err ? reject(err) : resolve(r))),
    );
    const o = tps[0]?.offset;
    return typeof o === 'number' && o >= 0 ? o : -1;
  } finally {
    await new Promise<void>((resolve) => c.disconnect(() => resolve()));
  }
}

interface Captured {
  logger: ClusterLogger;
  errors: Array<Record<string, unknown> & { msg?: string }>;
}

function captureLogger(): Captured {
  const errors: Captured['errors'] = [];
  const noop = (): void => undefined;
  return { errors, logger: { debug: noop, info: noop, warn: noop, error: (obj, msg) => void errors.push({ ...obj, msg }) } };
}

/** A fixture of buses on one fresh prefix; everything closed and deleted in teardown. */
function fixture(tt: { teardown(fn: () => unknown): void }, extra: Partial<KafkaBusOptions> = {}) {
  const prefix = uniquePrefix();
  const buses: KafkaBus[] = [];
  tt.teardown(async () => {
    for (const b of buses) await b.close({ deleteOwnTopic: true });
    await deleteTopicsWithPrefix(prefix);
  });
  return {
    prefix,
    create: (more: Partial<KafkaBusOptions> = {}): KafkaBus => {
      const b = new KafkaBus({ brokers: kafka.brokers, prefix, closeTimeoutMs: 500, ...extra, ...more });
      buses.push(b);
      return b;
    },
  };
}

const noop = (): void => undefined;

// ---------------------------------------------------------------------------

busSuite(t, 'kafka', async () => {
  const prefix = uniquePrefix();
  return {
    // A short close timeout: the suite closes a node while a handler is pending.
    create: () => new KafkaBus({ brokers: kafka.brokers, prefix, closeTimeoutMs: 500 }),
    cleanup: () => deleteTopicsWithPrefix(prefix),
  };
});

t.test('kafka bus: start() creates the node and broadcast topics; a graceful leave deletes its own', async (t) => {
  const { prefix, create } = fixture(t);
  const A = uid('nodeA');
  const bus = create();
  await bus.start(A, noop);
  const names = await topicNames();
  t.ok(names.includes(`${prefix}.node.${A}`), 'node topic');
  t.ok(names.includes(`${prefix}.broadcast`), 'broadcast topic');
  await bus.close({ deleteOwnTopic: true });
  await waitFor(async () => !(await topicNames()).includes(`${prefix}.node.${A}`), { what: 'node topic deletion' });
  t.ok((await topicNames()).includes(`${prefix}.broadcast`), 'the broadcast topic stays');
});

t.test('kafka bus: an offset is committed only once the handler resolved', async (t) => {
  const { prefix, create } = fixture(t);
  const [A, B] = [uid('nodeA'), uid('nodeB')];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  t.teardown(() => release());
  const seen: string[] = [];
  const busA = create();
  const busB = create();
  await busA.start(A, async (env) => {
    seen.push(env.id);
    if (seen.length === 1) await gate;
  });
  await busB.start(B, noop);
  const [m1, m2] = [makeEnvelope(), makeEnvelope()];
  await busB.sendToNode(A, m1);
  await busB.sendToNode(A, m2);
  await waitFor(() => seen.length === 1, { what: 'first envelope handed over' });
  const group = `${prefix}.node.${A}`;
  const topic = `${prefix}.node.${A}`;
  t.equal(await committedOffset(group, topic), -1, 'nothing committed while the handler is pending');
  release();
  await waitFor(() => seen.length === 2, { timeoutMs: 20_000, what: 'second envelope' });
  await waitFor(async () => (await committedOffset(group, topic)) === 2, { timeoutMs: 20_000, what: 'commit of both' });
  t.pass('committed past both once both handlers resolved');
});

t.test('kafka bus: envelopes sent in one turn travel as one Kafka message, in order; each send resolves', async (t) => {
  const { prefix, create } = fixture(t);
  const [A, B] = [uid('nodeA'), uid('nodeB')];
  const got: Envelope[] = [];
  const busA = create();
  const busB = create();
  await busA.start(A, (env) => void got.push(env));
  await busB.start(B, noop);
  const user = uid('u');
  const burst = Array.from({ length: 50 }, (_, i) => makeEnvelope({ user, body: Buffer.from(`#${i}`) }));
  await Promise.all(burst.map((e) => busB.sendToNode(A, e))); // all in one turn
  await busB.sendToNode(A, makeEnvelope({ user, body: Buffer.from('alone') })); // a later turn
  await waitFor(() => got.length === 51, { timeoutMs: 20_000, what: 'all 51 envelopes' });
  t.same(got.slice(0, 50).map((e) => e.id), burst.map((e) => e.id), 'the burst arrives whole and in order');
  t.equal(got[50]!.body.toString(), 'alone', 'then the later one');
  const wm = await new Promise<{ highOffset: number }>((resolve, reject) =>
    probe.queryWatermarkOffsets(`${prefix}.node.${A}`, 0, 5000, (err, w) => (err ? reject(err) : resolve(w))),
  );
  t.equal(wm.highOffset, 2, 'two Kafka messages: one batch of 50, one lone envelope');
});

t.test('kafka bus: while hooks.batching() says no, every envelope is its own Kafka message, in order', async (t) => {
  const { prefix, create } = fixture(t);
  const [A, B] = [uid('nodeA'), uid('nodeB')];
  const got: string[] = [];
  const busA = create();
  const busB = create();
  await busA.start(A, (env) => void got.push(env.id));
  const asked: Array<string | null> = [];
  await busB.start(B, noop, {
    batching: (node) => {
      asked.push(node);
      return false;
    },
  });
  const burst = Array.from({ length: 20 }, () => makeEnvelope());
  await Promise.all(burst.map((e) => busB.sendToNode(A, e)));
  await waitFor(() => got.length === 20, { timeoutMs: 20_000, what: 'all 20' });
  t.same(got, burst.map((e) => e.id), 'in order');
  t.ok(asked.includes(A), 'asked about the receiving node');
  const wm = await new Promise<{ highOffset: number }>((resolve, reject) =>
    probe.queryWatermarkOffsets(`${prefix}.node.${A}`, 0, 5000, (err, w) => (err ? reject(err) : resolve(w))),
  );
  t.equal(wm.highOffset, 20, 'twenty Kafka messages');
});

t.test('kafka bus: an offset is committed only after hooks.settled() resolved', async (t) => {
  const { prefix, create } = fixture(t, { commitIntervalMs: 0 });
  const [A, B] = [uid('nodeA'), uid('nodeB')];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  t.teardown(() => release());
  let asked = 0;
  const seen: string[] = [];
  const busA = create();
  const busB = create();
  await busA.start(A, (env) => void seen.push(env.id), {
    settled: () => {
      asked++;
      return gate;
    },
  });
  await busB.start(B, noop);
  await busB.sendToNode(A, makeEnvelope());
  await waitFor(() => seen.length === 1 && asked >= 1, { timeoutMs: 20_000, what: 'handled, and settled() asked' });
  const group = `${prefix}.node.${A}`;
  t.equal(await committedOffset(group, group), -1, 'nothing committed while settled() is pending');
  release();
  await waitFor(async () => (await committedOffset(group, group)) === 1, { timeoutMs: 20_000, what: 'the commit' });
  t.pass('committed once settled() resolved');
});

t.test('kafka bus: maxBuffered bounds what waits for a stalled handler (default 10,000 envelopes); nothing is lost or reordered', async (t) => {
  t.equal(new KafkaBus({ brokers: kafka.brokers }).options.maxBuffered, 10_000, 'default');
  const { create } = fixture(t, { maxBuffered: 20 });
  const [A, B] = [uid('nodeA'), uid('nodeB')];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  t.teardown(() => release());
  const got: string[] = [];
  const busA = create();
  const busB = create();
  await busA.start(A, async (env) => {
    got.push(env.id);
    if (got.length === 1) await gate;
  });
  await busB.start(B, noop);
  const sent: string[] = [];
  for (let i = 0; i < 10; i++) {
    // ten turns, ten Kafka messages of ten envelopes each
    const burst = Array.from({ length: 10 }, () => makeEnvelope());
    sent.push(...burst.map((e) => e.id));
    await Promise.all(burst.map((e) => busB.sendToNode(A, e)));
  }
  await waitFor(() => busA.receiveStats().paused, { timeoutMs: 20_000, what: 'fetching paused behind the stalled handler' });
  t.ok(busA.receiveStats().buffered >= 20, `paused with ${busA.receiveStats().buffered} envelopes waiting`);
  release();
  await waitFor(() => got.length === sent.length, { timeoutMs: 20_000, what: 'all 100 envelopes' });
  t.same(got, sent, 'all, in order, after the handler resumed');
  t.notOk(busA.receiveStats().paused, 'fetching resumed');
  t.ok(busA.receiveStats().pauses >= 1, 'paused at least once');
});

t.test('kafka bus: a node restarted with the same id resumes after its last commit', async (t) => {
  const { create } = fixture(t);
  const [A, B] = [uid('nodeA'), uid('nodeB')];
  const first: string[] = [];
  const busA = create();
  const busB = create();
  await busA.start(A, (env) => void first.push(env.id));
  await busB.start(B, noop);
  const [m1, m2] = [makeEnvelope(), makeEnvelope()];
  await busB.sendToNode(A, m1);
  await waitFor(() => first.length === 1, { timeoutMs: 20_000, what: 'm1' });
  await busA.close(); // commits m1, keeps the topic
  await busB.sendToNode(A, m2); // arrives while A is down

  const second: string[] = [];
  const busA2 = create();
  await busA2.start(A, (env) => void second.push(env.id));
  await waitFor(() => second.length === 1, { timeoutMs: 20_000, what: 'm2 after restart' });
  t.same(second, [m2.id], 'only what was not committed');
});

t.test('kafka bus: a handler that keeps failing is logged and skipped; the partition moves on', async (t) => {
  const cap = captureLogger();
  const { create } = fixture(t, { handlerRetries: 2, handlerRetryDelayMs: 5, logger: cap.logger });
  const [A, B] = [uid('nodeA'), uid('nodeB')];
  const [poison, next] = [makeEnvelope(), makeEnvelope()];
  const calls: string[] = [];
  const busA = create();
  const busB = create();
  await busA.start(A, (env) => {
    calls.push(env.id);
    if (env.id === poison.id) throw new Error('always fails');
  });
  await busB.start(B, noop);
  await busB.sendToNode(A, poison);
  await busB.sendToNode(A, next);
  await waitFor(() => calls.includes(next.id), { timeoutMs: 20_000, what: 'the next envelope' });
  t.equal(calls.filter((id) => id === poison.id).length, 3, 'first attempt + 2 retries');
  const logged = cap.errors.find((e) => e.envelopeId === poison.id);
  t.ok(logged, 'the skipped envelope is logged at error level with its id');
});

t.test('kafka bus: bytes that are not an envelope are logged and skipped', async (t) => {
  const cap = captureLogger();
  const { prefix, create } = fixture(t, { logger: cap.logger });
  const A = uid('nodeA');
  const got: Envelope[] = [];
  const bus = create();
  await bus.start(A, (env) => void got.push(env));
  const producer = new Kafka.Producer({ 'metadata.broker.list': kafka.brokers, dr_cb: true });
  await new Promise<void>((resolve, reject) => producer.connect({}, (err) => (err ? reject(err) : resolve())));
  t.teardown(() => new Promise<void>((resolve) => producer.disconnect(() => resolve())));
  producer.produce(`${prefix}.node.${A}`, null, Buffer.from('garbage'), 'k');
  await new Promise<void>((resolve, reject) => producer.flush(10_000, (err) => (err ? reject(err) : resolve())));
  const good = makeEnvelope();
  await bus.sendToNode(A, good);
  await waitFor(() => got.length === 1, { timeoutMs: 20_000, what: 'the good envelope' });
  t.equal(got[0]!.id, good.id);
  t.ok(cap.errors.some((e) => e.msg === 'skipping undecodable bus message'), 'logged');
});

t.test('kafka bus: sending to a node without a topic fails with CLUSTER_ERR_BUS_SEND (no auto-create)', async (t) => {
  const { prefix, create } = fixture(t, { unknownTopicTimeoutMs: 500, sendTimeoutMs: 5000 });
  const bus = create();
  await bus.start(uid('nodeA'), noop);
  const ghost = uid('ghost');
  const err = await bus.sendToNode(ghost, makeEnvelope()).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(isClusterError(err, ClusterErrorCode.BUS_SEND), `rejected with BUS_SEND (${(err as Error)?.message})`);
  t.notOk((await topicNames()).includes(`${prefix}.node.${ghost}`), 'the topic was not created');
});

t.test('kafka bus: drainNode deletes the drained topic', async (t) => {
  const { prefix, create } = fixture(t);
  const [A, B] = [uid('nodeA'), uid('nodeB')];
  const busA = create();
  const busB = create();
  await busA.start(A, noop);
  await busA.close();
  await busB.start(B, noop);
  await busB.sendToNode(A, makeEnvelope());
  t.equal(await busB.drainNode(A, noop), 1);
  await waitFor(async () => !(await topicNames()).includes(`${prefix}.node.${A}`), { what: 'topic deletion' });
  t.pass('topic deleted');
});

t.test('kafka bus: an envelope larger than Kafka\'s 1 MB default gets through', async (t) => {
  const { create } = fixture(t);
  const [A, B] = [uid('nodeA'), uid('nodeB')];
  const got: Envelope[] = [];
  const busA = create();
  const busB = create();
  await busA.start(A, noop);
  await busB.start(B, (env) => void got.push(env));
  const big = makeEnvelope({ body: Buffer.alloc(2 * 1024 * 1024, 7) });
  await busA.sendToNode(B, big);
  await waitFor(() => got.length === 1, { timeoutMs: 20_000, what: 'the 2 MiB envelope' });
  t.ok(got[0]!.body.equals(big.body), '2 MiB body intact');
});

t.test('kafka bus: start() against an unreachable broker fails within its bound', async (t) => {
  const bus = new KafkaBus({ brokers: '127.0.0.1:1', prefix: uniquePrefix(), startTimeoutMs: 1500 });
  const t0 = Date.now();
  await t.rejects(bus.start(uid('nodeA'), noop), { code: ClusterErrorCode.BUS_START });
  t.ok(Date.now() - t0 < 15_000, `failed after ${Date.now() - t0} ms`);
  await bus.close();
  await t.rejects(bus.sendToNode('x', makeEnvelope()), { code: ClusterErrorCode.CLOSED }, 'a closed bus refuses sends');
});

t.test('kafka bus: close() during start() waits for it, then closes', async (t) => {
  const { prefix, create } = fixture(t);
  const A = uid('nodeA');
  const bus = create();
  const started = bus.start(A, noop);
  const closed = bus.close({ deleteOwnTopic: true });
  await started;
  await closed;
  await waitFor(async () => !(await topicNames()).includes(`${prefix}.node.${A}`), { what: 'node topic deletion' });
  await t.rejects(bus.start(A, noop), { code: ClusterErrorCode.INVALID_STATE }, 'a closed bus does not start again');
});

t.test('kafka bus: options are validated', async (t) => {
  t.throws(() => new KafkaBus({ brokers: '' }), { code: ClusterErrorCode.INVALID_STATE });
  t.throws(() => new KafkaBus({ brokers: kafka.brokers, prefix: 'bad prefix' }), { code: ClusterErrorCode.INVALID_STATE });
  const bus = new KafkaBus({ brokers: kafka.brokers, prefix: uniquePrefix() });
  await t.rejects(bus.start('bad id', noop), { code: ClusterErrorCode.INVALID_STATE });
  await bus.close();
});

t.test('kafka bus: cross-node latency (informational)', async (t) => {
  const { create } = fixture(t);
  const [A, B] = [uid('nodeA'), uid('nodeB')];
  let waiting: (() => void) | null = null;
  const busA = create();
  const busB = create();
  await busA.start(A, noop);
  await busB.start(B, () => waiting?.());
  const samples: number[] = [];
  for (let i = 0; i < 120; i++) {
    const got = new Promise<void>((r) => (waiting = r));
    const t0 = process.hrtime.bigint();
    await busA.sendToNode(B, makeEnvelope({ body: Buffer.alloc(256) }));
    await got;
    if (i >= 20) samples.push(Number(process.hrtime.bigint() - t0) / 1e6); // skip warm-up
  }
  samples.sort((a, b) => a - b);
  const q = (p: number): string => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!.toFixed(2);
  t.comment(`sendToNode -> handler, ms: p50 ${q(0.5)}  p90 ${q(0.9)}  p99 ${q(0.99)}  max ${q(1)}`);
  t.ok(samples.length === 100, 'measured');
});
