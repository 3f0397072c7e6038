/**
 * The messages a session delivered in a client ack mode and holds until the
 * client ACKs or NACKs them (STOMP 1.2 "ACK", "NACK"), indexed so that every
 * look-up is by key: by ack id (1.2's `id`), by subscription and message-id
 * (1.1), and per subscription in delivery order (each Subscription keeps its
 * own map: a cumulative ACK walks only those). Counted in messages and bytes
 * for the session's limits.
 */
import type { Subscription, Unacked } from './subscription.js';

export class UnackedMessages {
  private readonly byAckId = new Map<string, Unacked>();
  /** `sub.id NUL message-id` -> ack id. */
  private readonly byMessage = new Map<string, string>();
  private totalBytes = 0;

  get count(): number {
    return this.byAckId.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  add(u: Unacked): void {
    this.byAckId.set(u.ackId, u);
    (u.sub.unacked ??= new Map()).set(u.ackId, u);
    this.byMessage.set(key(u.sub.id, u.delivery.messageId), u.ackId);
    this.totalBytes += u.bytes;
  }

  /**
   * The message an ACK/NACK names: by ack id; else by message-id on
   * `subscriptionId` (1.1); else, when `anySubscription` lists the session's
   * subscriptions (1.0, which has no subscription header), on any of them.
   */
  find(id: string, subscriptionId: string | undefined, anySubscription: Iterable<Subscription> | null): Unacked | undefined {
    const direct = this.byAckId.get(id);
    if (direct !== undefined) return direct;
    if (subscriptionId !== undefined) return this.byMessageId(subscriptionId, id);
    if (anySubscription === null) return undefined;
    for (const sub of anySubscription) {
      const u = this.byMessageId(sub.id, id);
      if (u !== undefined) return u;
    }
    return undefined;
  }

  private byMessageId(subscriptionId: string, messageId: string): Unacked | undefined {
    const ackId = this.byMessage.get(key(subscriptionId, messageId));
    return ackId === undefined ? undefined : this.byAckId.get(ackId);
  }

  /** Take `u` out of every index (the caller settles it). */
  remove(u: Unacked): void {
    this.byAckId.delete(u.ackId);
    u.sub.unacked?.delete(u.ackId);
    this.byMessage.delete(key(u.sub.id, u.delivery.messageId));
    this.totalBytes -= u.bytes;
  }

  /** True while `messageId` on `sub` is held without an ACK/NACK yet. */
  holds(sub: Subscription, messageId: string): boolean {
    return this.byMessage.has(key(sub.id, messageId));
  }

  /** Every held message, in delivery order (a copy: the caller may remove as it goes). */
  all(): Unacked[] {
    return [...this.byAckId.values()];
  }
}

/**
 * Backing memory a held body may have beyond its own bytes before it is copied
 * out (the headers and EOL of its own frame, say). Every such byte is counted
 * (heldBytes), so this only spares copying a body that (nearly) fills its read.
 */
const HELD_SLACK_BYTES = 1024;

/**
 * A body to hold until ACK: itself when it (nearly) fills its backing memory,
 * else a copy in memory of its own. A body is often a view of the client read
 * it came in (a whole WebSocket message, a 64 KiB TCP chunk, a frame padded
 * with 1 MiB of EOLs): held as is, it would keep that read alive while only its
 * length is counted. (Not the broker's `keptBody`: its slack of 16 KiB and
 * twice the length, times 10,000 unacked messages, is far past the per-session
 * bound; and its small copies come from Node's shared 8 KiB pool, where each
 * one held keeps a whole pool slab.)
 */
export function heldBody(body: Buffer): Buffer {
  if (body.buffer.byteLength <= body.length + HELD_SLACK_BYTES) return body;
  const own = Buffer.allocUnsafeSlow(body.length);
  body.copy(own);
  return own;
}

/**
 * What one held message counts against limits.maxUnackedBytesPerSession: the
 * memory its body keeps (heldBody) and its header text (a 1-byte body can come
 * with up to a frame's worth of headers).
 */
export function heldBytes(body: Buffer, headers: Readonly<Record<string, string>>): number {
  let n = body.buffer.byteLength;
  for (const k in headers) n += k.length + headers[k]!.length;
  return n;
}

function key(subscriptionId: string, messageId: string): string {
  return `${subscriptionId}\u0000${messageId}`;
}
