// Child process that holds the benchmark's client connections, so their
// parsing does not run on the server's event loop. Raw `ws` clients speak
// just enough STOMP (kind "stomp") or the baseline's HELLO/BYE (kind "ws").
//
// MESSAGE handling is deliberately minimal and the same cost for both kinds:
// find the body (for STOMP, after the blank line), read "<phase>|<seq>|<µs>|".
import WebSocket from 'ws';
import { emit, serveRole } from './ipc.js';
import { progressTracker } from './progress.js';
import { cpuSince, latencyHistogram, nowUs, sleep, summarize } from './util.js';

const LFLF = Buffer.from('\n\n');
const sockets = [];

// Per-phase receive state (phases: U, T flat-out; W, L paced).
const phases = new Map();
let ackEvery = 0;

function phaseState(p) {
  let s = phases.get(p);
  if (!s) {
    s = { received: 0, dup: 0, misrouted: 0, tFirst: 0, tLast: 0, seen: new Uint8Array(1 << 18), hist: p === 'L' ? latencyHistogram() : null };
    phases.set(p, s);
  }
  return s;
}

/** One delivered message for the socket of user index `idx`; `start` is where the body begins. */
function onBody(data, start, idx, nUsers) {
  const now = nowUs();
  const phase = String.fromCharCode(data[start]);
  const text = data.toString('latin1', start + 2, Math.min(data.length, start + 48));
  const bar = text.indexOf('|');
  const seq = Number(text.slice(0, bar));
  const s = phaseState(phase);
  if (seq >= s.seen.length) {
    const bigger = new Uint8Array(Math.max(seq + 1, s.seen.length * 2));
    bigger.set(s.seen);
    s.seen = bigger;
  }
  if (s.seen[seq]) s.dup++;
  s.seen[seq] = 1;
  if (seq % nUsers !== idx) s.misrouted++;
  if (s.received === 0) s.tFirst = now;
  s.tLast = now;
  s.received++;
  if (s.hist) {
    const sent = Number(text.slice(bar + 1, text.indexOf('|', bar + 1)));
    s.hist.recordValue(Math.max(1, Math.round(now - sent)));
  }
  if (ackEvery > 0 && (phase === 'U' || phase === 'T') && s.received % ackEvery === 0) emit({ type: 'progress', phase, received: s.received });
}

const url = (port) => `ws://127.0.0.1:${port}/ws`;

/** Open one session: STOMP CONNECT (+ SUBSCRIBE with a receipt), or HELLO. Resolves with the socket. */
function openSession(kind, port, user, idx, nUsers, subscribe) {
  return new Promise((resolve, reject) => {
    const ws = kind === 'stomp' ? new WebSocket(url(port), ['v12.stomp'], { perMessageDeflate: false }) : new WebSocket(url(port), { perMessageDeflate: false });
    let ready = false;
    ws.on('error', (err) => {
      if (!ready) reject(err);
    });
    ws.on('close', () => {
      if (!ready) reject(new Error(`session of ${user} closed before it was ready`));
    });
    ws.on('open', () => {
      if (kind === 'stomp') ws.send(`CONNECT\naccept-version:1.2\nhost:localhost\nlogin:${user}\nheart-beat:0,0\n\n\0`);
      else ws.send(`HELLO ${user}`);
    });
    const done = () => {
      ready = true;
      ws.removeAllListeners('message');
      if (kind === 'stomp')
        ws.on('message', (data) => {
          if (data[0] === 0x4d /* MESSAGE */) onBody(data, data.indexOf(LFLF) + 2, idx, nUsers);
          else if (data.length > 1) process.stderr.write(`client ${user}: unexpected frame ${data.toString().split('\n')[0]}\n`);
        });
      else ws.on('message', (data) => onBody(data, 0, idx, nUsers));
      resolve(ws);
    };
    ws.on('message', (data) => {
      const s = data.toString();
      if (kind !== 'stomp') return s === 'OK' ? done() : reject(new Error(`unexpected ${s}`));
      if (s.startsWith('CONNECTED')) {
        if (!subscribe) return done();
        ws.send(`SUBSCRIBE\nid:0\ndestination:/user/queue/bench\nreceipt:r0\n\n\0`);
      } else if (s.startsWith('RECEIPT')) done();
      else reject(new Error(`unexpected frame: ${s.slice(0, 200)}`));
    });
  });
}

/** Run `fn(i)` for i in [from, to) with at most `concurrency` at once. */
async function pool(from, to, concurrency, fn) {
  let next = from;
  const worker = async () => {
    while (next < to) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, to - from) }, worker));
}

/** One full cycle: open, CONNECT, CONNECTED, DISCONNECT (receipt), RECEIPT, server closes. Baseline: open, HELLO, OK, BYE, server closes. */
function cycle(kind, port, user) {
  return new Promise((resolve, reject) => {
    const ws = kind === 'stomp' ? new WebSocket(url(port), ['v12.stomp'], { perMessageDeflate: false }) : new WebSocket(url(port), { perMessageDeflate: false });
    ws.on('error', reject);
    ws.on('close', () => resolve());
    ws.on('open', () => ws.send(kind === 'stomp' ? `CONNECT\naccept-version:1.2\nhost:localhost\nlogin:${user}\nheart-beat:0,0\n\n\0` : `HELLO ${user}`));
    ws.on('message', (data) => {
      const s = data.toString();
      if (s.startsWith('CONNECTED')) ws.send('DISCONNECT\nreceipt:bye\n\n\0');
      else if (s === 'OK') ws.send('BYE');
      else if (s.startsWith('RECEIPT')) return; // the server closes next
      else reject(new Error(`unexpected: ${s.slice(0, 200)}`));
    });
  });
}

