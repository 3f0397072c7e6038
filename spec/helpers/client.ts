/**
 * A raw STOMP test client over WebSocket or TCP that exposes every frame the
 * server sends (ERROR frames included) so tests can assert on exactly what a
 * user sees. Waits are event-driven with timeouts; no sleeps.
 */
import net from 'node:net';
import WebSocket from 'ws';
import { FrameParser } from '../../src/stomp/parser.js';
import { encodeFrame } from '../../src/stomp/encoder.js';
import type { Frame, OutFrame, StompVersion } from '../../src/stomp/frame.js';

export interface RawClientOptions {
  protocols?: string[];
  headers?: Record<string, string>;
  origin?: string;
  /** Parse incoming with this version's escaping (after CONNECTED). */
  version?: StompVersion;
}

export class RawClient {
  readonly frames: Frame[] = [];
  heartbeats = 0;
  closed = false;
  closeCode: number | null = null;
  protocol = '';
  /** Every WebSocket message as received (bytes and whether it was binary), in order. */
  readonly wsMessages: Array<{ data: Buffer; binary: boolean }> = [];
  private waiters: Array<() => void> = [];
  private readonly parser: FrameParser;
  private ws: WebSocket | null = null;
  private sock: net.Socket | null = null;
  private version: StompVersion = '1.2';

  private constructor() {
    this.parser = new FrameParser({
      limits: { maxFrameBytes: 64 * 1024 * 1024 },
      onFrame: (f) => {
        this.frames.push(f);
        this.wake();
      },
      onHeartbeat: (n) => {
        this.heartbeats += n;
        this.wake();
      },
      onError: (e) => {
        throw e;
      },
    });
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
        c.parser.push(data);
      });
      ws.on('close', (code) => {
        c.closed = true;
        c.closeCode = code;
        c.wake();
      });
    });
  }

  static tcp(port: number, host = '127.0.0.1'): Promise<RawClient> {
    const c = new RawClient();
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, host, () => resolve(c));
      c.sock = sock;
      sock.on('error', reject);
      sock.on('data', (d) => c.parser.push(d));
      sock.on('close', () => {
        c.closed = true;
        c.wake();
      });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Send a frame (or raw bytes / string). */
  send(frame: OutFrame | Buffer | string): void {
    const buf = Buffer.isBuffer(frame) ? frame : typeof frame === 'string' ? Buffer.from(frame) : encodeFrame(frame, this.version);
    if (this.ws) this.ws.send(buf);
    else this.sock!.write(buf);
  }

  /** Send a string as one WebSocket text message (TCP: as bytes). */
  sendText(text: string): void {
    if (this.ws) this.ws.send(text, { binary: false });
    else this.sock!.write(text);
  }

  /** Wait until `pred` holds (re-checked on every incoming event), or fail after `ms`. */
  until<T>(pred: () => T | undefined | false | null, ms = 5000, what = 'condition'): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const v = pred();
        if (v) {
          clearTimeout(timer);
          resolve(v);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== loop);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; frames: ${this.frames.map((f) => f.command).join(',')}`));
      }, ms);
      const loop = (): void => {
        if (!check()) this.waiters.push(loop);
      };
      loop();
    });
  }

  /** Next frame of `command` not yet taken (removes it from the queue). */
  async next(command?: string, ms = 5000): Promise<Frame> {
    const f = await this.until(() => {
      const i = this.frames.findIndex((x) => !command || x.command === command);
      if (i < 0) return undefined;
      return this.frames.splice(i, 1)[0];
    }, ms, command ?? 'a frame');
    return f;
  }

  /** Collect `n` MESSAGE frames. */
  async messages(n: number, ms = 5000): Promise<Frame[]> {
    const out: Frame[] = [];
    while (out.length < n) out.push(await this.next('MESSAGE', ms));
    return out;
  }

  async connect(headers: Record<string, string> = {}, expect: 'CONNECTED' | 'ERROR' = 'CONNECTED'): Promise<Frame> {
    this.send({ command: 'CONNECT', headers: { 'accept-version': '1.2', host: 'localhost', 'heart-beat': '0,0', ...headers } });
    const f = await this.next(undefined);
    if (f.command === 'CONNECTED') {
      this.version = (f.headers['version'] as StompVersion) ?? '1.0';
      this.parser.setVersion(this.version);
    }
    if (f.command !== expect) throw new Error(`expected ${expect}, got ${f.command} ${JSON.stringify(f.headers)} ${f.body.toString()}`);
    return f;
  }

  /** SUBSCRIBE with a receipt, resolved once the broker confirmed it. */
  async subscribe(id: string, destination: string, headers: Record<string, string> = {}): Promise<void> {
    const receipt = `sub-${id}`;
    this.send({ command: 'SUBSCRIBE', headers: { id, destination, receipt, ...headers } });
    await this.until(() => {
      const i = this.frames.findIndex((f) => f.command === 'RECEIPT' && f.headers['receipt-id'] === receipt);
      if (i >= 0) return this.frames.splice(i, 1)[0];
      const e = this.frames.find((f) => f.command === 'ERROR');
      if (e) throw new Error(`ERROR ${e.headers['code']}: ${e.body.toString()}`);
      return undefined;
    }, 5000, `receipt ${receipt}`);
  }

  /** Wait for the server to close the connection. */
  waitClosed(ms = 5000): Promise<true> {
    return this.until(() => this.closed || undefined, ms, 'close');
  }

  close(): void {
    if (this.ws) this.ws.terminate();
    if (this.sock) this.sock.destroy();
  }
}
