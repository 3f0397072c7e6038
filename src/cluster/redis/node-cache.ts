/**
 * The nodesOf() cache of RedisRegistry: user -> node ids, kept coherent by
 * invalidations (./invalidations.ts delivers the `p:registry:changed` messages
 * that every session-changing script publishes; ./client.ts). No Redis here:
 * the registry hands in the read and tells the cache what happens.
 *
 * Rules:
 *  - The cache answers only while it is enabled, i.e. while the invalidation
 *    subscriber is confirmed subscribed. Losing the subscription disables it
 *    (and empties it): invalidations published meanwhile are lost.
 *  - `epoch` moves on every enable and disable. A read is cached only if it
 *    started in the current epoch, while enabled: a read from before the
 *    subscription was (re)confirmed may predate a change whose invalidation
 *    was never received.
 *  - A read in flight when an invalidation for its user arrives is stale and
 *    never cached: the invalidation travels on another socket and may overtake
 *    the read's reply, so the reply may or may not include that change.
 *  - Concurrent misses for one user share one read (coalescing), but a call
 *    that comes after an invalidation never joins a read that started before
 *    it: it starts a new one. Invariant: a read token that is not the user's
 *    current in-flight token is stale.
 *  - Entries are bounded in number (the oldest inserted goes first) and in age
 *    (a safety net for changes made behind the registry's back, e.g. FLUSHALL
 *    or a node running scripts that do not publish).
 */

/** Defaults of RedisRegistryOptions.nodeCache / nodeCacheMax / nodeCacheTtlMs. */
export const NODE_CACHE_DEFAULTS = {
  enabled: true,
  /** Max users cached. */
  maxUsers: 100_000,
  /** Max age of an entry (ms). */
  ttlMs: 5_000,
} as const;

export interface NodeCacheOptions {
  /** False: never cache, never share reads (every call reads). Default true. */
  enabled?: boolean;
  maxUsers?: number;
  ttlMs?: number;
  /** Monotonic clock in ms (tests). Default performance.now. */
  now?: () => number;
}

export interface NodeCacheStats {
  /** Calls answered from the cache. */
  hits: number;
  /** Calls not answered from the cache (a read of their own, a shared read, or fresh). hits + misses = calls. */
  misses: number;
  /** Invalidation messages received on the channel (this registry's own included). */
  invalidations: number;
  /** Entries held (expired ones included until they are looked up or evicted). */
  size: number;
  /** Answering from the cache right now (enabled by configuration and subscribed). */
  enabled: boolean;
}

interface Entry {
  nodes: string[];
  /** now() when stored. */
  at: number;
}

interface ReadToken {
  promise: Promise<string[]>;
  /** An invalidation of the user arrived (or a newer read replaced this one) while in flight. */
  stale: boolean;
  epoch: number;
}

export type NodeReader = (user: string) => Promise<string[]>;

export class NodeCache {
  readonly configured: boolean;
  readonly maxUsers: number;
  readonly ttlMs: number;
  private readonly read: NodeReader;
  private readonly now: () => number;
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, ReadToken>();
  private enabled = false;
  /** The invalidation channel is subscribed. */
  private subscribed = false;
  /** The cluster allows caching (see permit()). */
  private permitted = true;
  private epochNo = 0;
  private hits = 0;
  private misses = 0;
  private invalidations = 0;

  constructor(read: NodeReader, opts: NodeCacheOptions = {}) {
    this.read = read;
    this.configured = opts.enabled ?? NODE_CACHE_DEFAULTS.enabled;
    this.maxUsers = opts.maxUsers ?? NODE_CACHE_DEFAULTS.maxUsers;
    this.ttlMs = opts.ttlMs ?? NODE_CACHE_DEFAULTS.ttlMs;
    this.now = opts.now ?? (() => performance.now());
    if (!Number.isInteger(this.maxUsers) || this.maxUsers < 1) {
      throw new RangeError(`nodeCacheMax must be an integer >= 1, got ${this.maxUsers}`);
    }
    if (!(this.ttlMs > 0)) throw new RangeError(`nodeCacheTtlMs must be > 0, got ${this.ttlMs}`);
  }

  /** Moves on every enable and disable. */
  get epoch(): number {
    return this.epochNo;
  }

  get isEnabled(): boolean {
    return this.enabled;
  }

  /** Node ids of `user`: from the cache when it may answer, else from a (possibly shared) read. */
  get(user: string, fresh = false): Promise<string[]> {
    if (this.enabled && !fresh) {
      const e = this.entries.get(user);
      if (e) {
        if (this.now() - e.at <= this.ttlMs) {
          this.hits++;
          return Promise.resolve(e.nodes.slice());
        }
        this.entries.delete(user);
      }
    }
    this.misses++;
    // Without a confirmed subscription nothing would mark a shared read stale: read alone.
    if (!this.enabled) return this.read(user);
    if (!fresh) {
      const t = this.inflight.get(user);
      if (t && !t.stale && t.epoch === this.epochNo) return t.promise.then((nodes) => nodes.slice());
    }
    return this.startRead(user);
  }

  /** The subscription is confirmed: answers may be cached from now on (new epoch), if permitted. */
  enable(): void {
    this.subscribed = true;
    this.update();
  }

  /** The subscription is lost (or closing): forget everything, cache nothing in flight (new epoch). */
  disable(): void {
    this.subscribed = false;
    this.update();
  }

  /**
   * Whether the cluster allows caching: false while a node that does not
   * publish its registry changes is alive (a rolling upgrade from a version
   * before the cache). Withdrawing it forgets everything, as disable() does.
   */
  permit(allowed: boolean): void {
    this.permitted = allowed;
    this.update();
  }

  private update(): void {
    const on = this.configured && this.subscribed && this.permitted;
    const was = this.enabled;
    this.enabled = on;
    if (!on) {
      this.entries.clear();
      for (const t of this.inflight.values()) t.stale = true;
      this.inflight.clear();
    }
    if (on !== was) this.epochNo++;
  }

  /** `user`'s sessions changed (or are about to): drop the entry, spoil the read in flight. */
  invalidate(user: string): void {
    this.entries.delete(user);
    const t = this.inflight.get(user);
    if (t) {
      t.stale = true;
      this.inflight.delete(user);
    }
  }

  /** An invalidation message arrived on the channel. */
  invalidated(user: string): void {
    this.invalidations++;
    this.invalidate(user);
  }

  stats(): NodeCacheStats {
    return { hits: this.hits, misses: this.misses, invalidations: this.invalidations, size: this.entries.size, enabled: this.enabled };
  }

  private startRead(user: string): Promise<string[]> {
    const prev = this.inflight.get(user);
    if (prev) prev.stale = true; // a fresh read replaces it: only the newest may be cached
    const token: ReadToken = { promise: Promise.resolve([]), stale: false, epoch: this.epochNo };
    token.promise = this.read(user).then(
      (nodes) => {
        this.settle(user, token, nodes);
        return nodes;
      },
      (err: unknown) => {
        if (this.inflight.get(user) === token) this.inflight.delete(user);
        throw err;
      },
    );
    this.inflight.set(user, token);
    return token.promise;
  }

  private settle(user: string, token: ReadToken, nodes: string[]): void {
    if (this.inflight.get(user) === token) this.inflight.delete(user);
    if (token.stale || token.epoch !== this.epochNo || !this.enabled) return;
    this.entries.delete(user); // re-inserted last: insertion order is age order
    if (this.entries.size >= this.maxUsers) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(user, { nodes: nodes.slice(), at: this.now() });
  }
}
