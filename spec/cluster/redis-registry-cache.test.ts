/**
 * RedisRegistry's nodesOf cache (src/cluster/redis/node-cache.ts), kept
 * coherent by the `p:registry:changed` channel. First the cache's rules on
 * their own (a fake read and clock: races made deterministic), then against a
 * private redis-server with two registries on it (two "nodes"): hits, remote
 * and own changes, fresh reads, a server restart, the off switch, the
 * invalidation-overtakes-reply race, and close() leaving nothing open.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { type Command, Redis } from 'ioredis';
import { channels, keys } from '../../src/cluster/redis/client.js';
import { NODE_CACHE_DEFAULTS, NodeCache } from '../../src/cluster/redis/node-cache.js';
import { RedisRegistry, type RedisRegistryOptions } from '../../src/cluster/redis/registry.js';
import type { SessionRecord } from '../../src/cluster/types.js';
import { type Tap, sorted, uid } from '../conformance/fixtures.js';
import { deleteKeys, freePort, ping, startRedis, uniquePrefix } from '../helpers/services.js';
import { waitFor, within } from '../helpers/wait.js';

// ---------------------------------------------------------------------------
// The cache's rules, without Redis

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(err: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A NodeCache whose reads stay pending until the test settles them; a clock the test moves. */
function fakeCache(opts: { maxUsers?: number; ttlMs?: number; enabled?: boolean } = {}) {
  const reads: { user: string; d: Deferred<string[]> }[] = [];
  const clock = { now: 0 };
  const cache = new NodeCache(
    (user) => {
      const d = deferred<string[]>();
      reads.push({ user, d });
      return d.promise;
    },
    { ...opts, now: () => clock.now },
  );
  return { cache, reads, clock };
}

t.test('node cache: defaults', async (t) => {
  const { cache } = fakeCache();
  t.equal(cache.maxUsers, 100_000);
  t.equal(cache.ttlMs, 5_000);
  t.same(NODE_CACHE_DEFAULTS, { enabled: true, maxUsers: 100_000, ttlMs: 5_000 });
  t.throws(() => new NodeCache(async () => [], { maxUsers: 0 }), RangeError);
  t.throws(() => new NodeCache(async () => [], { ttlMs: 0 }), RangeError);
});

t.test('node cache: until enabled, every call reads on its own and nothing is kept', async (t) => {
  const { cache, reads } = fakeCache();
  const p1 = cache.get('u');
  const p2 = cache.get('u');
  t.equal(reads.length, 2, 'no shared read without a confirmed subscription');
  reads[0]!.d.resolve(['n1']);
  reads[1]!.d.resolve(['n1']);
  t.same(await p1, ['n1']);
  t.same(await p2, ['n1']);
  void cache.get('u');
  t.equal(reads.length, 3, 'nothing was cached');
  t.same(cache.stats(), { hits: 0, misses: 3, invalidations: 0, size: 0, enabled: false });
});

t.test('node cache: concurrent misses share one read; the answer is then a hit', async (t) => {
  const { cache, reads } = fakeCache();
  cache.enable();
  const [p1, p2] = [cache.get('u'), cache.get('u')];
  t.equal(reads.length, 1, 'one read for two calls');
  reads[0]!.d.resolve(['n1', 'n2']);
  t.same(await p1, ['n1', 'n2']);
  t.same(await p2, ['n1', 'n2']);
  const hit = await cache.get('u');
  t.same(hit, ['n1', 'n2']);
  t.equal(reads.length, 1, 'third call answered from the cache');
  hit.push('mutated');
  t.same(await cache.get('u'), ['n1', 'n2'], 'callers get copies');
  t.same(cache.stats(), { hits: 2, misses: 2, invalidations: 0, size: 1, enabled: true });
});

