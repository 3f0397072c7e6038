/**
 * Fault injection for the fault tests (spec/fault): a Redis that can be killed and
 * restarted on the same port (append-only file, fsync always: the way an
 * inbox store must run in production), a dedicated Kafka broker that can be
 * paused (SIGSTOP) and resumed, and a fleet of reconnecting @stomp/stompjs
 * clients that count what they receive.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, type IMessage } from '@stomp/stompjs';
import WebSocket from 'ws';
import { freePort, ping } from './services.js';
import { waitFor } from './wait.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

async function waitPing(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await ping(port, 500)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis on ${port} did not answer within ${ms} ms`);
}

export interface RestartableRedis {
  url: string;
  port: number;
  /** kill -9 the server, wait `downMs`, start it again on the same port and data dir. */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startRestartableRedis(t: Teardown): Promise<RestartableRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'stomp-cluster-redis-'));
  let proc: ChildProcess | null = null;
  const launch = async (): Promise<void> => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'], {
      stdio: 'ignore',
    });
    await waitPing(port, 10_000);
  };
  const kill = async (): Promise<void> => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  };
  await launch();
  const r: RestartableRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async restart(downMs = 500) {
      await kill();
      await new Promise((res) => setTimeout(res, downMs)); // the outage itself, not synchronisation
      await launch();
    },
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  t.teardown(() => r.stop());
  return r;
}

const KAFKA_SCRIPTS = fileURLToPath(new URL('../../scripts/kafka/', import.meta.url));

