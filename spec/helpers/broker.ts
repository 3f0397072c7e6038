/** Start a real broker on loopback, port 0, torn down by the test. */
import { createBroker, type BrokerOptions, type StompBroker } from '../../src/index.js';
import { RawClient, type RawClientOptions } from './client.js';

export interface TestBroker {
  broker: StompBroker;
  port: number;
  tcpPort: number | null;
  /** The separate /metrics listener's port (metrics.port set), else null. */
  metricsPort: number | null;
  url: string;
  /** http://127.0.0.1:<port> (for SockJS and plain HTTP requests). */
  httpUrl: string;
  client(opts?: RawClientOptions & { path?: string }): Promise<RawClient>;
  /** A raw client already CONNECTed as `login`. */
  user(login: string, opts?: RawClientOptions & { path?: string }): Promise<RawClient>;
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface StartHooks {
  /** Runs after createBroker() and before listen(): add Fastify routes (`broker.app.get(...)`), handlers, ... */
  beforeListen?(broker: StompBroker): void | Promise<void>;
}

export async function startBroker(t: Teardown, options: BrokerOptions = {}, hooks: StartHooks = {}): Promise<TestBroker> {
  const broker = createBroker({ port: 0, host: '127.0.0.1', logLevel: process.env.LOG_LEVEL ?? 'silent', ...options }, { env: false });
  const clients: RawClient[] = [];
  t.teardown(async () => {
    for (const c of clients) c.close();
    await broker.close();
  });
  await hooks.beforeListen?.(broker);
  const addr = await broker.listen();
  const url = `ws://127.0.0.1:${addr.port}`;
  const client = async (opts: RawClientOptions & { path?: string } = {}): Promise<RawClient> => {
    const c = await RawClient.ws(`${url}${opts.path ?? '/ws'}`, opts);
    clients.push(c);
    return c;
  };
  return {
    broker,
    port: addr.port,
    tcpPort: addr.tcpPort,
    metricsPort: addr.metricsPort,
    url,
    httpUrl: `http://127.0.0.1:${addr.port}`,
    client,
    async user(login, opts) {
      const c = await client(opts);
      await c.connect({ login });
      return c;
    },
  };
}

/** An /app handler at `path` that blocks until `release()` (at the latest at teardown); `started` resolves when it is first called. */
export function blockingHandler(t: Teardown, broker: StompBroker, path: string): { release: () => void; started: Promise<void> } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  t.teardown(() => release());
  let start!: () => void;
  const started = new Promise<void>((r) => (start = r));
  broker.handle(path, async () => {
    start();
    await gate;
  });
  return { release, started };
}
