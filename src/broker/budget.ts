/**
 * The node's budget for what it holds on behalf of consumers that are not
 * there yet: queue backlogs, memory inboxes (single node) and frames in open
 * transactions (a message that waited stays charged until it is delivered or,
 * in a client ack mode, acknowledged). The number
 * of queues, users and sessions is up to clients, so per-queue and per-inbox
 * caps alone bound nothing; this does:
 *
 *  - node-wide, `maxHeldBytes` (STOMP_MAX_HELD_BYTES): past it, taking in
 *    more is refused with STOMP_ERR_MEMORY_BUDGET;
 *  - per sender, `maxHeldBytesPerSender` (a user, or one session of a client
 *    without a user): past it, STOMP_ERR_SENDER_QUOTA, so one sender cannot
 *    take the whole budget from the others.
 *
 * Sizes are estimates of what a held message costs: body, header text and a
 * fixed overhead for the objects around it. A message delivered in a client
 * ack mode stays charged where it was held (its queue, its inbox entry)
 * until it is acknowledged, and a queue message handed to such a consumer
 * straight away is charged from then until its ACK (refused like a kept one
 * when it does not fit); topic messages awaiting an ACK are bounded per
 * session instead (limits.maxUnackedBytesPerSession). Refusing
 * happens where messages come in; what comes back (a NACKed message) keeps
 * the charge it had, so it is never refused and never adds to the total.
 * A holder of 0 bytes (an empty transaction) is never refused, even while
 * the budget is overshot: only taking more bytes is.
 */
import { ErrorCode, StompError } from '../errors.js';

export type HeldKind = 'queue' | 'inbox' | 'transaction';
export const HELD_KINDS: readonly HeldKind[] = ['queue', 'inbox', 'transaction'];

/** Why something was refused, as /metrics reports it. */
export type RefusalReason = 'memory_budget' | 'sender_quota';

/** Bytes of object overhead counted per held message (envelope, header object, list entry). */
export const HELD_OVERHEAD_BYTES = 256;

export interface BudgetLimits {
  maxHeldBytes: number;
  maxHeldBytesPerSender: number;
}

/** Per-sender quota keys: a user's, or a session's without a user (distinct name spaces). */
export function userSender(name: string): string {
  return `u:${name}`;
}
export function sessionSender(sessionId: string): string {
  return `s:${sessionId}`;
}

/**
 * A body to keep for long: itself when it (nearly) fills its backing memory,
 * else a copy, so a small message held in a queue or an inbox does not pin
 * the client's whole read chunk (a view of a 64 KiB TCP read), while a large
 * frame the parser already assembled in memory of its own is not copied again.
 */
export function keptBody(body: Buffer): Buffer {
  return body.buffer.byteLength > 2 * body.length + 16 * 1024 ? Buffer.from(body) : body;
}

/** What one held message is counted as. */
export function heldSize(body: Buffer, headers: Readonly<Record<string, string>>, destination: string): number {
  let n = HELD_OVERHEAD_BYTES + body.length + destination.length;
  for (const k in headers) n += k.length + headers[k]!.length;
  return n;
}

/** Bytes taken by one holder (a message, a transaction); released once. */
export class Hold {
  private held = 0;

  constructor(
    private readonly budget: MemoryBudget,
    readonly kind: HeldKind,
    /** Sender key, or null for server-side sends (node-wide budget only). */
    readonly sender: string | null,
  ) {}

  get bytes(): number {
    return this.held;
  }

  /** Take `bytes` more; throws the coded refusal (taking nothing) when they do not fit (0 bytes always fit). */
  grow(bytes: number): void {
    this.budget.take(this.kind, this.sender, bytes, false);
    this.held += bytes;
  }

  /**
   * Take `bytes` more whatever the budget says. Only for a message already
   * charged that grows a little on its way (a dead-lettered message's extra
   * header): never a way in for something new.
   */
  force(bytes: number): void {
    this.budget.take(this.kind, this.sender, bytes, true);
    this.held += bytes;
  }

  /** Give everything back (idempotent). */
  release(): void {
    if (this.held === 0) return;
    this.budget.give(this.kind, this.sender, this.held);
    this.held = 0;
  }
}

export class MemoryBudget {
  private total = 0;
  private readonly kinds = new Map<HeldKind, number>(HELD_KINDS.map((k) => [k, 0]));
  private readonly senders = new Map<string, number>();
  private readonly refused = new Map<RefusalReason, number>([
    ['memory_budget', 0],
    ['sender_quota', 0],
  ]);

  constructor(readonly limits: BudgetLimits) {}

  /** A holder of `kind` for `sender`, holding `bytes` at once (throws the refusal if they do not fit; 0 bytes never throw). */
  hold(kind: HeldKind, sender: string | null, bytes: number): Hold {
    const h = new Hold(this, kind, sender);
    h.grow(bytes);
    return h;
  }

  /**
   * Like hold(), but null instead of a refusal, and not counted as one: for a
   * caller that may still place the message where it costs nothing (a queue
   * message an auto-ack consumer can take), and refuses later if it cannot.
   */
  tryHold(kind: HeldKind, sender: string | null, bytes: number): Hold | null {
    if (this.refusal(sender, bytes) !== null) return null;
    const h = new Hold(this, kind, sender);
    h.grow(bytes);
    return h;
  }

  /** Bytes held in all. */
  get heldBytes(): number {
    return this.total;
  }

  /** Bytes held, by kind. */
  byKind(): ReadonlyMap<HeldKind, number> {
    return this.kinds;
  }

  /** Refusals so far, by reason. */
  refusals(): ReadonlyMap<RefusalReason, number> {
    return this.refused;
  }

  /** Bytes held for `sender`. */
  heldFor(sender: string): number {
    return this.senders.get(sender) ?? 0;
  }

  /** @internal Hold's accounting. */
  take(kind: HeldKind, sender: string | null, bytes: number, force: boolean): void {
    const reason = force ? null : this.refusal(sender, bytes);
    if (reason !== null) {
      this.refused.set(reason, this.refused.get(reason)! + 1);
      const { maxHeldBytes, maxHeldBytesPerSender } = this.limits;
      if (reason === 'sender_quota')
        throw new StompError(ErrorCode.SENDER_QUOTA, `this sender already has ${this.heldFor(sender!)} bytes held (at most ${maxHeldBytesPerSender})`);
      throw new StompError(ErrorCode.MEMORY_BUDGET, `the node holds ${this.total} bytes for absent consumers (at most ${maxHeldBytes})`);
    }
    this.total += bytes;
    this.kinds.set(kind, this.kinds.get(kind)! + bytes);
    if (sender !== null) this.senders.set(sender, this.heldFor(sender) + bytes);
  }

  /**
   * Why taking `bytes` more for `sender` would be refused now, or null. Taking
   * nothing is never refused: after a forced charge the totals may be over
   * their bounds, and an empty holder (a BEGIN) must still be possible.
   */
  private refusal(sender: string | null, bytes: number): RefusalReason | null {
    if (bytes <= 0) return null;
    if (sender !== null && this.heldFor(sender) + bytes > this.limits.maxHeldBytesPerSender) return 'sender_quota';
    if (this.total + bytes > this.limits.maxHeldBytes) return 'memory_budget';
    return null;
  }

  /** @internal Hold's accounting. */
  give(kind: HeldKind, sender: string | null, bytes: number): void {
    this.total -= bytes;
    this.kinds.set(kind, this.kinds.get(kind)! - bytes);
    if (sender === null) return;
    const left = this.heldFor(sender) - bytes;
    if (left > 0) this.senders.set(sender, left);
    else this.senders.delete(sender);
  }
}
