#!/usr/bin/env node
// Cross-node delivery: 100 users (u0..u99, each subscribed to /user/queue/bench)
// connected to node B; the publisher on node A calls
// broker.sendToUser(user, '/queue/bench', 128-byte body) round-robin, so every
// message goes A -> Redis lookup -> Kafka (B's node topic) -> B -> socket.
// Measured at the clients: latency at a paced 5,000 msg/s (1 s warm-up, 5 s
// measured) and flat-out messages/s (a fixed count, at most 1,000 sendToUser
// unsettled, bounded in time). Then the same paced run at 1,000 msg/s, below
// saturation. Baselines in the same run, on the same Redis and Kafka:
//   - same-node: the publisher on B itself (same users, pacing and counts);
//   - Kafka's own produce->consume latency: org.apache.kafka.tools.EndToEndLatency
//     from the broker's jars (sequential round trips, acks=1, 128 B).
// Also reported, per scenario: CPU per message of A, B (by thread: JS, librdkafka),
// the clients, Kafka and Redis, and the CPU other processes used (otherCores).
//
// Processes: this one orchestrates and owns the services (its own redis-server
// on a free port; a Kafka broker from scripts/kafka/start.sh unless
// KAFKA_BROKERS is set); node A and node B are lib/cluster-node-role.js
// children, the 100 clients a lib/client-role.js child (a fresh one per
// scenario). Loopback only. Everything runs on one machine: on 2 cores, Kafka,
// Redis, both nodes and the clients share them, so the figures are bounded by
// the machine, and other load shows up in every latency tail.
//
//   node bench/cross-node.js [--n 100000] [--warm 20000] [--inflight 1000] [--window 20000]
//       [--flatout-max-ms 20000] [--warm-max-ms 8000] [--rate 5000] [--seconds 5]
//       [--low-rate 1000] [--e2e 2000] [--e2e-max-ms 45000] [--only cross|same|client]
//       [--rounds 1] [--timeout 175000] [--kafka-jit c1|c2] [--prof DIR] [--previous GIT-REF]
//   --previous REF: also measure the cross-node path of an earlier version in the
//       same run (built once from `git archive REF` into $TMPDIR with this
//       checkout's node_modules, then cached by commit): a second pair of nodes
//       on the same Redis and Kafka, same scenarios; reported as a baseline column.
//   diagnostics:
//       [--breakdown]   (time each paced message at A's Kafka hand-off and at B's delivery)
//       [--kafka-stats]   (librdkafka statistics of both nodes' clients: requests, batch sizes)
//       [--producer k=v,...] [--consumer k=v,...]   (librdkafka settings over KafkaBus's defaults, both nodes)
//       [--redis k=v,...]   (ioredis options of the registry client, e.g. enableAutoPipelining=true)
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnRole } from './lib/ipc.js';
import { buildPrevious } from './lib/previous.js';
import { NoiseMeter, arg, latencyHistogram, log, printSummary, round, sleep, summarize } from './lib/util.js';

const USERS = 100;
const N = Number(arg('n', 100_000));
const WARM_N = Number(arg('warm', 20_000));
const INFLIGHT = Number(arg('inflight', 1_000));
const WINDOW = Number(arg('window', 20_000));
const ACK_EVERY = 1_000;
// The client publisher's window (messages written but not yet counted by the receivers). Small, so
// that a server which takes SENDs slowly is not handed a backlog that spills into the next phase.
const CLIENT_WINDOW = 4 * ACK_EVERY;
const WARM_MAX_MS = Number(arg('warm-max-ms', 8_000));
const FLATOUT_MAX_MS = Number(arg('flatout-max-ms', 20_000));
const RATE = Number(arg('rate', 5_000));
const SECONDS = Number(arg('seconds', 5));
const E2E_N = Number(arg('e2e', 2_000));
const E2E_MAX_MS = Number(arg('e2e-max-ms', 45_000));
const ONLY = arg('only', null);
const KAFKA_JIT = arg('kafka-jit', 'c1');
// Also a paced run at this lower rate (0 = off), without flat-out: the latency of the path when the machine is not saturated.
const LOW_RATE = Number(arg('low-rate', 1_000));
const ROUNDS = Number(arg('rounds', 1));
const PROF = arg('prof', null);
const PREVIOUS = arg('previous', null);
// --breakdown: time each measured paced message at A's bus hand-off and at B's local delivery (see lib/cluster-node-role.js).
const BREAKDOWN = process.argv.includes('--breakdown');
const TARGET_P50_DELTA_MS = 2;
const TARGET_P99_MS = 20;
const TARGET_FLATOUT = 20_000;
const TOTAL_MS = Number(arg('timeout', PREVIOUS ? 350_000 : 175_000)); // bench/run.js kills it after 180 s (360 s with --previous)

/** "a=1,b=x,c=true" -> { a: 1, b: 'x', c: true } (librdkafka settings). */
function kv(s) {
  if (!s) return undefined;
  const out = {};
  for (const part of s.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 1) throw new Error(`bad setting "${part}" (want key=value)`);
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    out[k] = v === 'true' ? true : v === 'false' ? false : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  }
  return out;
}
// --kafka-stats: librdkafka statistics every second (request counts, batch sizes) for both nodes' clients.
const KAFKA_STATS = process.argv.includes('--kafka-stats');
const withStats = (c) => (KAFKA_STATS ? { ...c, 'statistics.interval.ms': 1000 } : c);
const PRODUCER = withStats(kv(arg('producer', null)));
const CONSUMER = withStats(kv(arg('consumer', null)));
// --redis k=v,...: ioredis options for the registry's client (e.g. enableAutoPipelining=true), both nodes.
const REDIS_OPTS = kv(arg('redis', null));

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const ROOT = here('..');
const KAFKA_LIBS = process.env.KAFKA_CACHE_DIR ?? path.join(os.homedir(), '.cache/stomp-cluster/kafka-4.1.1/libs');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'bench-cross-node-'));

