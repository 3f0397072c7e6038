import type { Socket } from 'node:net';

const RESOLVED = Promise.resolve();
const EMPTY = Buffer.alloc(0);

/**
 * Resolve once everything written to `socket` so far was handed to the
 * kernel (`pending()` is 0 at once, or an empty write queued behind it
 * completed: a stream calls write callbacks in order), the socket closed, or
 * `maxWaitMs` passed (a slow consumer is dealt with by the send buffer limit,
 * not here).
 */
export function waitDrained(pending: () => number, socket: Socket | undefined, maxWaitMs = 5000): Promise<void> {
  if (pending() === 0 || !socket || socket.destroyed || !socket.writable) return RESOLVED;
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      socket.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, maxWaitMs);
    socket.once('close', done);
    socket.write(EMPTY, () => done());
  });
}
