/**
 * Registry in Redis (ioredis; works with a single Redis or a Redis Cluster).
 * Key layout and scripts: ./client.ts. Liveness and lastSeen use the Redis
 * server clock, so nodes with skewed clocks still agree on who is alive.
 *
 * nodesOf() answers from a cache (./node-cache.ts) kept coherent by the
 * `p:registry:changed` channel (./invalidations.ts): every script that changes
 * a user's sessions publishes the user. The cache only answers while that
 * subscription is confirmed; the subscriber connection is opened by the first
 * nodesOf() call. This registry's own writes drop the user's entry themselves,
 * so once addSession/removeSession/removeNode resolved, nodesOf() on this
 * instance reflects them; other instances see them once the message arrives.
 */
import type { NodeInfo, Registry, SessionRecord } from '../types.js';
import { type ClusterLogger, silentLogger } from '../errors.js';
import {
  DEFAULT_PREFIX,
  type OwnedClient,
  type RedisBackendOptions,
  type ScriptedClient,
  type ScriptedPipeline,
  channels,
  closeClient,
  keys,
  openClient,
  withScripts,
} from './client.js';
import { InvalidationSubscriber } from './invalidations.js';
import { NodeCache, type NodeCacheStats } from './node-cache.js';

export interface RedisRegistryOptions extends RedisBackendOptions {
  // Defaults: NODE_CACHE_DEFAULTS in ./node-cache.ts.
  /** Cache nodesOf() answers, invalidated through Redis pub/sub. false: every call reads Redis. */
  nodeCache?: boolean;
  /** Max users in the nodesOf cache; the oldest inserted is evicted first. */
  nodeCacheMax?: number;
  /** Max age (ms) of a cached answer: a safety net for changes made behind the registry's back. */
  nodeCacheTtlMs?: number;
}

/** How many commands go into one pipeline when a node's sessions are removed. */
const BATCH = 500;

interface StoredSession {
  nodeId: string;
  connectedAt: number;
}

function parseStored(raw: string): StoredSession | null {
  try {
    const v = JSON.parse(raw) as Partial<StoredSession>;
    if (typeof v.nodeId === 'string' && typeof v.connectedAt === 'number') return { nodeId: v.nodeId, connectedAt: v.connectedAt };
  } catch {
    /* unreadable: treated as absent */
  }
  return null;
}

const member = (user: string, sessionId: string): string => JSON.stringify([user, sessionId]);

function parseMember(raw: string): [string, string] | null {
  try {
    const v = JSON.parse(raw) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string') return [v[0], v[1]];
  } catch {
    /* ignore */
  }
  return null;
}

export class RedisRegistry implements Registry {
  readonly prefix: string;
  private readonly conn: OwnedClient;
  private readonly redis: ScriptedClient;
  private readonly log: ClusterLogger;
  /** Where the scripts publish changed users. */
  private readonly channel: string;
  private readonly cache: NodeCache;
  /** Null when the cache is off by configuration. */
  private readonly invalidations: InvalidationSubscriber | null;
  private closed: Promise<void> | null = null;

  constructor(opts: RedisRegistryOptions) {
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.log = opts.logger ?? silentLogger;
    this.channel = channels.registryChanged(this.prefix);
    // Validates the options before any connection is opened.
    this.cache = new NodeCache((user) => this.readNodes(user), {
      enabled: opts.nodeCache,
      maxUsers: opts.nodeCacheMax,
      ttlMs: opts.nodeCacheTtlMs,
    });
    this.conn = openClient(opts.redis, this.log, 'stomp-cluster-registry');
    this.redis = withScripts(this.conn.client);
    this.invalidations = this.cache.configured
      ? new InvalidationSubscriber(
          this.conn.client,
          this.channel,
          {
            subscribed: () => this.cache.enable(),
            lost: () => this.cache.disable(),
            message: (user) => this.cache.invalidated(user),
          },
          this.log,
        )
      : null;
  }

  /**
   * Every re-established connection may lead to a server that lost its state
   * (a restart without persistence): tell the node so it registers again.
   */
  onReset(listener: () => void): void {
    let first = this.conn.client.status === 'ready';
    this.conn.client.on('ready', () => {
      if (first) listener();
      first = true;
    });
  }

  async addSession(rec: SessionRecord): Promise<void> {
    const p = this.prefix;
    const stored: StoredSession = { nodeId: rec.nodeId, connectedAt: rec.connectedAt };
    // Index first: whatever is visible in the user's hash is always findable by removeNode().
    await this.redis.sadd(keys.nodeSessions(p, rec.nodeId), member(rec.user, rec.sessionId));
    let prev: string | null;
    // Own writes invalidate locally, before (reads from now on are not cached) and after (a
    // read that overlapped the write is dropped), whether or not the reply came back.
    this.cache.invalidate(rec.user);
    try {
      prev = (await this.redis.scAddSession(
        keys.userSessions(p, rec.user),
        rec.sessionId,
        JSON.stringify(stored),
        this.channel,
        rec.user,
      )) as string | null;
    } finally {
      this.cache.invalidate(rec.user);
    }
    const old = prev === null ? null : parseStored(prev);
    if (old && old.nodeId !== rec.nodeId) {
      // The session moved: the old node's index must no longer list it.
      await this.redis.srem(keys.nodeSessions(p, old.nodeId), member(rec.user, rec.sessionId));
    }
  }

