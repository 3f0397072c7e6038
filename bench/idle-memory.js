#!/usr/bin/env node
// Memory per 1,000 idle sessions, measured inside the server's process.
// The server runs in a child with --expose-gc; after a full GC it reports
// process.memoryUsage(). Clients (another child) open sessions: STOMP
// CONNECT (heart-beats 0,0) + one SUBSCRIBE to /user/queue/bench each, confirmed
// by a RECEIPT; baseline: a bare ws server holding Map<user, socket> (HELLO/OK).
// Figures: (after N sessions - before any session) / N × 1000, for N = 1,000
// and 5,000, and the marginal cost between the two.
//
//   node bench/idle-memory.js [--only stomp|ws]
import { fileURLToPath } from 'node:url';
import { spawnRole } from './lib/ipc.js';
import { arg, deadline, log, printSummary, round, sleep } from './lib/util.js';

const ONLY = arg('only', null);
const STEPS = [1_000, 5_000];
const WARM = 20; // sessions opened and closed before the baseline, so lazily loaded code is not charged to sessions
const TARGET_MB = 12;
const MB = 1024 * 1024;
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
deadline(150_000, 'idle-memory');

const perK = (after, before, n, field) => round(((after[field] - before[field]) / n) * 1000 / MB, 2);

async function runKind(kind) {
  const server = spawnRole(here('./lib/server-role.js'), { execArgv: ['--expose-gc'], name: `${kind} server` });
  const clients = spawnRole(here('./lib/client-role.js'), { name: `${kind} clients` });
  try {
    const { port } = await server.call('start', { kind });
    const max = STEPS[STEPS.length - 1];
    const users = Array.from({ length: max }, (_, i) => `u${i}`);
    // Warm-up: open and close a few sessions.
    const warmUsers = Array.from({ length: WARM }, (_, i) => `warm${i}`);
    await clients.call('connect', { kind, port, users: warmUsers, subscribe: true });
    await clients.call('closeAll');
    await sleep(300);
    const base = await server.call('memory');
    if (!base.gc) throw new Error('global.gc is missing: the server must run with --expose-gc');
    const steps = [];
    let from = 0;
    for (const n of STEPS) {
      await clients.call('connect', { kind, port, users, from, to: n, subscribe: true, concurrency: 50 }, 60_000);
      from = n;
      await sleep(500);
      const sessions = await server.call('sessions');
      if (sessions !== n) throw new Error(`${kind}: the server holds ${sessions} sessions, expected ${n}`);
      const m = await server.call('memory');
      steps.push({
        sessions: n,
        rssMB: round(m.rss / MB, 1),
        heapUsedMB: round(m.heapUsed / MB, 1),
        heapTotalMB: round(m.heapTotal / MB, 1),
        newSpaceMB: round(m.newSpace / MB, 1),
        perThousand: {
          rssMB: perK(m, base, n, 'rss'),
          heapUsedMB: perK(m, base, n, 'heapUsed'),
          externalMB: perK(m, base, n, 'external'),
        },
        mem: m,
      });
    }
    const [a, b] = steps;
    const marginal = {
      rssMB: round(((b.mem.rss - a.mem.rss) / (b.sessions - a.sessions)) * 1000 / MB, 2),
      heapUsedMB: round(((b.mem.heapUsed - a.mem.heapUsed) / (b.sessions - a.sessions)) * 1000 / MB, 2),
    };
    const r = {
      kind,
      baseline: { rssMB: round(base.rss / MB, 1), heapUsedMB: round(base.heapUsed / MB, 1), heapTotalMB: round(base.heapTotal / MB, 1), newSpaceMB: round(base.newSpace / MB, 1) },
      steps,
      marginal,
    };
    for (const s of steps)
      log(
        `${kind.padEnd(5)} ${String(s.sessions).padStart(5)} sessions: rss ${s.rssMB} MB, heap ${s.heapUsedMB}/${s.heapTotalMB} MB (new space ${s.newSpaceMB}); ` +
          `per 1,000: rss ${s.perThousand.rssMB} MB, heap ${s.perThousand.heapUsedMB} MB`,
      );
    log(`${kind.padEnd(5)} marginal 1,000 -> 5,000: rss ${marginal.rssMB} MB, heap ${marginal.heapUsedMB} MB per 1,000`);
    for (const s of steps) delete s.mem;
    return r;
  } finally {
    await clients.call('closeAll', {}, 20_000).catch(() => undefined);
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

const rows = [];
const s = results.stomp;
const b = results.ws;
if (s) {
  for (const [i, step] of s.steps.entries()) {
    rows.push({
      metric: `memory per 1,000 idle sessions (RSS, at ${step.sessions.toLocaleString('en-US')})`,
      value: step.perThousand.rssMB,
      baseline: b?.steps[i]?.perThousand.rssMB,
      unit: 'MB',
      ratio: b ? round(step.perThousand.rssMB / b.steps[i].perThousand.rssMB, 2) : undefined,
      target: `≤ ${TARGET_MB} MB`,
      // Judged on RSS, the whole process as the OS sees it (the JS heap alone is the next row).
      met: step.perThousand.rssMB <= TARGET_MB,
    });
  }
  rows.push({
    metric: 'memory per 1,000 idle sessions (JS heap, at 5,000)',
    value: s.steps[s.steps.length - 1].perThousand.heapUsedMB,
    baseline: b?.steps[b.steps.length - 1]?.perThousand.heapUsedMB,
    unit: 'MB',
  });
}
printSummary({
  bench: 'idle-memory',
  // Memory does not depend on how busy the CPU is: no skew warning from run.js.
  cpuSensitive: false,
  title: 'Idle sessions (CONNECT + 1 SUBSCRIBE, heart-beats off), measured in the server process after GC; baseline bare ws',
  rows,
  details: results,
});
