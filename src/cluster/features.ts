/**
 * Node features: what a node of this version can do that an older one
 * cannot. Each node announces its own in its liveness meta; the others use a
 * feature only where every node it could affect has it, so a cluster in the
 * middle of a rolling upgrade (or a roll-back) loses nothing.
 */
import type { NodeInfo } from './types.js';

/**
 * Announced in the liveness meta as `features` (comma-separated):
 *  - envelope-batch: reads several envelopes from one bus message;
 *  - registry-notify: publishes every registry change (so caches stay coherent).
 */
export const NODE_FEATURES = ['envelope-batch', 'registry-notify'] as const;
export type NodeFeature = (typeof NODE_FEATURES)[number];

/** The features of the cluster as last read: per alive node, and those every alive node has. */
export interface ClusterFeatures {
  /** Alive nodes (as last read) and their features. */
  nodes: ReadonlyMap<string, ReadonlySet<string>>;
  /** Features every alive node has (empty until the first read). */
  common: ReadonlySet<string>;
}

export function clusterFeatures(nodes: NodeInfo[]): ClusterFeatures {
  const alive = new Map<string, ReadonlySet<string>>();
  for (const n of nodes) {
    if (!n.alive) continue;
    alive.set(n.nodeId, new Set((n.meta['features'] ?? '').split(',').filter((f) => f !== '')));
  }
  const common = new Set<string>(alive.size > 0 ? NODE_FEATURES : []);
  for (const fs of alive.values()) for (const f of [...common]) if (!fs.has(f)) common.delete(f);
  return { nodes: alive, common };
}
