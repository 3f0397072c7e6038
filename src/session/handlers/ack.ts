import { ErrorCode, StompError } from '../../errors.js';
import type { Frame } from '../../stomp/frame.js';
import type { Session } from '../session.js';
import { bufferInTransaction } from './transaction.js';

function ackId(s: Session, f: Frame): string {
  // STOMP 1.2: ACK/NACK carry `id` (the MESSAGE's `ack` header); 1.0/1.1 carry `message-id`.
  const id = s.version === '1.2' ? (f.headers['id'] ?? f.headers['message-id']) : (f.headers['message-id'] ?? f.headers['id']);
  if (id === undefined || id === '')
    throw new StompError(ErrorCode.MISSING_HEADER, `${f.command} requires an "${s.version === '1.2' ? 'id' : 'message-id'}" header`);
  return id;
}

export function ack(s: Session, f: Frame): void {
  const id = ackId(s, f);
  if (bufferInTransaction(s, f)) return;
  s.acknowledge(id, f.headers['subscription'], true);
}

export function nack(s: Session, f: Frame): void {
  const id = ackId(s, f);
  if (bufferInTransaction(s, f)) return;
  s.acknowledge(id, f.headers['subscription'], false);
}
