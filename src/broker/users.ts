/**
 * This node's view of its own users: user -> local sessions, and the user
 * destination subscriptions of those sessions indexed by path (what the user
 * is addressed at, e.g. /queue/x for a subscription to /user/queue/x).
 */
import type { Session } from '../session/session.js';
import type { Subscription } from '../session/subscription.js';
import { compilePattern, isPattern, type CompiledPattern } from './pattern.js';

/** Routing info the broker stores on a user-destination Subscription. */
export interface UserRoute {
  kind: 'user';
  user: string;
  /** Path the user is addressed at, e.g. /queue/x. */
  path: string;
  pattern: CompiledPattern | null;
  /** The /user prefix, to build the concrete MESSAGE destination for pattern subscriptions. */
  userPrefix: string;
}

interface UserEntry {
  sessions: Set<Session>;
  byPath: Map<string, Set<Subscription>>;
  patterns: Set<Subscription>;
}

export class LocalUsers {
  private readonly users = new Map<string, UserEntry>();

  get userCount(): number {
    return this.users.size;
  }

  names(): string[] {
    return [...this.users.keys()];
  }

  has(user: string): boolean {
    return this.users.has(user);
  }

  sessionsOf(user: string): Session[] {
    const e = this.users.get(user);
    return e ? [...e.sessions] : [];
  }

  addSession(user: string, s: Session): void {
    this.entry(user).sessions.add(s);
  }

  /** Returns true if it was the user's last local session. */
  removeSession(user: string, s: Session): boolean {
    const e = this.users.get(user);
    if (!e) return true;
    e.sessions.delete(s);
    if (e.sessions.size === 0) {
      this.users.delete(user);
      return true;
    }
    return false;
  }

  addSubscription(sub: Subscription, route: UserRoute): void {
    sub.route = route;
    const e = this.entry(route.user);
    if (isPattern(route.path)) {
      route.pattern = compilePattern(route.path);
      e.patterns.add(sub);
      return;
    }
    let set = e.byPath.get(route.path);
    if (!set) {
      set = new Set();
      e.byPath.set(route.path, set);
    }
    set.add(sub);
  }

  removeSubscription(sub: Subscription): void {
    const route = sub.route as UserRoute | null;
    if (!route || route.kind !== 'user') return;
    const e = this.users.get(route.user);
    if (!e) return;
    if (e.patterns.delete(sub)) return;
    const set = e.byPath.get(route.path);
    if (!set) return;
    set.delete(sub);
    if (set.size === 0) e.byPath.delete(route.path);
  }

  /** Subscriptions of `user`'s local sessions that a message to `path` reaches. */
  match(user: string, path: string): Subscription[] {
    const e = this.users.get(user);
    if (!e) return [];
    const out: Subscription[] = [];
    const set = e.byPath.get(path);
    if (set) for (const s of set) out.push(s);
    for (const s of e.patterns) if ((s.route as UserRoute).pattern!.match(path)) out.push(s);
    return out;
  }

  private entry(user: string): UserEntry {
    let e = this.users.get(user);
    if (!e) {
      e = { sessions: new Set(), byPath: new Map(), patterns: new Set() };
      this.users.set(user, e);
    }
    return e;
  }
}