// ---------------------------------------------------------------------------
// services (started and stopped by this process only; ended by pid)

const cleanups = []; // synchronous, run once, newest first
let cleaned = false;
function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const f of cleanups.reverse()) {
    try {
      f();
    } catch (err) {
      log(`cleanup: ${err.message}`);
    }
  }
  rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
const hard = setTimeout(() => {
  log(`cross-node: gave up after ${TOTAL_MS} ms`);
  process.exit(2);
}, TOTAL_MS);
hard.unref();

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** One RESP round trip on a fresh socket; resolves with the raw reply. */
function redisCommand(port, line, timeoutMs = 1000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => sock.destroy(new Error('redis timeout')), timeoutMs);
    let out = '';
    sock.on('connect', () => sock.write(`${line}\r\n`));
    sock.on('data', (d) => {
      out += d;
      if (out.endsWith('\r\n')) {
        clearTimeout(timer);
        sock.end();
        resolve(out.trim());
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'ignore', 'inherit'] });
  cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));
  const until = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode})`);
    try {
      if ((await redisCommand(port, 'PING')) === '+PONG') break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > until) throw new Error('redis-server not ready after 10 s');
    await sleep(50);
  }
  return { url: `redis://127.0.0.1:${port}`, pid: child.pid };
}

/** KAFKA_BROKERS from the environment, or a private broker from scripts/kafka/start.sh. */
async function startKafka() {
  if (process.env.KAFKA_BROKERS) {
    // Its CPU is accounted as ours (not as other load) if KAFKA_STATE_FILE names it.
    let pid = null;
    try {
      pid = Number(/KAFKA_PID=(\d+)/.exec(readFileSync(process.env.KAFKA_STATE_FILE ?? '', 'utf8'))?.[1]) || null;
    } catch {
      /* unknown */
    }
    return { brokers: process.env.KAFKA_BROKERS, pid, ours: false };
  }
  const state = `/tmp/bench-kafka-${process.pid}.state`;
  const env = {
    ...process.env,
    KAFKA_STATE_FILE: state,
    KAFKA_PARENT_PID: String(process.pid), // its watchdog stops the broker if we die without cleanup
    // --kafka-jit c2: the JIT at full tier (start.sh's default stops at C1: less compile CPU
    // in a short run on a shared 2-core machine, and what the project's tests use).
    ...(KAFKA_JIT === 'c2' && !process.env.KAFKA_JVM_OPTS ? { KAFKA_JVM_OPTS: '-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExplicitGCInvokesConcurrent' } : {}),
  };
  cleanups.push(() => execFileSync(path.join(ROOT, 'scripts/kafka/stop.sh'), [state], { env: { ...env, KAFKA_STOP_FAST: '1' }, stdio: ['ignore', 'ignore', 'inherit'] }));
  const t0 = Date.now();
  const out = await new Promise((resolve, reject) => {
    const child = spawn(path.join(ROOT, 'scripts/kafka/start.sh'), [], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let s = '';
    child.stdout.on('data', (d) => (s += d));
    child.on('exit', (code) => (code === 0 ? resolve(s) : reject(new Error(`scripts/kafka/start.sh exited with ${code}`))));
  });
  const m = /KAFKA_BROKERS=(\S+)/.exec(out);
  if (!m) throw new Error(`no KAFKA_BROKERS in start.sh output: ${out}`);
  const pid = Number(/KAFKA_PID=(\d+)/.exec(readFileSync(state, 'utf8'))?.[1]) || null;
  log(`kafka: started ${m[1]} in ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${pid})`);
  return { brokers: m[1], pid, ours: true };
}

/** CPU time (ms) a process has used so far, from /proc/<pid>/stat; 0 if unknown. */
function procCpuMs(pid) {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) / 100) * 1000; // utime, stime (USER_HZ = 100)
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------
// Kafka's own end-to-end latency tool

/** The broker's classpath (as scripts/kafka/common.sh builds it: without the slf4j 2 binding). */
function kafkaClasspath() {
  return readdirSync(KAFKA_LIBS)
    .filter((f) => f.endsWith('.jar') && !f.startsWith('log4j-slf4j2-impl-'))
    .map((f) => path.join(KAFKA_LIBS, f))
    .join(':');
}

/**
 * java org.apache.kafka.tools.EndToEndLatency <brokers> <topic> <num_messages> <acks> <size>:
 * for each message, producer.send().get() then consumer.poll() (fetch.max.wait.ms=0,
 * linger.ms=0), one at a time. It prints "<i>\t<ms>" every 1000th message,
 * "Avg latency: X ms" and "Percentiles: 50th = a, 99th = b, 99.9th = c" — the
 * percentiles in whole milliseconds, truncated. The tool creates the topic
 * (1 partition) when it is missing.
 */