// ---------------------------------------------------------------------------
// A STOMP client as the publisher (the cross-node benchmark's "client" scenario):
// one session SENDs to /user/<name>/queue/bench, as a browser or a backend on
// STOMP would. Its flow control is the receivers' progress, relayed by the
// orchestrator as `ack` events.

let publisher = null;
const progress = progressTracker();
const BODY_BYTES = 128;

function sendFrame(user, phase, seq) {
  const body = `${phase}|${seq}|${nowUs().toFixed(1)}|`.padEnd(BODY_BYTES, 'x');
  return `SEND\ndestination:/user/${user}/queue/bench\ncontent-length:${BODY_BYTES}\n\n${body}\0`;
}

serveRole({
  onEvent: progress.onEvent,

  /** Open the publishing session (no subscription) on `port` as `user`. */
  async openPublisher({ port, user }) {
    publisher = await openSession('stomp', port, user, 0, 1, false);
    publisher.on('message', (data) => {
      if (data[0] === 0x45 /* ERROR */) process.stderr.write(`publisher: ${data.toString().split('\n').slice(0, 4).join(' | ')}\n`);
    });
    return true;
  },

  /**
   * Flat out: SEND `n` messages round-robin over `users`, `burst` frames per
   * WebSocket message, with at most `window` not yet counted by the receivers.
   * Resolves once all were written to the socket (or maxMs ran out).
   */
  publishFlatout({ users, phase, n: wanted, window, burst = 50, maxMs = Infinity }) {
    const cpu0 = process.cpuUsage();
    const t0 = nowUs();
    let n = wanted;
    let sent = 0;
    let windowStalls = 0;
    return new Promise((resolve) => {
      const finish = () => resolve({ sent, truncated: sent < wanted, t0, tPublished: nowUs(), windowStalls, cpu: cpuSince(cpu0) });
      const pump = () => {
        progress.next(null);
        if (nowUs() - t0 > maxMs * 1000 && sent < n) n = sent;
        while (sent < n) {
          if (sent - progress.received(phase) >= window) {
            windowStalls++;
            progress.next(pump);
            return;
          }
          // Back-pressure from our own socket: let it drain first.
          if (publisher.bufferedAmount > 1 << 20) return setTimeout(pump, 1);
          let frames = '';
          for (let b = 0; b < burst && sent < n; b++, sent++) frames += sendFrame(users[sent % users.length], phase, sent);
          publisher.send(frames);
          if (sent % (burst * 20) === 0) return setImmediate(pump);
        }
        finish();
      };
      pump();
    });
  },

  async closePublisher() {
    if (publisher && publisher.readyState === WebSocket.OPEN) publisher.terminate();
    publisher = null;
    return true;
  },

  /** Open sessions for users[from..to) (index = position in `users`, the publisher's round-robin index). */
  async connect({ kind, port, users, from = 0, to = users.length, subscribe = true, concurrency = 50 }) {
    const t0 = nowUs();
    await pool(from, to, concurrency, async (i) => {
      sockets[i] = await openSession(kind, port, users[i], i, users.length, subscribe);
    });
    return { open: sockets.filter((s) => s && s.readyState === WebSocket.OPEN).length, ms: (nowUs() - t0) / 1000 };
  },

  /** Progress events every `every` flat-out messages (the publisher's window). */
  progress({ every }) {
    ackEvery = every;
    return true;
  },

  /** Wait until `expect` messages of `phase` arrived (or timeoutMs), then report them. */
  async collect({ phase, expect, timeoutMs = 30_000 }) {
    const cpu0 = process.cpuUsage();
    const t0 = Date.now();
    const s = phaseState(phase);
    while (s.received < expect && Date.now() - t0 < timeoutMs) await sleep(5);
    // A few more ms for anything beyond the expected count (duplicates).
    await sleep(50);
    return {
      received: s.received,
      dup: s.dup,
      misrouted: s.misrouted,
      tFirst: s.tFirst,
      tLast: s.tLast,
      latency: s.hist ? summarize(s.hist) : null,
      waitCpu: cpuSince(cpu0),
    };
  },

  cpu() {
    return process.cpuUsage();
  },

  async cycles({ kind, port, n, concurrency, prefix = 'c' }) {
    const hist = latencyHistogram();
    const cpu0 = process.cpuUsage();
    let failed = 0;
    const t0 = nowUs();
    await pool(0, n, concurrency, async (i) => {
      const c0 = nowUs();
      try {
        await cycle(kind, port, `${prefix}${i}`);
        hist.recordValue(Math.max(1, Math.round(nowUs() - c0)));
      } catch {
        failed++;
      }
    });
    const ms = (nowUs() - t0) / 1000;
    return { n, failed, ms, perSecond: ((n - failed) / ms) * 1000, cycle: summarize(hist), cpu: cpuSince(cpu0) };
  },

  async closeAll() {
    await Promise.all(
      sockets.map(
        (ws) =>
          ws &&
          new Promise((resolve) => {
            if (ws.readyState === WebSocket.CLOSED) return resolve();
            ws.once('close', resolve);
            ws.terminate();
          }),
      ),
    );
    sockets.length = 0;
    return true;
  },
});
