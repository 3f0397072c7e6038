#!/usr/bin/env node
// Local delivery: 100 subscriber sessions (users u0..u99, each subscribed to
// /user/queue/bench), one publisher calling broker.sendToUser(user,
// '/queue/bench', 128-byte body) round-robin over the users — the server-side
// API, as application code pushes to users (Spring's convertAndSendToUser).
// Baseline in the same run: a bare `ws` server, the same 100 clients and the
// same publisher forwarding the same payloads to Map<user, socket>.
//
// Processes: this one only orchestrates; the server + publisher run in one
// child, the 100 clients in another, so client parsing never shares the
// server's event loop (on a 2-core machine each gets a core). Each server
// kind gets fresh processes.
//
//   node bench/local-delivery.js [--n 200000] [--rate 10000] [--seconds 5] [--only stomp|ws|prev] [--rounds 1] [--prof DIR] [--previous GIT-REF]
//   --previous REF: also measure an earlier version of the broker (built from git
//   into a temp directory, kept for later runs) in the same run, as kind "prev".
import { fileURLToPath } from 'node:url';
import { spawnRole } from './lib/ipc.js';
import { buildPrevious } from './lib/previous.js';
import { NoiseMeter, arg, deadline, log, printSummary, round } from './lib/util.js';

const USERS = 100;
const N = Number(arg('n', 200_000));
const WARM_N = Math.min(50_000, Math.round(N / 4));
const WINDOW = 10_000;
const ACK_EVERY = 1_000;
const BURST = 200;
const RATE = Number(arg('rate', 10_000));
const SECONDS = Number(arg('seconds', 5));
const ONLY = arg('only', null);
// --rounds R: run ws and stomp R times each (alternating) and report medians.
const ROUNDS = Number(arg('rounds', 1));
// --prof DIR: write a V8 CPU profile of each server process into DIR (node --cpu-prof).
const PROF = arg('prof', null);
const PREVIOUS = arg('previous', null);
const previous = PREVIOUS ? buildPrevious(PREVIOUS) : null;
if (previous?.reason) log(`--previous ${PREVIOUS}: skipped, ${previous.reason}`);
const TARGET_RATIO = 0.6;
const TARGET_P99_MS = 2;

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
deadline(60_000 + ROUNDS * (previous?.dist ? 180_000 : 120_000), 'local-delivery');