async function kafkaEndToEnd(brokers, topic, n) {
  const props = path.join(tmp, 'e2e-log4j2.properties');
  writeFileSync(
    props,
    ['status = error', 'appender.err.type = Console', 'appender.err.name = ERR', 'appender.err.target = SYSTEM_ERR', 'appender.err.layout.type = PatternLayout', 'appender.err.layout.pattern = %p %m (%c)%n', 'rootLogger.level = error', 'rootLogger.appenderRef.err.ref = ERR'].join('\n') + '\n',
  );
  const argv = ['-Xmx256m', `-Dlog4j2.configurationFile=${props}`, '-cp', kafkaClasspath(), 'org.apache.kafka.tools.EndToEndLatency', brokers, topic, String(n), '1', '128'];
  const t0 = Date.now();
  const child = spawn('java', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const timeoutMs = E2E_MAX_MS;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const cpu0 = procCpuMs(child.pid);
  let cpuMs = cpu0;
  const sampler = setInterval(() => (cpuMs = procCpuMs(child.pid) || cpuMs), 250);
  const code = await new Promise((resolve) => child.on('exit', (c, sig) => resolve(c ?? sig)));
  clearTimeout(timer);
  clearInterval(sampler);
  const avg = /Avg latency: ([\d.]+) ms/.exec(out);
  const pct = /Percentiles: 50th = (\d+), 99th = (\d+), 99\.9th = (\d+)/.exec(out);
  const samples = [...out.matchAll(/^(\d+)\t([\d.]+)$/gm)].map((m) => ({ i: Number(m[1]), ms: Number(m[2]) }));
  if (code !== 0 || !avg || !pct) {
    log(`kafka EndToEndLatency failed (${code}): ${(err || out).trim().split('\n').slice(-5).join(' | ')}`);
    return { ok: false, code, seconds: round((Date.now() - t0) / 1000, 1) };
  }
  const first = samples.find((s) => s.i === 0)?.ms ?? null;
  const avgMs = Number(avg[1]);
  return {
    ok: true,
    tool: 'org.apache.kafka.tools.EndToEndLatency (acks=1, 128 B, sequential)',
    messages: n,
    avgMs: round(avgMs, 3),
    // The first round trip includes the consumer's first fetch set-up (seconds on a busy machine).
    avgMsWithoutFirst: first === null ? null : round((avgMs * n - first) / (n - 1), 3),
    p50: Number(pct[1]),
    p99: Number(pct[2]),
    p999: Number(pct[3]),
    percentilesNote: 'whole ms, truncated by the tool',
    samplesMs: samples.map((s) => round(s.ms, 3)),
    seconds: round((Date.now() - t0) / 1000, 1),
    cpuMs: Math.round(cpuMs),
  };
}

/** Delete topics left on a broker we did not start (ours goes away with its dir). */
async function deleteTopics(brokers, topics) {
  const { default: Kafka } = await import('node-rdkafka');
  const admin = Kafka.AdminClient.create({ 'metadata.broker.list': brokers, 'client.id': 'bench-cross-node-admin' });
  try {
    for (const t of topics) await new Promise((resolve) => admin.deleteTopic(t, 10_000, () => resolve()));
  } finally {
    admin.disconnect();
  }
}

/**
 * Per-message stages of the paced run (--breakdown), from the times the nodes
 * recorded: send -> bus hand-off on A (sendToUser's registry lookup), hand-off
 * -> local delivery starting on B (Kafka: producer, broker, consumer, B's
 * event loop), send -> delivery on B. Same-node: send -> delivery (the lookup).
 */
function stageBreakdown(kind, a, b) {
  const hist = () => latencyHistogram();
  const h = { lookup: hist(), kafka: hist(), toDelivery: hist() };
  for (let i = 0; i < b.sent.length; i++) {
    const t0 = kind === 'cross' ? a.sent[i] : b.sent[i];
    const delivered = b.delivered[i];
    if (!t0 || !delivered) continue;
    if (kind === 'cross') {
      const produced = a.produced[i];
      if (!produced) continue;
      h.lookup.recordValue(Math.max(1, Math.round(produced - t0)));
      h.kafka.recordValue(Math.max(1, Math.round(delivered - produced)));
    }
    h.toDelivery.recordValue(Math.max(1, Math.round(delivered - t0)));
  }
  const out = {};
  for (const [k, v] of Object.entries(h)) if (v.totalCount > 0) out[k] = summarize(v);
  return out;
}

/** Which build was measured: dist/ files of the path under test, by content hash and build time. */
function buildInfo() {
  const out = {};
  const dist = process.env.BENCH_DIST ? path.dirname(process.env.BENCH_DIST) : path.join(ROOT, 'dist');
  for (const f of ['index.js', 'broker/dispatcher.js', 'cluster/kafka/bus.js', 'cluster/redis/registry.js']) {
    try {
      const file = path.join(dist, f);
      out[f] = { sha1: createHash('sha1').update(readFileSync(file)).digest('hex').slice(0, 12), built: statSync(file).mtime.toISOString() };
    } catch {
      out[f] = null;
    }
  }
  return out;
}

/** Differences of librdkafka statistic totals over a scenario (--kafka-stats). */
function statDelta(a, b) {
  const one = (x, y) => {
    if (!y) return null;
    const reqs = {};
    for (const [k, v] of Object.entries(y.reqs)) if (v - (x?.reqs?.[k] ?? 0) > 0) reqs[k] = v - (x?.reqs?.[k] ?? 0);
    const txmsgs = y.txmsgs - (x?.txmsgs ?? 0);
    const rxmsgs = y.rxmsgs - (x?.rxmsgs ?? 0);
    return { requests: y.tx - (x?.tx ?? 0), txmsgs, rxmsgs, lastBatchcntAvg: y.batchcntAvg, rttAvgMs: y.rttAvgUs === null ? null : round(y.rttAvgUs / 1000, 2), byRequest: reqs };
  };
  return { producer: one(a.producer, b.producer), consumer: one(a.consumer, b.consumer) };
}

// ---------------------------------------------------------------------------
// one scenario: publisher on A (cross-node) or on B (same-node), users on B

async function runScenario(kind, nodes, services, { rate = RATE, flatout = true, label = kind } = {}) {
  const { A, B } = nodes;
  const pub = kind === 'cross' ? A : B;
  const users = Array.from({ length: USERS }, (_, i) => `u${i}`);
  const clients = spawnRole(here('./lib/client-role.js'), { name: `${kind} clients` });
  clients.onEvent((m) => {
    if (m?.type === 'progress') pub.role.send({ type: 'ack', phase: m.phase, received: m.received });
  });
  try {
    await pub.role.call('setUsers', { users });
    const conn = await clients.call('connect', { kind: 'stomp', port: B.port, users, subscribe: true, concurrency: 20 });
    if (conn.open !== USERS) throw new Error(`only ${conn.open} of ${USERS} sessions opened`);
    // Every user must be registered on B before anything is measured.
    for (let i = 0; ; i++) {
      const where = await pub.role.call('lookup', { users });
      const wrong = where.filter((n) => n.length !== 1 || n[0] !== B.nodeId).length;
      if (wrong === 0) break;
      if (i > 100) throw new Error(`${wrong} users not registered on node B`);
      await sleep(50);
    }
    await clients.call('progress', { every: ACK_EVERY });
    const own = () => Promise.all([A.role.call('cpuUsage'), B.role.call('cpuUsage'), clients.call('cpu')]);
    const [a0, b0, c0] = await own();
    const k0 = procCpuMs(services.kafkaPid);
    const r0 = procCpuMs(services.redisPid);
    const noise = new NoiseMeter();
    const stats0 = await Promise.all([A.role.call('stats'), B.role.call('stats')]);
    const threads0 = await Promise.all([A.role.call('threads'), B.role.call('threads')]);
    const kstats0 = KAFKA_STATS ? await Promise.all([A.role.call('kafkaStats'), B.role.call('kafkaStats')]) : null;

    // Flat out: warm-up, then the measured run.
    // Each bounded in time, so a slow or busy machine still finishes (then fewer messages count).
    let warm = { sent: 0 };
    let fo = null;
    let got = null;
    if (flatout) {
      warm = await pub.role.call('flatout', { phase: 'U', n: WARM_N, inflight: INFLIGHT, window: WINDOW, maxMs: WARM_MAX_MS }, WARM_MAX_MS + 60_000);
      await clients.call('collect', { phase: 'U', expect: warm.sent, timeoutMs: 20_000 }, 30_000);
      fo = await pub.role.call('flatout', { phase: 'T', n: N, inflight: INFLIGHT, window: WINDOW, maxMs: FLATOUT_MAX_MS }, FLATOUT_MAX_MS + 60_000);
      got = await clients.call('collect', { phase: 'T', expect: fo.sent, timeoutMs: 20_000 }, 30_000);
    }
    const seconds = flatout ? (got.tLast - fo.t0) / 1e6 : 0;

    // Paced: 1 s warm-up at the rate, then SECONDS measured.
    const pacedTotal = rate * (1 + SECONDS) + 1;
    if (BREAKDOWN) await Promise.all([A.role.call('instrument', { size: pacedTotal }), B.role.call('instrument', { size: pacedTotal })]);
    const paced = await pub.role.call('latency', { rate, warmupMs: 1000, measureMs: SECONDS * 1000 }, (SECONDS + 40) * 1000);
    const lat = await clients.call('collect', { phase: 'L', expect: paced.measured, timeoutMs: 15_000 }, 20_000);
    const breakdown = BREAKDOWN ? stageBreakdown(kind, await A.role.call('stages'), await B.role.call('stages')) : undefined;

    const [a1, b1, c1] = await own();
    const kafkaMs = procCpuMs(services.kafkaPid) - k0;
    const redisMs = procCpuMs(services.redisPid) - r0;
    const cpuMs = (x0, x1) => (x1.user - x0.user + x1.system - x0.system) / 1000;
    const stats1 = await Promise.all([A.role.call('stats'), B.role.call('stats')]);
    const threads1 = await Promise.all([A.role.call('threads'), B.role.call('threads')]);
    if (KAFKA_STATS) await sleep(1100); // one more statistics interval
    const kstats1 = KAFKA_STATS ? await Promise.all([A.role.call('kafkaStats'), B.role.call('kafkaStats')]) : null;
    const threadCpu = (t0, t1) => Object.fromEntries(Object.entries(t1).map(([k, v]) => [k, Math.round(v - (t0[k] ?? 0))]).filter(([, v]) => v > 0).sort((x, y) => y[1] - x[1]));
    const delta = (k) => ({ A: stats1[0][k] - stats0[0][k], B: stats1[1][k] - stats0[1][k] });
    const r = {
      kind,
      publisher: kind === 'cross' ? 'node A' : 'node B',
      flatout: flatout && {
        n: N,
        sent: fo.sent,
        truncated: fo.truncated,
        warmSent: warm.sent,
        received: got.received,
        dup: got.dup,
        misrouted: got.misrouted,
        seconds: round(seconds, 3),
        msgPerSec: Math.round(got.received / seconds),
        publishErrors: fo.errors,
        inflightStalls: fo.inflightStalls,
        windowStalls: fo.windowStalls,
        handoffMs: fo.handoffMs,
        publisherCpuUsPerMsg: round((fo.cpu.totalMs * 1000) / N, 2),
      },
      paced: {
        rate,
        achievedRate: paced.achievedRate,
        measured: paced.measured,
        received: lat.received,
        dup: lat.dup,
        misrouted: lat.misrouted,
        latencyMs: lat.latency,
        pacerLagMs: paced.pacerLag,
        handoffMs: paced.handoffMs,
        maxUnsettled: paced.maxUnsettled,
        publishErrors: paced.errors,
      },
      breakdownMs: breakdown,
      kafkaStats: kstats1 ? { A: statDelta(kstats0[0], kstats1[0]), B: statDelta(kstats0[1], kstats1[1]) } : undefined,
      counters: { deliveredLocal: delta('deliveredLocal'), sentRemote: delta('sentRemote'), forwarded: delta('forwarded'), inboxed: delta('inboxed'), busCommits: delta('busCommits') },
      cpuMs: { A: Math.round(cpuMs(a0, a1)), B: Math.round(cpuMs(b0, b1)), clients: Math.round(cpuMs(c0, c1)), kafka: Math.round(kafkaMs), redis: Math.round(redisMs) },
      // Per thread name, over the whole scenario (warm-up, flat-out, paced): where A's and B's CPU goes.
      threadCpuMs: { A: threadCpu(threads0[0], threads1[0]), B: threadCpu(threads0[1], threads1[1]) },
      messages: warm.sent + (fo?.sent ?? 0) + rate * (1 + SECONDS),
      noise: noise.stop(cpuMs(a0, a1) + cpuMs(b0, b1) + cpuMs(c0, c1) + kafkaMs + redisMs),
    };
    log(
      `${label.padEnd(5)} ${flatout ? `flat-out ${r.flatout.msgPerSec} msg/s (${got.received}/${fo.sent}${fo.truncated ? ` of ${N}, stopped at ${FLATOUT_MAX_MS} ms` : ''} in ${r.flatout.seconds}s, sendToUser settled p50 ${fo.handoffMs.p50} ms); ` : ''}` +
        `paced ${rate}/s: p50 ${lat.latency.p50} p99 ${lat.latency.p99} p99.9 ${lat.latency.p999} max ${lat.latency.max} ms ` +
        `(${lat.received}/${paced.measured}, pacer lag p99 ${paced.pacerLag.p99} ms); other load ${r.noise.otherCores} cores`,
    );
    if (breakdown) log(`      ${Object.entries(breakdown).map(([k, v]) => `${k} p50 ${v.p50} p99 ${v.p99}`).join('; ')} (ms)`);
    return r;
  } finally {
    await clients.call('closeAll', {}, 10_000).catch(() => undefined);
    await clients.stop();
  }
}

/**
 * Client publisher: one STOMP session on node A SENDs to /user/u<i>/queue/bench
 * (50 frames per WebSocket message), flat-out with at most CLIENT_WINDOW not yet
 * received; the 100 users on B as before. Measures what a browser or a
 * backend publishing over STOMP gets: the session's SENDs are routed in order
 * without each waiting for Kafka's acknowledgement.
 */
async function runClientScenario(nodes, services, { label = 'client' } = {}) {
  const { A, B } = nodes;
  const users = Array.from({ length: USERS }, (_, i) => `u${i}`);
  const clients = spawnRole(here('./lib/client-role.js'), { name: `${label} receivers` });
  const pubc = spawnRole(here('./lib/client-role.js'), { name: `${label} publisher` });
  clients.onEvent((m) => {
    if (m?.type === 'progress') pubc.send({ type: 'ack', phase: m.phase, received: m.received });
  });
  try {
    const conn = await clients.call('connect', { kind: 'stomp', port: B.port, users, subscribe: true, concurrency: 20 });
    if (conn.open !== USERS) throw new Error(`only ${conn.open} of ${USERS} sessions opened`);
    for (let i = 0; ; i++) {
      const where = await A.role.call('lookup', { users });
      if (where.every((n) => n.length === 1 && n[0] === B.nodeId)) break;
      if (i > 100) throw new Error('users not registered on node B');
      await sleep(50);
    }
    await clients.call('progress', { every: ACK_EVERY });
    await pubc.call('openPublisher', { port: A.port, user: 'publisher' });
    const cpuOf = () => Promise.all([A.role.call('cpuUsage'), B.role.call('cpuUsage'), clients.call('cpu'), pubc.call('cpu')]);
    const warm = await pubc.call('publishFlatout', { users, phase: 'U', n: WARM_N, window: CLIENT_WINDOW, maxMs: WARM_MAX_MS }, WARM_MAX_MS + 60_000);
    await clients.call('collect', { phase: 'U', expect: warm.sent, timeoutMs: 20_000 }, 30_000);
    const [a0, b0, c0, p0] = await cpuOf();
    const k0 = procCpuMs(services.kafkaPid);
    const r0 = procCpuMs(services.redisPid);
    const noise = new NoiseMeter();
    const fo = await pubc.call('publishFlatout', { users, phase: 'T', n: N, window: CLIENT_WINDOW, maxMs: FLATOUT_MAX_MS }, FLATOUT_MAX_MS + 60_000);
    const got = await clients.call('collect', { phase: 'T', expect: fo.sent, timeoutMs: 20_000 }, 30_000);
    const [a1, b1, c1, p1] = await cpuOf();
    const kafkaMs = procCpuMs(services.kafkaPid) - k0;
    const redisMs = procCpuMs(services.redisPid) - r0;
    const cpuMs = (x0, x1) => (x1.user - x0.user + x1.system - x0.system) / 1000;
    const seconds = (got.tLast - fo.t0) / 1e6;
    const r = {
      kind: 'client',
      sent: fo.sent,
      truncated: fo.truncated,
      received: got.received,
      dup: got.dup,
      misrouted: got.misrouted,
      seconds: round(seconds, 3),
      msgPerSec: Math.round(got.received / seconds),
      windowStalls: fo.windowStalls,
      cpuUsPerMsg: { A: round((cpuMs(a0, a1) * 1000) / Math.max(1, got.received), 1), B: round((cpuMs(b0, b1) * 1000) / Math.max(1, got.received), 1) },
      noise: noise.stop(cpuMs(a0, a1) + cpuMs(b0, b1) + cpuMs(c0, c1) + cpuMs(p0, p1) + kafkaMs + redisMs),
    };
    log(`${label.padEnd(6)} client SEND flat-out ${r.msgPerSec} msg/s (${got.received}/${fo.sent}${fo.truncated ? ` of ${N}, stopped at ${FLATOUT_MAX_MS} ms` : ''} in ${r.seconds}s)`);
    return r;
  } finally {
    await pubc.call('closePublisher', {}, 10_000).catch(() => undefined);
    await pubc.stop();
    await clients.call('closeAll', {}, 10_000).catch(() => undefined);
    await clients.stop();
  }
}

// ---------------------------------------------------------------------------

/** Build `ref` once into $TMPDIR (cached by commit) with this checkout's node_modules; its dist/ path, or null with a reason. */
/** Spawn and start node processes B then A (from `dist`, or this checkout's dist/ when null). */
async function startNodes(label, nodePrefix, dist) {
  const nodes = {};
  for (const name of ['B', 'A']) {
    const execArgv = PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROF}`, `--cpu-prof-name=cross-node-${label}${name}.cpuprofile`] : [];
    const role = spawnRole(here('./lib/cluster-node-role.js'), { execArgv, name: `node ${label}${name}`, env: dist ? { BENCH_DIST: dist } : undefined });
    cleanups.push(() => role.child.exitCode === null && role.child.kill('SIGKILL'));
    nodes[name] = { role };
  }
  for (const name of ['B', 'A']) {
    const s = await nodes[name].role.call('start', { redisUrl: redis.url, kafkaBrokers: kafka.brokers, prefix: nodePrefix, producerConfig: PRODUCER, consumerConfig: CONSUMER, redisOptions: REDIS_OPTS }, 60_000);
    Object.assign(nodes[name], s);
    log(`node ${label}${name}: ${s.nodeId} on port ${s.port} (pid ${s.pid})${dist ? ` from ${dist}` : ''}`);
  }
  return nodes;
}

async function stopNodes(nodes) {
  // Graceful leave: each node deletes its own topic and deregisters its sessions.
  for (const name of ['A', 'B']) {
    if (!nodes[name]) continue;
    await nodes[name].role.call('close', {}, 20_000).catch((err) => log(`node ${name} close: ${err.message}`));
    await nodes[name].role.stop();
  }
}

// Built before anything is measured, so the compile does not load the machine during a run.
const previous = PREVIOUS ? buildPrevious(PREVIOUS) : null;
if (previous?.reason) log(`--previous ${PREVIOUS}: skipped, ${previous.reason}`);

const prefix = `bench-xn-${process.pid}-${Date.now().toString(36)}`;
const [redis, kafka] = await Promise.all([startRedis(), startKafka()]);
log(`redis ${redis.url}, kafka ${kafka.brokers}${kafka.ours ? '' : ' (KAFKA_BROKERS, reused)'}, prefix ${prefix}`);
const services = { redisPid: redis.pid, kafkaPid: kafka.pid };

let nodes = {};
try {
  nodes = await startNodes('', prefix, null);
  const nodeIds = { A: nodes.A.nodeId, B: nodes.B.nodeId };

  const results = { cross: [], same: [], crossLow: [], sameLow: [], client: [], prev: [], prevLow: [], prevClient: [], kafka: [] };
  for (let r = 0; r < ROUNDS; r++) {
    // Kafka's own latency on the same broker, nodes up and idle.
    const e2e = await kafkaEndToEnd(kafka.brokers, `${prefix}.e2e-${r}`, E2E_N);
    if (e2e.ok) log(`kafka EndToEndLatency: avg ${e2e.avgMs} ms (${e2e.avgMsWithoutFirst} without the first), p50 ${e2e.p50} p99 ${e2e.p99} p99.9 ${e2e.p999} ms (whole ms), ${e2e.messages} in ${e2e.seconds}s`);
    results.kafka.push(e2e);
    // Alternate the order so drift on a shared machine hits both alike.
    const order = r % 2 === 0 ? ['cross', 'same'] : ['same', 'cross'];
    for (const kind of order) if (!ONLY || ONLY === kind) results[kind].push(await runScenario(kind, nodes, services));
    // The same path below saturation: paced only, at LOW_RATE (latency without queueing on a busy machine).
    if (LOW_RATE > 0) for (const kind of order) if (!ONLY || ONLY === kind) results[`${kind}Low`].push(await runScenario(kind, nodes, services, { rate: LOW_RATE, flatout: false }));
    if (!ONLY || ONLY === 'client') results.client.push(await runClientScenario(nodes, services));
  }

  // The previous version: its own pair of nodes (on their own topics), the same cross-node scenarios.
  if (previous?.dist && (!ONLY || ONLY === 'cross' || ONLY === 'client')) {
    await stopNodes(nodes); // idle nodes still fetch and heartbeat: only one pair runs at a time
    nodes = {};
    const prevNodes = await startNodes('prev ', `${prefix}-prev`, previous.dist);
    try {
      for (let r = 0; r < ROUNDS; r++) {
        if (!ONLY || ONLY === 'cross') results.prev.push(await runScenario('cross', prevNodes, services, { label: 'prev' }));
        if (LOW_RATE > 0 && (!ONLY || ONLY === 'cross')) results.prevLow.push(await runScenario('cross', prevNodes, services, { rate: LOW_RATE, flatout: false, label: 'prev' }));
        if (!ONLY || ONLY === 'client') results.prevClient.push(await runClientScenario(prevNodes, services, { label: 'prev' }));
      }
    } finally {
      await stopNodes(prevNodes);
    }
  }

  // -------------------------------------------------------------------------
  // summary

  const med = (list, f) => {
    const v = list.map(f).filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((x, y) => x - y);
    if (v.length === 0) return undefined;
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  const complete = (x) =>
    (!x.flatout || (x.flatout.received === x.flatout.sent && !x.flatout.truncated && x.flatout.dup === 0 && x.flatout.misrouted === 0 && x.flatout.publishErrors === 0)) &&
    x.paced.received === x.paced.measured && x.paced.dup === 0 && x.paced.misrouted === 0 && x.paced.publishErrors === 0;
  const cross = (f) => med(results.cross, f);
  const same = (f) => med(results.same, f);
  const kafkaOk = results.kafka.filter((k) => k.ok);
  const kp50 = med(kafkaOk, (k) => k.p50);
  const kavg = med(kafkaOk, (k) => k.avgMsWithoutFirst ?? k.avgMs);
  const allComplete = [...results.cross, ...results.same, ...results.crossLow, ...results.sameLow].every(complete);
  const prev = (f) => med(results.prev, f);
  const prevLow = (f) => med(results.prevLow, f);
  const prevName = previous?.sha ? `previous version ${previous.sha.slice(0, 7)}` : 'previous version';
  const crossLow = (f) => med(results.crossLow, f);
  const sameLow = (f) => med(results.sameLow, f);
  const ratio = (a, b) => (typeof a === 'number' && typeof b === 'number' && b !== 0 ? round(a / b, 2) : undefined);
  const rows = [];
  if (results.cross.length) {
    const p50 = cross((x) => x.paced.latencyMs.p50);
    const p99 = cross((x) => x.paced.latencyMs.p99);
    const fo = cross((x) => x.flatout.msgPerSec);
    const sp50 = same((x) => x.paced.latencyMs.p50);
    const sp99 = same((x) => x.paced.latencyMs.p99);
    const sfo = same((x) => x.flatout.msgPerSec);
    rows.push(
      { metric: `cross-node latency p50 at ${RATE} msg/s (baseline: Kafka EndToEndLatency p50)`, value: p50, unit: 'ms', baseline: kp50, ratio: ratio(p50, kp50) },
      {
        metric: 'cross-node p50 minus Kafka EndToEndLatency p50',
        value: p50 !== undefined && kp50 !== undefined ? round(p50 - kp50, 3) : undefined,
        unit: 'ms',
        target: `≤ ${TARGET_P50_DELTA_MS} ms`,
        met: p50 !== undefined && kp50 !== undefined ? p50 - kp50 <= TARGET_P50_DELTA_MS && allComplete : undefined,
      },
      { metric: `cross-node latency p50 at ${RATE} msg/s (baseline: same-node)`, value: p50, unit: 'ms', baseline: sp50, ratio: ratio(p50, sp50) },
      { metric: `cross-node latency p99 at ${RATE} msg/s (baseline: same-node)`, value: p99, unit: 'ms', baseline: sp99, ratio: ratio(p99, sp99), target: `≤ ${TARGET_P99_MS} ms`, met: p99 !== undefined ? p99 <= TARGET_P99_MS && allComplete : undefined },
      { metric: `cross-node latency p99.9 at ${RATE} msg/s (baseline: same-node)`, value: cross((x) => x.paced.latencyMs.p999), unit: 'ms', baseline: same((x) => x.paced.latencyMs.p999), ratio: ratio(cross((x) => x.paced.latencyMs.p999), same((x) => x.paced.latencyMs.p999)) },
      { metric: `cross-node flat-out, ${N} × 128 B, ≤ ${INFLIGHT} sendToUser in flight (baseline: same-node)`, value: fo, unit: 'msg/s', baseline: sfo, ratio: ratio(fo, sfo), target: `≥ ${TARGET_FLATOUT.toLocaleString('en-US')} msg/s`, met: fo !== undefined ? fo >= TARGET_FLATOUT && allComplete : undefined },
    );
  }
  if (results.crossLow.length) {
    const lp50 = crossLow((x) => x.paced.latencyMs.p50);
    rows.push(
      { metric: `cross-node latency p50 at ${LOW_RATE} msg/s, below saturation (baseline: Kafka EndToEndLatency p50)`, value: lp50, unit: 'ms', baseline: kp50, ratio: ratio(lp50, kp50) },
      { metric: `cross-node p50 at ${LOW_RATE} msg/s minus Kafka EndToEndLatency p50`, value: lp50 !== undefined && kp50 !== undefined ? round(lp50 - kp50, 3) : undefined, unit: 'ms' },
      { metric: `cross-node latency p99 at ${LOW_RATE} msg/s (baseline: same-node)`, value: crossLow((x) => x.paced.latencyMs.p99), unit: 'ms', baseline: sameLow((x) => x.paced.latencyMs.p99), ratio: ratio(crossLow((x) => x.paced.latencyMs.p99), sameLow((x) => x.paced.latencyMs.p99)) },
    );
  }
  if (results.cross.length && results.prev.length) {
    const vs = (metric, unit, f) => {
      const v = cross(f);
      const b = prev(f);
      rows.push({ metric: `${metric} (baseline: ${prevName})`, value: v, unit, baseline: b, ratio: ratio(v, b) });
    };
    vs('cross-node flat-out', 'msg/s', (x) => x.flatout.msgPerSec);
    vs(`cross-node latency p50 at ${RATE} msg/s`, 'ms', (x) => x.paced.latencyMs.p50);
    vs(`cross-node latency p99 at ${RATE} msg/s`, 'ms', (x) => x.paced.latencyMs.p99);
    if (results.crossLow.length && results.prevLow.length) {
      const v = crossLow((x) => x.paced.latencyMs.p99);
      const b = prevLow((x) => x.paced.latencyMs.p99);
      rows.push({ metric: `cross-node latency p99 at ${LOW_RATE} msg/s (baseline: ${prevName})`, value: v, unit: 'ms', baseline: b, ratio: ratio(v, b) });
    }
  }
  if (results.client.length) {
    const v = med(results.client, (x) => x.msgPerSec);
    const b = med(results.prevClient, (x) => x.msgPerSec);
    rows.push({
      metric: `client SEND flat-out: one STOMP session on node A to the 100 users on B${results.prevClient.length ? ` (baseline: ${prevName})` : ''}`,
      value: v,
      unit: 'msg/s',
      baseline: b,
      ratio: ratio(v, b),
    });
  }
  if (kafkaOk.length) rows.push({ metric: 'Kafka EndToEndLatency average (sequential round trips, first excluded)', value: kavg, unit: 'ms' });

  // Human-readable table on stderr (stdout's last line is the JSON summary).
  // Medians of an even count are means of two: round them, so a column never runs into the next.
  const f = (v) => (v === undefined || v === null ? '—' : typeof v === 'number' ? String(round(v, 3)) : String(v));
  const withPrev = results.prev.length > 0 || results.prevClient.length > 0;
  const line = (label, c, s, k, p) => `${label.padEnd(34)}${f(c).padStart(12)}${f(s).padStart(12)}${f(k).padStart(14)}${withPrev ? f(p).padStart(14) : ''}`;
  const kx = (fn) => med(kafkaOk, fn);
  log('');
  log(`cross-node (publisher on A, 100 users on B), ${ROUNDS > 1 ? `medians of ${ROUNDS} rounds` : '1 round'}:`);
  log(line('', 'cross-node', 'same-node', 'Kafka e2e', previous?.sha ? `prev ${previous.sha.slice(0, 7)}` : 'previous'));
  log(line(`latency p50 @ ${RATE}/s (ms)`, cross((x) => x.paced.latencyMs.p50), same((x) => x.paced.latencyMs.p50), kx((k) => k.p50), prev((x) => x.paced.latencyMs.p50)));
  log(line(`latency p99 @ ${RATE}/s (ms)`, cross((x) => x.paced.latencyMs.p99), same((x) => x.paced.latencyMs.p99), kx((k) => k.p99), prev((x) => x.paced.latencyMs.p99)));
  log(line(`latency p99.9 @ ${RATE}/s (ms)`, cross((x) => x.paced.latencyMs.p999), same((x) => x.paced.latencyMs.p999), kx((k) => k.p999), prev((x) => x.paced.latencyMs.p999)));
  log(line('latency mean (ms)', cross((x) => x.paced.latencyMs.mean), same((x) => x.paced.latencyMs.mean), kavg, prev((x) => x.paced.latencyMs.mean)));
  log(line('sendToUser settled p50 (ms)', cross((x) => x.paced.handoffMs.p50), same((x) => x.paced.handoffMs.p50), '', prev((x) => x.paced.handoffMs.p50)));
  log(line('flat-out (msg/s)', cross((x) => x.flatout.msgPerSec), same((x) => x.flatout.msgPerSec), '', prev((x) => x.flatout.msgPerSec)));
  if (LOW_RATE > 0) {
    log(line(`latency p50 @ ${LOW_RATE}/s (ms)`, crossLow((x) => x.paced.latencyMs.p50), sameLow((x) => x.paced.latencyMs.p50), kx((k) => k.p50), prevLow((x) => x.paced.latencyMs.p50)));
    log(line(`latency p99 @ ${LOW_RATE}/s (ms)`, crossLow((x) => x.paced.latencyMs.p99), sameLow((x) => x.paced.latencyMs.p99), kx((k) => k.p99), prevLow((x) => x.paced.latencyMs.p99)));
  }
  if (results.client.length) log(line('client SEND flat-out (msg/s)', med(results.client, (x) => x.msgPerSec), '', '', med(results.prevClient, (x) => x.msgPerSec)));
  log('(Kafka e2e: sequential produce->consume round trips, percentiles in whole ms as the tool prints them)');
  for (const row of rows.filter((x) => x.target)) log(`  ${row.met ? 'met ' : 'MISS'} ${row.metric}: ${row.value} ${row.unit} (target ${row.target})`);

  const all = [...results.cross, ...results.same, ...results.crossLow, ...results.sameLow, ...results.prev, ...results.prevLow, ...results.client, ...results.prevClient];
  printSummary({
    bench: 'cross-node',
    // Per scenario, machine CPU minus what A, B, the clients, Kafka and Redis used: exact for run.js.
    noise: { otherCores: Math.max(0, ...all.map((x) => x.noise.otherCores ?? 0)), exact: true },
    rounds: ROUNDS,
    title: `Cross-node delivery: publisher on node A, 100 users on node B (Redis registry, Kafka bus), 128 B; ${RATE} msg/s paced for ${SECONDS} s${LOW_RATE > 0 ? ` (and ${LOW_RATE} msg/s)` : ''} and ${N} flat-out; baselines same-node delivery and Kafka's EndToEndLatency on the same broker${ROUNDS > 1 ? `; medians of ${ROUNDS} rounds` : ''}`,
    publisher: 'server-side broker.sendToUser() on node A (same-node baseline: on node B)',
    rows,
    details: {
      complete: allComplete,
      build: buildInfo(),
      settings: { n: N, warm: WARM_N, inflight: INFLIGHT, window: WINDOW, rate: RATE, seconds: SECONDS, e2eMessages: E2E_N, producer: PRODUCER ?? null, consumer: CONSUMER ?? null, redis: REDIS_OPTS ?? null },
      kafka: { brokers: kafka.brokers, startedHere: kafka.ours, jit: kafka.ours ? KAFKA_JIT : null, endToEnd: results.kafka },
      nodes: nodeIds,
      cross: results.cross,
      same: results.same,
      crossLowRate: results.crossLow,
      sameLowRate: results.sameLow,
      client: results.client,
      previous: previous ? { ref: PREVIOUS, sha: previous.sha, skipped: previous.reason, cross: results.prev, crossLowRate: results.prevLow, client: results.prevClient } : null,
    },
  });
  if (!kafka.ours) await deleteTopics(kafka.brokers, [...results.kafka.map((_, r) => `${prefix}.e2e-${r}`), `${prefix}.broadcast`]).catch(() => undefined);
} finally {
  await stopNodes(nodes);
}
clearTimeout(hard);
cleanup();
process.exit(process.exitCode ?? 0);
