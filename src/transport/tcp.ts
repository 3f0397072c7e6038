/**
 * Plain STOMP over TCP (STOMP_TCP_PORT): frames are a byte stream; output is
 * corked so a burst of frames leaves in few segments; reading pauses while
 * the socket's write buffer is full (input backpressure).
 */
import net from 'node:net';
import type { Connection, SessionOpener } from '../session/connection.js';
import { Corker } from './cork.js';
import { waitDrained } from './drain.js';

const EOL = Buffer.from('\n');

export function createTcpServer(opener: SessionOpener): net.Server {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    if (socket.destroyed) return; // refused by the node's connection cap
    sockets.add(socket);
    socket.setNoDelay(true);
    const corker = new Corker(socket);
    const conn: Connection = {
      transport: 'tcp',
      remoteAddress: socket.remoteAddress ?? '',
      write(frame: Buffer) {
        if (socket.destroyed || !socket.writable) return;
        corker.hold();
        socket.write(frame);
        corker.wrote(frame.length);
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
    const session = opener.openSession(conn);
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
