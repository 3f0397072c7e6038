/**
 * RedisRegistry against a private redis-server: the Registry conformance suite,
 * then what is specific to Redis (key layout, client ownership, batching,
 * races, no leaked keys).
 */
import t from 'tap';
import { Redis } from 'ioredis';
import { RedisRegistry } from '../../src/cluster/redis/registry.js';
import { registrySuite } from '../conformance/registry.js';
import { sorted, uid, usersOn } from '../conformance/fixtures.js';
import { deleteKeys, startRedis, uniquePrefix } from '../helpers/services.js';

const server = await startRedis();
t.teardown(() => server.stop());

/** A plain client for looking at the keys; closed at the end. */
const probe = new Redis(server.url);
t.teardown(() => probe.quit());

async function keysOf(prefix: string): Promise<string[]> {
  return sorted(await probe.keys(`${prefix}:*`));
}

registrySuite(t, 'redis', async () => {
  const prefix = uniquePrefix();
  return {
    create: () => new RedisRegistry({ redis: server.url, prefix }),
    cleanup: () => deleteKeys(probe, prefix),
  };
});

t.test('redis registry: key layout uses one hash tag per user, node and lock', async (t) => {
  const prefix = uniquePrefix();
  const reg = new RedisRegistry({ redis: server.url, prefix });
  t.teardown(async () => {
    await reg.close();
    await deleteKeys(probe, prefix);
  });
  await reg.addSession({ user: 'alice', sessionId: 's1', nodeId: 'n1', connectedAt: 5 });
  await reg.heartbeat('n1', 10_000, { a: 'b' });
  await reg.tryLock('drain:n2', 'n1', 10_000);
  t.same(await keysOf(prefix), [
    `${prefix}:{lock:drain:n2}`,
    `${prefix}:{n:n1}:sessions`,
    `${prefix}:{nodes}:meta`,
    `${prefix}:{nodes}:seen`,
    `${prefix}:{u:alice}:sessions`,
  ]);
  t.same(JSON.parse((await probe.hget(`${prefix}:{u:alice}:sessions`, 's1'))!), { nodeId: 'n1', connectedAt: 5 });
  t.equal(await probe.get(`${prefix}:{lock:drain:n2}`), 'n1', 'lock value is the owner');
  const pttl = await probe.pttl(`${prefix}:{lock:drain:n2}`);
  t.ok(pttl > 0 && pttl <= 10_000, `lock has a TTL (${pttl} ms)`);
});

t.test('redis registry: sessions leave no keys behind', async (t) => {
  const prefix = uniquePrefix();
  const reg = new RedisRegistry({ redis: server.url, prefix });
  t.teardown(async () => {
    await reg.close();
    await deleteKeys(probe, prefix);
  });
  await reg.addSession({ user: 'alice', sessionId: 's1', nodeId: 'n1', connectedAt: 1 });
  await reg.addSession({ user: 'bob', sessionId: 's2', nodeId: 'n1', connectedAt: 1 });
  await reg.addSession({ user: 'bob', sessionId: 's3', nodeId: 'n2', connectedAt: 1 });
  await reg.removeSession('alice', 's1', 'n1');
  await reg.removeNode('n1');
  await reg.removeSession('bob', 's3', 'n2');
  t.same(await keysOf(prefix), [], 'no keys once every session is gone');
  await reg.heartbeat('n1', 10_000);
  await reg.forgetNode('n1');
  t.same(await keysOf(prefix), [], 'forgetNode removes the node entries');
});

t.test('redis registry: a client passed in is shared, not closed', async (t) => {
  const prefix = uniquePrefix();
  const client = new Redis(server.url);
  t.teardown(async () => {
    await client.quit();
    await deleteKeys(probe, prefix);
  });
  const r1 = new RedisRegistry({ redis: client, prefix });
  const r2 = new RedisRegistry({ redis: client, prefix });
  await r1.addSession({ user: 'alice', sessionId: 's1', nodeId: 'n1', connectedAt: 1 });
  t.equal((await r2.sessionsOf('alice')).length, 1);
  await r1.close();
  await r1.close();
  t.equal(client.status, 'ready', 'the caller still owns the client');
  t.equal((await r2.sessionsOf('alice')).length, 1, 'and it still works');
});

t.test('redis registry: removeNode with more sessions than one pipeline batch', async (t) => {
  const prefix = uniquePrefix();
  const reg = new RedisRegistry({ redis: server.url, prefix });
  t.teardown(async () => {
    await reg.close();
    await deleteKeys(probe, prefix);
  });
  const users = Array.from({ length: 300 }, (_, i) => `u${i}`);
  await Promise.all(
    users.flatMap((u) => [
      reg.addSession({ user: u, sessionId: `${u}-a`, nodeId: 'dead', connectedAt: 1 }),
      reg.addSession({ user: u, sessionId: `${u}-b`, nodeId: 'dead', connectedAt: 1 }),
      reg.addSession({ user: u, sessionId: `${u}-c`, nodeId: 'alive', connectedAt: 1 }),
    ]),
  );
  t.equal((await usersOn(reg, 'dead', users)).length, 300);
  const affected = await reg.removeNode('dead');
  t.same(sorted(affected), sorted(users), 'every user reported once');
  t.same(await usersOn(reg, 'dead', users), []);
  t.same(await reg.sessionsOf('u7'), [{ user: 'u7', sessionId: 'u7-c', nodeId: 'alive', connectedAt: 1 }]);
});

t.test('redis registry: racing late removals never erase the newer session', async (t) => {
  const prefix = uniquePrefix();
  const [a, b] = [new RedisRegistry({ redis: server.url, prefix }), new RedisRegistry({ redis: server.url, prefix })];
  t.teardown(async () => {
    await a.close();
    await b.close();
    await deleteKeys(probe, prefix);
  });
  const user = uid('alice');
  for (let i = 0; i < 50; i++) {
    const sid = `s${i}`;
    await a.addSession({ user, sessionId: sid, nodeId: 'old', connectedAt: 1 });
    // The move to the new node and the old node's late cleanup race each other.
    await Promise.all([b.addSession({ user, sessionId: sid, nodeId: 'new', connectedAt: 2 }), a.removeSession(user, sid, 'old')]);
  }
  const left = await a.sessionsOf(user);
  // Either order of the race is legal, but a removal by "old" must never take a "new" record.
  t.ok(
    left.every((s) => s.nodeId === 'new'),
    'only records of the new node remain',
  );
  t.same(await usersOn(a, 'old', [user]), [], 'the old node holds nothing');
});

t.test('redis registry: liveness uses the Redis clock', async (t) => {
  const prefix = uniquePrefix();
  const reg = new RedisRegistry({ redis: server.url, prefix });
  t.teardown(async () => {
    await reg.close();
    await deleteKeys(probe, prefix);
  });
  const [sec, usec] = await probe.time();
  const redisNow = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  await reg.heartbeat('n1', 60_000);
  const n = (await reg.nodes()).find((x) => x.nodeId === 'n1');
  t.ok(n && n.lastSeen >= redisNow && n.lastSeen < redisNow + 5000, 'lastSeen is Redis time');
});