t.test('node cache: a read in flight when its user is invalidated is not cached', async (t) => {
  const { cache, reads } = fakeCache();
  cache.enable();
  const before = cache.get('u');
  cache.invalidated('u'); // overtakes the reply of the read above
  const after = cache.get('u');
  t.equal(reads.length, 2, 'a call after the invalidation does not join the older read');
  reads[0]!.d.resolve(['old']);
  t.same(await before, ['old'], 'the older call gets what it read');
  t.equal(cache.stats().size, 0, 'but it is not cached');
  reads[1]!.d.resolve(['new']);
  t.same(await after, ['new']);
  t.same(await cache.get('u'), ['new'], 'the newer read is cached');
  t.equal(reads.length, 2);
  t.equal(cache.stats().invalidations, 1);
});

t.test('node cache: an invalidation of another user spoils nothing', async (t) => {
  const { cache, reads } = fakeCache();
  cache.enable();
  const p = cache.get('u');
  cache.invalidated('other');
  reads[0]!.d.resolve(['n1']);
  await p;
  t.equal(cache.stats().size, 1);
});

t.test('node cache: a read that started before a disable/enable is not cached (epoch)', async (t) => {
  const { cache, reads } = fakeCache();
  cache.enable();
  const e0 = cache.epoch;
  const p = cache.get('u');
  cache.disable();
  cache.enable();
  t.equal(cache.epoch, e0 + 2, 'epoch moves on disable and on enable');
  reads[0]!.d.resolve(['n1']);
  t.same(await p, ['n1']);
  t.equal(cache.stats().size, 0, 'not cached');
  cache.enable();
  t.equal(cache.epoch, e0 + 2, 'enabling twice is one transition');
});

t.test('node cache: disable empties the cache', async (t) => {
  const { cache, reads } = fakeCache();
  cache.enable();
  const p = cache.get('u');
  reads[0]!.d.resolve(['n1']);
  await p;
  t.equal(cache.stats().size, 1);
  cache.disable();
  t.same(cache.stats(), { hits: 0, misses: 1, invalidations: 0, size: 0, enabled: false });
});

t.test('node cache: withdrawing the permission (an old node in the cluster) empties and stops it; granting it back restarts it', async (t) => {
  const { cache, reads } = fakeCache();
  cache.enable();
  const p = cache.get('u');
  reads[0]!.d.resolve(['n1']);
  await p;
  const epoch = cache.epoch;
  cache.permit(false);
  t.equal(cache.stats().size, 0, 'emptied');
  t.equal(cache.isEnabled, false, 'not answering');
  t.not(cache.epoch, epoch, 'reads in flight from before are not cached');
  const q = cache.get('u');
  t.equal(reads.length, 2, 'reads on its own');
  reads[1]!.d.resolve(['n2']);
  t.same(await q, ['n2']);
  t.equal(cache.stats().size, 0, 'nothing kept meanwhile');
  cache.permit(true);
  t.equal(cache.isEnabled, true, 'answers again (still subscribed)');
});

t.test('node cache: fresh reads even when cached, and refreshes the cache', async (t) => {
  const { cache, reads } = fakeCache();
  cache.enable();
  const p = cache.get('u');
  reads[0]!.d.resolve(['old']);
  await p;
  const f = cache.get('u', true);
  t.equal(reads.length, 2, 'fresh read although cached');
  const joined = cache.get('u');
  t.equal(reads.length, 2, 'a plain call meanwhile is a hit (the entry is still valid)');
  reads[1]!.d.resolve(['new']);
  t.same(await f, ['new']);
  t.same(await joined, ['old']);
  t.same(await cache.get('u'), ['new'], 'the fresh answer replaced the entry');
  t.same(cache.stats(), { hits: 2, misses: 2, invalidations: 0, size: 1, enabled: true });
});

t.test('node cache: a fresh read replaces an older read in flight; only the newest is cached', async (t) => {
  const { cache, reads } = fakeCache();
  cache.enable();
  const older = cache.get('u');
  const fresh = cache.get('u', true);
  t.equal(reads.length, 2);
  reads[1]!.d.resolve(['new']);
  t.same(await fresh, ['new']);
  reads[0]!.d.resolve(['old']);
  t.same(await older, ['old']);
  t.same(await cache.get('u'), ['new'], 'the older reply did not overwrite the newer one');
});

