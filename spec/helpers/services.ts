/**
 * Real Redis and Kafka for integration tests (docs/design.md "Conformance
 * suites and real services").
 *
 *  - startRedis(): a private redis-server (Debian package) on a free loopback
 *    port, no persistence. Never the shared Redis on 6379.
 *  - startKafka(): reuses $KAFKA_BROKERS when set (`make test`/CI start one
 *    broker for the whole run); otherwise starts one with scripts/kafka/start.sh
 *    and stops it again in stop().
 *  - uniquePrefix(): a fresh CLUSTER_PREFIX, so tests that share a Redis or a
 *    Kafka never see each other's keys and topics.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

const KAFKA_SCRIPTS = fileURLToPath(new URL('../../scripts/kafka/', import.meta.url));

/** A port the kernel reports free on 127.0.0.1 (bind to 0, read it, release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

/** `t-<hex>`: a CLUSTER_PREFIX no other test uses. */
export function uniquePrefix(tag = 't'): string {
  return `${tag}-${randomBytes(5).toString('hex')}`;
}

// ---------------------------------------------------------------------------
// Redis

/** Delete every key of a test's namespace (`prefix:*`) through `client`. */
export async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  const ks = await client.keys(`${prefix}:*`);
  if (ks.length > 0) await client.del(...ks);
}

export interface RedisService {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Children to kill if the test process exits without stopping them. */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** PING a redis-server on 127.0.0.1:`port`; true on +PONG. */
export function ping(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let buf = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

async function startRedisOnce(timeoutMs: number): Promise<RedisService> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'stomp-cluster-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let running = true;
  void exited.then(() => {
    running = false;
    children.delete(child);
  });

  const stop = async (): Promise<void> => {
    if (running) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!running) break;
    if (await ping(port, 500)) return { url: `redis://127.0.0.1:${port}`, port, stop };
    await new Promise((r) => setTimeout(r, 20));
  }
  await stop();
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms:\n${output}`);
}

/** Start a private redis-server; retried on another port if the chosen one was taken meanwhile. */
export async function startRedis(opts: { timeoutMs?: number } = {}): Promise<RedisService> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startRedisOnce(opts.timeoutMs ?? 10_000);
    } catch (err) {
      lastErr = err;
    }
  }
  throw lastErr;
}

// ---------------------------------------------------------------------------
// Kafka

export interface KafkaService {
  /** `host:port[,host:port]` for KAFKA_BROKERS / metadata.broker.list. */
  brokers: string;
  /** True if this helper started the broker (and stop() will stop it). */
  owned: boolean;
  stop(): Promise<void>;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/**
 * A Kafka broker: $KAFKA_BROKERS if set (stop() is then a no-op), else a new
 * one from scripts/kafka/start.sh (first run may fetch the jars with Maven).
 */
export async function startKafka(opts: { timeoutMs?: number } = {}): Promise<KafkaService> {
  const shared = process.env.KAFKA_BROKERS;
  if (shared) return { brokers: shared, owned: false, stop: async () => undefined };

  const stateDir = mkdtempSync(join(tmpdir(), 'stomp-cluster-kafka-state-'));
  const stateFile = join(stateDir, 'kafka.state');
  const env = { ...process.env, KAFKA_STATE_FILE: stateFile, KAFKA_PARENT_PID: String(process.pid) };
  let out: string;
  try {
    out = await run(join(KAFKA_SCRIPTS, 'start.sh'), [], env, opts.timeoutMs ?? 300_000);
  } catch (err) {
    rmSync(stateDir, { recursive: true, force: true });
    throw err;
  }
  const m = /^KAFKA_BROKERS=(\S+)$/m.exec(out);
  if (!m) throw new Error(`scripts/kafka/start.sh printed no KAFKA_BROKERS line:\n${out}`);
  let stopped: Promise<void> | null = null;
  return {
    brokers: m[1]!,
    owned: true,
    stop: () =>
      (stopped ??= run(join(KAFKA_SCRIPTS, 'stop.sh'), [stateFile], { ...env, KAFKA_STOP_FAST: '1' }, 30_000).then(
        () => rmSync(stateDir, { recursive: true, force: true }),
      )),
  };
}
