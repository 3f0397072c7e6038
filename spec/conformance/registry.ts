/**
 * Conformance suite every Registry implementation passes
 * (docs/design.md "Conformance suites and real services").
 *
 *   registrySuite(t, 'memory', async () => {
 *     const store = new MemoryRegistryStore();
 *     return { create: () => new MemoryRegistry(store), cleanup: async () => {} };
 *   });
 *
 * `create()` returns a new instance on the SAME backing state each time (two
 * instances = two nodes looking at one registry). The factory is called once
 * per subtest, so each subtest starts from an empty registry. The suite closes
 * what it created, then calls `cleanup()`.
 */
import type { Registry, SessionRecord } from '../../src/cluster/types.js';
import { waitFor } from '../helpers/wait.js';
import { type Tap, sorted, uid, usersOn } from './fixtures.js';

export interface RegistryFixture {
  create(): Registry | Promise<Registry>;
  cleanup(): Promise<void>;
}

export type RegistryFactory = () => Promise<RegistryFixture>;

const rec = (user: string, sessionId: string, nodeId: string, connectedAt = 1_700_000_000_000): SessionRecord => ({
  user,
  sessionId,
  nodeId,
  connectedAt,
});

const bySession = (rs: SessionRecord[]): SessionRecord[] =>
  [...rs].sort((a, b) => (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0));

