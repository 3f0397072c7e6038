/**
 * Several broker nodes in one process on shared in-memory backends: the
 * routing contract without Kafka or Redis (the same dispatcher code runs on
 * them in spec/cluster/multi-node.test.ts).
 */
import t from 'tap';
import { MemoryBus, MemoryBusHub, MemoryInbox, MemoryRegistry, MemoryRegistryStore, type BrokerOptions, type Bus } from '../../src/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { expectError, raw } from '../helpers/stomp-assert.js';
import { ErrorCode } from '../../src/errors.js';
import { core } from '../helpers/internals.js';

interface Shared {
  store: MemoryRegistryStore;
  hub: MemoryBusHub;
  inbox: MemoryInbox;
}

function shared(): Shared {
  return { store: new MemoryRegistryStore(), hub: new MemoryBusHub(), inbox: new MemoryInbox() };
}

function node(t: Parameters<typeof startBroker>[0], s: Shared, opts: BrokerOptions = {}, bus: Bus = new MemoryBus(s.hub)): Promise<TestBroker> {
  return startBroker(t, { ...opts, backends: { registry: new MemoryRegistry(s.store), bus, inbox: s.inbox } });
}

t.test('sendToUser on node A reaches the user on node B', async (t) => {
  const s = shared();
  const a = await node(t, s);
  const b = await node(t, s);
  const bob = await b.user('bob');
  await bob.subscribe('1', '/user/queue/x');
  await a.broker.sendToUser('bob', '/queue/x', { n: 1 });
  const m = await bob.next('MESSAGE');
  t.equal(m.headers['destination'], '/user/queue/x');
  t.same(JSON.parse(m.body.toString()), { n: 1 });
  t.equal(core(a.broker).dispatcher.counters.sentRemote, 1);
});

t.test('a user with tabs on A and B gets one copy in each, in order', async (t) => {
  const s = shared();
  const a = await node(t, s);
  const b = await node(t, s);
  const tabA = await a.user('carol');
  const tabB = await b.user('carol');
  await tabA.subscribe('1', '/user/queue/x');
  await tabB.subscribe('1', '/user/queue/x');
  for (let i = 0; i < 50; i++) await a.broker.sendToUser('carol', '/queue/x', String(i));
  const ma = await tabA.messages(50);
  const mb = await tabB.messages(50);
  t.same(ma.map((m) => m.body.toString()), [...Array(50).keys()].map(String));
  t.same(mb.map((m) => m.body.toString()), [...Array(50).keys()].map(String));
  // the marker proves nothing more arrived
  await a.broker.sendToUser('carol', '/queue/x', 'end');
  t.equal((await tabA.next('MESSAGE')).body.toString(), 'end');
  t.equal((await tabB.next('MESSAGE')).body.toString(), 'end');
});

t.test('client SEND to /user/bob/queue/x on A reaches bob on C; /topic spans nodes', async (t) => {
  const s = shared();
  const a = await node(t, s);
  await node(t, s);
  const c = await node(t, s);
  const bob = await c.user('bob');
  await bob.subscribe('1', '/user/queue/x');
  await bob.subscribe('2', '/topic/news');
  const alice = await a.user('alice');
  alice.send({ command: 'SEND', headers: { destination: '/user/bob/queue/x', receipt: 'r1' }, body: 'hi bob' });
  await alice.next('RECEIPT');
  const m = await bob.next('MESSAGE');
  t.equal(m.body.toString(), 'hi bob');
  t.equal(m.headers['destination'], '/user/queue/x');
  alice.send({ command: 'SEND', headers: { destination: '/topic/news' }, body: 'extra' });
  const n = await bob.next('MESSAGE');
  t.equal(n.headers['destination'], '/topic/news');
  t.equal(n.body.toString(), 'extra');
});

