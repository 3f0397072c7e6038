/**
 * Inbox in Redis: one stream per user (`p:{u:<user>}:inbox`), each entry one
 * field `e` holding the binary envelope (./envelope.ts codec, body untouched).
 *
 * Limits:
 *  - maxLength: XADD ... MAXLEN = maxLength (exact, the oldest go first).
 *  - maxAgeMs: the entry id's time (Redis clock) is its age. read() and depth()
 *    trim older entries first (XTRIM MINID), and every append sets PEXPIRE
 *    maxAgeMs on the key, so an inbox nobody reads vanishes on its own.
 */
import type { Inbox, InboxEntry, InboxLimits, UserEnvelope } from '../types.js';
import { decodeEnvelope, encodeEnvelope } from '../envelope.js';
import { ClusterError, ClusterErrorCode, type ClusterLogger, silentLogger } from '../errors.js';
import {
  DEFAULT_PREFIX,
  type OwnedClient,
  type RedisBackendOptions,
  type ScriptedClient,
  closeClient,
  keys,
  openClient,
  withScripts,
} from './client.js';

export const DEFAULT_REDIS_INBOX_LIMITS: InboxLimits = { maxLength: 1000, maxAgeMs: 24 * 60 * 60 * 1000 };

export interface RedisInboxOptions extends RedisBackendOptions {
  limits?: Partial<InboxLimits>;
}

/** XDEL ids per call (a Lua unpack() has a stack limit). */
const REMOVE_BATCH = 1000;

type RawEntry = [Buffer, Buffer[]];

export class RedisInbox implements Inbox {
  readonly prefix: string;
  readonly limits: InboxLimits;
  private readonly conn: OwnedClient;
  private readonly redis: ScriptedClient;
  private readonly log: ClusterLogger;
  private closed: Promise<void> | null = null;

  constructor(opts: RedisInboxOptions) {
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.limits = { ...DEFAULT_REDIS_INBOX_LIMITS, ...opts.limits };
    if (!(this.limits.maxLength >= 1) || !(this.limits.maxAgeMs >= 1)) {
      throw new RangeError(`RedisInbox: maxLength and maxAgeMs must be >= 1, got ${JSON.stringify(this.limits)}`);
    }
    this.log = opts.logger ?? silentLogger;
    this.conn = openClient(opts.redis, this.log, 'stomp-cluster-inbox');
    this.redis = withScripts(this.conn.client);
  }

  async append(user: string, env: UserEnvelope): Promise<string> {
    const key = keys.userInbox(this.prefix, user);
    const res = await this.redis
      .multi()
      .xadd(key, 'MAXLEN', '=', this.limits.maxLength, '*', 'e', encodeEnvelope(env))
      .pexpire(key, this.limits.maxAgeMs)
      .exec();
    const failed = res?.find(([err]) => err);
    if (failed) throw failed[0];
    return String(res?.[0]?.[1] ?? '');
  }

  async read(user: string, max?: number): Promise<InboxEntry[]> {
    if (max !== undefined && !(max >= 1)) return [];
    // 0 = no COUNT (all entries).
    const count = max === undefined || !Number.isFinite(max) ? 0 : Math.floor(max);
    const raw = (await this.redis.scInboxReadBuffer(
      keys.userInbox(this.prefix, user),
      this.limits.maxAgeMs,
      count,
    )) as RawEntry[];
    const out: InboxEntry[] = [];
    for (const [id, fields] of raw) {
      const entryId = id.toString();
      const body = fieldValue(fields, 'e');
      try {
        const env = decodeEnvelope(body);
        if (env.kind !== 'user') throw new ClusterError(ClusterErrorCode.BAD_ENVELOPE, `a ${env.kind} envelope in an inbox`);
        out.push({ entryId, env });
      } catch (err) {
        // Unreadable entries are logged and dropped, never handed out.
        this.log.error({ err, user, entryId }, 'dropping unreadable inbox entry');
        await this.remove(user, [entryId]);
      }
    }
    return out;
  }

  async remove(user: string, entryIds: string[]): Promise<void> {
    const key = keys.userInbox(this.prefix, user);
    for (let i = 0; i < entryIds.length; i += REMOVE_BATCH) {
      await this.redis.scInboxRemove(key, ...entryIds.slice(i, i + REMOVE_BATCH));
    }
  }

  async depth(user: string): Promise<number> {
    return (await this.redis.scInboxDepth(keys.userInbox(this.prefix, user), this.limits.maxAgeMs)) as number;
  }

  /** Closes the client if this inbox created it (from a URL). Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= closeClient(this.conn);
    return this.closed;
  }
}

function fieldValue(fields: Buffer[], name: string): Buffer | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i]!.toString() === name) return fields[i + 1];
  }
  return undefined;
}
