/**
 * The memory budget once it is overshot (a forced charge: a dead-lettered
 * message grows by its x-dead-letter-from header): taking nothing is never
 * refused, so an empty transaction can still BEGIN, while taking a byte more
 * is. tryHold() says "does not fit" without counting a refusal.
 */
import t from 'tap';
import { MemoryBudget } from '../../src/broker/budget.js';
import { ErrorCode, StompError } from '../../src/errors.js';
import { startCore } from '../helpers/memory-connection.js';
import { raw } from '../helpers/stomp-assert.js';

function refusal(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof StompError ? err.code : String(err);
  }
  return undefined;
}

t.test('an overshot budget: a 0-byte hold (an empty transaction) is taken, 1 byte more is refused', async (t) => {
  const b = new MemoryBudget({ maxHeldBytes: 1000, maxHeldBytesPerSender: 1000 });
  const kept = b.hold('queue', 'u:a', 990);
  kept.force(50); // a dead letter's extra header: over the budget
  t.equal(b.heldBytes, 1040, 'the forced charge overshoots maxHeldBytes');

  let empty: ReturnType<MemoryBudget['hold']> | undefined;
  t.equal(
    refusal(() => (empty = b.hold('transaction', 'u:b', 0))),
    undefined,
    'hold of 0 bytes for another sender does not throw',
  );
  t.equal(empty?.bytes, 0);
  t.equal(refusal(() => b.hold('transaction', 'u:a', 0)), undefined, 'nor for the sender that is over its quota');
  t.equal(refusal(() => b.hold('transaction', null, 0)), undefined, 'nor for a server-side holder');
  t.same(Object.fromEntries(b.refusals()), { memory_budget: 0, sender_quota: 0 }, 'no refusal counted for empty holds');

  t.equal(refusal(() => b.hold('transaction', 'u:b', 1)), ErrorCode.MEMORY_BUDGET, '1 byte more is refused: the node budget');
  t.equal(refusal(() => b.hold('transaction', null, 1)), ErrorCode.MEMORY_BUDGET, '1 byte more without a sender: the node budget');
  t.equal(refusal(() => b.hold('transaction', 'u:a', 1)), ErrorCode.SENDER_QUOTA, "1 byte more for the sender over its quota: its quota");
  let grown: string | undefined = 'not tried';
  if (empty !== undefined) grown = refusal(() => empty!.grow(1));
  t.equal(grown, ErrorCode.MEMORY_BUDGET, 'an empty holder cannot grow by 1 byte either');
  t.equal(refusal(() => empty?.grow(0)), undefined, 'but growing by 0 is fine');
  t.equal(b.heldBytes, 1040, 'nothing taken by the refused holds');
  t.same(Object.fromEntries(b.refusals()), { memory_budget: 3, sender_quota: 1 }, 'each refused byte counted once');

  kept.release();
  t.equal(b.heldBytes, 0, 'the forced charge is given back whole');
  t.equal(refusal(() => b.hold('transaction', 'u:b', 1000)), undefined, 'the full budget is free again');
});

