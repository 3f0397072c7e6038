import type { NodeInfo, Registry, SessionRecord } from '../types.js';

/**
 * State shared by every MemoryRegistry built on it. One store = one "cluster":
 * several brokers in one process (tests) pass the same store.
 */
export class MemoryRegistryStore {
  /** user -> sessionId -> record */
  readonly users = new Map<string, Map<string, SessionRecord>>();
  /** nodeId -> liveness */
  readonly nodes = new Map<string, { expiresAt: number; lastSeen: number; meta: Record<string, string> }>();
  /** lock name -> owner, expiry */
  readonly locks = new Map<string, { owner: string; expiresAt: number }>();
}

/** In-memory Registry: the single-process default. Clock injectable for tests. */
export class MemoryRegistry implements Registry {
  private readonly store: MemoryRegistryStore;
  private readonly now: () => number;

  constructor(store: MemoryRegistryStore = new MemoryRegistryStore(), now: () => number = Date.now) {
    this.store = store;
    this.now = now;
  }

  async addSession(rec: SessionRecord): Promise<void> {
    let sessions = this.store.users.get(rec.user);
    if (!sessions) {
      sessions = new Map();
      this.store.users.set(rec.user, sessions);
    }
    sessions.set(rec.sessionId, { ...rec });
  }

  async removeSession(user: string, sessionId: string, nodeId: string): Promise<void> {
    const sessions = this.store.users.get(user);
    const rec = sessions?.get(sessionId);
    // Only the node that holds the session may remove it.
    if (!sessions || !rec || rec.nodeId !== nodeId) return;
    sessions.delete(sessionId);
    if (sessions.size === 0) this.store.users.delete(user);
  }

  async sessionsOf(user: string): Promise<SessionRecord[]> {
    const sessions = this.store.users.get(user);
    return sessions ? [...sessions.values()].map((r) => ({ ...r })) : [];
  }

  /** No cache here: every answer is fresh, so `opts.fresh` changes nothing. */
  async nodesOf(user: string, _opts?: { fresh?: boolean }): Promise<string[]> {
    const sessions = this.store.users.get(user);
    if (!sessions) return [];
    return [...new Set([...sessions.values()].map((r) => r.nodeId))];
  }

  async removeNode(nodeId: string): Promise<string[]> {
    const affected: string[] = [];
    for (const [user, sessions] of this.store.users) {
      let hit = false;
      for (const [sid, rec] of sessions) {
        if (rec.nodeId === nodeId) {
          sessions.delete(sid);
          hit = true;
        }
      }
      if (hit) affected.push(user);
      if (sessions.size === 0) this.store.users.delete(user);
    }
    return affected;
  }

  async heartbeat(nodeId: string, ttlMs: number, meta?: Record<string, string>): Promise<void> {
    const now = this.now();
    const prev = this.store.nodes.get(nodeId);
    this.store.nodes.set(nodeId, { expiresAt: now + ttlMs, lastSeen: now, meta: meta ?? prev?.meta ?? {} });
  }

  async nodes(): Promise<NodeInfo[]> {
    const now = this.now();
    return [...this.store.nodes].map(([nodeId, n]) => ({
      nodeId,
      lastSeen: n.lastSeen,
      alive: n.expiresAt > now,
      meta: { ...n.meta },
    }));
  }

  async forgetNode(nodeId: string): Promise<void> {
    this.store.nodes.delete(nodeId);
  }

  async tryLock(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const held = this.store.locks.get(name);
    if (held && held.expiresAt > now && held.owner !== owner) return false;
    this.store.locks.set(name, { owner, expiresAt: now + ttlMs });
    return true;
  }

  async unlock(name: string, owner: string): Promise<void> {
    const held = this.store.locks.get(name);
    if (held && held.owner === owner) this.store.locks.delete(name);
  }

  async close(): Promise<void> {
    /* nothing to release */
  }
}
