/**
 * WebSocket transport: a thin adapter from a `ws` socket to a session.
 * One STOMP frame per WebSocket message out (text when the bytes are UTF-8,
 * as Spring sends them; binary otherwise), text and binary accepted in,
 * heart-beats as a lone "\n".
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { isUtf8 } from 'node:buffer';
import type { WebSocket } from 'ws';
import type { Broker } from '../broker/broker.js';
import type { Connection } from '../session/connection.js';
import { waitDrained } from './drain.js';

/** Subprotocols in the server's order of preference (Spring's list). */
export const STOMP_SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'] as const;

export function selectSubprotocol(offered: Set<string>): string | false {
  for (const p of STOMP_SUBPROTOCOLS) if (offered.has(p)) return p;
  return false;
}

const EOL = Buffer.from('\n');

/**
 * Frames written in one turn of the event loop (a batch of bus deliveries, a
 * server-side publish loop) are corked and leave in one write to the kernel;
 * at the latest when this many bytes have gathered, so held-back bytes never
 * make a reading client look like a slow consumer.
 */
const MAX_CORKED_BYTES = 16 * 1024;

export function attachWebSocket(broker: Broker, ws: WebSocket, req: IncomingMessage): void {
  // ws keeps its net.Socket in `_socket`.
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  let corked = false;
  let corkedBytes = 0;
  const uncork = (): void => {
    corked = false;
    corkedBytes = 0;
    socket!.uncork();
  };
  const conn: Connection = {
    transport: 'websocket',
    remoteAddress: req.socket.remoteAddress ?? '',
    request: req,
    write(frame: Buffer) {
      if (ws.readyState !== ws.OPEN) return;
      if (socket && !corked) {
        corked = true;
        socket.cork();
        process.nextTick(uncork);
      }
      ws.send(frame, { binary: !isUtf8(frame) });
      if (!corked) return;
      corkedBytes += frame.length;
      if (corkedBytes >= MAX_CORKED_BYTES) {
        socket!.uncork(); // hand what gathered to the kernel now; stay corked for the rest of the turn
        socket!.cork();
        corkedBytes = 0;
      }
    },
    writeHeartbeat() {
      if (ws.readyState === ws.OPEN) ws.send(EOL, { binary: false });
    },
    bufferedAmount: () => ws.bufferedAmount,
    // bufferedAmount covers ws's own queue and the socket's.
    flushed: () => waitDrained(() => (ws.readyState === ws.OPEN ? ws.bufferedAmount : 0), socket),
    end() {
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(1000);
    },
    destroy: () => ws.terminate(),
    pause: () => ws.pause(),
    resume: () => ws.resume(),
  };
  const session = broker.openSession(conn);
  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
    if (Buffer.isBuffer(data)) session.receive(data);
    else if (Array.isArray(data)) session.receive(Buffer.concat(data));
    else session.receive(Buffer.from(data));
  });
  ws.on('close', () => session.transportClosed());
  ws.on('error', (err) => {
    session.log.debug({ err }, 'websocket error');
    session.transportClosed();
  });
}