t.test('an offline user gets the message from the inbox on the next subscription, on any node', async (t) => {
  const s = shared();
  const a = await node(t, s);
  const b = await node(t, s);
  for (let i = 0; i < 5; i++) await a.broker.sendToUser('dave', '/queue/x', `m${i}`);
  await a.broker.publish('/topic/t', 'never kept');
  t.equal(await s.inbox.depth('dave'), 5);
  const dave = await b.user('dave');
  await dave.subscribe('1', '/user/queue/x');
  const ms = await dave.messages(5);
  t.same(ms.map((m) => m.body.toString()), ['m0', 'm1', 'm2', 'm3', 'm4']);
  t.ok(ms.every((m) => m.headers['x-replay'] === 'true'));
  t.equal(await s.inbox.depth('dave'), 0);
});

t.test('a message for a user who moved is forwarded, bounded by the hop limit', async (t) => {
  const s = shared();
  const a = await node(t, s, { cluster: { maxHops: 2 } });
  const b = await node(t, s, { cluster: { maxHops: 2 } });
  // A stale registry entry says erin is on B, but erin is nowhere: B looks again, finds
  // the stale entry pointing to itself only, and the message goes to the inbox.
  await s.store.users.set('erin', new Map([['ghost', { sessionId: 'ghost', user: 'erin', nodeId: b.broker.nodeId, connectedAt: 0 }]]));
  await a.broker.sendToUser('erin', '/queue/x', 'for erin');
  await t.resolves(waitFor(async () => (await s.inbox.depth('erin')) === 1));
  // A loop: the registry says erin is on A when asked from B and on B when asked from A.
  s.store.users.set('frank', new Map([['g1', { sessionId: 'g1', user: 'frank', nodeId: a.broker.nodeId, connectedAt: 0 }], ['g2', { sessionId: 'g2', user: 'frank', nodeId: b.broker.nodeId, connectedAt: 0 }]]));
  await a.broker.sendToUser('frank', '/queue/x', 'bounces');
  await t.resolves(waitFor(async () => (await s.inbox.depth('frank')) >= 1));
  const hops = core(a.broker).dispatcher.counters.hops + core(b.broker).dispatcher.counters.hops;
  t.ok(hops <= 4, `bounded forwarding (${hops} hops)`);
});

t.test('a dead node is taken over: its sessions leave the registry, pending messages are re-routed', async (t) => {
  const s = shared();
  const fast = { cluster: { nodeTtlMs: 300, heartbeatIntervalMs: 100, deadNodeCheckIntervalMs: 100 } };
  const a = await node(t, s, fast);
  const b = await node(t, s, fast);
  const gina = await b.user('gina');
  await gina.subscribe('1', '/user/queue/x');
  // Node B "dies": its bus consumer stops (no commit), heartbeats stop, sockets vanish.
  const deadId = b.broker.nodeId;
  await core(b.broker).bus.close();
  await core(b.broker).cluster!.stop(false); // no hand-off: a survivor must act for it
  await a.broker.sendToUser('gina', '/queue/x', 'in flight');
  t.equal(s.hub.topics.get(deadId)?.pending.length, 1, 'message waits in the dead node topic');
  await t.resolves(waitFor(async () => !(await new MemoryRegistry(s.store).nodes()).some((n) => n.nodeId === deadId), { timeoutMs: 5000 }));
  t.same(await new MemoryRegistry(s.store).nodesOf('gina'), [], 'dead node sessions removed');
  t.equal(await s.inbox.depth('gina'), 1, 're-routed to the inbox (gina has no other session)');
  gina.close();
  const again = await a.user('gina');
  await again.subscribe('1', '/user/queue/x');
  t.equal((await again.next('MESSAGE')).body.toString(), 'in flight');
});

