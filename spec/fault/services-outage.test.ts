/**
 * Issue 4: restart Redis mid-stream; stop Kafka for 5 s mid-stream. 100 users
 * on node B, 10,000 messages sent through node A's HTTP API; a send refused
 * during an outage was not accepted and is retried; nothing accepted is lost.
 */
import t from 'tap';
import { startKafka, startRedis, uniquePrefix } from '../helpers/services.js';
import { startNode } from '../helpers/nodes.js';
import { Fleet, recordResult, startPausableKafka, startRestartableRedis, stream } from '../helpers/faults.js';

t.setTimeout(900_000);

const USERS = 100;
const PER_USER = 100;
const FAST_FAILOVER = { NODE_TTL_MS: '4000', NODE_HEARTBEAT_MS: '500', DEAD_NODE_CHECK_MS: '500' };
const names = [...Array(USERS).keys()].map((i) => `u${i}`);

t.test('restart Redis mid-stream', async (t) => {
  const redis = await startRestartableRedis(t);
  const kafka = await startKafka();
  t.teardown(() => kafka.stop());
  const env = { REDIS_URL: redis.url, KAFKA_BROKERS: kafka.brokers, CLUSTER_PREFIX: uniquePrefix('redis'), ...FAST_FAILOVER };
  const [a, b] = await Promise.all([startNode(t, env), startNode(t, env)]);
  const fleet = new Fleet(names, { url: () => b.url });
  t.teardown(() => fleet.stop());
  fleet.start();
  await fleet.until(() => fleet.allSubscribed(), 30_000, 'all users subscribed on B');
  let restart: Promise<void> | null = null;
  let restartedAt = 0;
  const { accepted, retries } = await stream(names, PER_USER, [(u, body) => a.sendToUser(u, '/queue/x', body)], (n) => {
    if (n === 3000) {
      restartedAt = Date.now();
      restart = redis.restart(1000);
    }
  });
  await restart;
  t.equal(accepted, USERS * PER_USER);
  await fleet.until(() => fleet.tally(PER_USER).lost === 0, 60_000, 'every message delivered');
  const r = fleet.tally(PER_USER);
  t.equal(r.lost, 0, 'lost');
  recordResult({ test: 'restart Redis mid-stream (1 s down)', ...r, retries, recoveryMs: fleet.recoveryMs(restartedAt) });
});

t.test('stop Kafka for 5 s mid-stream', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const kafka = await startPausableKafka(t);
  const env = { REDIS_URL: redis.url, KAFKA_BROKERS: kafka.brokers, CLUSTER_PREFIX: uniquePrefix('kpause'), ...FAST_FAILOVER, NODE_TTL_MS: '15000' };
  const [a, b] = await Promise.all([startNode(t, env), startNode(t, env)]);
  const fleet = new Fleet(names, { url: () => b.url });
  t.teardown(() => fleet.stop());
  fleet.start();
  await fleet.until(() => fleet.allSubscribed(), 30_000, 'all users subscribed on B');
  let pausedAt = 0;
  let resumed: Promise<void> | null = null;
  const { accepted, retries } = await stream(names, PER_USER, [(u, body) => a.sendToUser(u, '/queue/x', body)], (n) => {
    if (n === 3000) {
      pausedAt = Date.now();
      kafka.pause();
      resumed = new Promise((r) => setTimeout(r, 5000)).then(() => kafka.resume()); // the outage itself
    }
  });
  await resumed;
  t.equal(accepted, USERS * PER_USER);
  await fleet.until(() => fleet.tally(PER_USER).lost === 0, 90_000, 'every message delivered');
  const r = fleet.tally(PER_USER);
  t.equal(r.lost, 0, 'lost');
  recordResult({ test: 'stop (SIGSTOP) Kafka for 5 s mid-stream', ...r, retries, recoveryMs: fleet.recoveryMs(pausedAt) });
});