t.test('node cache: entries expire after ttlMs', async (t) => {
  const { cache, reads, clock } = fakeCache({ ttlMs: 100 });
  cache.enable();
  const p = cache.get('u');
  reads[0]!.d.resolve(['n1']);
  await p;
  clock.now = 100;
  void cache.get('u');
  t.equal(reads.length, 1, 'still valid at ttlMs');
  clock.now = 101;
  void cache.get('u');
  t.equal(reads.length, 2, 'expired past ttlMs');
});

t.test('node cache: at most maxUsers entries, the oldest inserted goes first', async (t) => {
  const { cache, reads } = fakeCache({ maxUsers: 2 });
  cache.enable();
  for (const u of ['u1', 'u2', 'u3']) {
    const p = cache.get(u);
    reads.at(-1)!.d.resolve([`n-${u}`]);
    await p;
  }
  t.equal(cache.stats().size, 2);
  const n = reads.length;
  await cache.get('u3');
  await cache.get('u2');
  t.equal(reads.length, n, 'u2 and u3 are cached');
  const p = cache.get('u1');
  t.equal(reads.length, n + 1, 'u1 was evicted');
  reads.at(-1)!.d.resolve(['n-u1']);
  await p;
  t.equal(cache.stats().size, 2);
  void cache.get('u2');
  t.equal(reads.length, n + 2, 'storing u1 evicted u2, now the oldest');
});

t.test('node cache: a failed read rejects every caller sharing it and caches nothing', async (t) => {
  const { cache, reads } = fakeCache();
  cache.enable();
  const [p1, p2] = [cache.get('u'), cache.get('u')];
  reads[0]!.d.reject(new Error('boom'));
  await t.rejects(p1, { message: 'boom' });
  await t.rejects(p2, { message: 'boom' });
  void cache.get('u');
  t.equal(reads.length, 2, 'the next call reads again');
});

t.test('node cache: enabled:false never enables', async (t) => {
  const { cache, reads } = fakeCache({ enabled: false });
  cache.enable();
  void cache.get('u');
  void cache.get('u');
  t.equal(reads.length, 2);
  t.equal(cache.stats().enabled, false);
});

// ---------------------------------------------------------------------------
// Against Redis

const server = await startRedis();
t.teardown(() => server.stop());
const probe = new Redis(server.url);
t.teardown(() => probe.quit());

const rec = (user: string, sessionId: string, nodeId: string): SessionRecord => ({ user, sessionId, nodeId, connectedAt: 1 });

/** Registries on one prefix of `url`, closed (and the prefix's keys deleted) at teardown. */
function fleet(tt: Tap, url = server.url) {
  const prefix = uniquePrefix();
  const made: RedisRegistry[] = [];
  tt.teardown(async () => {
    for (const r of made) await r.close();
    if (url === server.url) await deleteKeys(probe, prefix);
  });
  return {
    prefix,
    make(opts: Partial<RedisRegistryOptions> = {}): RedisRegistry {
      const r = new RedisRegistry({ redis: url, prefix, ...opts });
      made.push(r);
      return r;
    },
  };
}

/** Opens the registry's invalidation subscriber (first nodesOf) and waits until the cache answers. */
async function warm(reg: RedisRegistry): Promise<void> {
  await reg.nodesOf(uid('warm-up'));
  await waitFor(() => reg.cacheStats().enabled, { what: 'the nodesOf cache to be enabled' });
}

async function subscribers(prefix: string): Promise<number> {
  const [, n] = (await probe.pubsub('NUMSUB', channels.registryChanged(prefix))) as [string, number];
  return n;
}

t.test('redis cache: scripts publish the user on p:registry:changed when they change its hash', async (t) => {
  const { prefix, make } = fleet(t);
  const reg = make();
  const sub = new Redis(server.url);
  t.teardown(() => sub.quit());
  const heard: string[] = [];
  sub.on('message', (_ch: string, user: string) => heard.push(user));
  await sub.subscribe(channels.registryChanged(prefix));
  const user = uid('alice');
  await reg.addSession(rec(user, 's1', 'n1'));
  await reg.addSession(rec(user, 's1', 'n1')); // same record again: nothing changed
  await reg.removeSession(user, 's1', 'other-node'); // not recorded there: nothing changed
  await reg.addSession(rec(user, 's2', 'n1'));
  await reg.removeSession(user, 's1', 'n1');
  await reg.removeNode('n1'); // removes s2
  await reg.removeNode('n1'); // nothing left
  await reg.addSession(rec('marker', 's', 'n')); // published last, heard last
  await waitFor(() => heard.includes('marker'), { what: 'the marker message' });
  t.same(heard, [user, user, user, user, 'marker'], 'one message per change, none without a change');
});

