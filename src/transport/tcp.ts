/**
 * Plain STOMP over TCP (STOMP_TCP_PORT): frames are a byte stream; output is
 * corked so a burst of frames leaves in few segments; reading pauses while
 * the socket's write buffer is full (input backpressure).
 */
import net from 'node:net';
import type { Broker } from '../broker/broker.js';
import type { Connection } from '../session/connection.js';
import { waitDrained } from './drain.js';

const EOL = Buffer.from('\n');

/**
 * Corked bytes are flushed at the latest when this many have gathered, so a
 * burst written in one tick (a server-side publish loop) is not held back as a
 * whole: held-back bytes count as unsent, and would make a client that reads
 * perfectly well look like a slow consumer.
 */
const MAX_CORKED_BYTES = 16 * 1024;

export function createTcpServer(broker: Broker): net.Server {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    let corked = false;
    let corkedBytes = 0;
    const flushSoon = (): void => {
      if (corked) return;
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        corkedBytes = 0;
        socket.uncork();
      });
    };
    const conn: Connection = {
      transport: 'tcp',
      remoteAddress: socket.remoteAddress ?? '',
      write(frame: Buffer) {
        if (socket.destroyed || !socket.writable) return;
        flushSoon();
        socket.write(frame);
        corkedBytes += frame.length;
        if (corkedBytes >= MAX_CORKED_BYTES) {
          socket.uncork(); // hand what gathered to the kernel now; stay corked for the rest of the tick
          socket.cork();
          corkedBytes = 0;
        }
      },
      writeHeartbeat() {
        if (!socket.destroyed && socket.writable) socket.write(EOL);
      },
      bufferedAmount: () => socket.writableLength,
      flushed: () => waitDrained(() => (socket.destroyed ? 0 : socket.writableLength), socket),
      end: () => socket.end(),
      destroy: () => socket.destroy(),
      pause: () => socket.pause(),
      resume: () => socket.resume(),
    };
    const session = broker.openSession(conn);
    socket.on('data', (chunk: Buffer) => session.receive(chunk));
    socket.on('close', () => {
      sockets.delete(socket);
      session.transportClosed();
    });
    socket.on('error', (err) => session.log.debug({ err }, 'tcp socket error'));
  });
  server.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  return server;
}
