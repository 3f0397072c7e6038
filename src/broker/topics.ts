/** Local /topic subscriptions: exact destinations in a map, Ant patterns in a list. */
import type { Subscription } from '../session/subscription.js';
import type { CompiledPattern } from './pattern.js';

export class TopicIndex {
  private readonly exact = new Map<string, Set<Subscription>>();
  private readonly patterns = new Map<Subscription, CompiledPattern>();

  /** Index `sub`: by its destination, or by `pattern` when it subscribed with one. */
  add(sub: Subscription, pattern: CompiledPattern | null): void {
    if (pattern !== null) {
      this.patterns.set(sub, pattern);
      return;
    }
    let set = this.exact.get(sub.destination);
    if (!set) {
      set = new Set();
      this.exact.set(sub.destination, set);
    }
    set.add(sub);
  }

  remove(sub: Subscription): void {
    if (this.patterns.delete(sub)) return;
    const set = this.exact.get(sub.destination);
    if (!set) return;
    set.delete(sub);
    if (set.size === 0) this.exact.delete(sub.destination);
  }

  /** Every subscription matching a concrete destination. */
  match(destination: string): Subscription[] {
    const out: Subscription[] = [];
    const set = this.exact.get(destination);
    if (set) for (const s of set) out.push(s);
    if (this.patterns.size > 0) for (const [s, p] of this.patterns) if (p.match(destination)) out.push(s);
    return out;
  }
}
