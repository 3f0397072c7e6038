/**
 * What the test clients share: RawClient (spec/helpers/client.ts, a real
 * WebSocket or TCP socket) and MemoryConnection
 * (spec/helpers/memory-connection.ts, the session core in memory). The bytes
 * the server writes are parsed, at the negotiated version, into frames the
 * test waits for; frames go out encoded at that version. Waits are
 * event-driven with timeouts, never sleeps.
 */
import { FrameParser } from '../../src/stomp/parser.js';
import { encodeFrame } from '../../src/stomp/encoder.js';
import type { Frame, OutFrame, StompVersion } from '../../src/stomp/frame.js';
import { Waiters } from './wait.js';

let receiptSeq = 0;

export abstract class FrameClient {
  /** Frames received and not yet taken by next(). */
  readonly frames: Frame[] = [];
  /** Every frame received, in order (never consumed). */
  readonly log: Frame[] = [];
  /** Heart-beats received. */
  heartbeats = 0;
  /** The connection is closed (the socket closed; in memory: the session was told the transport closed). */
  closed = false;
  private version: StompVersion = '1.2';
  private readonly waiters = new Waiters();
  private readonly parser: FrameParser;

  /** `defaultMs`: how long a wait lasts when the test does not say. */
  protected constructor(private readonly defaultMs: number) {
    this.parser = new FrameParser({
      limits: { maxFrameBytes: 64 * 1024 * 1024 },
      onFrame: (f) => {
        // Frames may be views of the bytes received: keep a copy.
        const copy: Frame = { command: f.command, headers: { ...f.headers }, body: Buffer.from(f.body) };
        this.frames.push(copy);
        this.log.push(copy);
        if (copy.command === 'CONNECTED') {
          this.version = (copy.headers['version'] as StompVersion | undefined) ?? '1.0';
          this.parser.setVersion(this.version);
        }
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

  /** Bytes to the server. */
  protected abstract toServer(data: Buffer): void;

  /** Bytes from the server. */
  protected fromServer(data: Buffer): void {
    this.parser.push(data);
  }

  /** The connection closed. */
  protected markClosed(): void {
    this.closed = true;
    this.wake();
  }

  /** Re-check the pending waits (something they look at changed). */
  protected wake(): void {
    this.waiters.wake();
  }

  /** Send a frame (encoded at the negotiated version), raw bytes or a string. */
  send(frame: OutFrame | Buffer | string): void {
    this.toServer(Buffer.isBuffer(frame) ? frame : typeof frame === 'string' ? Buffer.from(frame) : encodeFrame(frame, this.version));
  }

  /** Wait until `pred` holds (re-checked on every incoming event; a throw fails the wait), or fail after `ms`. */
  until<T>(pred: () => T | undefined | false | null, ms = this.defaultMs, what = 'condition'): Promise<T> {
    return this.waiters.until(pred, ms, what, () => `frames: ${this.log.map((f) => f.command).join(',')}`);
  }

  /** Next frame (of `command`) not yet taken (removes it from `frames`). */
  next(command?: string, ms = this.defaultMs): Promise<Frame> {
    return this.until(
      () => {
        const i = this.frames.findIndex((x) => !command || x.command === command);
        return i < 0 ? undefined : this.frames.splice(i, 1)[0];
      },
      ms,
      command ?? 'a frame',
    );
  }

  /** Collect `n` MESSAGE frames. */
  async messages(n: number, ms = this.defaultMs): Promise<Frame[]> {
    const out: Frame[] = [];
    while (out.length < n) out.push(await this.next('MESSAGE', ms));
    return out;
  }

  /** CONNECT (1.2, no heart-beats unless given) and wait for the answer, which must be `expect`. */
  async connect(headers: Record<string, string> = {}, expect: 'CONNECTED' | 'ERROR' = 'CONNECTED'): Promise<Frame> {
    this.send({ command: 'CONNECT', headers: { 'accept-version': '1.2', host: 'localhost', 'heart-beat': '0,0', ...headers } });
    const f = await this.next();
    if (f.command !== expect) throw new Error(`expected ${expect}, got ${f.command} ${JSON.stringify(f.headers)} ${f.body.toString()}`);
    return f;
  }

  /** Send `frame` with a receipt and wait for that RECEIPT (fails on ERROR). */
  async withReceipt(frame: OutFrame, receipt = `r-${++receiptSeq}`): Promise<void> {
    this.send({ ...frame, headers: { ...frame.headers, receipt } });
    await this.until(
      () => {
        const i = this.frames.findIndex((f) => f.command === 'RECEIPT' && f.headers['receipt-id'] === receipt);
        if (i >= 0) return this.frames.splice(i, 1)[0];
        const e = this.frames.find((f) => f.command === 'ERROR');
        if (e) throw new Error(`ERROR ${e.headers['code']}: ${e.body.toString()}`);
        return undefined;
      },
      this.defaultMs,
      `receipt ${receipt}`,
    );
  }

  /** SUBSCRIBE with a receipt, resolved once the broker confirmed it. */
  subscribe(id: string, destination: string, headers: Record<string, string> = {}): Promise<void> {
    return this.withReceipt({ command: 'SUBSCRIBE', headers: { id, destination, ...headers } }, `sub-${id}`);
  }

  /** Wait for the connection to close. */
  waitClosed(ms = this.defaultMs): Promise<true> {
    return this.until(() => this.closed || undefined, ms, 'close');
  }
}
