// Shared helpers: a monotonic clock that two processes agree on, latency
// histograms, CPU accounting and the one-line JSON summary run.js collects.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import * as hdr from 'hdr-histogram-js';

/** The value after `--name` on the command line (a string), or `def`. */
export function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

/**
 * Microseconds on CLOCK_MONOTONIC (process.hrtime). Every process on the
 * machine reads the same clock, so a timestamp written by the publisher's
 * process can be subtracted from a receive time in the clients' process.
 */
export function nowUs() {
  const [s, ns] = process.hrtime();
  return s * 1e6 + ns / 1e3;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const tick = () => new Promise((r) => setImmediate(r));

/** Latency histogram in microseconds, 1 µs .. 60 s, 3 significant digits. */
export function latencyHistogram() {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

/** p50/p90/p99/p99.9/max of a µs histogram, in milliseconds. */
export function summarize(h) {
  const ms = (us) => Math.round(us) / 1000;
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}

/** CPU time used by this process since `prev` (process.cpuUsage()), in ms. */
export function cpuSince(prev) {
  const d = process.cpuUsage(prev);
  return { userMs: d.user / 1000, systemMs: d.system / 1000, totalMs: (d.user + d.system) / 1000 };
}

export function round(x, digits = 2) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function machine() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryMB: Math.round(os.totalmem() / 1024 / 1024),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

/** Human lines go to stderr; stdout's last line is the JSON summary. */
export function log(...args) {
  process.stderr.write(args.join(' ') + '\n');
}

/**
 * Print the summary every benchmark ends with: one line of JSON on stdout,
 * the last line. Shape (run.js relies on it):
 *   { bench, title, rows: [{ metric, value, unit, baseline?, ratio?, target?, met? }], details }
 */
export function printSummary(summary) {
  process.stdout.write(JSON.stringify({ ...summary, machine: machine(), at: new Date().toISOString() }) + '\n');
}

/** Run `fn` with the process killed after `ms` (a benchmark must end on its own). */
export function deadline(ms, name) {
  const t = setTimeout(() => {
    log(`${name}: gave up after ${ms} ms`);
    process.exit(2);
  }, ms);
  t.unref();
  return t;
}

/** Busy CPU time of the whole machine so far (all cores, ms), from /proc/stat; null where unavailable. */
export function machineBusyMs() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const [, ...v] = line.trim().split(/\s+/).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = v;
    const hz = 100; // USER_HZ
    return ((user + nice + system + irq + softirq + steal) / hz) * 1000;
  } catch {
    return null;
  }
}

/**
 * How busy the rest of the machine was during a measurement, in cores:
 * (machine busy time - the benchmark's own processes' CPU time) / wall time.
 * Other work on a 2-core machine (builds, tests, Kafka) skews throughput and
 * latency; the summary carries this so a noisy run is visible.
 */
export class NoiseMeter {
  constructor() {
    this.busy0 = machineBusyMs();
    this.t0 = nowUs();
    this.own0 = process.cpuUsage();
    this.load0 = os.loadavg()[0];
  }
  /** childCpuMs: CPU used by the child processes during the window (ms). */
  stop(childCpuMs) {
    const busy1 = machineBusyMs();
    const wallMs = (nowUs() - this.t0) / 1000;
    const ownMs = cpuSince(this.own0).totalMs + childCpuMs;
    const other = this.busy0 === null ? null : (busy1 - this.busy0 - ownMs) / wallMs;
    return { otherCores: other === null ? null : round(Math.max(0, other), 2), loadavg1: round(os.loadavg()[0], 2), loadavg1AtStart: round(this.load0, 2) };
  }
}

/**
 * Open-loop pacer: `rate` messages a second for warmupMs (not measured), then
 * measureMs. A 1 ms timer calls `publishOne(i, measured)` for whatever is due,
 * without waiting for it. The pacer's own lateness against the schedule is
 * recorded, so a stalled event loop shows rather than hiding as fewer slow
 * messages (coordinated omission). Resolves once the last one was published,
 * with `measureStart`: the process's CPU usage when the measured part began.
 */
export function pace({ rate, warmupMs, measureMs }, publishOne) {
  const interval = 1e6 / rate;
  const warmN = Math.round((rate * warmupMs) / 1000);
  const total = warmN + Math.round((rate * measureMs) / 1000);
  const lag = latencyHistogram();
  let measureStart = null;
  let i = 0;
  const start = nowUs();
  return new Promise((resolve) => {
    const tickFn = () => {
      const now = nowUs();
      const due = Math.min(total, Math.floor((now - start) / interval) + 1);
      if (i < due && i >= warmN) lag.recordValue(Math.max(1, Math.round(now - (start + i * interval))));
      while (i < due) {
        if (i === warmN) measureStart = process.cpuUsage();
        publishOne(i, i >= warmN);
        i++;
      }
      if (i < total) setTimeout(tickFn, 1);
      else {
        const elapsed = nowUs() - start;
        resolve({ warm: warmN, measured: total - warmN, achievedRate: Math.round((total / elapsed) * 1e6), pacerLag: summarize(lag), measureStart });
      }
    };
    tickFn();
  });
}
