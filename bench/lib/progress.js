// The receivers' progress, as the orchestrator relays it to a publisher in
// `ack` events ({ type: 'ack', phase, received }): a publisher keeps at most a
// window of messages not yet counted, and waits for the next report when full.

/**
 * `received(phase)`: messages of `phase` the receivers reported so far.
 * `next(fn)`: run `fn` once at the next report (replaces a waiting one); `next(null)` cancels.
 * `onEvent(m)`: feed it the role's IPC events. With `deferred`, `fn` runs from
 * setImmediate instead of inside the event handler.
 */
export function progressTracker({ deferred = false } = {}) {
  let acked = { phase: null, received: 0 };
  let waiter = null;
  return {
    received: (phase) => (acked.phase === phase ? acked.received : 0),
    next(fn) {
      waiter = fn;
    },
    onEvent(m) {
      if (m?.type !== 'ack') return;
      acked = { phase: m.phase, received: m.received };
      if (!waiter) return;
      const f = waiter;
      waiter = null;
      if (deferred) setImmediate(f);
      else f();
    },
  };
}
