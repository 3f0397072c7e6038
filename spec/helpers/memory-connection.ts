/**
 * An in-memory Connection (src/session/connection.ts) for driving the session
 * core without any server: what the session writes is parsed back into frames
 * the test can wait for, and bytes the test sends go straight into
 * `session.receive()`. end()/destroy() complete the close on the next
 * microtask, as a well-behaved peer would. Parsing, waiting and the STOMP
 * steps (connect, subscribe, withReceipt, next, messages, until) are
 * FrameClient's (spec/helpers/frame-client.ts), shared with the socket
 * RawClient.
 */
import type { IncomingMessage } from 'node:http';
import { pino } from 'pino';
import { Broker } from '../../src/broker/broker.js';
import { AppHandlers, type AppHandler, type HandlerOptions } from '../../src/broker/app-handlers.js';
import { generateNodeId } from '../../src/broker/ids.js';
import { MemoryBus } from '../../src/cluster/memory/bus.js';
import { MemoryRegistry } from '../../src/cluster/memory/registry.js';
import type { BrokerHooks } from '../../src/options.js';
import { resolveConfig, type BrokerConfig, type DeepPartial } from '../../src/config.js';
import type { Connection } from '../../src/session/connection.js';
import type { Session } from '../../src/session/session.js';
import { FrameClient } from './frame-client.js';

export interface MemoryConnectionOptions {
  request?: IncomingMessage;
  remoteAddress?: string;
}

const HEARTBEAT = Buffer.from('\n');

export class MemoryConnection extends FrameClient implements Connection {
  // A byte stream like TCP (it carries no HTTP request unless a test gives one).
  readonly transport = 'tcp' as const;
  readonly remoteAddress: string;
  readonly request: IncomingMessage | undefined;
  /** What bufferedAmount() reports: set it to simulate a client that stopped reading. */
  buffered = 0;
  ended = false;
  destroyed = false;
  paused = false;
  /** When false, end() does not complete the close (a peer that never answers). */
  autoClose = true;
  session!: Session;

  constructor(opts: MemoryConnectionOptions = {}) {
    super(2000);
    this.remoteAddress = opts.remoteAddress ?? 'memory';
    this.request = opts.request;
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
    this.fromServer(frame);
  }

  writeHeartbeat(): void {
    if (this.closed) throw new Error('heart-beat after the transport closed');
    this.fromServer(HEARTBEAT);
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

  protected toServer(data: Buffer): void {
    this.session.receive(data);
  }
}

// ---------------------------------------------------------------- a broker core without a server

export interface CoreBroker {
  broker: Broker;
  /** Register an /app handler (Spring's @MessageMapping). */
  handle(path: string, fn: AppHandler, opts?: HandlerOptions): void;
  /** A new connection with its session (not yet CONNECTed). */
  open(opts?: MemoryConnectionOptions): MemoryConnection;
  /** A connection CONNECTed as `login`. */
  user(login: string, headers?: Record<string, string>): Promise<MemoryConnection>;
  /** A connection CONNECTed without login (anonymous). */
  anonymous(): Promise<MemoryConnection>;
}

/**
 * A broker core on memory backends (a single node), started, stopped by the
 * test's teardown. Hooks (authenticate, authorizeSubscribe, authorizeSend) go in `hooks`.
 */
export async function startCore(
  t: { teardown(fn: () => unknown): void },
  options: DeepPartial<BrokerConfig> = {},
  hooks: BrokerHooks = {},
): Promise<CoreBroker> {
  const handlers = new AppHandlers();
  const broker = new Broker(resolveConfig(options), {
    log: pino({ level: 'silent' }),
    nodeId: generateNodeId(),
    backends: { registry: new MemoryRegistry(), bus: new MemoryBus(), inbox: null, clustered: false },
    handlers,
    ...hooks,
  });
  await broker.start();
  t.teardown(() => broker.stop({ timeoutMs: 1000 }));
  const open = (opts?: MemoryConnectionOptions): MemoryConnection => MemoryConnection.open(broker, opts);
  return {
    broker,
    handle: (path, fn, opts) => handlers.add(path, fn, opts),
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
