import type { Frame } from '../../stomp/frame.js';
import type { Session } from '../session.js';
import { required } from './util.js';

export function unsubscribe(s: Session, f: Frame): void {
  // STOMP 1.2: UNSUBSCRIBE requires id (1.0 allowed the destination instead).
  const id = s.version === '1.0' ? (f.headers['id'] ?? required(f, 'destination')) : required(f, 'id');
  const sub = s.subscriptions.get(id);
  // Unknown ids are ignored (as Spring does): a client racing a reconnect may repeat one.
  if (!sub) return;
  s.subscriptions.delete(id);
  s.host.unsubscribe(s, sub);
  s.releaseUnacked(sub);
}
