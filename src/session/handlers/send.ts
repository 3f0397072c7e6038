import type { Frame } from '../../stomp/frame.js';
import type { Session } from '../session.js';
import { bufferInTransaction } from './transaction.js';
import { required } from './util.js';

export function send(s: Session, f: Frame): Promise<void> | void {
  required(f, 'destination'); // STOMP 1.2: SEND requires destination
  if (bufferInTransaction(s, f)) return;
  return s.host.send(s, f);
}
