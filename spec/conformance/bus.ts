/**
 * Conformance suite every Bus implementation passes
 * (docs/design.md "Conformance suites and real services").
 *
 *   busSuite(t, 'memory', async () => {
 *     const hub = new MemoryBusHub();
 *     return { create: () => new MemoryBus(hub), cleanup: async () => {} };
 *   });
 *
 * `create()` returns a new bus instance — one "node" — on the SAME backend each
 * time, so the suite can run several nodes against each other. The factory is
 * called once per subtest; node ids are unique per subtest. The suite closes
 * every bus it created (close() must be safe to repeat), then calls `cleanup()`.
 *
 * One expectation is about timing: close() must return even while a handler
 * is still pending (an implementation may wait for in-flight handlers, but only
 * for a bounded time — configure it short in the factory), and an envelope
 * whose handler had not resolved is not committed: drainNode() hands it over
 * again.
 */
import type { Bus, Envelope, EnvelopeHandler } from '../../src/cluster/types.js';
import { waitFor, within } from '../helpers/wait.js';
import { type Tap, binaryBody, makeEnvelope, sameEnvelope, uid, makeTopicEnvelope, makeEventEnvelope } from './fixtures.js';

export interface BusFixture {
  create(): Bus | Promise<Bus>;
  cleanup(): Promise<void>;
}

export type BusFactory = () => Promise<BusFixture>;

/** How long any one delivery may take (a real broker on a busy 2-core machine). */
const DELIVERY_MS = 20_000;
/** Bound on close() while a handler never resolves. */
const CLOSE_MS = 20_000;

interface Collector {
  got: Envelope[];
  handler: EnvelopeHandler;
  ids(): string[];
  waitCount(n: number, what: string): Promise<void>;
  waitId(id: string, what?: string): Promise<void>;
}

