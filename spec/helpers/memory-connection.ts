/**
 * An in-memory Connection (src/session/connection.ts) for driving the session
 * core without any server: what the session writes is parsed back into frames
 * the test can wait for, and bytes the test sends go straight into
 * `session.receive()`. end()/destroy() complete the close on the next
 * microtask, as a well-behaved peer would. Waits are event-driven with
 * timeouts, never sleeps.
 */
import type { IncomingMessage } from 'node:http';
import { pino } from 'pino';
import { Broker, type BrokerDeps } from '../../src/broker/broker.js';
import { resolveConfig, type BrokerConfig, type DeepPartial } from '../../src/config.js';
import type { Connection } from '../../src/session/connection.js';
import type { Session } from '../../src/session/session.js';
import { FrameParser } from '../../src/stomp/parser.js';
import { encodeFrame } from '../../src/stomp/encoder.js';
import type { Frame, OutFrame, StompVersion } from '../../src/stomp/frame.js';

export interface MemoryConnectionOptions {
  request?: IncomingMessage;
  remoteAddress?: string;
}

export class MemoryConnection implements Connection {
  readonly transport = 'memory' as const;
  readonly remoteAddress: string;
  readonly request: IncomingMessage | undefined;
  /** Frames written by the session and not yet taken by next(). */
  readonly frames: Frame[] = [];
  /** Every frame written, in order (never consumed). */
  readonly log: Frame[] = [];
  heartbeats = 0;
  /** What bufferedAmount() reports: set it to simulate a client that stopped reading. */
  buffered = 0;
  ended = false;
  destroyed = false;
  /** transportClosed() was called on the session. */
  closed = false;
  paused = false;
  /** When false, end() does not complete the close (a peer that never answers). */
  autoClose = true;
  session!: Session;
  private version: StompVersion = '1.2';
  private waiters: Array<() => void> = [];
  private readonly parser: FrameParser;

  constructor(opts: MemoryConnectionOptions = {}) {
    this.remoteAddress = opts.remoteAddress ?? 'memory';
    this.request = opts.request;
    this.parser = new FrameParser({
      limits: { maxFrameBytes: 64 * 1024 * 1024 },
      onFrame: (f) => {
        // Frames may be views of the written buffer: keep a copy.
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

  /** A connection with its session opened on `broker`. */
  static open(broker: Broker, opts?: MemoryConnectionOptions): MemoryConnection {
    const c = new MemoryConnection(opts);
    c.session = broker.openSession(c);
    return c;
  }

  // ------------------------------------------------------------ Connection

  write(frame: Buffer): void {
    if (this.closed) throw new Error('write after the transport closed');
    this.parser.push(frame);
  }

  writeHeartbeat(): void {
    if (this.closed) throw new Error('heart-beat after the transport closed');
    this.heartbeats++;
    this.wake();
  }

  bufferedAmount(): number {
    return this.buffered;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.wake();
    if (this.autoClose) queueMicrotask(() => this.hangup());
  }

  destroy(): void {
    this.destroyed = true;
    this.hangup();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  // ------------------------------------------------------------ test side

  /** The peer went away (or completed the close). */
  hangup(): void {
    if (this.closed) return;
    this.closed = true;
    this.session.transportClosed();
    this.wake();
  }

  /** Send a frame, raw bytes or a string into the session. */
  send(frame: OutFrame | Buffer | string): void {
    const buf = Buffer.isBuffer(frame) ? frame : typeof frame === 'string' ? Buffer.from(frame) : encodeFrame(frame, this.version);
    this.session.receive(buf);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  until<T>(pred: () => T | undefined | false | null, ms = 2000, what = 'condition'): Promise<T> {
    return new Promise((resolve, reject) => {
      const loop = (): void => {
        let v: T | undefined | false | null;
        try {
          v = pred();
        } catch (err) {
          clearTimeout(timer);
          reject(err as Error);
          return;
        }
        if (v) {
          clearTimeout(timer);
          resolve(v);
        } else this.waiters.push(loop);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== loop);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; frames: ${this.log.map((f) => f.command).join(',')}`));
      }, ms);
      loop();
    });
  }

  /** Next frame (of `command`) not yet taken. */
  next(command?: string, ms = 2000): Promise<Frame> {
    return this.until(
      () => {
        const i = this.frames.findIndex((x) => !command || x.command === command);
        return i < 0 ? undefined : this.frames.splice(i, 1)[0];
      },
      ms,
      command ?? 'a frame',
    );
  }

  async messages(n: number, ms = 2000): Promise<Frame[]> {
    const out: Frame[] = [];
    while (out.length < n) out.push(await this.next('MESSAGE', ms));
    return out;
  }

  /** CONNECT (1.2, no heart-beats unless given) and wait for CONNECTED. */
  async connect(headers: Record<string, string> = {}): Promise<Frame> {
    this.send({ command: 'CONNECT', headers: { 'accept-version': '1.2', host: 'localhost', 'heart-beat': '0,0', ...headers } });
    const f = await this.next();
    if (f.command !== 'CONNECTED') throw new Error(`expected CONNECTED, got ${f.command} ${JSON.stringify(f.headers)} ${f.body.toString()}`);
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
      2000,
      `receipt ${receipt}`,
    );
  }

  subscribe(id: string, destination: string, headers: Record<string, string> = {}): Promise<void> {
    return this.withReceipt({ command: 'SUBSCRIBE', headers: { id, destination, ...headers } });
  }

  waitClosed(ms = 2000): Promise<true> {
    return this.until(() => this.closed || undefined, ms, 'close');
  }
}

let receiptSeq = 0;

// ---------------------------------------------------------------- a broker core without a server

export interface CoreBroker {
  broker: Broker;
  /** A new connection with its session (not yet CONNECTed). */
  open(opts?: MemoryConnectionOptions): MemoryConnection;
  /** A connection CONNECTed as `login`. */
  user(login: string, headers?: Record<string, string>): Promise<MemoryConnection>;
  /** A connection CONNECTed without login (anonymous). */
  anonymous(): Promise<MemoryConnection>;
}

/**
 * `new Broker(resolveConfig(options), { log: silent })`, started, stopped by
 * the test's teardown. Hooks go in `deps`.
 */
export async function startCore(
  t: { teardown(fn: () => unknown): void },
  options: DeepPartial<BrokerConfig> = {},
  deps: Omit<BrokerDeps, 'log'> = {},
): Promise<CoreBroker> {
  const broker = new Broker(resolveConfig(options), { log: pino({ level: 'silent' }), ...deps });
  await broker.start();
  t.teardown(() => broker.stop({ timeoutMs: 1000 }));
  const open = (opts?: MemoryConnectionOptions): MemoryConnection => MemoryConnection.open(broker, opts);
  return {
    broker,
    open,
    async user(login, headers = {}) {
      const c = open();
      await c.connect({ login, ...headers });
      return c;
    },
    async anonymous() {
      const c = open();
      await c.connect();
      return c;
    },
  };
}
