/**
 * Client SENDs to /topic and /user are pipelined: a session may read its next
 * frame before the bus confirmed the previous SEND (routing is in order up to
 * the bus's send queue), so a burst of SENDs travels together instead of one
 * per bus round trip. A SEND waits instead when it asks for a receipt (the
 * RECEIPT then means: this and every earlier SEND of the session were
 * accepted) or when MAX_SENDS_IN_FLIGHT are unconfirmed. A SEND that fails
 * later fails its session.
 */
import type { Session } from '../session/session.js';

/** Client SENDs a session may have handed on without confirmation before it waits. */
export const MAX_SENDS_IN_FLIGHT = 256;

export class SendPipeline {
  private readonly inFlight = new WeakMap<Session, Set<Promise<void>>>();

  /** `routed` is a SEND of `s` on its way: what the session waits for before reading on (nothing: it reads on). */
  track(s: Session, receipt: boolean, routed: Promise<void>): Promise<void> | void {
    let inFlight = this.inFlight.get(s);
    if (receipt) return inFlight && inFlight.size > 0 ? Promise.all([...inFlight, routed]).then(() => undefined) : routed;
    if (inFlight && inFlight.size >= MAX_SENDS_IN_FLIGHT) return routed;
    if (!inFlight) this.inFlight.set(s, (inFlight = new Set()));
    const set = inFlight;
    const tracked = routed.then(
      () => void set.delete(tracked),
      (err: unknown) => {
        set.delete(tracked);
        s.fail(err);
      },
    );
    set.add(tracked);
  }
}
