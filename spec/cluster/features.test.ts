/**
 * Node features (src/cluster/features.ts): what every alive node can do decides
 * what the others may use (envelope batches, the registry look-up cache).
 */
import t from 'tap';
import { clusterFeatures, NODE_FEATURES } from '../../src/cluster/features.js';
import type { NodeInfo } from '../../src/cluster/types.js';

const node = (nodeId: string, features: string | undefined, alive = true): NodeInfo => ({
  nodeId,
  alive,
  lastSeen: 0,
  meta: features === undefined ? {} : { features },
});

t.test('every node of this version: all features in common', async (t) => {
  const f = clusterFeatures([node('a', NODE_FEATURES.join(',')), node('b', NODE_FEATURES.join(','))]);
  t.same([...f.common].sort(), [...NODE_FEATURES].sort());
  t.ok(f.nodes.get('a')?.has('envelope-batch'));
});

t.test('one node without the meta (an older version): nothing in common, the others keep theirs', async (t) => {
  const f = clusterFeatures([node('a', NODE_FEATURES.join(',')), node('old', undefined)]);
  t.same([...f.common], []);
  t.ok(f.nodes.get('a')?.has('envelope-batch'), 'a can still take batches');
  t.notOk(f.nodes.get('old')?.has('envelope-batch'), 'old cannot');
});

t.test('dead nodes do not count; unknown features are ignored; no nodes: nothing', async (t) => {
  const f = clusterFeatures([node('a', `${NODE_FEATURES.join(',')},future-thing`), node('gone', '', false)]);
  t.same([...f.common].sort(), [...NODE_FEATURES].sort());
  t.notOk(f.nodes.has('gone'));
  t.same([...clusterFeatures([]).common], []);
});
