/**
 * Registry in Redis (ioredis; works with a single Redis or a Redis Cluster).
 * Key layout and scripts: ./client.ts. Liveness and lastSeen use the Redis
 * server clock, so nodes with skewed clocks still agree on who is alive.
 */
import type { NodeInfo, Registry, SessionRecord } from '../types.js';
import { type ClusterLogger, silentLogger } from '../errors.js';
import {
  DEFAULT_PREFIX,
  type OwnedClient,
  type RedisBackendOptions,
  type ScriptedClient,
  type ScriptedPipeline,
  closeClient,
  keys,
  openClient,
  withScripts,
} from './client.js';

export type RedisRegistryOptions = RedisBackendOptions;

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
  private closed: Promise<void> | null = null;

  constructor(opts: RedisRegistryOptions) {
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.log = opts.logger ?? silentLogger;
    this.conn = openClient(opts.redis, this.log, 'stomp-cluster-registry');
    this.redis = withScripts(this.conn.client);
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
    const prev = (await this.redis.scAddSession(
      keys.userSessions(p, rec.user),
      rec.sessionId,
      JSON.stringify(stored),
    )) as string | null;
    const old = prev === null ? null : parseStored(prev);
    if (old && old.nodeId !== rec.nodeId) {
      // The session moved: the old node's index must no longer list it.
      await this.redis.srem(keys.nodeSessions(p, old.nodeId), member(rec.user, rec.sessionId));
    }
  }

  async removeSession(user: string, sessionId: string, nodeId: string): Promise<void> {
    const p = this.prefix;
    // Atomic compare-and-delete: a late disconnect from an old node never erases a newer session.
    await this.redis.scRemoveSession(keys.userSessions(p, user), sessionId, nodeId);
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

  async nodesOf(user: string): Promise<string[]> {
    return [...new Set((await this.sessionsOf(user)).map((s) => s.nodeId))];
  }

  async usersOn(nodeId: string): Promise<string[]> {
    const members = await this.redis.smembers(keys.nodeSessions(this.prefix, nodeId));
    const users = new Set<string>();
    for (const m of members) {
      const pair = parseMember(m);
      if (pair) users.add(pair[0]);
    }
    return [...users];
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
      for (const [user, sid] of pairs) pipe.scRemoveSession(keys.userSessions(p, user), sid, nodeId);
      const results = (await pipe.exec()) ?? [];
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

  /** Closes the client if this registry created it (from a URL). Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= closeClient(this.conn);
    return this.closed;
  }
}
