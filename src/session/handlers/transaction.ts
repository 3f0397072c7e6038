import { ErrorCode, StompError } from '../../errors.js';
import type { Frame } from '../../stomp/frame.js';
import type { Session } from '../session.js';
import { required } from './util.js';

/**
 * STOMP 1.2 "Transactions": SEND, ACK and NACK with a `transaction` header are
 * held until COMMIT (or dropped on ABORT / disconnect). Returns true if `f` was held.
 */
export function bufferInTransaction(s: Session, f: Frame): boolean {
  const tx = f.headers['transaction'];
  if (tx === undefined) return false;
  const frames = s.transactions?.get(tx);
  if (!frames) throw new StompError(ErrorCode.UNKNOWN_TRANSACTION, `transaction "${tx}" was not begun`);
  const max = s.host.config.limits.maxFramesPerTransaction;
  if (frames.length >= max) throw new StompError(ErrorCode.TOO_MANY_TRANSACTIONS, `a transaction may hold at most ${max} frames`);
  const copy: Frame = { command: f.command, headers: Object.assign(Object.create(null) as Frame['headers'], f.headers), body: Buffer.from(f.body) };
  delete copy.headers['transaction'];
  delete copy.headers['receipt'];
  frames.push(copy);
  return true;
}

export function begin(s: Session, f: Frame): void {
  const tx = required(f, 'transaction'); // STOMP 1.2: BEGIN requires transaction
  const transactions = (s.transactions ??= new Map());
  if (transactions.has(tx)) throw new StompError(ErrorCode.DUPLICATE_TRANSACTION, `transaction "${tx}" is already open`);
  const max = s.host.config.limits.maxTransactionsPerSession;
  if (transactions.size >= max) throw new StompError(ErrorCode.TOO_MANY_TRANSACTIONS, `at most ${max} open transactions per session`);
  transactions.set(tx, []);
}

export async function commit(s: Session, f: Frame): Promise<void> {
  const tx = required(f, 'transaction');
  const transactions = s.transactions;
  const frames = transactions?.get(tx);
  if (!transactions || !frames) throw new StompError(ErrorCode.UNKNOWN_TRANSACTION, `transaction "${tx}" was not begun`);
  transactions.delete(tx);
  for (const frame of frames) await s.dispatch(frame);
}

export function abort(s: Session, f: Frame): void {
  const tx = required(f, 'transaction');
  if (!s.transactions?.delete(tx)) throw new StompError(ErrorCode.UNKNOWN_TRANSACTION, `transaction "${tx}" was not begun`);
}
