#!/usr/bin/env node
// Connects per second: N cycles, `concurrency` at a time, of WebSocket open +
// CONNECT + CONNECTED + DISCONNECT (receipt) + RECEIPT + server close.
// Baseline: a bare ws server, open + HELLO + OK + BYE + server close.
// Server and clients run in separate child processes.
//
//   node bench/connects.js [--n 2000] [--concurrency 50] [--only stomp|ws]
import { fileURLToPath } from 'node:url';
import { spawnRole } from './lib/ipc.js';
import { NoiseMeter, arg, deadline, log, printSummary, round } from './lib/util.js';

const N = Number(arg('n', 2_000));
const CONCURRENCY = Number(arg('concurrency', 50));
const WARM = 300;
const ONLY = arg('only', null);
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
deadline(120_000, 'connects');

async function runKind(kind) {
  const noise = new NoiseMeter();
  const server = spawnRole(here('./lib/server-role.js'), { name: `${kind} server` });
  const clients = spawnRole(here('./lib/client-role.js'), { name: `${kind} clients` });
  try {
    const { port } = await server.call('start', { kind });
    await clients.call('cycles', { kind, port, n: WARM, concurrency: CONCURRENCY, prefix: 'w' }, 60_000);
    const s0 = await server.call('cpuUsage');
    const r = await clients.call('cycles', { kind, port, n: N, concurrency: CONCURRENCY }, 100_000);
    const s1 = await server.call('cpuUsage');
    const serverCpuMs = (s1.user - s0.user + s1.system - s0.system) / 1000;
    const c1 = await clients.call('cpu');
    const out = {
      kind,
      n: N,
      failed: r.failed,
      seconds: round(r.ms / 1000, 3),
      perSecond: Math.round(r.perSecond),
      cycleMs: r.cycle,
      serverCpuMsPerConnect: round(serverCpuMs / N, 3),
      serverCpuShare: round(serverCpuMs / r.ms, 2),
      clientCpuShare: round(r.cpu.totalMs / r.ms, 2),
      noise: noise.stop((s1.user + s1.system + c1.user + c1.system) / 1000),
    };
    log(
      `${kind.padEnd(5)} ${out.perSecond} cycles/s (${N - r.failed}/${N} in ${out.seconds}s, cycle p50 ${r.cycle.p50} p99 ${r.cycle.p99} ms, ` +
        `server ${out.serverCpuMsPerConnect} ms CPU/cycle, cpu server ${out.serverCpuShare} clients ${out.clientCpuShare}); other load ${out.noise.otherCores} cores`,
    );
    return out;
  } finally {
    await clients.stop();
    await server.call('close', {}, 10_000).catch(() => undefined);
    await server.stop();
  }
}

const results = {};
for (const kind of ['ws', 'stomp']) {
  if (ONLY && ONLY !== kind) continue;
  results[kind] = await runKind(kind);
}
const s = results.stomp;
const b = results.ws;
const rows = [];
if (s)
  rows.push(
    {
      metric: `connects per second (open + CONNECT + DISCONNECT, ${CONCURRENCY} at a time)`,
      value: s.perSecond,
      baseline: b?.perSecond,
      unit: 'cycles/s',
      ratio: b ? round(s.perSecond / b.perSecond, 2) : undefined,
    },
    {
      metric: 'server CPU per connect cycle',
      value: s.serverCpuMsPerConnect,
      baseline: b?.serverCpuMsPerConnect,
      unit: 'ms',
      ratio: b ? round(s.serverCpuMsPerConnect / b.serverCpuMsPerConnect, 2) : undefined,
    },
  );
printSummary({
  bench: 'connects',
  noise: { otherCores: Math.max(...Object.values(results).map((r) => r.noise.otherCores ?? 0)) },
  title: `Connect cycles: ${N} × (WebSocket open + CONNECT/CONNECTED + DISCONNECT/RECEIPT + close), ${CONCURRENCY} concurrent; baseline bare ws open + HELLO/OK + BYE + close`,
  rows,
  details: results,
});
