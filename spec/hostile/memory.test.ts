/**
 * What the node holds for absent consumers is bounded: queue backlogs, memory
 * inboxes and open transactions are charged to one node-wide budget
 * (STOMP_MAX_HELD_BYTES) and to the sender's quota; a SEND that does not fit
 * gets a coded ERROR instead of growing the node; what is held expires by age
 * on a timer, not only when read; transactions are bounded per session and
 * freed when the session goes. The budget's own accounting first, then over
 * real sockets.
 */
import t from 'tap';
import { MemoryBudget, userSender } from '../../src/broker/budget.js';
import { DEFAULTS } from '../../src/config.js';
import { ErrorCode, StompError } from '../../src/errors.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import type { RawClient } from '../helpers/client.js';
import { expectError, raw, type Asserts } from '../helpers/stomp-assert.js';
import { waitFor } from '../helpers/wait.js';
import { core } from '../helpers/internals.js';

const KiB = 1024;
const MiB = 1024 * KiB;

function refusal(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof StompError ? err.code : String(err);
  }
  return undefined;
}

t.test('the defaults', async (t) => {
  t.equal(DEFAULTS.limits.maxHeldBytes, 256 * MiB);
  t.equal(DEFAULTS.limits.maxHeldBytesPerSender, 64 * MiB);
  t.equal(DEFAULTS.limits.maxTransactionBytesPerSession, 16 * MiB);
  t.equal(DEFAULTS.limits.maxUnackedBytesPerSession, 32 * MiB);
  t.equal(DEFAULTS.limits.maxQueueAgeMs, 24 * 60 * 60 * 1000);
});

t.test('MemoryBudget: node-wide and per-sender bounds, by kind, released once', async (t) => {
  const b = new MemoryBudget({ maxHeldBytes: 1000, maxHeldBytesPerSender: 600 });
  const a1 = b.hold('queue', 'u:a', 500);
  t.equal(refusal(() => b.hold('queue', 'u:a', 200)), ErrorCode.SENDER_QUOTA, "a's quota");
  const b1 = b.hold('inbox', 'u:b', 400);
  t.equal(refusal(() => b.hold('transaction', 'u:c', 200)), ErrorCode.MEMORY_BUDGET, 'the node budget');
  const server = b.hold('queue', null, 100); // no sender: the node budget only
  t.equal(b.heldBytes, 1000);
  t.same(Object.fromEntries(b.byKind()), { queue: 600, inbox: 400, transaction: 0 });
  t.same(Object.fromEntries(b.refusals()), { memory_budget: 1, sender_quota: 1 });
  a1.release();
  a1.release();
  t.equal(b.heldBytes, 500, 'released once');
  t.equal(b.heldFor('u:a'), 0);
  const forced = b.hold('queue', 'u:a', 0);
  forced.force(5000);
  t.equal(b.heldBytes, 5500, 'what comes back is always taken');
  for (const h of [b1, server, forced]) h.release();
  t.equal(b.heldBytes, 0);
});

async function sendUntilRefused(
  c: RawClient,
  destination: (i: number) => string,
  body: string,
  max: number,
  headers: Record<string, string> = {},
): Promise<{ sent: number; code: string | undefined }> {
  for (let i = 0; i < max; i++) {
    c.send(raw('SEND', { destination: destination(i), receipt: `r${i}`, ...headers }, body));
    const f = await c.next();
    if (f.command === 'ERROR') {
      await c.waitClosed();
      return { sent: i, code: f.headers['code'] };
    }
  }
  return { sent: max, code: undefined };
}

async function observerAlive(t: Asserts, b: TestBroker, observer: RawClient, n: number): Promise<void> {
  await b.broker.publish('/topic/obs', `alive ${n}`);
  t.equal((await observer.next('MESSAGE')).body.toString(), `alive ${n}`, 'the observer still receives');
}