t.test('tryHold: null (no refusal counted) when the bytes do not fit, a Hold when they do', async (t) => {
  const b = new MemoryBudget({ maxHeldBytes: 1000, maxHeldBytesPerSender: 600 });
  const a = b.tryHold('queue', 'u:a', 500);
  t.ok(a, 'fits: a Hold');
  t.equal(a?.bytes, 500);
  t.equal(a?.kind, 'queue');
  t.equal(b.heldBytes, 500, 'its bytes are taken');
  t.equal(b.heldFor('u:a'), 500, 'and charged to the sender');

  t.equal(b.tryHold('queue', 'u:a', 101), null, "past the sender's quota: null");
  t.same(Object.fromEntries(b.refusals()), { memory_budget: 0, sender_quota: 0 }, 'not counted as a refusal');
  const other = b.tryHold('inbox', 'u:b', 500);
  t.ok(other, 'another sender fits up to the node budget');
  t.equal(b.tryHold('queue', 'u:c', 1), null, 'past the node budget: null');
  t.equal(b.tryHold('queue', null, 1), null, 'past the node budget without a sender: null');
  t.same(Object.fromEntries(b.refusals()), { memory_budget: 0, sender_quota: 0 }, 'still no refusal counted');
  t.equal(b.heldBytes, 1000, 'nothing taken by the nulls');
  t.same(Object.fromEntries(b.byKind()), { queue: 500, inbox: 500, transaction: 0 });

  const zero = b.tryHold('transaction', 'u:c', 0);
  t.ok(zero, 'a full budget still gives a 0-byte Hold');
  t.equal(zero?.bytes, 0);

  // hold() for the same bytes is refused, and that one is counted.
  t.equal(refusal(() => b.hold('queue', 'u:c', 1)), ErrorCode.MEMORY_BUDGET);
  t.same(Object.fromEntries(b.refusals()), { memory_budget: 1, sender_quota: 0 }, 'hold() counts its refusal');

  a?.release();
  const again = b.tryHold('queue', 'u:c', 500);
  t.ok(again, 'fits again once released');
  t.equal(b.heldBytes, 1000);
  for (const h of [other, zero, again]) h?.release();
  t.equal(b.heldBytes, 0);
});

t.test('over the protocol: with the budget overshot by a dead letter, BEGIN still gets its RECEIPT', async (t) => {
  const maxHeldBytes = 8 * 1024;
  const core = await startCore(t, { deadLetterQueue: '/queue/dead', limits: { maxHeldBytes, maxHeldBytesPerSender: maxHeldBytes } });
  const budget = core.broker.budget;
  const sender = await core.user('s');
  // A probe message tells what one message costs here; a second one, larger by just what
  // is left, fills the budget exactly.
  await sender.withReceipt({ command: 'SEND', headers: { destination: '/queue/a' }, body: Buffer.from('p') });
  const probe = budget.heldBytes;
  t.ok(probe > 0 && probe < maxHeldBytes / 4, `one 1-byte message is held as ${probe} bytes`);
  const fill = 'f'.repeat(maxHeldBytes - 2 * probe + 1);
  await sender.withReceipt({ command: 'SEND', headers: { destination: '/queue/a' }, body: Buffer.from(fill) });
  t.equal(budget.heldBytes, maxHeldBytes, 'the budget is exactly full');

  // The consumer NACKs the probe without requeue: it is dead-lettered, one header longer.
  const consumer = await core.user('c');
  await consumer.subscribe('a', '/queue/a', { ack: 'client-individual' });
  const [m1, m2] = await consumer.messages(2);
  t.equal(m1!.body.toString(), 'p');
  t.equal(m2!.body.length, fill.length);
  await consumer.withReceipt({ command: 'NACK', headers: { id: m1!.headers['ack']!, requeue: 'false' } });
  t.ok(budget.heldBytes > maxHeldBytes, `the dead letter overshoots the budget (${budget.heldBytes} > ${maxHeldBytes})`);

  // Anyone may still begin an (empty) transaction...
  const other = await core.user('other');
  other.send(raw('BEGIN', { transaction: 'tx', receipt: 'begun' }));
  const r = await other.next();
  t.equal(r.command, 'RECEIPT', `BEGIN is confirmed (got ${r.command} ${r.headers['code'] ?? ''})`);
  t.equal(r.headers['receipt-id'], 'begun');
  // ... and abort it.
  other.send(raw('ABORT', { transaction: 'tx', receipt: 'aborted' }));
  t.equal((await other.next('RECEIPT')).headers['receipt-id'], 'aborted');
  // A byte more to a queue nobody consumes is still refused.
  other.send(raw('SEND', { destination: '/queue/nobody', receipt: 'more' }, 'x'));
  const e = await other.next();
  t.equal(e.command, 'ERROR');
  t.equal(e.headers['code'], ErrorCode.MEMORY_BUDGET, 'taking bytes is still refused');
  t.equal(e.headers['receipt-id'], 'more');
});
