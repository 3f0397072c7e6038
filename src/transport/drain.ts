import type { Socket } from 'node:net';

const RESOLVED = Promise.resolve();
/** How often pending() is re-read while waiting: 'drain' fires only after a write that hit the high-water mark. */
const POLL_MS = 2;

/**
 * Resolve once `pending()` is 0 (everything handed to the kernel), the socket
 * closed, or `maxWaitMs` passed (a slow consumer is dealt with by the send
 * buffer limit, not here).
 */
export function waitDrained(pending: () => number, socket: Socket | undefined, maxWaitMs = 5000): Promise<void> {
  if (pending() === 0 || !socket || socket.destroyed) return RESOLVED;
  return new Promise((resolve) => {
    const deadline = Date.now() + maxWaitMs;
    const done = (): void => {
      clearInterval(timer);
      socket.off('drain', check);
      socket.off('close', done);
      resolve();
    };
    const check = (): void => {
      if (pending() === 0 || socket.destroyed || Date.now() >= deadline) done();
    };
    const timer = setInterval(check, POLL_MS);
    socket.on('drain', check);
    socket.once('close', done);
  });
}