t.test('redis cache: a repeated nodesOf is a hit; a session added by another registry shows up', async (t) => {
  const { prefix, make } = fleet(t);
  // A long max age: only an invalidation can make a see the change in time.
  const [a, b] = [make({ nodeCacheTtlMs: 600_000 }), make()];
  const user = uid('alice');
  await b.addSession(rec(user, 's1', 'n1'));
  await warm(a);
  t.equal(await subscribers(prefix), 1, 'one subscriber connection (a); b has not called nodesOf');
  t.same(await a.nodesOf(user), ['n1']);
  const s0 = a.cacheStats();
  t.same(await a.nodesOf(user), ['n1']);
  const s1 = a.cacheStats();
  t.equal(s1.hits, s0.hits + 1, 'second call is a hit');
  t.equal(s1.misses, s0.misses, 'and no miss');
  t.ok(s1.size >= 1);

  await b.addSession(rec(user, 's2', 'n2'));
  await waitFor(async () => sorted(await a.nodesOf(user)).join() === 'n1,n2', { what: "b's new session on a" });
  t.ok(a.cacheStats().invalidations > s1.invalidations, 'through an invalidation');
  await a.nodesOf(user);
  const s2 = a.cacheStats();
  t.same(sorted(await a.nodesOf(user)), ['n1', 'n2']);
  t.equal(a.cacheStats().hits, s2.hits + 1, 'cached again');
});

t.test('redis cache: removals by another registry (removeSession, removeNode) invalidate', async (t) => {
  const { make } = fleet(t);
  const [a, b] = [make({ nodeCacheTtlMs: 600_000 }), make()];
  const user = uid('alice');
  await b.addSession(rec(user, 's1', 'n1'));
  await b.addSession(rec(user, 's2', 'n2'));
  await warm(a);
  t.same(sorted(await a.nodesOf(user)), ['n1', 'n2']);
  const h = a.cacheStats().hits;
  t.same(sorted(await a.nodesOf(user)), ['n1', 'n2']);
  t.equal(a.cacheStats().hits, h + 1, 'cached');

  await b.removeSession(user, 's1', 'n1');
  await waitFor(async () => (await a.nodesOf(user)).join() === 'n2', { what: 'removeSession seen by a' });
  t.equal((await a.nodesOf(user)).join(), 'n2');

  t.same(await b.removeNode('n2'), [user]);
  await waitFor(async () => (await a.nodesOf(user)).length === 0, { what: 'removeNode seen by a' });
  t.same(await a.nodesOf(user), []);
});

t.test("redis cache: a registry's own writes are visible to its own nodesOf at once", async (t) => {
  const { make } = fleet(t);
  const a = make({ nodeCacheTtlMs: 600_000 });
  const user = uid('alice');
  await warm(a);
  t.same(await a.nodesOf(user), []);
  let h = a.cacheStats().hits;
  t.same(await a.nodesOf(user), [], 'cached empty answer');
  t.equal(a.cacheStats().hits, h + 1);

  const inv = a.cacheStats().invalidations;
  await a.addSession(rec(user, 's1', 'n1'));
  t.same(await a.nodesOf(user), ['n1'], 'addSession: no wait');
  // The registry hears its own publish too (one more miss at most), then caches again.
  await waitFor(() => a.cacheStats().invalidations > inv, { what: 'the own publish to come back' });
  t.same(await a.nodesOf(user), ['n1']);
  h = a.cacheStats().hits;
  t.same(await a.nodesOf(user), ['n1']);
  t.equal(a.cacheStats().hits, h + 1, 'cached');

  await a.addSession(rec(user, 's1', 'n2'));
  t.same(await a.nodesOf(user), ['n2'], 'a session moved to another node: no wait');

  await a.removeSession(user, 's1', 'n2');
  t.same(await a.nodesOf(user), [], 'removeSession: no wait');

  await a.addSession(rec(user, 's2', 'n3'));
  await a.addSession(rec(user, 's3', 'n4'));
  t.same(sorted(await a.nodesOf(user)), ['n3', 'n4']);
  await a.nodesOf(user);
  t.same(await a.removeNode('n3'), [user]);
  t.same(await a.nodesOf(user), ['n4'], 'removeNode: no wait');
});

