import type { Frame } from '../../stomp/frame.js';
import type { Session } from '../session.js';

/** STOMP 1.2 "DISCONNECT": the RECEIPT is sent, then the server closes the connection. */
export function disconnect(s: Session, f: Frame): void {
  const receipt = f.headers['receipt'];
  if (receipt !== undefined) s.sendFrame({ command: 'RECEIPT', headers: { 'receipt-id': receipt } });
  s.close();
}
