import type { Socket } from 'node:net';

const RESOLVED = Promise.resolve();

/**
 * Resolve once `pending()` is 0 (everything handed to the kernel), the socket
 * closed, or `maxWaitMs` passed (a slow consumer is dealt with by the send
 * buffer limit, not here).
 */
export function waitDrained(pending: () => number, socket: Socket | undefined, maxWaitMs = 5000): Promise<void> {
  if (pending() === 0 || !socket || socket.destroyed) return RESOLVED;
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      socket.off('drain', onDrain);
      socket.off('close', done);
      resolve();
    };
    const onDrain = (): void => {
      if (pending() === 0) done();
    };
    const timer = setTimeout(done, maxWaitMs);
    socket.on('drain', onDrain);
    socket.once('close', done);
  });
}