  async removeSession(user: string, sessionId: string, nodeId: string): Promise<void> {
    const p = this.prefix;
    this.cache.invalidate(user);
    try {
      // Atomic compare-and-delete: a late disconnect from an old node never erases a newer session.
      await this.redis.scRemoveSession(keys.userSessions(p, user), sessionId, nodeId, this.channel, user);
    } finally {
      this.cache.invalidate(user);
    }
    // This node's index entry goes either way: the session is not (or no longer) on nodeId.
    await this.redis.srem(keys.nodeSessions(p, nodeId), member(user, sessionId));
  }

  async sessionsOf(user: string): Promise<SessionRecord[]> {
    const all = await this.redis.hgetall(keys.userSessions(this.prefix, user));
    const out: SessionRecord[] = [];
    for (const [sessionId, raw] of Object.entries(all)) {
      const s = parseStored(raw);
      if (s) out.push({ sessionId, user, nodeId: s.nodeId, connectedAt: s.connectedAt });
    }
    return out;
  }

  /**
   * From the cache when it may answer (see the top of this file); `fresh` always
   * reads Redis (and may refresh the cache). Opens the invalidation subscriber
   * on first use.
   */
  nodesOf(user: string, opts?: { fresh?: boolean }): Promise<string[]> {
    if (this.closed === null) this.invalidations?.start();
    return this.cache.get(user, opts?.fresh === true);
  }

  permitCache(allowed: boolean): void {
    this.cache.permit(allowed);
  }

  /** Counters of the nodesOf cache (./node-cache.ts NodeCacheStats). */
  cacheStats(): NodeCacheStats {
    return this.cache.stats();
  }

  /** Distinct node ids in the user's hash (unreadable records ignored), in Redis's order. */
  private async readNodes(user: string): Promise<string[]> {
    const nodes = new Set<string>();
    for (const raw of await this.redis.hvals(keys.userSessions(this.prefix, user))) {
      const s = parseStored(raw);
      if (s) nodes.add(s.nodeId);
    }
    return [...nodes];
  }

  async removeNode(nodeId: string): Promise<string[]> {
    const p = this.prefix;
    const indexKey = keys.nodeSessions(p, nodeId);
    const members = await this.redis.smembers(indexKey);
    const affected = new Set<string>();
    for (let i = 0; i < members.length; i += BATCH) {
      const pairs = members
        .slice(i, i + BATCH)
        .map(parseMember)
        .filter((x): x is [string, string] => x !== null);
      const pipe = this.redis.pipeline() as ScriptedPipeline;
      for (const [user, sid] of pairs) {
        pipe.scRemoveSession(keys.userSessions(p, user), sid, nodeId, this.channel, user);
        this.cache.invalidate(user);
      }
      let results: [Error | null, unknown][];
      try {
        results = (await pipe.exec()) ?? [];
      } finally {
        for (const [user] of pairs) this.cache.invalidate(user);
      }
      results.forEach(([err, removed], j) => {
        if (err) throw err;
        if (removed === 1) affected.add(pairs[j]![0]);
      });
    }
    await this.redis.del(indexKey);
    return [...affected];
  }

  async heartbeat(nodeId: string, ttlMs: number, meta?: Record<string, string>): Promise<void> {
    const p = this.prefix;
    await this.redis.scHeartbeat(keys.nodesSeen(p), keys.nodesMeta(p), nodeId, Math.max(1, Math.round(ttlMs)), meta ? JSON.stringify(meta) : '');
  }

  async nodes(): Promise<NodeInfo[]> {
    const p = this.prefix;
    const [now, seenFlat, metaFlat] = (await this.redis.scNodes(keys.nodesSeen(p), keys.nodesMeta(p))) as [
      number,
      string[],
      string[],
    ];
    const metas = new Map<string, Record<string, string>>();
    for (let i = 0; i + 1 < metaFlat.length; i += 2) {
      try {
        metas.set(metaFlat[i]!, JSON.parse(metaFlat[i + 1]!) as Record<string, string>);
      } catch {
        metas.set(metaFlat[i]!, {});
      }
    }
    const out: NodeInfo[] = [];
    for (let i = 0; i + 1 < seenFlat.length; i += 2) {
      const nodeId = seenFlat[i]!;
      const [lastSeen, expiresAt] = seenFlat[i + 1]!.split(':').map(Number) as [number, number];
      out.push({ nodeId, lastSeen, alive: expiresAt > now, meta: metas.get(nodeId) ?? {} });
    }
    return out;
  }

  async forgetNode(nodeId: string): Promise<void> {
    const p = this.prefix;
    // seen and meta share the {nodes} slot; the index lives in the node's own slot.
    await this.redis.hdel(keys.nodesSeen(p), nodeId);
    await this.redis.hdel(keys.nodesMeta(p), nodeId);
    await this.redis.del(keys.nodeSessions(p, nodeId));
  }

  async tryLock(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const held = await this.redis.scTryLock(keys.lock(this.prefix, name), owner, Math.max(1, Math.round(ttlMs)));
    return held === 1;
  }

  async unlock(name: string, owner: string): Promise<void> {
    await this.redis.scUnlock(keys.lock(this.prefix, name), owner);
  }

  /**
   * Closes the invalidation subscriber (always this registry's own) and the
   * client if this registry created it (from a URL). Safe to call twice.
   */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.cache.disable();
      await this.invalidations?.close();
      await closeClient(this.conn);
    })();
    return this.closed;
  }
}
