#!/usr/bin/env node
// Runs every benchmark in its own process, one after another, collects each
// one's summary (the last stdout line, one JSON object), writes
// bench/results/latest.json and prints a markdown table for the README.
//
//   npm run bench                      # build, then all benchmarks
//   node bench/run.js [name ...]       # some of them (dist/ must be built)
//   node bench/run.js cross-node -- --rounds 3   # arguments after -- go to the benchmarks
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpuSince, machine, machineBusyMs, round } from './lib/util.js';

const BENCHES = ['codec', 'local-delivery', 'idle-memory', 'connects', 'cross-node'];
/**
 * local-delivery and cross-node also measure an earlier version in the same run
 * (built from git): BENCH_PREVIOUS, by default 9f7d84a, the version before
 * the hostile-client limits and the architecture rework.
 */
const PREVIOUS = process.env.BENCH_PREVIOUS ?? '9f7d84a';
const ARGS = { 'cross-node': ['--previous', PREVIOUS], 'local-delivery': ['--previous', PREVIOUS] };
const TIMEOUTS_MS = { 'cross-node': 360_000, 'local-delivery': 300_000 };
const TIMEOUT_MS = 180_000;
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
// `node bench/run.js cross-node -- --rounds 3`: arguments after `--` go to every selected benchmark.
const argv = process.argv.slice(2);
const dashdash = argv.indexOf('--');
const extraArgs = dashdash >= 0 ? argv.slice(dashdash + 1) : [];
const names = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
const selected = names.length ? names : BENCHES;
const roundsArg = extraArgs.indexOf('--rounds');
const timeoutScale = roundsArg >= 0 ? Math.max(1, Number(extraArgs[roundsArg + 1]) || 1) : 1;
for (const name of selected) if (!BENCHES.includes(name)) throw new Error(`unknown benchmark "${name}" (have: ${BENCHES.join(', ')})`);

/** CPU time (ms) of our finished children and their waited-for descendants (/proc/self/stat cutime + cstime). */
function childrenCpuMs() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[13]) + Number(f[14])) / 100) * 1000; // fields 16, 17 of proc(5), USER_HZ = 100
  } catch {
    return null;
  }
}

/** Run one benchmark; resolve with its summary object (or an error record). */
function runOne(name) {
  const file = here(`./${name}.js`);
  if (!existsSync(file)) return Promise.resolve({ bench: name, error: `bench/${name}.js does not exist yet` });
  return new Promise((resolve) => {
    const t0 = Date.now();
    const busy0 = machineBusyMs();
    const kids0 = childrenCpuMs();
    const own0 = process.cpuUsage();
    const timeoutMs = (TIMEOUTS_MS[name] ?? TIMEOUT_MS) * timeoutScale;
    const own = timeoutScale > 1 && name === 'cross-node' ? ['--timeout', String(timeoutMs - 10_000)] : [];
    const child = spawn(process.execPath, [file, ...(ARGS[name] ?? []), ...own, ...extraArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let pendingLine = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out += chunk;
      // Echo the benchmark's own report lines (not its JSON summary) as they come.
      const lines = (pendingLine + chunk).split('\n');
      pendingLine = lines.pop();
      for (const l of lines) if (!l.startsWith('{')) process.stderr.write(l + '\n');
    });
    const timer = setTimeout(() => {
      process.stderr.write(`${name}: still running after ${timeoutMs} ms, killing pid ${child.pid}\n`);
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = Math.round((Date.now() - t0) / 100) / 10;
      // Cores' worth of CPU that processes outside this benchmark used while it ran.
      const busy1 = machineBusyMs();
      const kids1 = childrenCpuMs();
      const otherCores =
        busy0 === null || kids0 === null ? null : round(Math.max(0, (busy1 - busy0 - (kids1 - kids0) - cpuSince(own0).totalMs) / (Date.now() - t0)), 2);
      const last = out.trim().split('\n').filter((l) => l.trim().startsWith('{')).pop();
      let summary = null;
      try {
        summary = last ? JSON.parse(last) : null;
      } catch {
        summary = null;
      }
      if (code !== 0 || !summary) resolve({ bench: name, error: `exited with ${code ?? signal}${summary ? '' : ', no JSON summary on stdout'}`, seconds, otherCores, summary });
      else resolve({ ...summary, seconds, otherCores });
    });
  });
}

function gitCommit() {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: here('..'), encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: here('..'), encoding: 'utf8' }).trim() !== '';
    return dirty ? `${commit}+uncommitted src` : commit;
  } catch {
    return 'unknown';
  }
}

const fmt = (v) => {
  if (v === undefined || v === null) return '—';
  if (typeof v === 'number') return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(v);
  return String(v);
};

/**
 * The rows of a summary. Benchmarks print { rows: [...] }; codec.js prints its
 * own shape ({ parse: {workload: {ours_fps, stompjs_fps, ratio}}, encode: ...,
 * min_parse_ratio, target_parse_ratio, pass }), turned into rows here.
 */