t.test('client SENDs are handed on without waiting for the bus, at most MAX_SENDS_IN_FLIGHT (256); a receipt waits for all', async (t) => {
  const { MAX_SENDS_IN_FLIGHT } = await import('../../src/broker/pipeline.js');
  t.equal(MAX_SENDS_IN_FLIGHT, 256, 'default');
  const s = shared();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  t.teardown(() => release());
  let calls = 0;
  class GatedBus extends MemoryBus {
    override async sendToNode(nodeId: string, env: Parameters<MemoryBus['sendToNode']>[1]): Promise<void> {
      calls++;
      await gate;
      return super.sendToNode(nodeId, env);
    }
  }
  const a = await node(t, s, {}, new GatedBus(s.hub));
  const b = await node(t, s);
  const bob = await b.user('bob');
  await bob.subscribe('1', '/user/queue/x');
  const sender = await a.user('sender');
  let frames = '';
  for (let i = 0; i < 300; i++) frames += `SEND\ndestination:/user/bob/queue/x\n\n${i}\0`;
  frames += 'SEND\ndestination:/user/bob/queue/x\nreceipt:r1\n\nlast\0';
  sender.sendText(frames);
  await waitFor(() => calls >= MAX_SENDS_IN_FLIGHT + 1, { timeoutMs: 10_000, what: 'sends handed on' });
  t.equal(calls, MAX_SENDS_IN_FLIGHT + 1, 'the session went on without confirmations, then waited at the bound');
  release();
  const r = await sender.next('RECEIPT', 10_000);
  t.equal(r.headers['receipt-id'], 'r1', 'the receipt came once everything before it was accepted');
  const got = await bob.messages(301, 10_000);
  t.same(got.map((m) => m.body.toString()), [...[...Array(300).keys()].map(String), 'last'], 'all 301, in order');
});

t.test('a CONNECT that completes while the node hands its topic over is refused (SERVER_SHUTDOWN), not registered on the leaving node', async (t) => {
  const s = shared();
  let entered!: () => void;
  const inLeave = new Promise<void>((r) => (entered = r));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  t.teardown(() => release());
  class SlowLeave extends MemoryBus {
    override async leave(handler: Parameters<MemoryBus['leave']>[0]): Promise<number> {
      entered();
      await gate;
      return super.leave(handler);
    }
  }
  const a = await node(t, s, {}, new SlowLeave(s.hub));
  const c = await a.client();
  const stopping = a.broker.close();
  await inLeave;
  c.send(raw('CONNECT', { 'accept-version': '1.2', host: 'localhost', login: 'late' }));
  await expectError(t, c, ErrorCode.SERVER_SHUTDOWN);
  t.same(await new MemoryRegistry(s.store).nodesOf('late'), [], 'not registered');
  release();
  await stopping;
});

t.test("a client-ack delivery whose write-ahead append failed is written again by the bus's repeat, so a session that ends before its ACK loses nothing", async (t) => {
  class FlakyInbox extends MemoryInbox {
    failNext = false;
    override async append(user: string, env: Parameters<MemoryInbox['append']>[1]): Promise<string> {
      if (this.failNext) {
        this.failNext = false;
        throw new Error('inbox down');
      }
      return super.append(user, env);
    }
  }
  const inbox = new FlakyInbox();
  const s: Shared = { store: new MemoryRegistryStore(), hub: new MemoryBusHub(), inbox };
  const a = await node(t, s);
  const b = await node(t, s);
  const bob = await b.user('bob');
  await bob.subscribe('1', '/user/queue/x', { ack: 'client-individual' });
  inbox.failNext = true;
  await a.broker.sendToUser('bob', '/queue/x', 'one');
  t.equal((await bob.next('MESSAGE')).body.toString(), 'one');
  await a.broker.sendToUser('bob', '/queue/x', 'two'); // pumps the bus again: 'one' comes again first
  t.equal((await bob.next('MESSAGE')).body.toString(), 'two', 'the repeat of one is not delivered twice');
  await waitFor(async () => (await inbox.read('bob', 10)).length === 2, { what: 'both written ahead' });
  bob.close();
  const again = await b.user('bob');
  await again.subscribe('2', '/user/queue/x', { ack: 'client-individual' });
  const got = await again.messages(2);
  t.same(got.map((m) => m.body.toString()), ['one', 'two'], 'both replayed to the next session');
});
