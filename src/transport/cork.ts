/**
 * Output corking shared by the transports: frames written to one socket in one
 * turn of the event loop (a batch of bus deliveries, a server-side publish
 * loop) leave in one write to the kernel instead of one each.
 */
import type { Socket } from 'node:net';

/**
 * Corked bytes are handed to the kernel at the latest when this many have
 * gathered, so a burst written in one turn is not held back as a whole:
 * held-back bytes count as unsent, and would make a client that reads
 * perfectly well look like a slow consumer.
 */
export const MAX_CORKED_BYTES = 16 * 1024;

export class Corker {
  private corked = false;
  private bytes = 0;

  constructor(private readonly socket: Socket) {}

  /** Before a write: cork the socket for the rest of this turn, unless it already is. */
  hold(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(Corker.release, this);
  }

  /** After a write of `bytes`: once MAX_CORKED_BYTES gathered, hand them over and stay corked. */
  wrote(bytes: number): void {
    if (!this.corked) return;
    this.bytes += bytes;
    if (this.bytes >= MAX_CORKED_BYTES) {
      this.socket.uncork();
      this.socket.cork();
      this.bytes = 0;
    }
  }

  /** End of the turn in which the socket was corked. */
  private static release(c: Corker): void {
    c.corked = false;
    c.bytes = 0;
    c.socket.uncork();
  }
}