t.test('redis cache: own writes racing own reads never leave an old answer behind', async (t) => {
  const { make } = fleet(t);
  const a = make();
  const user = uid('alice');
  await warm(a);
  for (let i = 0; i < 30; i++) {
    const node = `n${i}`;
    const reads = [a.nodesOf(user), a.nodesOf(user)];
    const write = a.addSession(rec(user, 's1', node)); // moves s1 to a new node each round
    reads.push(a.nodesOf(user));
    await write;
    await Promise.all(reads);
    t.same(await a.nodesOf(user), [node], `round ${i}`);
  }
});

t.test('redis cache: fresh:true reads Redis even when an answer is cached', async (t) => {
  const { prefix, make } = fleet(t);
  // A long max age: the stale answer below stays cached however slow the machine is.
  const a = make({ nodeCacheTtlMs: 600_000 });
  const user = uid('alice');
  await a.addSession(rec(user, 's1', 'n1'));
  await warm(a);
  t.same(await a.nodesOf(user), ['n1']);
  // Behind the registry's back: no script, no publish.
  await probe.hset(keys.userSessions(prefix, user), 'sx', JSON.stringify({ nodeId: 'behind', connectedAt: 1 }));
  const h = a.cacheStats().hits;
  t.same(await a.nodesOf(user), ['n1'], 'the cached answer does not know');
  t.equal(a.cacheStats().hits, h + 1);
  t.same(sorted(await a.nodesOf(user, { fresh: true })), ['behind', 'n1'], 'fresh sees it');
  t.equal(a.cacheStats().hits, h + 1, 'fresh is not a hit');
  t.same(sorted(await a.nodesOf(user)), ['behind', 'n1'], 'and refreshed the cache');
  t.equal(a.cacheStats().hits, h + 2);
});

t.test('redis cache: entries expire after nodeCacheTtlMs (changes behind the back)', async (t) => {
  const { prefix, make } = fleet(t);
  const a = make({ nodeCacheTtlMs: 200 });
  const user = uid('alice');
  await a.addSession(rec(user, 's1', 'n1'));
  await warm(a);
  t.same(await a.nodesOf(user), ['n1']);
  await probe.hdel(keys.userSessions(prefix, user), 's1');
  await waitFor(async () => (await a.nodesOf(user)).length === 0, { what: 'the entry to expire' });
  t.pass('an unpublished change is seen once the entry is older than nodeCacheTtlMs');
});

t.test('redis cache: nodeCacheMax bounds the number of users cached', async (t) => {
  const { make } = fleet(t);
  const a = make({ nodeCacheMax: 3 });
  await warm(a);
  for (let i = 0; i < 10; i++) await a.nodesOf(uid(`u${i}`));
  t.equal(a.cacheStats().size, 3);
});

t.test('redis cache: invalid options are refused before any connection is opened', async (t) => {
  t.throws(() => new RedisRegistry({ redis: server.url, nodeCacheMax: 0 }), RangeError);
  t.throws(() => new RedisRegistry({ redis: server.url, nodeCacheTtlMs: -1 }), RangeError);
});

