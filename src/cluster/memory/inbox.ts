import type { Inbox, InboxEntry, InboxLimits, UserEnvelope } from '../types.js';

export const DEFAULT_INBOX_LIMITS: InboxLimits = { maxLength: 1000, maxAgeMs: 24 * 60 * 60 * 1000 };

/**
 * What a memory inbox charges for the messages it holds (the broker's memory
 * budget): `charge` throws to refuse an entry; the returned release is called
 * once the entry leaves (read and removed, trimmed, or expired). `writeAhead`
 * as in Inbox.append.
 */
export type InboxCharge = (user: string, env: UserEnvelope, writeAhead: boolean) => () => void;

interface Stored {
  entryId: string;
  at: number;
  env: UserEnvelope;
  release: (() => void) | null;
}

/**
 * In-memory Inbox: one ordered list per user, trimmed by length, and by age
 * when read and when swept (sweep(), which the broker runs on a timer, so
 * inboxes nobody reads do not stay).
 */
export class MemoryInbox implements Inbox {
  private readonly limits: InboxLimits;
  private readonly now: () => number;
  private readonly charge: InboxCharge | null;
  private readonly users = new Map<string, Stored[]>();
  private seq = 0;

  constructor(limits: Partial<InboxLimits> = {}, now: () => number = Date.now, charge: InboxCharge | null = null) {
    this.limits = { ...DEFAULT_INBOX_LIMITS, ...limits };
    this.now = now;
    this.charge = charge;
  }

  async append(user: string, env: UserEnvelope, opts: { writeAhead?: boolean } = {}): Promise<string> {
    const release = this.charge ? this.charge(user, env, opts.writeAhead === true) : null;
    // Kept for long: not a view pinning a much larger buffer (a client's read chunk).
    const kept: UserEnvelope = env.body.buffer.byteLength > 2 * env.body.length + 16 * 1024 ? { ...env, body: Buffer.from(env.body) } : env;
    let list = this.users.get(user);
    if (!list) {
      list = [];
      this.users.set(user, list);
    }
    this.seq += 1;
    const entryId = `${this.now()}-${this.seq}`;
    list.push({ entryId, at: this.now(), env: kept, release });
    if (list.length > this.limits.maxLength) for (const gone of list.splice(0, list.length - this.limits.maxLength)) gone.release?.();
    return entryId;
  }

  /** Drop expired entries of every user. */
  sweep(): void {
    for (const user of [...this.users.keys()]) this.prune(user);
  }

  async read(user: string, max = Number.POSITIVE_INFINITY): Promise<InboxEntry[]> {
    const list = this.prune(user);
    return list.slice(0, max).map((s) => ({ entryId: s.entryId, env: s.env }));
  }

  async remove(user: string, entryIds: string[]): Promise<void> {
    const list = this.users.get(user);
    if (!list) return;
    const ids = new Set(entryIds);
    const kept = list.filter((s) => {
      if (!ids.has(s.entryId)) return true;
      s.release?.();
      return false;
    });
    if (kept.length === 0) this.users.delete(user);
    else this.users.set(user, kept);
  }

  async depth(user: string): Promise<number> {
    return this.prune(user).length;
  }

  async close(): Promise<void> {
    /* Nothing to release; the contents stay (an inbox may be shared by nodes in one process). */
  }

  private prune(user: string): Stored[] {
    const list = this.users.get(user);
    if (!list) return [];
    const cutoff = this.now() - this.limits.maxAgeMs;
    let i = 0;
    while (i < list.length && list[i]!.at < cutoff) i++;
    if (i > 0) for (const gone of list.splice(0, i)) gone.release?.();
    if (list.length === 0) this.users.delete(user);
    return list;
  }
}
