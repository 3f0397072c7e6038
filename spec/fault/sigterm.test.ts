/**
 * Issue 4: SIGTERM a node under load. Its clients are told to reconnect (ERROR
 * STOMP_ERR_SERVER_SHUTDOWN, then close), its topic is drained and handed on,
 * it exits on its own, and nothing accepted is lost.
 */
import { writeFileSync } from 'node:fs';
import t from 'tap';
import { startKafka, startRedis, uniquePrefix } from '../helpers/services.js';
import { startNode } from '../helpers/nodes.js';
import { Fleet, recordResult, stream } from '../helpers/faults.js';

t.setTimeout(900_000);

const USERS = 100;
const PER_USER = 100;

t.test('SIGTERM a node under load', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const kafka = await startKafka();
  t.teardown(() => kafka.stop());
  const env = { REDIS_URL: redis.url, KAFKA_BROKERS: kafka.brokers, CLUSTER_PREFIX: uniquePrefix('term') };
  const [a, b] = await Promise.all([startNode(t, env), startNode(t, env)]);
  let bGone = false;
  const names = [...Array(USERS).keys()].map((i) => `u${i}`);
  const fleet = new Fleet(names, { url: () => (bGone ? a.url : b.url) });
  t.teardown(() => fleet.stop());
  fleet.start();
  await fleet.until(() => fleet.allSubscribed(), 30_000, 'all users subscribed on B');
  let termAt = 0;
  const { accepted, retries } = await stream(names, PER_USER, [(u, body) => a.sendToUser(u, '/queue/x', body)], (n) => {
    if (n === 3000) {
      bGone = true;
      termAt = Date.now();
      b.kill('SIGTERM');
    }
  });
  t.equal(accepted, USERS * PER_USER);
  const code = await b.exited;
  t.equal(code, 0, 'the node drained and exited on its own');
  await fleet.until(() => fleet.tally(PER_USER).lost === 0, 60_000, 'every message delivered').catch((err: Error) => {
    const missing = [...fleet.users.values()]
      .map((u) => ({ user: u.name, missing: [...Array(PER_USER).keys()].filter((i) => !u.received.includes(String(i))) }))
      .filter((m) => m.missing.length > 0);
    writeFileSync('/tmp/sigterm-diag.txt', JSON.stringify({ tally: fleet.tally(PER_USER), missing: missing.slice(0, 10), users: missing.length }) + '\nA:\n' + a.output().slice(-20000) + '\nB:\n' + b.output().slice(-20000));
    throw err;
  });
  const r = fleet.tally(PER_USER);
  t.equal(r.lost, 0, 'lost');
  const told = [...fleet.users.values()].filter((u) => u.errors.includes('STOMP_ERR_SERVER_SHUTDOWN')).length;
  t.equal(told, USERS, 'every client was told to reconnect');
  recordResult({ test: 'SIGTERM a node under load', ...r, retries, recoveryMs: fleet.recoveryMs(termAt) });
});