t.test('redis cache: nodeCache:false never caches and opens no subscriber', async (t) => {
  const { prefix, make } = fleet(t);
  const [a, b] = [make({ nodeCache: false }), make()];
  const user = uid('alice');
  await b.addSession(rec(user, 's1', 'n1'));
  for (let i = 0; i < 5; i++) t.same(await a.nodesOf(user), ['n1']);
  t.same(a.cacheStats(), { hits: 0, misses: 5, invalidations: 0, size: 0, enabled: false });
  t.equal(await subscribers(prefix), 0, 'no subscriber connection');
  await b.addSession(rec(user, 's2', 'n2'));
  t.same(sorted(await a.nodesOf(user)), ['n1', 'n2'], "another registry's change is seen at once");
});

t.test('redis cache: an invalidation that overtakes a read reply keeps that reply out of the cache', async (t) => {
  const { make } = fleet(t);
  // a's own client, whose replies the test can hold back: the reply of a read
  // arrives, but reaches the registry only when the test lets it.
  const client = new Redis(server.url);
  t.teardown(() => client.quit());
  let holding = false;
  const held: (() => void)[] = [];
  const send = client.sendCommand.bind(client);
  client.sendCommand = (command: Command, stream?: Parameters<Redis['sendCommand']>[1]): unknown => {
    if (holding) {
      const resolve = command.resolve;
      command.resolve = (result: unknown) => held.push(() => resolve(result));
    }
    return send(command, stream);
  };
  const a = make({ redis: client, nodeCacheTtlMs: 600_000 });
  const b = make();
  const user = uid('alice');
  await warm(a);

  holding = true;
  const inFlight = a.nodesOf(user);
  // The read was answered by Redis (no session yet), but the registry has not seen the reply.
  await waitFor(() => held.length === 1, { what: 'the read reply to arrive' });
  holding = false;
  const inv = a.cacheStats().invalidations;
  await b.addSession(rec(user, 's1', 'n1'));
  await waitFor(() => a.cacheStats().invalidations > inv, { what: 'the invalidation to reach a' });
  for (const release of held.splice(0)) release();
  t.same(await inFlight, [], 'the overtaken read answers what it read');
  const s = a.cacheStats();
  t.same(await a.nodesOf(user), ['n1'], 'the next call reads again: the old answer was not cached');
  t.equal(a.cacheStats().hits, s.hits, 'it was a miss');
  t.same(await a.nodesOf(user), ['n1']);
  t.equal(a.cacheStats().hits, s.hits + 1, 'the new answer is cached');
});

t.test('redis cache: a read racing another registry’s write (no stale value stuck)', async (t) => {
  const { make } = fleet(t);
  const [a, b] = [make({ nodeCacheTtlMs: 600_000 }), make()];
  await warm(a);
  for (let i = 0; i < 20; i++) {
    const user = uid(`racer${i}`);
    const inFlight = a.nodesOf(user); // a miss: a read goes out
    const inv = a.cacheStats().invalidations;
    await b.addSession(rec(user, 's1', 'n1'));
    const got = await inFlight;
    t.ok(got.length === 0 || got.join() === 'n1', `round ${i}: either order of the race (${got.join()})`);
    await waitFor(() => a.cacheStats().invalidations > inv, { what: 'the invalidation to reach a' });
    t.same(await a.nodesOf(user), ['n1'], `round ${i}: the new node once the publish arrived`);
  }
});

// ---------------------------------------------------------------------------
// A Redis restart (no persistence: the server comes back empty)

interface Bare {
  url: string;
  start(): Promise<void>;
  kill(): Promise<void>;
}