function rowsOf(s) {
  if (Array.isArray(s.rows)) return s.rows;
  const rows = [];
  const target = s.target_parse_ratio;
  for (const [op, table] of [['parse', s.parse], ['encode', s.encode]]) {
    if (!table || typeof table !== 'object') continue;
    for (const [workload, r] of Object.entries(table)) {
      if (typeof r?.ours_fps !== 'number') continue;
      rows.push({ metric: `${op} ${workload}`, value: r.ours_fps, baseline: r.stompjs_fps, unit: 'frames/s', ratio: r.ratio });
    }
  }
  if (typeof s.min_parse_ratio === 'number')
    rows.push({
      metric: 'parse vs @stomp/stompjs, worst workload',
      value: s.min_parse_ratio,
      unit: '×',
      target: target !== undefined ? `≥ ${target}× stompjs` : undefined,
      met: typeof s.pass === 'boolean' ? s.pass : target !== undefined ? s.min_parse_ratio >= target : undefined,
    });
  return rows;
}

/** Other load (cores) above which a CPU-sensitive benchmark's figures are marked as skewed. */
const NOISY_CORES = 0.25;
// The larger of run.js's own measure (whole benchmark) and the benchmark's (per server kind);
// a benchmark that accounts for its own detached services (cross-node: its Kafka broker is
// not our child, so run.js would count it as other load) reports `noise.exact` and is taken
// at its word.
const otherCores = (r) => (r.noise?.exact ? r.noise.otherCores ?? 0 : Math.max(r.otherCores ?? 0, r.noise?.otherCores ?? 0));

function table(results) {
  const lines = [
    '| Benchmark | Metric | stomp-cluster | Baseline | Ratio | Target | Met |',
    '| --- | --- | ---: | ---: | ---: | --- | :---: |',
  ];
  for (const r of results) {
    if (r.error && !r.summary) {
      lines.push(`| ${r.bench} | _${r.error}_ | | | | | |`);
      continue;
    }
    const s = r.summary ?? r;
    const rows = rowsOf(s);
    if (rows.length === 0) lines.push(`| ${r.bench} | _no rows in its summary; see latest.json_ | | | | | |`);
    for (const row of rows) {
      const unit = row.unit ? ` ${row.unit}` : '';
      // ⚠: the verdict came from a run that other load on the machine skewed (see the note below the table).
      const shaky = s.cpuSensitive !== false && otherCores(r) > NOISY_CORES ? ' ⚠' : '';
      const met = row.met === undefined ? '' : (row.met ? 'yes' : '**no**') + shaky;
      lines.push(
        `| ${r.bench} | ${row.metric} | ${fmt(row.value)}${unit} | ${row.baseline === undefined ? '—' : fmt(row.baseline) + unit} | ${row.ratio === undefined ? '—' : row.ratio + '×'} | ${row.target ?? ''} | ${met} |`,
      );
    }
  }
  return lines.join('\n');
}

const results = [];
for (const name of selected) {
  process.stderr.write(`\n== ${name}\n`);
  const r = await runOne(name);
  if (r.error) process.stderr.write(`${name}: ${r.error}\n`);
  results.push(r);
}

const m = machine();
const noisy = results.filter((r) => (r.summary ?? r).cpuSensitive !== false && otherCores(r) > NOISY_CORES).map((r) => `${r.bench} (${otherCores(r)} cores)`);
// A partial run (some benchmarks named) replaces only those in latest.json; each result keeps its own `at`.
let previous = {};
try {
  previous = JSON.parse(readFileSync(here('./results/latest.json'), 'utf8')).results ?? {};
} catch {
  previous = {};
}
const report = {
  at: new Date().toISOString(),
  commit: gitCommit(),
  machine: m,
  results: { ...previous, ...Object.fromEntries(results.map((r) => [r.bench, { ...r, commit: gitCommit() }])) },
};
mkdirSync(here('./results'), { recursive: true });
writeFileSync(here('./results/latest.json'), JSON.stringify(report, null, 2) + '\n');

const md = [
  `Measured ${report.at.slice(0, 10)} on ${m.cpus} × ${m.cpuModel}, ${Math.round(m.memoryMB / 1024)} GB, Node ${m.node}, ${m.platform} (commit ${report.commit}); ` +
    'servers and clients in separate processes on the same machine, loopback only.',
  '',
  table(results),
  '',
  ...results.filter((r) => r.title).map((r) => `- **${r.bench}**: ${r.title}.`),
  '',
  `CPU used by other processes on the machine, in cores (of ${m.cpus}), during each benchmark: ${results.map((r) => `${r.bench} ${otherCores(r)}`).join(', ')}.`,
];
if (noisy.length)
  md.push(
    '',
    `> ⚠ Other processes used CPU during ${noisy.join(', ')}. Rates and latencies from those runs are skewed, and not always against ` +
      'the broker: the broker and the baseline run one after the other, so they can meet different load. Trust the CPU-per-message ' +
      'rows more, and rerun on a quiet machine (`node bench/local-delivery.js --rounds 3` gives medians).',
  );
process.stdout.write('\n' + md.join('\n') + '\n');
process.stderr.write(`\nwrote bench/results/latest.json\n`);
process.exitCode = results.some((r) => r.error) ? 1 : 0;