t.test('floods into queues, offline inboxes and transactions are refused at the budget', async (t) => {
  const b = await startBroker(t, {
    limits: { maxHeldBytes: 2 * MiB, maxHeldBytesPerSender: 1 * MiB, maxTransactionBytesPerSession: 512 * KiB, maxFrameBytes: 200 * KiB, maxWebSocketMessageBytes: 256 * KiB },
  });
  const budget = core(b.broker).budget;
  const observer = await b.user('observer');
  await observer.subscribe('o', '/topic/obs');
  const body = 'x'.repeat(100 * KiB);

  await t.test('/queue/junk from anonymous sessions: per-session quota, then the node budget', async (t) => {
    const first = await b.client();
    await first.connect();
    const r1 = await sendUntilRefused(first, () => '/queue/junk', body, 50);
    t.equal(r1.code, ErrorCode.SENDER_QUOTA, `quota after ${r1.sent} SENDs`);
    t.ok(r1.sent >= 8 && r1.sent <= 10, 'about 1 MiB held for it');
    const second = await b.client();
    await second.connect();
    const r2 = await sendUntilRefused(second, () => '/queue/junk', body, 50);
    t.ok(r2.code === ErrorCode.SENDER_QUOTA || r2.code === ErrorCode.MEMORY_BUDGET, `refused after ${r2.sent} (${r2.code})`);
    const third = await b.client();
    await third.connect();
    const r3 = await sendUntilRefused(third, () => '/queue/junk', body, 50);
    t.equal(r3.code, ErrorCode.MEMORY_BUDGET, `the node budget after ${r3.sent}`);
    t.ok(budget.heldBytes <= 2 * MiB, `held ${budget.heldBytes} <= 2 MiB`);
    await observerAlive(t, b, observer, 1);
    const consumer = await b.user('consumer');
    await consumer.subscribe('j', '/queue/junk');
    await consumer.messages(r1.sent + r2.sent + r3.sent, 10_000);
    t.equal(budget.heldBytes, 0, 'delivered: nothing held any more');
    consumer.close();
  });

  await t.test('/user/ghost<i>/queue/x (offline inboxes): a logged-in sender hits its quota', async (t) => {
    const c = await b.user('mallory');
    const r = await sendUntilRefused(c, (i) => `/user/ghost${i}/queue/x`, body, 50);
    t.equal(r.code, ErrorCode.SENDER_QUOTA, `quota after ${r.sent} inboxes`);
    t.ok(budget.byKind().get('inbox')! > 0, 'charged to the inbox kind');
    const anon = await b.client();
    await anon.connect();
    anon.send(raw('SEND', { destination: '/user/ghost0/queue/x', receipt: 'a' }, body));
    await expectError(t, anon, ErrorCode.FORBIDDEN, { receipt: 'a' });
    // The ghosts log in: their inboxes are replayed, and the budget is free again.
    for (let i = 0; i < r.sent; i++) {
      const g = await b.user(`ghost${i}`);
      await g.subscribe('x', '/user/queue/x');
      t.equal((await g.next('MESSAGE')).body.length, body.length);
      g.close();
    }
    await waitFor(() => budget.heldBytes === 0, { what: 'inboxes emptied' });
    t.pass('nothing held once delivered');
    await observerAlive(t, b, observer, 2);
  });

  await t.test('transactions: bounded per session, released on ABORT and when the session goes', async (t) => {
    const c = await b.user('tx');
    c.send(raw('BEGIN', { transaction: 't1' }));
    const r = await sendUntilRefused(c, () => '/topic/none', body, 50, { transaction: 't1' });
    t.equal(r.code, ErrorCode.TRANSACTION_TOO_LARGE, `refused after ${r.sent} SENDs in the transaction`);
    await waitFor(() => budget.byKind().get('transaction') === 0, { what: 'released when the session closed' });
    const d = await b.user('tx2');
    d.send(raw('BEGIN', { transaction: 't2' }) + raw('SEND', { destination: '/topic/none', transaction: 't2', receipt: 's' }, body));
    await d.next('RECEIPT');
    t.ok(budget.byKind().get('transaction')! > body.length, 'held while the transaction is open');
    d.send(raw('ABORT', { transaction: 't2', receipt: 'ab' }));
    await d.next('RECEIPT');
    t.equal(budget.byKind().get('transaction'), 0, 'released by ABORT');
    await observerAlive(t, b, observer, 3);
  });
});

t.test('queue messages a client-ack consumer never ACKs are charged until their ACK: past the budget, SENDs are refused', async (t) => {
  const b = await startBroker(t, {
    deadLetterQueue: '/queue/dead',
    limits: { maxHeldBytes: 1 * MiB, maxHeldBytesPerSender: 1 * MiB, maxFrameBytes: 200 * KiB, maxWebSocketMessageBytes: 256 * KiB, maxUnackedBytesPerSession: 8 * MiB },
  });
  const budget = core(b.broker).budget;
  const hoarder = await b.user('hoarder');
  await hoarder.subscribe('h', '/queue/hoard', { ack: 'client-individual' });
  const sender = await b.user('sender');
  const body = 'x'.repeat(100 * KiB);
  const r = await sendUntilRefused(sender, () => '/queue/hoard', body, 50);
  t.equal(r.code, ErrorCode.SENDER_QUOTA, `refused after ${r.sent} SENDs handed to a consumer that does not ACK`);
  t.ok(r.sent >= 8 && r.sent <= 10, 'about 1 MiB charged');
  const got = await hoarder.messages(r.sent, 10_000);
  t.ok(budget.byKind().get('queue')! >= r.sent * body.length, 'charged while unacked');
  // An auto-ack consumer still gets what does not fit: it holds nothing.
  const taker = await b.user('taker');
  await taker.subscribe('t', '/queue/auto');
  const other = await b.user('other');
  other.send(raw('SEND', { destination: '/queue/auto', receipt: 'a' }, body));
  await other.next('RECEIPT');
  t.equal((await taker.next('MESSAGE')).body.length, body.length, 'an auto-ack consumer takes a message past the budget');
  // NACK requeue:false: the dead letter keeps the charge; ACK releases it.
  const first = got[0]!;
  hoarder.send(raw('NACK', { id: first.headers['ack']!, requeue: 'false', receipt: 'n' }));
  await hoarder.next('RECEIPT');
  t.ok(core(b.broker).queues.depth('/queue/dead') === 1, 'dead-lettered');
  const held = budget.heldBytes;
  t.ok(held >= r.sent * body.length, 'still charged as a dead letter');
  for (const m of got.slice(1)) hoarder.send(raw('ACK', { id: m.headers['ack']! }));
  await waitFor(() => budget.heldBytes < 2 * body.length, { what: 'ACKs release' });
  const dead = await b.user('dead');
  await dead.subscribe('d', '/queue/dead');
  t.equal((await dead.next('MESSAGE')).headers['x-dead-letter-from'], '/queue/hoard');
  await waitFor(() => budget.heldBytes === 0, { what: 'nothing held once all are settled' });
  t.pass('all released');
});