export function registrySuite(t: Tap, name: string, factory: RegistryFactory): void {
  /** A fixture for one subtest; everything is closed and cleaned in teardown. */
  async function setup(tt: Tap): Promise<{ create: () => Promise<Registry> }> {
    const fx = await factory();
    const made: Registry[] = [];
    tt.teardown(async () => {
      for (const r of made) await r.close();
      await fx.cleanup();
    });
    return {
      create: async () => {
        const r = await fx.create();
        made.push(r);
        return r;
      },
    };
  }

  t.test(`${name} registry: sessions, nodes of a user, users on a node (through nodesOf)`, async (t) => {
    const { create } = await setup(t);
    const reg = await create();
    const [alice, bob] = [uid('alice'), uid('bob')];
    const [A, B] = [uid('nodeA'), uid('nodeB')];
    await reg.addSession(rec(alice, 's1', A, 1));
    await reg.addSession(rec(alice, 's2', B, 2));
    await reg.addSession(rec(bob, 's3', A, 3));

    t.same(bySession(await reg.sessionsOf(alice)), [rec(alice, 's1', A, 1), rec(alice, 's2', B, 2)], 'sessionsOf');
    t.same(sorted(await reg.nodesOf(alice)), sorted([A, B]), 'nodesOf: distinct nodes');
    t.same(await reg.nodesOf(bob), [A]);
    t.same(sorted(await usersOn(reg, A, [alice, bob])), sorted([alice, bob]), 'usersOn A');
    t.same(await usersOn(reg, B, [alice, bob]), [alice], 'usersOn B');
    t.same(await reg.sessionsOf(uid('nobody')), [], 'unknown user has no sessions');
    t.same(await reg.nodesOf(uid('nobody')), []);
    t.same(await usersOn(reg, uid('nowhere'), [alice, bob]), [], 'unknown node has no users');

    await reg.addSession(rec(alice, 's4', A, 4));
    t.same(await usersOn(reg, B, [alice, bob]), [alice]);
    t.same(sorted(await usersOn(reg, A, [alice, bob])), sorted([alice, bob]), 'a user with two sessions on a node is listed once');
  });

  t.test(`${name} registry: another instance sees the same state`, async (t) => {
    const { create } = await setup(t);
    const [r1, r2] = [await create(), await create()];
    const [alice, A] = [uid('alice'), uid('nodeA')];
    await r1.addSession(rec(alice, 's1', A));
    t.same(await r2.sessionsOf(alice), [rec(alice, 's1', A)]);
    await r2.removeSession(alice, 's1', A);
    t.same(await r1.sessionsOf(alice), []);
  });

  t.test(`${name} registry: removeSession`, async (t) => {
    const { create } = await setup(t);
    const reg = await create();
    const [alice, bob, A, B] = [uid('alice'), uid('bob'), uid('nodeA'), uid('nodeB')];
    await reg.addSession(rec(alice, 's1', A));
    await reg.addSession(rec(alice, 's2', B));
    await reg.addSession(rec(bob, 's3', A));

    await reg.removeSession(alice, 's1', A);
    t.same(await reg.sessionsOf(alice), [rec(alice, 's2', B)]);
    t.same(await usersOn(reg, A, [alice, bob]), [bob], 'alice no longer on A');
    t.same(await reg.nodesOf(alice), [B]);

    await reg.removeSession(alice, 'no-such-session', A);
    await reg.removeSession(uid('nobody'), 's1', A);
    t.same(await reg.sessionsOf(alice), [rec(alice, 's2', B)], 'removing unknown sessions is a no-op');

    await reg.removeSession(alice, 's2', B);
    t.same(await reg.sessionsOf(alice), [], 'last session gone');
    t.same(await reg.nodesOf(alice), []);
    t.same(await usersOn(reg, B, [alice, bob]), []);
  });

  t.test(`${name} registry: a late removal from an old node never erases a newer session`, async (t) => {
    const { create } = await setup(t);
    const [oldNode, newNode] = [await create(), await create()];
    const [alice, A, B] = [uid('alice'), uid('nodeA'), uid('nodeB')];
    await oldNode.addSession(rec(alice, 's1', A, 1));
    // The same session is now recorded on B (it moved, or A's record is stale).
    await newNode.addSession(rec(alice, 's1', B, 2));
    t.same(await newNode.sessionsOf(alice), [rec(alice, 's1', B, 2)], 'the newer record replaced the old one');
    // A's disconnect handling arrives late.
    await oldNode.removeSession(alice, 's1', A);
    t.same(await newNode.sessionsOf(alice), [rec(alice, 's1', B, 2)], 'the newer session survives');
    t.same(await usersOn(newNode, B, [alice]), [alice]);
    t.same(await usersOn(newNode, A, [alice]), [], 'the old node holds nothing');
    t.same(await oldNode.removeNode(A), [], 'removing the old node affects no one');
    t.same(await newNode.sessionsOf(alice), [rec(alice, 's1', B, 2)]);
  });

  t.test(`${name} registry: removeNode removes every session of that node only`, async (t) => {
    const { create } = await setup(t);
    const reg = await create();
    const [alice, bob, carol, A, B] = [uid('alice'), uid('bob'), uid('carol'), uid('nodeA'), uid('nodeB')];
    await reg.addSession(rec(alice, 's1', A));
    await reg.addSession(rec(alice, 's2', A));
    await reg.addSession(rec(bob, 's3', A));
    await reg.addSession(rec(alice, 's4', B));
    await reg.addSession(rec(carol, 's5', B));

    t.same(sorted(await reg.removeNode(A)), sorted([alice, bob]), 'returns the users affected');
    t.same(await reg.sessionsOf(alice), [rec(alice, 's4', B)], 'sessions on other nodes stay');
    t.same(await reg.sessionsOf(bob), []);
    t.same(await usersOn(reg, A, [alice, bob, carol]), []);
    t.same(sorted(await usersOn(reg, B, [alice, bob, carol])), sorted([alice, carol]));
    t.same(await reg.removeNode(A), [], 'a second removeNode affects no one');
    t.same(await reg.removeNode(uid('never-seen')), [], 'unknown node');
  });

  t.test(`${name} registry: heartbeat, nodes(), meta`, async (t) => {
    const { create } = await setup(t);
    const [r1, r2] = [await create(), await create()];
    const [A, B] = [uid('nodeA'), uid('nodeB')];
    const before = Date.now();
    await r1.heartbeat(A, 10_000, { address: '10.0.0.1:8080', version: '1' });
    await r2.heartbeat(B, 10_000);
    const nodes = await r2.nodes();
    const a = nodes.find((n) => n.nodeId === A);
    const b = nodes.find((n) => n.nodeId === B);
    t.ok(a && a.alive, 'A alive');
    t.ok(b && b.alive, 'B alive');
    t.same(a?.meta, { address: '10.0.0.1:8080', version: '1' }, 'meta kept');
    t.same(b?.meta, {}, 'no meta given: empty meta');
    // lastSeen is an epoch-ms time near now (a backend may use its own clock).
    t.ok(a && Math.abs(a.lastSeen - before) < 60_000, `lastSeen ${a?.lastSeen} is near ${before}`);

    await r1.heartbeat(A, 10_000);
    const again = (await r1.nodes()).find((n) => n.nodeId === A);
    t.same(again?.meta, { address: '10.0.0.1:8080', version: '1' }, 'a heartbeat without meta keeps the meta');
    t.ok(again && again.lastSeen >= (a?.lastSeen ?? 0), 'lastSeen moves forward');

    await r1.heartbeat(A, 10_000, { address: '10.0.0.2:8080' });
    t.same((await r1.nodes()).find((n) => n.nodeId === A)?.meta, { address: '10.0.0.2:8080' }, 'new meta replaces');
  });

  t.test(`${name} registry: a node whose heartbeat TTL expires is not alive until it beats again`, async (t) => {
    const { create } = await setup(t);
    const reg = await create();
    const [A, B] = [uid('nodeA'), uid('nodeB')];
    await reg.heartbeat(A, 200);
    await reg.heartbeat(B, 60_000);
    await waitFor(async () => (await reg.nodes()).find((n) => n.nodeId === A)?.alive === false, {
      timeoutMs: 5000,
      what: 'node A to expire',
    });
    const nodes = await reg.nodes();
    t.ok(nodes.some((n) => n.nodeId === A && !n.alive), 'expired node still listed (not forgotten)');
    t.ok(nodes.some((n) => n.nodeId === B && n.alive), 'other node still alive');

    await reg.heartbeat(A, 60_000);
    t.ok((await reg.nodes()).find((n) => n.nodeId === A)?.alive, 'alive again after a new heartbeat');
  });

  t.test(`${name} registry: forgetNode`, async (t) => {
    const { create } = await setup(t);
    const reg = await create();
    const [A, B] = [uid('nodeA'), uid('nodeB')];
    await reg.heartbeat(A, 60_000, { x: '1' });
    await reg.heartbeat(B, 60_000);
    await reg.forgetNode(A);
    const ids = (await reg.nodes()).map((n) => n.nodeId);
    t.notOk(ids.includes(A), 'A forgotten');
    t.ok(ids.includes(B), 'B kept');
    await reg.forgetNode(A);
    await reg.forgetNode(uid('never-seen'));
    t.pass('forgetting twice or an unknown node is a no-op');
    await reg.heartbeat(A, 60_000);
    t.same((await reg.nodes()).find((n) => n.nodeId === A)?.meta, {}, 'a forgotten node comes back without its old meta');
  });

  t.test(`${name} registry: locks are exclusive, re-entrant for the owner, released by the owner only`, async (t) => {
    const { create } = await setup(t);
    const [r1, r2] = [await create(), await create()];
    const lock = uid('drain');
    t.equal(await r1.tryLock(lock, 'n1', 10_000), true, 'n1 takes the lock');
    t.equal(await r2.tryLock(lock, 'n2', 10_000), false, 'n2 cannot');
    t.equal(await r1.tryLock(lock, 'n1', 10_000), true, 'n1 again: still holds (and extends) it');
    await r2.unlock(lock, 'n2');
    t.equal(await r2.tryLock(lock, 'n2', 10_000), false, 'unlock by a non-owner does nothing');
    await r1.unlock(lock, 'n1');
    t.equal(await r2.tryLock(lock, 'n2', 10_000), true, 'released: n2 takes it');
    t.equal(await r1.tryLock(uid('other'), 'n1', 10_000), true, 'locks are independent by name');
    await r2.unlock(lock, 'n2');
    await r2.unlock(lock, 'n2');
    t.pass('unlocking a free lock is a no-op');
  });

  t.test(`${name} registry: concurrent tryLock has exactly one winner`, async (t) => {
    const { create } = await setup(t);
    const regs = [await create(), await create(), await create()];
    const lock = uid('race');
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => regs[i % regs.length]!.tryLock(lock, `owner-${i}`, 10_000)),
    );
    t.equal(results.filter(Boolean).length, 1, 'one winner');
  });

  t.test(`${name} registry: a lock expires after its TTL`, async (t) => {
    const { create } = await setup(t);
    const reg = await create();
    const lock = uid('ttl');
    t.equal(await reg.tryLock(lock, 'n1', 200), true);
    t.equal(await reg.tryLock(lock, 'n2', 10_000), false, 'held');
    await waitFor(() => reg.tryLock(lock, 'n2', 10_000), { timeoutMs: 5000, what: 'the lock to expire' });
    t.equal(await reg.tryLock(lock, 'n1', 10_000), false, 'n2 holds it now');
  });

  t.test(`${name} registry: close() is safe twice`, async (t) => {
    const { create } = await setup(t);
    const reg = await create();
    await reg.close();
    await reg.close();
    t.pass('closed twice');
  });
}
