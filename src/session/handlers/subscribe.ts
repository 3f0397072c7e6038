import { ErrorCode, StompError } from '../../errors.js';
import type { Frame } from '../../stomp/frame.js';
import type { Session } from '../session.js';
import { ACK_MODES, Subscription, type AckMode } from '../subscription.js';
import { isPromise, required } from './util.js';

/**
 * At most this many unacknowledged messages for the subscription (client ack
 * modes on a /queue): RabbitMQ's `prefetch-count`, or ActiveMQ's
 * `activemq.prefetchSize`; 0 or absent = no limit.
 */
function prefetch(f: Frame): number {
  const name = f.headers['prefetch-count'] !== undefined ? 'prefetch-count' : 'activemq.prefetchSize';
  const v = f.headers[name];
  if (v === undefined) return 0;
  const n = /^[0-9]{1,9}$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n)) throw new StompError(ErrorCode.INVALID_HEADER, `${name} must be a non-negative integer, got "${v}"`);
  return n;
}

export function subscribe(s: Session, f: Frame): Promise<void> | void {
  const destination = required(f, 'destination');
  // STOMP 1.2: SUBSCRIBE requires id (1.0 made it optional; the destination stands in).
  const id = s.version === '1.0' ? (f.headers['id'] ?? destination) : required(f, 'id');
  const ack = (f.headers['ack'] ?? 'auto') as AckMode;
  if (!ACK_MODES.includes(ack)) throw new StompError(ErrorCode.INVALID_ACK_MODE, `ack must be auto, client or client-individual, got "${ack}"`);
  // STOMP 1.2: the id must be unique within the session.
  if (s.subscriptions.has(id)) throw new StompError(ErrorCode.DUPLICATE_SUBSCRIPTION, `subscription id "${id}" is already in use`);
  const max = s.host.config.limits.maxSubscriptionsPerSession;
  if (s.subscriptions.size >= max) throw new StompError(ErrorCode.TOO_MANY_SUBSCRIPTIONS, `a session may hold at most ${max} subscriptions`);
  const sub = new Subscription(s, id, destination, ack, f.headers);
  if (ack !== 'auto') sub.prefetch = prefetch(f);
  s.subscriptions.set(id, sub);
  const undo = (err: unknown): never => {
    if (s.subscriptions.get(id) === sub) s.subscriptions.delete(id);
    throw err;
  };
  try {
    const r = s.host.subscribe(s, sub);
    if (isPromise(r)) return r.then(() => sub.subscribed(), undo);
  } catch (err) {
    undo(err);
  }
  sub.subscribed();
}
