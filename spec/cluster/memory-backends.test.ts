/**
 * The in-memory Registry, Bus and Inbox (the single-process default) run the
 * same conformance suites as the Redis and Kafka implementations.
 */
import t from 'tap';
import { MemoryBus, MemoryBusHub } from '../../src/cluster/memory/bus.js';
import { MemoryInbox } from '../../src/cluster/memory/inbox.js';
import { MemoryRegistry, MemoryRegistryStore } from '../../src/cluster/memory/registry.js';
import { busSuite } from '../conformance/bus.js';
import { inboxSuite } from '../conformance/inbox.js';
import { registrySuite } from '../conformance/registry.js';

registrySuite(t, 'memory', async () => {
  const store = new MemoryRegistryStore();
  return { create: () => new MemoryRegistry(store), cleanup: async () => undefined };
});

inboxSuite(t, 'memory', async () => ({
  create: (limits) => new MemoryInbox(limits),
  cleanup: async () => undefined,
}));

busSuite(t, 'memory', async () => {
  const hub = new MemoryBusHub();
  return { create: () => new MemoryBus(hub), cleanup: async () => undefined };
});
