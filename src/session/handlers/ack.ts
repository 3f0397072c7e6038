import { ErrorCode, StompError } from '../../errors.js';
import type { Frame } from '../../stomp/frame.js';
import type { Session } from '../session.js';
import { bufferInTransaction } from './transaction.js';
import { required } from './util.js';

/**
 * The message an ACK/NACK names. STOMP 1.2: `id` (the MESSAGE's `ack`
 * header), required. STOMP 1.1: `message-id` and `subscription`. STOMP 1.0:
 * `message-id`.
 */
function ackId(s: Session, f: Frame): string {
  return s.version === '1.2' ? required(f, 'id') : required(f, 'message-id');
}

export function ack(s: Session, f: Frame): void {
  const id = ackId(s, f);
  if (bufferInTransaction(s, f)) return;
  s.acknowledge(id, f.headers['subscription'], true);
}

/** NACK; `requeue:false` (RabbitMQ's header) drops the message (or dead-letters it) instead of redelivering it. */
export function nack(s: Session, f: Frame): void {
  const id = ackId(s, f);
  const requeue = f.headers['requeue'];
  if (requeue !== undefined && requeue !== 'true' && requeue !== 'false')
    throw new StompError(ErrorCode.INVALID_HEADER, `requeue must be true or false, got "${requeue}"`);
  if (bufferInTransaction(s, f)) return;
  s.acknowledge(id, f.headers['subscription'], false, requeue !== 'false');
}
