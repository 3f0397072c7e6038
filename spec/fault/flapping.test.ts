/**
 * Issue 4: a user reconnecting every 100 ms, alternating nodes, while messages
 * stream to it. Forwarding stays bounded (no endless bouncing), and once the
 * user settles every message has arrived (client-individual acks: what was not
 * acknowledged goes back to the inbox and is replayed).
 */
import t from 'tap';
import { startKafka, startRedis, uniquePrefix } from '../helpers/services.js';
import { startNode, API_TOKEN, type NodeProc } from '../helpers/nodes.js';
import { RawClient } from '../helpers/client.js';
import { recordResult, stream } from '../helpers/faults.js';
import { waitFor } from '../helpers/wait.js';

t.setTimeout(900_000);

const TOTAL = 1000;

async function stats(n: NodeProc): Promise<{ forwarded: number; inboxed: number; replayed: number }> {
  const r = await fetch(`http://127.0.0.1:${n.port}/api/cluster`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
  return ((await r.json()) as { stats: { forwarded: number; inboxed: number; replayed: number } }).stats;
}

t.test('a user flapping between nodes every 100 ms gets everything once it settles', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const kafka = await startKafka();
  t.teardown(() => kafka.stop());
  const env = { REDIS_URL: redis.url, KAFKA_BROKERS: kafka.brokers, CLUSTER_PREFIX: uniquePrefix('flap') };
  const [a, b] = await Promise.all([startNode(t, env), startNode(t, env)]);
  const received: string[] = [];
  let flapping = true;
  let current: RawClient | null = null;
  let connects = 0;

  const session = async (node: NodeProc, holdMs: number | null): Promise<void> => {
    const c = await RawClient.ws(node.url);
    current = c;
    await c.connect({ login: 'flip' });
    connects++;
    c.send({ command: 'SUBSCRIBE', headers: { id: '1', destination: '/user/queue/x', ack: 'client-individual' } });
    const end = holdMs === null ? Infinity : Date.now() + holdMs;
    for (;;) {
      const left = end - Date.now();
      if (left <= 0) break;
      const m = await c.next('MESSAGE', Math.min(left, 60_000)).catch(() => null);
      if (!m) break;
      received.push(m.body.toString());
      c.send({ command: 'ACK', headers: { id: m.headers['ack']! } });
      if (holdMs === null && new Set(received).size >= TOTAL) break;
    }
    if (holdMs !== null) c.close(); // abrupt: whatever was unacked must come back
  };

  const flapper = (async () => {
    let i = 0;
    while (flapping) await session(i++ % 2 === 0 ? a : b, 100);
  })();
  const sent = await stream(['flip'], TOTAL, [(u, body) => a.sendToUser(u, '/queue/x', body), (u, body) => b.sendToUser(u, '/queue/x', body)]);
  flapping = false;
  await flapper;
  t.equal(sent.accepted, TOTAL);
  // Settle on node B and wait for the rest.
  await session(b, null);
  await waitFor(() => new Set(received).size >= TOTAL, { timeoutMs: 60_000, what: 'all messages after settling' });
  (current as RawClient | null)?.close();
  const unique = new Set(received).size;
  t.equal(unique, TOTAL, 'every message arrived');
  const [sa, sb] = await Promise.all([stats(a), stats(b)]);
  const forwarded = sa.forwarded + sb.forwarded;
  t.ok(forwarded <= TOTAL * 3, `forwarding bounded (${forwarded} forwards for ${TOTAL} messages, hop limit 3)`);
  recordResult({
    test: 'user reconnecting every 100 ms, alternating nodes',
    expected: TOTAL,
    unique,
    lost: TOTAL - unique,
    duplicates: received.length - unique,
    connects,
    forwarded,
    inboxed: sa.inboxed + sb.inboxed,
    replayed: sa.replayed + sb.replayed,
  });
});
