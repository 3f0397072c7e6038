/**
 * This node's view of its own users: user -> local sessions, and the user
 * destination subscriptions of those sessions indexed by path (what the user
 * is addressed at, e.g. /queue/x for a subscription to /user/queue/x).
 */
import type { Session } from '../session/session.js';
import type { Subscription } from '../session/subscription.js';
import type { CompiledPattern } from './pattern.js';
import type { UserRoute } from './routes.js';

/**
 * A few members of a set, held the cheap way for the usual case of one (one
 * session per user, one subscription per path): the member itself, and a Set
 * only from the second on (back to the member when one is left). An empty
 * Set costs about 150 bytes, and a node holds one per user and path.
 */
type Members<T extends object> = T | Set<T>;

function withMember<T extends object>(m: Members<T> | null, v: T): Members<T> {
  if (m === null || m === v) return v;
  if (m instanceof Set) return m.add(v);
  return new Set([m, v]);
}

/** `m` without `v`; null when nothing is left. */
function withoutMember<T extends object>(m: Members<T>, v: T): Members<T> | null {
  if (!(m instanceof Set)) return m === v ? null : m;
  m.delete(v);
  if (m.size > 1) return m;
  // Set order is insertion order: the one left is what is left.
  for (const rest of m) return rest;
  return null;
}

function pushMembers<T extends object>(out: T[], m: Members<T>): void {
  if (m instanceof Set) for (const v of m) out.push(v);
  else out.push(m);
}

interface UserEntry {
  /** null only while the entry has subscriptions but no session (it goes when the last session does). */
  sessions: Members<Session> | null;
  byPath: Map<string, Members<Subscription>>;
  /** Pattern subscriptions and their patterns (null until the user's first: most users have none). */
  patterns: Map<Subscription, CompiledPattern> | null;
}

export class LocalUsers {
  private readonly users = new Map<string, UserEntry>();

  get userCount(): number {
    return this.users.size;
  }

  has(user: string): boolean {
    return this.users.has(user);
  }

  sessionsOf(user: string): Session[] {
    const out: Session[] = [];
    const sessions = this.users.get(user)?.sessions;
    if (sessions) pushMembers(out, sessions);
    return out;
  }

  addSession(user: string, s: Session): void {
    const e = this.entry(user);
    e.sessions = withMember(e.sessions, s);
  }

  /** Returns true if it was the user's last local session. */
  removeSession(user: string, s: Session): boolean {
    const e = this.users.get(user);
    if (!e) return true;
    e.sessions = e.sessions === null ? null : withoutMember(e.sessions, s);
    if (e.sessions === null) {
      this.users.delete(user);
      return true;
    }
    return false;
  }

  addSubscription(sub: Subscription, route: UserRoute): void {
    const e = this.entry(route.user);
    if (route.pattern !== null) {
      (e.patterns ??= new Map()).set(sub, route.pattern);
      return;
    }
    e.byPath.set(route.path, withMember(e.byPath.get(route.path) ?? null, sub));
  }

  removeSubscription(sub: Subscription, route: UserRoute): void {
    const e = this.users.get(route.user);
    if (!e) return;
    if (e.patterns?.delete(sub)) return;
    const subs = e.byPath.get(route.path);
    if (!subs) return;
    const rest = withoutMember(subs, sub);
    if (rest === null) e.byPath.delete(route.path);
    else if (rest !== subs) e.byPath.set(route.path, rest);
  }

  /** Subscriptions of `user`'s local sessions that a message to `path` reaches. */
  match(user: string, path: string): Subscription[] {
    const e = this.users.get(user);
    if (!e) return [];
    const out: Subscription[] = [];
    const subs = e.byPath.get(path);
    if (subs) pushMembers(out, subs);
    if (e.patterns !== null) for (const [s, p] of e.patterns) if (p.match(path)) out.push(s);
    return out;
  }

  private entry(user: string): UserEntry {
    let e = this.users.get(user);
    if (!e) {
      e = { sessions: null, byPath: new Map(), patterns: null };
      this.users.set(user, e);
    }
    return e;
  }
}