async function bareRedis(tt: Tap): Promise<Bare> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'stomp-cluster-redis-'));
  let proc: ChildProcess | null = null;
  const r: Bare = {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
        stdio: 'ignore',
      });
      await waitFor(() => ping(port, 500), { timeoutMs: 10_000, what: `redis-server on ${port}` });
    },
    async kill() {
      const p = proc;
      proc = null;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const gone = new Promise((res) => p.once('exit', res));
      p.kill('SIGKILL');
      await gone;
    },
  };
  tt.teardown(async () => {
    await r.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  await r.start();
  return r;
}

t.test('redis cache: a Redis restart disables and empties the cache; it comes back and answers right', async (t) => {
  const redis = await bareRedis(t);
  const { make } = fleet(t, redis.url);
  const [a, b] = [make({ nodeCacheTtlMs: 600_000 }), make()];
  const user = uid('alice');
  await b.addSession(rec(user, 's1', 'n1'));
  await warm(a);
  t.same(await a.nodesOf(user), ['n1']);
  t.same(await a.nodesOf(user), ['n1']);
  t.ok(a.cacheStats().size >= 1, 'cached');

  await redis.kill();
  await waitFor(() => !a.cacheStats().enabled, { what: 'the cache to be disabled' });
  t.equal(a.cacheStats().size, 0, 'and emptied');

  await redis.start(); // empty: the sessions are gone, and no one published that
  await waitFor(() => a.cacheStats().enabled, { timeoutMs: 15_000, what: 'the cache to be enabled again' });
  t.same(await a.nodesOf(user), [], 'the lost session is not answered from a stale entry');

  // What onReset makes a node do: register its sessions again.
  await b.addSession(rec(user, 's1', 'n1'));
  await waitFor(async () => (await a.nodesOf(user)).join() === 'n1', { what: 're-registration seen by a' });
  const h = a.cacheStats().hits;
  t.same(await a.nodesOf(user), ['n1']);
  t.equal(a.cacheStats().hits, h + 1, 'cached again');
});

// ---------------------------------------------------------------------------
// close()

t.test('redis cache: close() closes the subscriber, also when the client is not the registry’s', async (t) => {
  const prefix = uniquePrefix();
  t.teardown(() => deleteKeys(probe, prefix));
  const owned = new RedisRegistry({ redis: server.url, prefix });
  const client = new Redis(server.url);
  t.teardown(() => client.quit());
  const shared = new RedisRegistry({ redis: client, prefix });
  await warm(owned);
  await warm(shared);
  t.equal(await subscribers(prefix), 2);
  await owned.close();
  await shared.close();
  await shared.close();
  t.equal(await subscribers(prefix), 0, 'both subscriber connections are gone');
  t.equal(client.status, 'ready', 'the shared client stays open');
  t.same(owned.cacheStats().enabled, false);
  await t.rejects(owned.nodesOf('x'), 'a closed registry does not answer');
  t.equal(await subscribers(prefix), 0, 'nodesOf after close() opens no subscriber');
});

t.test('redis cache: a process whose registries are closed exits on its own', async (t) => {
  const registryUrl = new URL('../../src/cluster/redis/registry.ts', import.meta.url).href;
  const child = `
    const { RedisRegistry } = await import(${JSON.stringify(registryUrl)});
    const { Redis } = await import('ioredis');
    const until = async (f) => { const end = Date.now() + 10000; while (!f()) { if (Date.now() > end) throw new Error('timeout'); await new Promise((r) => setTimeout(r, 10)); } };
    const prefix = ${JSON.stringify(uniquePrefix())};
    const client = new Redis(${JSON.stringify(server.url)});
    const regs = [new RedisRegistry({ redis: ${JSON.stringify(server.url)}, prefix }), new RedisRegistry({ redis: client, prefix })];
    for (const r of regs) {
      await r.addSession({ user: 'u', sessionId: 's', nodeId: 'n', connectedAt: 1 });
      await r.nodesOf('u');
      await until(() => r.cacheStats().enabled);
      await r.nodesOf('u');
      await r.nodesOf('u');
      if (r.cacheStats().hits < 1) throw new Error('no hit: ' + JSON.stringify(r.cacheStats()));
    }
    await regs[0].removeNode('n');
    for (const r of regs) await r.close();
    await client.quit();
    console.log('closed');
  `;
  // Only the TypeScript loader of the test runner, not its process-info hooks.
  const loader = process.execArgv.filter((a) => a.includes('typescript') || a === '--enable-source-maps');
  const proc = spawn(process.execPath, [...loader, '--input-type=module', '-e', child], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  const code = await within(exited, 30_000, 'the child process to exit by itself').catch((err: Error) => {
    t.fail(`${err.message}; output:\n${out}`);
    return -1;
  });
  t.equal(code, 0, `exit code 0 (output: ${out.trim()})`);
  t.match(out, /closed/);
});