async function runKind(kind) {
  const users = Array.from({ length: USERS }, (_, i) => `u${i}`);
  const noise = new NoiseMeter();
  const execArgv = PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROF}`, `--cpu-prof-name=${kind}-server.cpuprofile`] : [];
  // "prev": the earlier version's broker (its dist/), driven exactly as "stomp".
  const protocol = kind === 'prev' ? 'stomp' : kind;
  const env = kind === 'prev' ? { BENCH_DIST: `${previous.dist}index.js` } : undefined;
  const server = spawnRole(here('./lib/server-role.js'), { execArgv, name: `${kind} server`, env });
  const clients = spawnRole(here('./lib/client-role.js'), { name: `${kind} clients` });
  // Progress from the clients is the publisher's flow-control window.
  clients.onEvent((m) => {
    if (m?.type === 'progress') server.send({ type: 'ack', phase: m.phase, received: m.received });
  });
  try {
    const { port } = await server.call('start', { kind: protocol });
    await server.call('setUsers', { users });
    const conn = await clients.call('connect', { kind: protocol, port, users, subscribe: true, concurrency: 20 });
    if (conn.open !== USERS) throw new Error(`only ${conn.open} of ${USERS} sessions opened`);
    await clients.call('progress', { every: ACK_EVERY });

    // Flat out: warm-up (JIT), then the measured run.
    const warm = await server.call('flatout', { phase: 'U', n: WARM_N, window: WINDOW, burst: BURST, maxMs: 15_000 });
    await clients.call('collect', { phase: 'U', expect: warm.sent, timeoutMs: 20_000 }, 30_000);
    const ccpu0 = await clients.call('cpu');
    const pub = await server.call('flatout', { phase: 'T', n: N, window: WINDOW, burst: BURST, maxMs: 30_000 }, 60_000);
    const got = await clients.call('collect', { phase: 'T', expect: pub.sent, timeoutMs: 20_000 }, 30_000);
    const ccpu1 = await clients.call('cpu');
    const seconds = (got.tLast - pub.t0) / 1e6;
    const throughput = got.received / seconds;
    const clientCpuMs = (ccpu1.user - ccpu0.user + ccpu1.system - ccpu0.system) / 1000;

    // Paced: 1 s warm-up at the rate, then SECONDS measured.
    const paced = await server.call('latency', { rate: RATE, warmupMs: 1000, measureMs: SECONDS * 1000 }, (SECONDS + 30) * 1000);
    const lat = await clients.call('collect', { phase: 'L', expect: paced.measured, timeoutMs: 10_000 }, 20_000);
    const [sc, cc] = await Promise.all([server.call('cpuUsage'), clients.call('cpu')]);

    const r = {
      kind,
      flatout: {
        n: N,
        sent: pub.sent,
        received: got.received,
        dup: got.dup,
        misrouted: got.misrouted,
        seconds: round(seconds, 3),
        msgPerSec: Math.round(throughput),
        publishErrors: pub.errors,
        serverCpuMs: round(pub.cpu.totalMs, 0),
        serverCpuUsPerMsg: round((pub.cpu.totalMs * 1000) / pub.sent, 2),
        serverCpuShare: round(pub.cpu.totalMs / 1000 / seconds, 2),
        clientCpuShare: round(clientCpuMs / 1000 / seconds, 2),
        clientCpuUsPerMsg: round((clientCpuMs * 1000) / pub.sent, 2),
        // With a core each, the slower of the two processes bounds the rate: an estimate that
        // other load on the machine hardly moves (CPU time per message, not wall time).
        cpuBoundMsgPerSec: Math.round(1e6 / Math.max((pub.cpu.totalMs * 1000) / pub.sent, (clientCpuMs * 1000) / pub.sent)),
        windowStalls: pub.stalls,
      },
      paced: {
        rate: RATE,
        achievedRate: paced.achievedRate,
        measured: paced.measured,
        received: lat.received,
        dup: lat.dup,
        misrouted: lat.misrouted,
        latencyMs: lat.latency,
        pacerLagMs: paced.pacerLag,
        serverCpuShare: paced.cpuMeasured ? round(paced.cpuMeasured.totalMs / 1000 / SECONDS, 2) : null,
        publishErrors: paced.errors,
      },
      noise: noise.stop((sc.user + sc.system + cc.user + cc.system) / 1000),
    };
    log(
      `${kind.padEnd(5)} flat-out ${r.flatout.msgPerSec} msg/s (${r.flatout.received}/${pub.sent} in ${r.flatout.seconds}s, server ${r.flatout.serverCpuUsPerMsg} µs CPU/msg, ` +
        `cpu server ${r.flatout.serverCpuShare} clients ${r.flatout.clientCpuShare}); ` +
        `paced ${RATE}/s: p50 ${lat.latency.p50} p99 ${lat.latency.p99} p99.9 ${lat.latency.p999} max ${lat.latency.max} ms ` +
        `(${lat.received}/${paced.measured}, pacer lag p99 ${paced.pacerLag.p99} ms); other load ${r.noise.otherCores} cores`,
    );
    return r;
  } finally {
    await clients.call('closeAll', {}, 10_000).catch(() => undefined);
    await clients.stop();
    await server.call('close', {}, 10_000).catch(() => undefined);
    await server.stop();
  }
}

const results = { ws: [], stomp: [], prev: [] };
const kinds = previous?.dist ? ['ws', 'stomp', 'prev'] : ['ws', 'stomp'];
for (let r = 0; r < ROUNDS; r++) {
  // Alternate the order so drift on a shared machine hits every kind alike.
  const order = r % 2 === 0 ? kinds : [...kinds].reverse();
  for (const kind of order) {
    if (ONLY && ONLY !== kind) continue;
    results[kind].push(await runKind(kind));
  }
}

/** Median over the rounds of one figure. */
const med = (kind, f) => {
  const v = results[kind].map(f).sort((x, y) => x - y);
  if (v.length === 0) return undefined;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const complete = (x) => x.flatout.received === x.flatout.sent && x.flatout.dup === 0 && x.flatout.misrouted === 0 && x.paced.received === x.paced.measured && x.paced.dup === 0 && x.paced.misrouted === 0;
const rows = [];
if (results.stomp.length && results.ws.length) {
  const row = (metric, unit, f, extra = {}) => {
    const value = round(med('stomp', f), 3);
    const baseline = round(med('ws', f), 3);
    return { metric, value, baseline, unit, ratio: round(value / baseline, 2), ...extra };
  };
  const thr = row('flat-out delivery (100 subscribers, 128 B)', 'msg/s', (x) => x.flatout.msgPerSec);
  thr.target = `≥ ${TARGET_RATIO}× bare ws`;
  thr.met = thr.ratio >= TARGET_RATIO && results.stomp.every(complete);
  const p99 = row(`latency p99 at ${RATE} msg/s`, 'ms', (x) => x.paced.latencyMs.p99);
  p99.target = `≤ ${TARGET_P99_MS} ms`;
  p99.met = p99.value <= TARGET_P99_MS && results.stomp.every(complete);
  rows.push(
    thr,
    row(`latency p50 at ${RATE} msg/s`, 'ms', (x) => x.paced.latencyMs.p50),
    p99,
    row(`latency p99.9 at ${RATE} msg/s`, 'ms', (x) => x.paced.latencyMs.p999),
    row('server CPU per message (flat-out)', 'µs', (x) => x.flatout.serverCpuUsPerMsg),
    row('flat-out bound from CPU time per message (estimate)', 'msg/s', (x) => x.flatout.cpuBoundMsgPerSec),
  );
}
if (results.stomp.length && results.prev.length) {
  const vsPrev = (metric, unit, f) => {
    const value = round(med('stomp', f), 3);
    const baseline = round(med('prev', f), 3);
    return { metric: `${metric} vs previous version ${previous.sha.slice(0, 7)}`, value, baseline, unit, ratio: round(value / baseline, 2) };
  };
  rows.push(
    vsPrev('flat-out delivery', 'msg/s', (x) => x.flatout.msgPerSec),
    vsPrev(`latency p99 at ${RATE} msg/s`, 'ms', (x) => x.paced.latencyMs.p99),
    vsPrev('server CPU per message (flat-out)', 'µs', (x) => x.flatout.serverCpuUsPerMsg),
  );
}
const all = [...results.ws, ...results.stomp, ...results.prev];
printSummary({
  bench: 'local-delivery',
  noise: { otherCores: Math.max(0, ...all.map((r) => r.noise.otherCores ?? 0)) },
  rounds: ROUNDS,
  title: `Local delivery: 100 subscribers on /user/queue/bench, ${N} × 128 B flat-out, ${RATE} msg/s paced for ${SECONDS} s; baseline bare ws${ROUNDS > 1 ? `; medians of ${ROUNDS} rounds` : ''}`,
  publisher: 'server-side broker.sendToUser() in the server process (baseline: Map lookup + ws.send)',
  rows,
  previous: previous ? { ref: PREVIOUS, sha: previous.sha, skipped: previous.reason } : null,
  details: results,
});
