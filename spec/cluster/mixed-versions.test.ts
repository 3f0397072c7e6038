/**
 * A cluster in the middle of a rolling upgrade: one node plays a version from
 * before envelope batches and registry notices (it announces no features,
 * NODE_FEATURES=""). The others must send it one envelope per Kafka message,
 * and must not answer look-ups from their cache while it is alive; once it
 * leaves, batching and the cache come back. Real node processes, Redis, Kafka.
 */
import t from 'tap';
import Kafka from 'node-rdkafka';
import type { KafkaConsumer } from 'node-rdkafka';
import { startKafka, startRedis, uniquePrefix } from '../helpers/services.js';
import { startNode, type NodeProc } from '../helpers/nodes.js';
import { waitFor } from '../helpers/wait.js';

t.setTimeout(180_000);

const redis = await startRedis();
t.teardown(() => redis.stop());
const kafka = await startKafka();
t.teardown(() => kafka.stop());

const probe: KafkaConsumer = new Kafka.KafkaConsumer({ 'metadata.broker.list': kafka.brokers, 'group.id': `probe-${process.pid}` }, {});
await new Promise<void>((resolve, reject) => probe.connect({}, (err) => (err ? reject(err) : resolve())));
t.teardown(() => new Promise<void>((resolve) => probe.disconnect(() => resolve())));

/** Kafka messages in a node's topic so far (its high watermark; one partition). */
function messagesIn(prefix: string, node: NodeProc): Promise<number> {
  return new Promise((resolve, reject) =>
    probe.queryWatermarkOffsets(`${prefix}.node.${node.nodeId}`, 0, 5000, (err, wm) => (err ? reject(err) : resolve(wm.highOffset))),
  );
}

async function metric(node: NodeProc, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${node.port}/metrics`)).text();
  const m = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/** 50 SEND frames in ONE WebSocket message: parsed and routed in one turn of node A's event loop. */
function burst(user: string, tag: string): string {
  let s = '';
  for (let i = 0; i < 50; i++) s += `SEND\ndestination:/user/${user}/queue/x\n\n${tag}${i}\0`;
  return s;
}

t.test('a node without the features gets single envelopes; the cache waits until it is gone', async (t) => {
  const prefix = uniquePrefix('mv');
  const env = { REDIS_URL: redis.url, KAFKA_BROKERS: kafka.brokers, CLUSTER_PREFIX: prefix, DEAD_NODE_CHECK_MS: '300' };
  const [a, old, nw] = await Promise.all([startNode(t, env), startNode(t, { ...env, NODE_FEATURES: '' }), startNode(t, env)]);

  const bob = await old.user('bob'); // on the "old" node
  await bob.subscribe('1', '/user/queue/x');
  const carol = await nw.user('carol'); // on a new node
  await carol.subscribe('1', '/user/queue/x');
  const sender = await a.user('sender');

  await waitFor(async () => (await metric(a, 'stomp_registry_cache_enabled')) === 0, { timeoutMs: 10_000, what: 'cache off on A' });
  t.pass("node A's look-up cache is off while a node that does not announce registry changes is alive");

  const oldBefore = await messagesIn(prefix, old);
  sender.sendText(burst('bob', 'b'));
  const toBob = await bob.messages(50, 15_000);
  t.same(toBob.map((m) => m.body.toString()), [...Array(50).keys()].map((i) => `b${i}`), 'bob on the old node: all 50, in order');
  t.equal((await messagesIn(prefix, old)) - oldBefore, 50, "one Kafka message per envelope on the old node's topic");

  sender.sendText(burst('carol', 'c'));
  const toCarol = await carol.messages(50, 15_000);
  t.same(toCarol.map((m) => m.body.toString()), [...Array(50).keys()].map((i) => `c${i}`), 'carol on a new node: all 50, in order');

  // The old node leaves (graceful): the cache comes back on.
  bob.close();
  old.kill('SIGTERM');
  await old.exited;
  await waitFor(async () => (await metric(a, 'stomp_registry_cache_enabled')) === 1, { timeoutMs: 15_000, what: 'cache back on A' });
  t.pass("node A's look-up cache answers again once every node announces registry changes");
  const newBefore = await messagesIn(prefix, nw);
  sender.sendText(burst('carol', 'd'));
  const again = await carol.messages(50, 15_000);
  t.same(again.map((m) => m.body.toString()), [...Array(50).keys()].map((i) => `d${i}`), 'carol: all 50 again, in order');
  const newMsgs = (await messagesIn(prefix, nw)) - newBefore;
  t.ok(newMsgs < 50, `batched to the new node now: ${newMsgs} Kafka message(s) for 50 envelopes`);
});
