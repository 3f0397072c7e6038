/**
 * Issue 3: 2–3 nodes as separate processes (`node dist/main.js` with env) on
 * real Redis and a real Kafka broker. Server-side sendToUser is called through
 * each node's HTTP API, as a backend would.
 */
import t from 'tap';
import { startKafka, startRedis, uniquePrefix } from '../helpers/services.js';
import { API_TOKEN, startNode, type NodeProc } from '../helpers/nodes.js';
import { waitFor } from '../helpers/wait.js';

t.setTimeout(240_000);

const redis = await startRedis();
t.teardown(() => redis.stop());
const kafka = await startKafka();
t.teardown(() => kafka.stop());

function clusterEnv(prefix: string): Record<string, string> {
  return { REDIS_URL: redis.url, KAFKA_BROKERS: kafka.brokers, CLUSTER_PREFIX: prefix };
}

async function userInfo(n: NodeProc, user: string): Promise<{ online: boolean; nodes: string[]; sessions: unknown[] }> {
  const r = await fetch(`http://127.0.0.1:${n.port}/api/users/${user}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
  return (await r.json()) as { online: boolean; nodes: string[]; sessions: unknown[] };
}

t.test('three nodes: cross-node user delivery, tabs, client SEND, topics, join, registry cleanup', async (t) => {
  const env = clusterEnv(uniquePrefix('mn'));
  const [a, b, c] = await Promise.all([startNode(t, env), startNode(t, env), startNode(t, env)]);
  t.not(a.nodeId, b.nodeId, 'nodes pick their own ids');

  await t.test('a user on node B gets sendToUser called on node A', async (t) => {
    const bob = await b.user('bob');
    await bob.subscribe('1', '/user/queue/x');
    await a.sendToUser('bob', '/queue/x', { from: 'A' });
    const m = await bob.next('MESSAGE', 10_000);
    t.equal(m.headers['destination'], '/user/queue/x');
    t.equal(m.headers['content-type'], 'application/json');
    t.same(JSON.parse(m.body.toString()), { from: 'A' });
    bob.close();
  });

  await t.test('a user with tabs on A and B gets one copy in each, in order', async (t) => {
    const tabA = await a.user('carol');
    const tabB = await b.user('carol');
    await tabA.subscribe('1', '/user/queue/x');
    await tabB.subscribe('1', '/user/queue/x');
    await waitFor(async () => (await userInfo(c, 'carol')).nodes.length === 2);
    for (let i = 0; i < 100; i++) await c.sendToUser('carol', '/queue/x', `m${i}`);
    const want = [...Array(100).keys()].map((i) => `m${i}`);
    t.same((await tabA.messages(100, 10_000)).map((m) => m.body.toString()), want, 'tab on A: all, in order');
    t.same((await tabB.messages(100, 10_000)).map((m) => m.body.toString()), want, 'tab on B: all, in order');
    await c.sendToUser('carol', '/queue/x', 'marker');
    t.equal((await tabA.next('MESSAGE', 10_000)).body.toString(), 'marker', 'no duplicate on A');
    t.equal((await tabB.next('MESSAGE', 10_000)).body.toString(), 'marker', 'no duplicate on B');
  });

  await t.test('a client on A SENDs to /user/bob/queue/x and bob on C gets it', async (t) => {
    const bob = await c.user('bob');
    await bob.subscribe('1', '/user/queue/x');
    const alice = await a.user('alice');
    alice.send({ command: 'SEND', headers: { destination: '/user/bob/queue/x', receipt: 'r' }, body: 'hello from alice' });
    await alice.next('RECEIPT');
    const m = await bob.next('MESSAGE', 10_000);
    t.equal(m.body.toString(), 'hello from alice');
    t.equal(m.headers['destination'], '/user/queue/x');
  });

  await t.test('/topic reaches subscribers on every node', async (t) => {
    const subs = await Promise.all([a.user('t1'), b.user('t2'), c.user('t3')]);
    for (const s of subs) await s.subscribe('t', '/topic/news');
    const pub = await b.user('pub');
    pub.send({ command: 'SEND', headers: { destination: '/topic/news' }, body: 'extra extra' });
    for (const s of subs) {
      const m = await s.next('MESSAGE', 10_000);
      t.equal(m.body.toString(), 'extra extra');
      t.equal(m.headers['destination'], '/topic/news');
    }
    await a.publish('news', 'via api');
    for (const s of subs) t.equal((await s.next('MESSAGE', 10_000)).body.toString(), 'via api');
  });

  await t.test('a node started mid-traffic joins with no configuration', async (t) => {
    const dan = await a.user('dan');
    await dan.subscribe('1', '/user/queue/x');
    let sent = 0;
    let stop = false;
    const traffic = (async () => {
      while (!stop && sent < 2000) await b.sendToUser('dan', '/queue/x', `n${sent++}`);
    })();
    const d = await startNode(t, env);
    const dan2 = await d.user('dan');
    await dan2.subscribe('1', '/user/queue/x');
    await waitFor(async () => (await userInfo(a, 'dan')).nodes.includes(d.nodeId));
    const before = sent;
    await waitFor(() => sent >= before + 20, { timeoutMs: 10_000 });
    stop = true;
    await traffic;
    const got = await dan.messages(sent, 20_000);
    t.same(got.map((m) => m.body.toString()), [...Array(sent).keys()].map((i) => `n${i}`), 'existing session: all, in order');
    await d.sendToUser('dan', '/queue/x', 'from the new node');
    t.equal((await dan2.until(() => dan2.frames.find((f) => f.command === 'MESSAGE' && f.body.toString() === 'from the new node'), 10_000)).headers['destination'], '/user/queue/x');
    const cluster = await (await fetch(`http://127.0.0.1:${d.port}/api/cluster`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).json() as { nodes: Array<{ node: string; alive: boolean }> };
    t.ok([a, b, c, d].every((n) => cluster.nodes.some((x) => x.node === n.nodeId && x.alive)), 'all four nodes alive in the registry');
  });

  await t.test('disconnects clean the registry', async (t) => {
    const erin = await b.user('erin');
    await waitFor(async () => (await userInfo(a, 'erin')).online);
    erin.send({ command: 'DISCONNECT', headers: { receipt: 'bye' } });
    await erin.next('RECEIPT');
    await waitFor(async () => !(await userInfo(a, 'erin')).online, { timeoutMs: 5000 });
    t.pass('erin is offline everywhere after DISCONNECT');
    const fay = await c.user('fay');
    await waitFor(async () => (await userInfo(a, 'fay')).online);
    fay.close(); // abrupt
    await waitFor(async () => !(await userInfo(a, 'fay')).online, { timeoutMs: 5000 });
    t.pass('fay is offline everywhere after an abrupt close');
  });

  await t.test('/metrics of a cluster node reports bus lag, remote sends and the registry look-up cache', async (t) => {
    const text = await (await fetch(`http://127.0.0.1:${a.port}/metrics`)).text();
    t.match(text, /stomp_bus_lag\{node="[^"]+"\} \d+/);
    t.match(text, /stomp_messages_sent_remote_total\{node="[^"]+"\} [1-9]\d*/);
    // Node C sent carol 100 messages above: one look-up read Redis, the rest came from the cache.
    const textC = await (await fetch(`http://127.0.0.1:${c.port}/metrics`)).text();
    t.match(textC, /stomp_registry_cache_enabled\{node="[^"]+"\} 1\b/, 'the look-up cache answers (its Redis channel is subscribed)');
    t.match(textC, /stomp_registry_cache_misses_total\{node="[^"]+"\} [1-9]\d*/, 'look-ups that read Redis');
    t.match(textC, /stomp_registry_cache_hits_total\{node="[^"]+"\} [1-9]\d\d*/, 'look-ups answered from the cache');
  });
});
