import type { Envelope, Inbox, InboxEntry, InboxLimits } from '../types.js';

export const DEFAULT_INBOX_LIMITS: InboxLimits = { maxLength: 1000, maxAgeMs: 24 * 60 * 60 * 1000 };

interface Stored {
  entryId: string;
  at: number;
  env: Envelope;
}

/** In-memory Inbox: one ordered list per user, trimmed by length and age. */
export class MemoryInbox implements Inbox {
  private readonly limits: InboxLimits;
  private readonly now: () => number;
  private readonly users = new Map<string, Stored[]>();
  private seq = 0;

  constructor(limits: Partial<InboxLimits> = {}, now: () => number = Date.now) {
    this.limits = { ...DEFAULT_INBOX_LIMITS, ...limits };
    this.now = now;
  }

  async append(user: string, env: Envelope): Promise<string> {
    let list = this.users.get(user);
    if (!list) {
      list = [];
      this.users.set(user, list);
    }
    this.seq += 1;
    const entryId = `${this.now()}-${this.seq}`;
    list.push({ entryId, at: this.now(), env });
    if (list.length > this.limits.maxLength) list.splice(0, list.length - this.limits.maxLength);
    return entryId;
  }

  async read(user: string, max = Number.POSITIVE_INFINITY): Promise<InboxEntry[]> {
    const list = this.prune(user);
    return list.slice(0, max).map((s) => ({ entryId: s.entryId, env: s.env }));
  }

  async remove(user: string, entryIds: string[]): Promise<void> {
    const list = this.users.get(user);
    if (!list) return;
    const ids = new Set(entryIds);
    const kept = list.filter((s) => !ids.has(s.entryId));
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
    if (i > 0) list.splice(0, i);
    if (list.length === 0) this.users.delete(user);
    return list;
  }
}
