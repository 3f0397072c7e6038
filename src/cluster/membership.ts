/**
 * Cluster membership: this node's liveness heartbeat, and the survivors'
 * duty towards dead nodes (docs/design.md "Dead-node takeover"): a node that
 * stops heart-beating into the registry is dead; one survivor takes a lock,
 * removes its sessions, drains its topic from the committed offset, re-routes
 * what it finds and deletes the topic.
 */
import type { Logger } from 'pino';
import type { ClusterOptions } from '../config.js';
import type { Bus, Envelope, Registry } from './types.js';
import { type ClusterFeatures, clusterFeatures } from './features.js';

export interface MembershipDeps {
  nodeId: string;
  registry: Registry;
  bus: Bus;
  options: ClusterOptions;
  log: Logger;
  meta: Record<string, string>;
  reroute(env: Envelope): Promise<void>;
  /** Called after every read of the node list with what the cluster can do. */
  onFeatures?(f: ClusterFeatures): void;
}

export class Membership {
  private readonly d: MembershipDeps;
  private beatTimer: NodeJS.Timeout | null = null;
  private checkTimer: NodeJS.Timeout | null = null;
  private checking = false;
  /** Dead nodes taken over by this node. */
  takeovers = 0;
  recovered = 0;

  constructor(deps: MembershipDeps) {
    this.d = deps;
  }

  async start(): Promise<void> {
    await this.beat();
    // Know the cluster's features before the node takes traffic.
    try {
      this.d.onFeatures?.(clusterFeatures(await this.d.registry.nodes()));
    } catch (err) {
      this.d.log.warn({ err }, 'reading the node list failed; cluster features stay off until the next check');
    }
    this.beatTimer = setInterval(() => void this.beat(), this.d.options.heartbeatIntervalMs);
    this.checkTimer = setInterval(() => void this.checkDead(), this.d.options.deadNodeCheckIntervalMs);
    this.beatTimer.unref?.();
    this.checkTimer.unref?.();
  }

  async beat(): Promise<void> {
    try {
      await this.d.registry.heartbeat(this.d.nodeId, this.d.options.nodeTtlMs, this.d.meta);
    } catch (err) {
      this.d.log.warn({ err }, 'liveness heartbeat failed');
    }
  }

  /** Look for dead nodes and take over each one this node wins the lock for. */
  async checkDead(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const nodes = await this.d.registry.nodes();
      this.d.onFeatures?.(clusterFeatures(nodes));
      for (const n of nodes) if (!n.alive && n.nodeId !== this.d.nodeId) await this.takeover(n.nodeId);
    } catch (err) {
      this.d.log.warn({ err }, 'dead node check failed');
    } finally {
      this.checking = false;
    }
  }

  private async takeover(dead: string): Promise<void> {
    const lock = `takeover:${dead}`;
    if (!(await this.d.registry.tryLock(lock, this.d.nodeId, 120_000))) return;
    const started = Date.now();
    try {
      const users = await this.d.registry.removeNode(dead);
      const n = await this.d.bus.drainNode(dead, (env) => this.d.reroute(env));
      await this.d.registry.forgetNode(dead);
      this.takeovers++;
      this.recovered += n;
      this.d.log.warn({ dead, users: users.length, recovered: n, ms: Date.now() - started }, 'took over a dead node');
    } catch (err) {
      this.d.log.error({ err, dead }, 'takeover of a dead node failed; another check will retry');
    } finally {
      await this.d.registry.unlock(lock, this.d.nodeId).catch(() => undefined);
    }
  }

  /** Stop heart-beating; on a graceful leave also forget this node. */
  async stop(leave: boolean): Promise<void> {
    if (this.beatTimer) clearInterval(this.beatTimer);
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.beatTimer = this.checkTimer = null;
    if (leave) await this.d.registry.forgetNode(this.d.nodeId).catch(() => undefined);
  }
}
