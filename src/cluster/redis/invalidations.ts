/**
 * The invalidation subscriber of RedisRegistry's nodesOf cache: a dedicated
 * connection (`duplicate()` of the registry's client, so it works for a Redis
 * and a Cluster client alike, and is owned and closed here even when the
 * registry's client is not) subscribed to `p:registry:changed` (./client.ts).
 *
 * It reports three things:
 *  - subscribed(): SUBSCRIBE was confirmed on the current connection (after
 *    each 'ready'): from now on every change is heard.
 *  - lost(): the connection closed, is reconnecting, ended, or failed (or, on
 *    a Cluster, a node left, which may have been the one ioredis subscribed
 *    through): changes published from now on until the next subscribed() may
 *    be missed.
 *  - message(user): a user's sessions changed.
 *
 * Known gap: on a Redis Cluster, ioredis may move its subscriber connection to
 * another node without an event on the Cluster object; messages published
 * during that move are missed until the cache entries' max age runs out.
 */
import type { ClusterLogger } from '../errors.js';
import type { RedisLike } from './client.js';
import type { Cluster, Redis } from 'ioredis';

export interface InvalidationEvents {
  subscribed(): void;
  lost(): void;
  message(user: string): void;
}

/** Longest close() waits for the connection's 'end' before giving up on it. */
const CLOSE_WAIT_MS = 2_000;

const SUB_CONNECTION_NAME = 'stomp-cluster-registry-sub';

function duplicateForSubscribe(client: RedisLike): RedisLike {
  if (client.isCluster) return (client as Cluster).duplicate();
  // The subscriber runs no other commands: no auto-pipelining; it connects at once.
  return (client as Redis).duplicate({ connectionName: SUB_CONNECTION_NAME, enableAutoPipelining: false, lazyConnect: false });
}

export class InvalidationSubscriber {
  private readonly source: RedisLike;
  private readonly channel: string;
  private readonly events: InvalidationEvents;
  private readonly log: ClusterLogger;
  private sub: RedisLike | null = null;
  /** Moves on every (re)subscription attempt and every loss: a late confirmation of an older attempt is ignored. */
  private generation = 0;
  private closed = false;

  constructor(source: RedisLike, channel: string, events: InvalidationEvents, log: ClusterLogger) {
    this.source = source;
    this.channel = channel;
    this.events = events;
    this.log = log;
  }

  /** Opens the connection and subscribes (idempotent; a no-op once closed). */
  start(): void {
    if (this.sub || this.closed) return;
    const sub = duplicateForSubscribe(this.source);
    this.sub = sub;
    sub.on('ready', () => this.subscribe(sub));
    sub.on('message', (channel: string, user: string) => {
      if (channel === this.channel) this.events.message(user);
    });
    sub.on('error', (err: Error) => {
      this.log.warn({ err, backend: SUB_CONNECTION_NAME }, 'redis connection error');
      if (sub.status !== 'ready') this.lose();
    });
    for (const ev of ['close', 'end', 'reconnecting']) sub.on(ev, () => this.lose());
    if (sub.isCluster) {
      sub.on('-node', () => {
        this.lose();
        if (sub.status === 'ready') this.subscribe(sub);
      });
    }
    if (sub.status === 'wait') sub.connect().catch(() => undefined); // errors arrive as 'error' events
    else if (sub.status === 'ready') this.subscribe(sub);
  }

  /** Closes the connection (if it was opened). Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    this.generation++;
    const sub = this.sub;
    if (!sub || sub.status === 'end') return;
    let timer: NodeJS.Timeout | undefined;
    const ended = new Promise<void>((resolve) => {
      sub.once('end', () => resolve());
      timer = setTimeout(resolve, CLOSE_WAIT_MS);
      timer.unref();
    });
    sub.disconnect();
    await ended;
    clearTimeout(timer);
  }

  private subscribe(sub: RedisLike): void {
    if (this.closed) return;
    const gen = ++this.generation;
    sub.subscribe(this.channel).then(
      () => {
        if (this.closed || gen !== this.generation || sub.status !== 'ready') return;
        this.events.subscribed();
      },
      (err: unknown) => {
        if (!this.closed) this.log.warn({ err, channel: this.channel }, 'registry: subscribing to invalidations failed; nodesOf cache stays off');
      },
    );
  }

  private lose(): void {
    this.generation++;
    this.events.lost();
  }
}