export interface PausableKafka {
  brokers: string;
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

/** A Kafka broker of this test's own (pausing the shared one would stall other test files). */
export async function startPausableKafka(t: Teardown): Promise<PausableKafka> {
  const state = join(tmpdir(), `stomp-cluster-fault-kafka-${process.pid}-${Date.now()}.state`);
  const env = { ...process.env, KAFKA_STATE_FILE: state, KAFKA_PARENT_PID: String(process.pid) };
  const out = await new Promise<string>((resolve, reject) =>
    execFile(join(KAFKA_SCRIPTS, 'start.sh'), [], { env, timeout: 120_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
  const brokers = /KAFKA_BROKERS=(\S+)/.exec(out)?.[1];
  if (!brokers) throw new Error(`no KAFKA_BROKERS in: ${out}`);
  const pid = Number(/KAFKA_PID=["']?(\d+)/.exec(readFileSync(state, 'utf8'))?.[1]);
  let paused = false;
  const k: PausableKafka = {
    brokers,
    pause() {
      paused = true;
      process.kill(pid, 'SIGSTOP');
    },
    resume() {
      paused = false;
      process.kill(pid, 'SIGCONT');
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (paused) k.resume();
        execFile(join(KAFKA_SCRIPTS, 'stop.sh'), [state], { env: { ...env, KAFKA_STOP_FAST: '1' }, timeout: 60_000 }, () => resolve());
      }),
  };
  t.teardown(() => k.stop());
  return k;
}

export interface FleetUser {
  name: string;
  client: Client;
  /** Message bodies received, in arrival order. */
  received: string[];
  /** Arrival times (ms), parallel to `received`. */
  at: number[];
  errors: string[];
  connects: number;
}

export interface FleetOptions {
  destination?: string;
  ack?: 'auto' | 'client' | 'client-individual';
  /** Which URL to (re)connect to, given the user and how many times it connected before. */
  url(user: string, connects: number): string;
}

/** Reconnecting @stomp/stompjs clients, one per user, subscribed to `/user/queue/x` on every connect. */
export class Fleet {
  readonly users = new Map<string, FleetUser>();
  private readonly subscribed = new Set<string>();

  constructor(
    names: string[],
    private readonly opts: FleetOptions,
  ) {
    for (const name of names) {
      const u: FleetUser = { name, received: [], at: [], errors: [], connects: 0, client: null as unknown as Client };
      const client = new Client({
        webSocketFactory: () => new WebSocket(opts.url(name, u.connects), ['v12.stomp']),
        connectHeaders: { login: name },
        reconnectDelay: 100,
        heartbeatIncoming: 0,
        heartbeatOutgoing: 0,
        debug: () => undefined,
      });
      client.onConnect = () => {
        u.connects++;
        const receipt = `${name}-${u.connects}`;
        client.watchForReceipt(receipt, () => {
          this.subscribed.add(name);
        });
        const ack = opts.ack ?? 'auto';
        client.subscribe(
          opts.destination ?? '/user/queue/x',
          (m: IMessage) => {
            u.received.push(m.body);
            u.at.push(Date.now());
            if (ack !== 'auto') m.ack();
          },
          { ack, receipt },
        );
      };
      client.onStompError = (f) => {
        u.errors.push(f.headers['code'] ?? f.headers['message'] ?? 'ERROR');
        this.subscribed.delete(name);
      };
      client.onWebSocketClose = () => this.subscribed.delete(name);
      u.client = client;
      this.users.set(name, u);
    }
  }

  start(): void {
    for (const u of this.users.values()) u.client.activate();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.users.values()].map((u) => u.client.deactivate({ force: true })));
  }

  /** Wait (bounded) until `pred` holds. */
  async until(pred: () => boolean, ms: number, what: string): Promise<void> {
    await waitFor(pred, { timeoutMs: ms, intervalMs: 20, what });
  }

  /**
   * Time to recover from a fault at `faultAt`: the longest pause any user saw
   * between its last delivery before the fault and its next one after it.
   */
  recoveryMs(faultAt: number): number {
    let worst = 0;
    for (const u of this.users.values()) {
      let before = 0;
      let after = 0;
      for (const t of u.at) {
        if (t <= faultAt) before = t;
        else if (!after) after = t;
      }
      if (before && after) worst = Math.max(worst, after - before);
    }
    return worst;
  }

  allSubscribed(): boolean {
    return this.subscribed.size === this.users.size;
  }

  /** Lost / duplicated / out-of-order counts against `perUser` numbered messages "0".."perUser-1". */
  tally(perUser: number): { expected: number; received: number; unique: number; lost: number; duplicates: number; reordered: number } {
    let received = 0;
    let unique = 0;
    let reordered = 0;
    for (const u of this.users.values()) {
      received += u.received.length;
      const seen = new Set<string>();
      let last = -1;
      for (const b of u.received) {
        if (seen.has(b)) continue;
        seen.add(b);
        const n = Number(b);
        if (n < last) reordered++;
        last = Math.max(last, n);
      }
      unique += seen.size;
    }
    const expected = perUser * this.users.size;
    return { expected, received, unique, lost: expected - unique, duplicates: received - unique, reordered };
  }
}

/**
 * Stream `perUser` messages ("0", "1", …) to each user, one sequential stream per
 * user (so one user's messages are sent in order), through `send`. A send that
 * fails was not accepted and is retried (on the next sender, if several).
 */
export async function stream(
  users: string[],
  perUser: number,
  senders: Array<(user: string, body: string) => Promise<void>>,
  onAccepted: (total: number) => void = () => undefined,
  deadlineMs = 300_000,
): Promise<{ accepted: number; retries: number }> {
  let accepted = 0;
  let retries = 0;
  const deadline = Date.now() + deadlineMs;
  await Promise.all(
    users.map(async (user, ui) => {
      for (let i = 0; i < perUser; i++) {
        for (let attempt = 0; ; attempt++) {
          if (Date.now() > deadline) throw new Error('stream: deadline passed');
          const send = senders[(ui + i + attempt) % senders.length]!;
          try {
            await send(user, String(i));
            break;
          } catch {
            retries++;
            await new Promise((r) => setTimeout(r, 50)); // back-off before retrying a refused send
          }
        }
        accepted++;
        onAccepted(accepted);
      }
    }),
  );
  return { accepted, retries };
}

/** Record one fault test's figures (lost, duplicates, recovery time) in .tap/fault-results.jsonl. */
export function recordResult(result: Record<string, unknown>): void {
  const dir = fileURLToPath(new URL('../../.tap/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  appendFileSync(join(dir, 'fault-results.jsonl'), `${JSON.stringify({ at: new Date().toISOString(), ...result })}\n`);
}
