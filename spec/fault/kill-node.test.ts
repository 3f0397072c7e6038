/**
 * Issue 4: kill -9 a node while 10,000 messages stream to 100 users on it.
 * The users' @stomp/stompjs clients reconnect to the other node; the survivor
 * detects the dead node, drains its topic and re-routes; every message arrives.
 */
import t from 'tap';
import { startKafka, startRedis, uniquePrefix } from '../helpers/services.js';
import { startNode } from '../helpers/nodes.js';
import { Fleet, recordResult, stream } from '../helpers/faults.js';

t.setTimeout(900_000);

const USERS = 100;
const PER_USER = 100;
export const FAST_FAILOVER = { NODE_TTL_MS: '2000', NODE_HEARTBEAT_MS: '500', DEAD_NODE_CHECK_MS: '500' };

for (const ack of ['auto', 'client-individual'] as const)
t.test(`kill -9 a node mid-stream (ack:${ack}): nothing accepted is lost`, async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const kafka = await startKafka();
  t.teardown(() => kafka.stop());
  const env = { REDIS_URL: redis.url, KAFKA_BROKERS: kafka.brokers, CLUSTER_PREFIX: uniquePrefix('kill'), ...FAST_FAILOVER };
  const [a, b] = await Promise.all([startNode(t, env), startNode(t, env)]);
  let bDead = false;
  const names = [...Array(USERS).keys()].map((i) => `u${i}`);
  const fleet = new Fleet(names, { url: () => (bDead ? a.url : b.url), ack });
  t.teardown(() => fleet.stop());
  fleet.start();
  await fleet.until(() => fleet.allSubscribed(), 30_000, 'all users subscribed on B');

  let killedAt = 0;
  const { accepted, retries } = await stream(names, PER_USER, [(u, body) => a.sendToUser(u, '/queue/x', body)], (n) => {
    if (n === 3000 && !bDead) {
      bDead = true;
      killedAt = Date.now();
      b.kill('SIGKILL');
    }
  });
  t.equal(accepted, USERS * PER_USER, 'every send was accepted (retried if refused)');
  await fleet.until(() => fleet.tally(PER_USER).lost === 0, 60_000, 'every message delivered');
  const recoveryMs = fleet.recoveryMs(killedAt);
  const r = fleet.tally(PER_USER);
  t.equal(r.lost, 0, 'lost');
  t.ok([...fleet.users.values()].every((u) => u.connects >= 2), 'every user reconnected to the survivor');
  recordResult({ test: `kill -9 a node mid-stream (ack:${ack})`, ...r, retries, recoveryMs });
});
