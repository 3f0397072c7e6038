/**
 * What RedisRegistry and RedisInbox share: how they get a client, how keys are
 * named, and the Lua scripts they run.
 *
 * Key layout (p = prefix, default `stomp-cluster`). Every key carries a Redis
 * Cluster hash tag, and every script touches keys of one hash slot only:
 *
 *   p:{u:<user>}:sessions   hash  sessionId -> {"nodeId","connectedAt"}   (registry)
 *   p:{u:<user>}:inbox      stream of encoded envelopes                 (inbox)
 *   p:{n:<node>}:sessions   set   ["<user>","<sessionId>"] held by node (registry index)
 *   p:{nodes}:seen          hash  nodeId -> "<lastSeen>:<expiresAt>"    (liveness, Redis clock)
 *   p:{nodes}:meta          hash  nodeId -> JSON meta
 *   p:{lock:<name>}         string owner, with PX TTL
 *
 * Pub/sub channels (not keys: no hash slot; on a Redis Cluster a PUBLISH
 * reaches the subscribers on every node):
 *
 *   p:registry:changed      message = a user name, published by scAddSession
 *                           and scRemoveSession whenever they change that
 *                           user's p:{u:<user>}:sessions hash (RedisRegistry's
 *                           nodesOf cache drops the user on it: ./node-cache.ts)
 */
import { Cluster, Redis } from 'ioredis';
import type { ClusterLogger } from '../errors.js';

export const DEFAULT_PREFIX = 'stomp-cluster';

/** A client, a URL (`redis://host:port/db`), or an existing Cluster client. */
export type RedisLike = Redis | Cluster;

export interface RedisBackendOptions {
  /** An ioredis client (not closed by close()) or a URL (a client is created and owned). */
  redis: RedisLike | string;
  /** Key prefix (`CLUSTER_PREFIX`, docs/design.md "Configuration"). Default `stomp-cluster`. */
  prefix?: string;
  logger?: ClusterLogger;
}

export interface OwnedClient {
  client: RedisLike;
  owned: boolean;
}

export function openClient(redis: RedisLike | string, logger: ClusterLogger, name: string): OwnedClient {
  if (typeof redis !== 'string') return { client: redis, owned: false };
  // Auto-pipelining batches the commands issued in one event-loop turn into one write
  // (one registry look-up per sendToUser adds up: about 3x less Redis CPU per message).
  const client = new Redis(redis, { connectionName: name, enableAutoPipelining: true });
  // Without a listener ioredis prints every reconnect error to stderr.
  client.on('error', (err: Error) => logger.warn({ err, backend: name }, 'redis connection error'));
  return { client, owned: true };
}

export async function closeClient(c: OwnedClient): Promise<void> {
  if (!c.owned) return;
  const client = c.client;
  if (client.status === 'end') return;
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

export const keys = {
  userSessions: (p: string, user: string) => `${p}:{u:${user}}:sessions`,
  userInbox: (p: string, user: string) => `${p}:{u:${user}}:inbox`,
  nodeSessions: (p: string, node: string) => `${p}:{n:${node}}:sessions`,
  nodesSeen: (p: string) => `${p}:{nodes}:seen`,
  nodesMeta: (p: string) => `${p}:{nodes}:meta`,
  lock: (p: string, name: string) => `${p}:{lock:${name}}`,
};

export const channels = {
  /** A user's sessions hash changed; the message is the user name. */
  registryChanged: (p: string) => `${p}:registry:changed`,
};

/** Redis server time in ms, inside a script (scripts are effect-replicated in Redis >= 5). */
const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

export const scripts = {
  /**
   * KEYS[1] user sessions hash; ARGV sessionId, record JSON, change channel, user.
   * Returns the previous record or nil. Publishes the user on the channel unless
   * the field already held exactly this record (nothing changed).
   */
  scAddSession: {
    numberOfKeys: 1,
    lua: `local prev = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if prev ~= ARGV[2] then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return prev`,
  },
  /**
   * KEYS[1] user sessions hash; ARGV sessionId, nodeId, change channel, user.
   * Deletes the field only if it still records nodeId (or is unreadable). Returns 1 if deleted,
   * and then (only then: otherwise nothing changed) publishes the user on the channel.
   */
  scRemoveSession: {
    numberOfKeys: 1,
    lua: `local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local ok, rec = pcall(cjson.decode, v)
if ok and type(rec) == 'table' and rec.nodeId ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1`,
  },
  /** KEYS[1] seen hash, KEYS[2] meta hash; ARGV nodeId, ttlMs, meta JSON or ''. */
  scHeartbeat: {
    numberOfKeys: 2,
    lua: `${NOW_MS}
redis.call('HSET', KEYS[1], ARGV[1], now .. ':' .. (now + tonumber(ARGV[2])))
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
elseif redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then redis.call('HSET', KEYS[2], ARGV[1], '{}') end
return now`,
  },
  /** KEYS[1] seen hash, KEYS[2] meta hash. Returns {now, seen (flat), meta (flat)}. */
  scNodes: {
    numberOfKeys: 2,
    lua: `${NOW_MS}
return {now, redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}`,
  },
  /** KEYS[1] lock; ARGV owner, ttlMs. Takes or (same owner) extends the lock. Returns 1 if held. */
  scTryLock: {
    numberOfKeys: 1,
    lua: `local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if v then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`,
  },
  /** KEYS[1] lock; ARGV owner. Compare-and-delete. */
  scUnlock: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  },
  /**
   * KEYS[1] inbox stream; ARGV maxAgeMs, count (0 = all).
   * Trims entries older than maxAgeMs (by stream id time, Redis clock), then returns XRANGE.
   */
  scInboxRead: {
    numberOfKeys: 1,
    lua: `${NOW_MS}
redis.call('XTRIM', KEYS[1], 'MINID', now - tonumber(ARGV[1]))
if tonumber(ARGV[2]) > 0 then return redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[2]) end
return redis.call('XRANGE', KEYS[1], '-', '+')`,
  },
  /** KEYS[1] inbox stream; ARGV maxAgeMs. Trims by age, returns XLEN. */
  scInboxDepth: {
    numberOfKeys: 1,
    lua: `${NOW_MS}
redis.call('XTRIM', KEYS[1], 'MINID', now - tonumber(ARGV[1]))
return redis.call('XLEN', KEYS[1])`,
  },
  /** KEYS[1] inbox stream; ARGV entry ids. XDEL, and drop the key once empty. */
  scInboxRemove: {
    numberOfKeys: 1,
    lua: `local n = redis.call('XDEL', KEYS[1], unpack(ARGV))
if redis.call('XLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[1]) end
return n`,
  },
} as const;

type ScriptName = keyof typeof scripts;
type ScriptFn = (...args: (string | number | Buffer)[]) => Promise<unknown>;

/** The client with the scripts defined (ioredis caches them and uses EVALSHA). */
export type ScriptedClient = RedisLike & { [K in ScriptName]: ScriptFn } & {
  [K in `${ScriptName}Buffer`]: ScriptFn;
};

export type ScriptedPipeline = ReturnType<RedisLike['pipeline']> & {
  [K in ScriptName]: (...args: (string | number | Buffer)[]) => ScriptedPipeline;
};

export function withScripts(client: RedisLike): ScriptedClient {
  const defined = client as RedisLike & { [K in ScriptName]?: unknown };
  for (const [name, def] of Object.entries(scripts)) {
    if (typeof defined[name as ScriptName] !== 'function') client.defineCommand(name, def);
  }
  return client as ScriptedClient;
}