function collector(onEnv?: (env: Envelope) => Promise<void> | void): Collector {
  const got: Envelope[] = [];
  const c: Collector = {
    got,
    handler: async (env) => {
      got.push(env);
      if (onEnv) await onEnv(env);
    },
    ids: () => got.map((e) => e.id),
    waitCount: async (n, what) => {
      await waitFor(() => got.length >= n, { timeoutMs: DELIVERY_MS, what });
    },
    waitId: async (id, what) => {
      await waitFor(() => got.some((e) => e.id === id), { timeoutMs: DELIVERY_MS, what: what ?? `envelope ${id}` });
    },
  };
  return c;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

export function busSuite(t: Tap, name: string, factory: BusFactory): void {
  async function setup(tt: Tap): Promise<{ create: () => Promise<Bus> }> {
    const fx = await factory();
    const made: Bus[] = [];
    tt.teardown(async () => {
      for (const b of made) await within(b.close({ deleteOwnTopic: true }), CLOSE_MS, 'bus close in teardown');
      await fx.cleanup();
    });
    return {
      create: async () => {
        const b = await fx.create();
        made.push(b);
        return b;
      },
    };
  }

  t.test(`${name} bus: sendToNode reaches that node only`, async (t) => {
    const { create } = await setup(t);
    const [A, B] = [uid('nodeA'), uid('nodeB')];
    const [a, b] = [collector(), collector()];
    const [busA, busB] = [await create(), await create()];
    await busA.start(A, a.handler);
    await busB.start(B, b.handler);

    const toB = makeEnvelope({ origin: A });
    await busA.sendToNode(B, toB);
    await b.waitId(toB.id);
    sameEnvelope(t, b.got[0], toB);

    // A marker sent to A after toB: once A has it, A would have had toB too.
    const toA = makeEnvelope({ origin: B });
    await busB.sendToNode(A, toA);
    await a.waitId(toA.id);
    t.same(a.ids(), [toA.id], 'A received only what was sent to A');
    t.same(b.ids(), [toB.id], 'B received only what was sent to B');

    const self = makeEnvelope({ origin: A });
    await busA.sendToNode(A, self);
    await a.waitId(self.id, 'a node sending to itself');
    t.pass('a node can send to its own topic');
  });

  t.test(`${name} bus: broadcast reaches every node, the sender included`, async (t) => {
    const { create } = await setup(t);
    const ids = [uid('nodeA'), uid('nodeB'), uid('nodeC')];
    const cs = ids.map(() => collector());
    const buses: Bus[] = [];
    for (let i = 0; i < ids.length; i++) {
      const bus = await create();
      await bus.start(ids[i]!, cs[i]!.handler);
      buses.push(bus);
    }
    const env = makeTopicEnvelope({ destination: '/topic/news', body: Buffer.from('hi all') });
    await buses[1]!.broadcast(env);
    for (let i = 0; i < ids.length; i++) {
      await cs[i]!.waitId(env.id, `broadcast on node ${i}`);
      sameEnvelope(t, cs[i]!.got.find((e) => e.id === env.id), env, `node ${i}`);
    }
    const again = makeEventEnvelope({ destination: 'node-joined' });
    await buses[0]!.broadcast(again);
    for (let i = 0; i < ids.length; i++) await cs[i]!.waitId(again.id, `second broadcast on node ${i}`);
    for (let i = 0; i < ids.length; i++) t.same(cs[i]!.ids(), [env.id, again.id], `node ${i}: each once, in order`);
  });

  t.test(`${name} bus: a node started later does not get earlier broadcasts`, async (t) => {
    const { create } = await setup(t);
    const [A, C] = [uid('nodeA'), uid('nodeC')];
    const [a, c] = [collector(), collector()];
    const busA = await create();
    await busA.start(A, a.handler);
    const before = makeTopicEnvelope({ destination: '/topic/t' });
    await busA.broadcast(before);
    await a.waitId(before.id);

    const busC = await create();
    await busC.start(C, c.handler);
    const after = makeTopicEnvelope({ destination: '/topic/t' });
    await busA.broadcast(after);
    await c.waitId(after.id);
    await a.waitId(after.id);
    t.same(c.ids(), [after.id], 'the late node starts at the live end');
  });

  t.test(`${name} bus: one user's envelopes keep their order (200, sent without waiting)`, async (t) => {
    const { create } = await setup(t);
    const [A, B] = [uid('nodeA'), uid('nodeB')];
    const b = collector();
    const [busA, busB] = [await create(), await create()];
    await busA.start(A, () => undefined);
    await busB.start(B, b.handler);
    const [u1, u2] = [uid('u1'), uid('u2')];
    const sent: Envelope[] = [];
    for (let i = 0; i < 200; i++) {
      sent.push(makeEnvelope({ user: u1, body: Buffer.from(`u1 #${i}`), headers: { seq: String(i) } }));
      if (i % 4 === 0) sent.push(makeEnvelope({ user: u2, body: Buffer.from(`u2 #${i}`), headers: { seq: String(i) } }));
    }
    await Promise.all(sent.map((e) => busA.sendToNode(B, e)));
    await b.waitCount(sent.length, `${sent.length} envelopes`);
    for (const user of [u1, u2]) {
      t.same(
        b.got.filter((e) => e.user === user).map((e) => e.id),
        sent.filter((e) => e.user === user).map((e) => e.id),
        `${user === u1 ? 'u1' : 'u2'} in order`,
      );
    }
    t.equal(new Set(b.ids()).size, sent.length, 'no duplicates');
  });

  t.test(`${name} bus: envelopes arrive intact (binary body, headers, every field)`, async (t) => {
    const { create } = await setup(t);
    const [A, B] = [uid('nodeA'), uid('nodeB')];
    const b = collector();
    const [busA, busB] = [await create(), await create()];
    await busA.start(A, () => undefined);
    await busB.start(B, b.handler);
    const envs: Envelope[] = [
      makeEnvelope({
        body: binaryBody(128 * 1024),
        headers: { 'content-type': 'application/octet-stream', 'x-ü': 'välue:with\nnewline', empty: '' },
        hops: 2,
        origin: A,
        user: 'ünïcødé user',
      }),
      makeEnvelope({ body: Buffer.alloc(0), headers: {} }),
      makeTopicEnvelope({ destination: '/topic/x', body: Buffer.from([0, 1, 2, 0]) }),
    ];
    for (const e of envs) await busA.sendToNode(B, e);
    await b.waitCount(envs.length, 'all envelopes');
    envs.forEach((e, i) => sameEnvelope(t, b.got.find((g) => g.id === e.id), e, `envelope ${i}`));

    const bc = makeTopicEnvelope({ body: binaryBody(1024) });
    await busA.broadcast(bc);
    await b.waitId(bc.id);
    sameEnvelope(t, b.got.find((g) => g.id === bc.id), bc, 'broadcast envelope');
  });

  t.test(`${name} bus: an envelope whose handler has not resolved is not committed; drainNode hands it over`, async (t) => {
    const { create } = await setup(t);
    const [A, B] = [uid('nodeA'), uid('nodeB')];
    const user = uid('u');
    const [m1, stuck, m3] = [makeEnvelope({ user }), makeEnvelope({ user }), makeEnvelope({ user })];
    const gate = deferred();
    t.teardown(() => gate.resolve());
    const a = collector((env) => (env.id === stuck.id ? gate.promise : undefined));
    const [busA, busB] = [await create(), await create()];
    await busA.start(A, a.handler);
    await busB.start(B, () => undefined);

    await busB.sendToNode(A, m1);
    await busB.sendToNode(A, stuck);
    await busB.sendToNode(A, m3);
    await a.waitId(stuck.id);
    t.same(a.ids(), [m1.id, stuck.id], 'the next envelope waits for the pending handler');

    // A goes away while the handler is still pending (its promise never resolved).
    await within(busA.close(), CLOSE_MS, 'close() with a pending handler');
    const drained = collector();
    const n = await busB.drainNode(A, drained.handler);
    t.same(drained.ids(), [stuck.id, m3.id], 'the pending envelope and the ones after it, in order; m1 was committed');
    t.equal(n, 2, 'drainNode returns the count');
    sameEnvelope(t, drained.got[0], stuck, 'drained envelope');
  });

  t.test(`${name} bus: drainNode returns a closed node's pending envelopes in order, then the topic is gone`, async (t) => {
    const { create } = await setup(t);
    const [A, B, C] = [uid('nodeA'), uid('nodeB'), uid('nodeC')];
    const [busA, busB, busC] = [await create(), await create(), await create()];
    await busA.start(A, () => undefined);
    await busA.close(); // left without deleting its topic, like a crash
    await busB.start(B, () => undefined);
    const user = uid('u');
    const sent = Array.from({ length: 20 }, (_, i) => makeEnvelope({ user, body: Buffer.from(`#${i}`) }));
    await Promise.all(sent.map((e) => busB.sendToNode(A, e)));

    await busC.start(C, () => undefined);
    const drained = collector();
    const n = await busC.drainNode(A, drained.handler);
    t.equal(n, sent.length, 'count');
    t.same(drained.ids(), sent.map((e) => e.id), 'in order');
    sent.forEach((e, i) => i % 5 === 0 && sameEnvelope(t, drained.got[i], e, `envelope ${i}`));

    const again = collector();
    t.equal(await busC.drainNode(A, again.handler), 0, 'a second drain finds nothing: the topic is gone');
    t.same(again.ids(), []);
  });

  t.test(`${name} bus: closing while envelopes stream in loses nothing; drainNode continues exactly after the handled ones`, async (t) => {
    const { create } = await setup(t);
    const [A, B] = [uid('nodeA'), uid('nodeB')];
    const a = collector();
    const [busA, busB] = [await create(), await create()];
    await busA.start(A, a.handler);
    await busB.start(B, () => undefined);
    const user = uid('u');
    const sent = Array.from({ length: 2000 }, (_, i) => makeEnvelope({ user, body: Buffer.from(`#${i}`) }));
    const sending = Promise.all(sent.map((e) => busB.sendToNode(A, e)));
    await a.waitCount(50, 'the first envelopes');
    await within(busA.close(), CLOSE_MS, 'close() under traffic');
    await sending;
    const handled = a.ids();
    const drained = collector();
    await busB.drainNode(A, drained.handler);
    t.ok(handled.length >= 50 && handled.length <= sent.length, `${handled.length} handled before close`);
    t.same(
      [...handled, ...drained.ids()],
      sent.map((e) => e.id),
      'handled + drained = everything sent, in order, no duplicates',
    );
  });

  t.test(`${name} bus: a graceful leave deletes the node's topic`, async (t) => {
    const { create } = await setup(t);
    const [A, B] = [uid('nodeA'), uid('nodeB')];
    const a = collector();
    const [busA, busB] = [await create(), await create()];
    await busA.start(A, a.handler);
    await busB.start(B, () => undefined);
    const env = makeEnvelope();
    await busB.sendToNode(A, env);
    await a.waitId(env.id);
    await busA.close({ deleteOwnTopic: true });
    const drained = collector();
    t.equal(await busB.drainNode(A, drained.handler), 0, 'nothing to drain');
    t.same(drained.ids(), []);
  });

  t.test(`${name} bus: drainNode of a node that never existed returns 0`, async (t) => {
    const { create } = await setup(t);
    const bus = await create();
    await bus.start(uid('nodeA'), () => undefined);
    const drained = collector();
    t.equal(await bus.drainNode(uid('ghost'), drained.handler), 0);
    t.same(drained.ids(), []);
  });

  t.test(`${name} bus: a rejected handler gets the envelope again; later envelopes still arrive in order`, async (t) => {
    const { create } = await setup(t);
    const [A, B] = [uid('nodeA'), uid('nodeB')];
    const user = uid('u');
    const [flaky, next] = [makeEnvelope({ user }), makeEnvelope({ user })];
    let failures = 0;
    const a = collector((env) => {
      if (env.id === flaky.id && failures === 0) {
        failures++;
        throw new Error('transient failure');
      }
    });
    const [busA, busB] = [await create(), await create()];
    await busA.start(A, a.handler);
    await busB.start(B, () => undefined);
    await busB.sendToNode(A, flaky);
    await a.waitId(flaky.id);
    await busB.sendToNode(A, next);
    await a.waitId(next.id);
    const seen = a.ids();
    t.equal(seen.filter((id) => id === flaky.id).length, 2, 'the rejected envelope was handed over again');
    t.ok(seen.lastIndexOf(flaky.id) < seen.indexOf(next.id), 'and before the next one');
  });

  t.test(`${name} bus: leave() hands over what is left in the node's topic, in order, while sends still work`, async (t) => {
    const { create } = await setup(t);
    const [A, B] = [uid('nodeA'), uid('nodeB')];
    const [busA, busB] = [await create(), await create()];
    if (!busA.leave) {
      t.pass('leave() is optional and not implemented here');
      return;
    }
    const user = uid('u');
    const sent = [makeEnvelope({ user }), makeEnvelope({ user }), makeEnvelope({ user })];
    const gate = deferred();
    t.teardown(() => gate.resolve());
    // A's handler is still busy with the first envelope when A leaves.
    const a = collector((env) => (env.id === sent[0]!.id ? gate.promise : undefined));
    const b = collector();
    await busA.start(A, a.handler);
    await busB.start(B, b.handler);
    for (const e of sent) await busB.sendToNode(A, e);
    await a.waitId(sent[0]!.id);

    // The hand-over forwards each envelope to B: A's producer must still work.
    const handed = collector((env) => busA.sendToNode(B, { ...env, hops: env.hops + 1 }));
    const n = await within(busA.leave(handed.handler), CLOSE_MS + DELIVERY_MS, 'leave()');
    t.same(handed.ids(), sent.map((e) => e.id), 'everything not yet handled, in order');
    t.equal(n, sent.length, 'leave() returns the count');
    await b.waitCount(sent.length, 'the forwarded envelopes');
    t.same(b.ids(), sent.map((e) => e.id), 'forwarded in order');
    const drained = collector();
    t.equal(await busB.drainNode(A, drained.handler), 0, "the leaving node's topic is gone");
  });

  t.test(`${name} bus: close() is safe twice, and before start()`, async (t) => {
    const { create } = await setup(t);
    const idle = await create();
    await idle.close();
    await idle.close();
    const bus = await create();
    await bus.start(uid('nodeA'), () => undefined);
    await bus.close();
    await bus.close({ deleteOwnTopic: true });
    t.pass('closed repeatedly');
  });
}
