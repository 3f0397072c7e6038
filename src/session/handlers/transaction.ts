import { ErrorCode, StompError } from '../../errors.js';
import type { Frame } from '../../stomp/frame.js';
import type { Session } from '../session.js';
import { required } from './util.js';

/** Bytes a buffered frame is counted as (body, header text, and the objects around them). */
function frameBytes(f: Frame): number {
  let n = 256 + f.body.length;
  for (const k in f.headers) n += k.length + f.headers[k]!.length;
  return n;
}

/**
 * STOMP 1.2 "Transactions": SEND, ACK and NACK with a `transaction` header are
 * held until COMMIT (or dropped on ABORT / disconnect). Returns true if `f` was
 * held. What is held is bounded per session (frames per transaction, bytes in
 * all of its transactions) and charged to the node's memory budget.
 */
export function bufferInTransaction(s: Session, f: Frame): boolean {
  const id = f.headers['transaction'];
  if (id === undefined) return false;
  const tx = s.transactions?.get(id);
  if (!tx) throw new StompError(ErrorCode.UNKNOWN_TRANSACTION, `transaction "${id}" was not begun`);
  const limits = s.host.config.limits;
  if (tx.frames.length >= limits.maxFramesPerTransaction)
    throw new StompError(ErrorCode.TOO_MANY_TRANSACTIONS, `a transaction may hold at most ${limits.maxFramesPerTransaction} frames`);
  const bytes = frameBytes(f);
  if (s.transactionBytes + bytes > limits.maxTransactionBytesPerSession)
    throw new StompError(ErrorCode.TRANSACTION_TOO_LARGE, `open transactions may hold at most ${limits.maxTransactionBytesPerSession} bytes per session`);
  tx.held.grow(bytes); // the node's budget (throws its coded refusal)
  tx.bytes += bytes;
  s.transactionBytes += bytes;
  const copy: Frame = { command: f.command, headers: Object.assign(Object.create(null) as Frame['headers'], f.headers), body: Buffer.from(f.body) };
  delete copy.headers['transaction'];
  delete copy.headers['receipt'];
  tx.frames.push(copy);
  return true;
}

export function begin(s: Session, f: Frame): void {
  const id = required(f, 'transaction'); // STOMP 1.2: BEGIN requires transaction
  const transactions = (s.transactions ??= new Map());
  if (transactions.has(id)) throw new StompError(ErrorCode.DUPLICATE_TRANSACTION, `transaction "${id}" is already open`);
  const max = s.host.config.limits.maxTransactionsPerSession;
  if (transactions.size >= max) throw new StompError(ErrorCode.TOO_MANY_TRANSACTIONS, `at most ${max} open transactions per session`);
  transactions.set(id, { frames: [], held: s.host.holdTransaction(s), bytes: 0 });
}

export async function commit(s: Session, f: Frame): Promise<void> {
  const id = required(f, 'transaction');
  const tx = s.transactions?.get(id);
  if (!tx) throw new StompError(ErrorCode.UNKNOWN_TRANSACTION, `transaction "${id}" was not begun`);
  // Its frames leave the transaction now: whatever holds them next (a queue, an inbox) charges them itself.
  s.endTransactions(id);
  for (const frame of tx.frames) await s.dispatch(frame);
}

export function abort(s: Session, f: Frame): void {
  const id = required(f, 'transaction');
  if (!s.transactions?.has(id)) throw new StompError(ErrorCode.UNKNOWN_TRANSACTION, `transaction "${id}" was not begun`);
  s.endTransactions(id);
}
