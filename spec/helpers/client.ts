/**
 * A raw STOMP test client over a real WebSocket or TCP socket that exposes
 * every frame the server sends (ERROR frames included) so tests can assert on
 * exactly what a user sees. Parsing, waiting and the STOMP steps (connect,
 * subscribe, next, messages, until) are FrameClient's (spec/helpers/frame-client.ts),
 * shared with the in-memory MemoryConnection.
 */
import net from 'node:net';
import WebSocket from 'ws';
import { FrameClient } from './frame-client.js';

export interface RawClientOptions {
  protocols?: string[];
  headers?: Record<string, string>;
  origin?: string;
}

export class RawClient extends FrameClient {
  closeCode: number | null = null;
  protocol = '';
  /** Every WebSocket message as received (bytes and whether it was binary), in order. */
  readonly wsMessages: Array<{ data: Buffer; binary: boolean }> = [];
  private ws: WebSocket | null = null;
  private sock: net.Socket | null = null;

  private constructor() {
    super(5000);
  }

  static ws(url: string, opts: RawClientOptions = {}): Promise<RawClient> {
    const c = new RawClient();
    return new Promise((resolve, reject) => {
      const wsOpts: WebSocket.ClientOptions = { headers: opts.headers ?? {} };
      if (opts.origin) wsOpts.origin = opts.origin;
      const ws = new WebSocket(url, opts.protocols ?? ['v12.stomp', 'v11.stomp', 'v10.stomp'], wsOpts);
      c.ws = ws;
      ws.on('open', () => {
        c.protocol = ws.protocol;
        resolve(c);
      });
      ws.on('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
      ws.on('error', reject);
      ws.on('message', (data: Buffer, binary: boolean) => {
        c.wsMessages.push({ data, binary });
        c.fromServer(data);
      });
      ws.on('close', (code) => {
        c.closeCode = code;
        c.markClosed();
      });
    });
  }

  static tcp(port: number, host = '127.0.0.1'): Promise<RawClient> {
    const c = new RawClient();
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, host, () => resolve(c));
      c.sock = sock;
      sock.on('error', reject);
      sock.on('data', (d) => c.fromServer(d));
      sock.on('close', () => c.markClosed());
    });
  }

  protected toServer(data: Buffer): void {
    if (this.ws) this.ws.send(data);
    else this.sock!.write(data);
  }

  /** Send a string as one WebSocket text message (TCP: as bytes). */
  sendText(text: string): void {
    if (this.ws) this.ws.send(text, { binary: false });
    else this.sock!.write(text);
  }

  close(): void {
    if (this.ws) this.ws.terminate();
    if (this.sock) this.sock.destroy();
  }
}