t.test("a receiver that never ACKs its user-queue messages does not use up the sender's quota: the write-ahead copies are its own", async (t) => {
  const b = await startBroker(t, {
    limits: { maxHeldBytes: 8 * MiB, maxHeldBytesPerSender: 512 * KiB, maxFrameBytes: 200 * KiB, maxWebSocketMessageBytes: 256 * KiB },
  });
  const budget = core(b.broker).budget;
  const alice = await b.user('alice');
  await alice.subscribe('a', '/user/queue/in', { ack: 'client' });
  const bob = await b.user('bob');
  const body = 'x'.repeat(100 * KiB);
  for (let i = 0; i < 10; i++) {
    bob.send(raw('SEND', { destination: '/user/alice/queue/in', receipt: `r${i}` }, body));
    t.equal((await bob.next()).command, 'RECEIPT', `SEND ${i} taken`);
  }
  const got = await alice.messages(10);
  t.equal(budget.heldFor(userSender('bob')), 0, "nothing charged to bob: alice took them all");
  t.ok(budget.heldFor(userSender('alice')) >= 10 * body.length, 'the unacked copies are charged to alice');
  alice.send(raw('ACK', { id: got[9]!.headers['ack']! }));
  await waitFor(() => budget.heldBytes === 0, { what: 'a cumulative ACK releases them' });
  t.pass('released');
});

t.test('held messages expire by age on a timer, not only when read', async (t) => {
  const b = await startBroker(t, { limits: { maxQueueAgeMs: 300 }, inbox: { maxAgeMs: 300 } });
  const budget = core(b.broker).budget;
  const c = await b.user('sender');
  c.send(raw('SEND', { destination: '/queue/old' }, 'q') + raw('SEND', { destination: '/user/nobody/queue/x', receipt: 'r' }, 'i'));
  await c.next('RECEIPT');
  t.equal(budget.byKind().get('queue')! > 0 && budget.byKind().get('inbox')! > 0, true, 'both held');
  await waitFor(() => budget.heldBytes === 0, { timeoutMs: 5000, what: 'swept' });
  t.equal(core(b.broker).queues.expired, 1, 'the queue message expired');
  const text = await (await fetch(`${b.httpUrl}/metrics`)).text();
  t.match(text, /stomp_queue_messages_dropped_total\{[^}]*reason="age"[^}]*\} 1/);
  t.match(text, /stomp_held_bytes\{[^}]*kind="queue"[^}]*\} 0/);
});

t.test('metrics: held bytes by kind and refusals by reason', async (t) => {
  const b = await startBroker(t, { limits: { maxHeldBytes: 64 * KiB, maxHeldBytesPerSender: 64 * KiB, maxFrameBytes: 48 * KiB } });
  const c = await b.client();
  await c.connect();
  const r = await sendUntilRefused(c, () => '/queue/m', 'y'.repeat(40 * KiB), 5);
  t.equal(r.code, ErrorCode.SENDER_QUOTA);
  const text = await (await fetch(`${b.httpUrl}/metrics`)).text();
  t.match(text, /stomp_held_refusals_total\{[^}]*reason="sender_quota"[^}]*\} 1/);
  t.match(text, /stomp_held_bytes\{[^}]*kind="queue"[^}]*\} [1-9]/);
  t.match(text, /stomp_held_bytes_limit\{[^}]*\} 65536/);
  t.match(text, /stomp_errors_total\{[^}]*code="STOMP_ERR_SENDER_QUOTA"[^}]*\} 1/);
});
