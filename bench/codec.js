#!/usr/bin/env node
// STOMP codec throughput: our parser and encoder (dist/stomp) against
// @stomp/stompjs 7's own Parser and FrameImpl.marshall on the same frames, in
// the same run (habit 13). Build first: npx tsc -p tsconfig.json
//
// Workloads (all MESSAGE frames as a broker sends them):
//   small/msg   ~8 headers + 128-byte body, one frame per chunk (WebSocket: one frame per message)
//   small/tcp   the same frames as one byte stream cut into 64 KiB chunks (frames span chunks)
//   64k/msg     ~8 headers + 64 KiB body, one frame per chunk
//   mix/tcp     99 small + 1 64 KiB frame, repeated, as a 64 KiB-chunked stream
//
// Fairness notes: our parser returns headers as an object with escapes decoded
// and the body as a Buffer; stompjs's Parser returns raw header pairs (its
// FrameImpl does unescaping later) and is fed ArrayBuffers prepared up front,
// so its numbers leave out work ours includes. Encoders produce the same
// bytes: ours a Buffer, stompjs's marshall a Uint8Array (binary body).
//
//   node bench/codec.js [--seconds 1] [--rounds 3]
import { Parser, FrameImpl } from '@stomp/stompjs';
import { FrameParser, encodeFrame } from '../dist/stomp/index.js';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg('seconds', 1);
const ROUNDS = arg('rounds', 5);
const TARGET_RATIO = 5;

// --- frames -----------------------------------------------------------------

function message(i, body) {
  return {
    command: 'MESSAGE',
    headers: {
      subscription: 'sub-0',
      'message-id': `T_sub-0@@session-abc123@@${i}`,
      destination: '/user/queue/notifications',
      'content-type': 'application/json',
      'x-trace-id': `4bf92f3577b34da6a3ce929d0e0e${String(i).padStart(4, '0')}`,
      timestamp: String(1732670000000 + i),
      priority: '4',
      persistent: 'true',
    },
    body,
  };
}

const small = Buffer.from(JSON.stringify({ user: 'bob', text: 'x'.repeat(90), n: 1 }).padEnd(128, ' '));
const big = Buffer.alloc(64 * 1024, 'y');
const SMALL_FRAMES = Array.from({ length: 1000 }, (_, i) => encodeFrame(message(i, small)));
const BIG_FRAMES = Array.from({ length: 8 }, (_, i) => encodeFrame(message(i, big)));
const MIX_FRAMES = Array.from({ length: 100 }, (_, i) => (i === 50 ? BIG_FRAMES[0] : SMALL_FRAMES[i]));

function chunked(frames, size) {
  const all = Buffer.concat(frames);
  const out = [];
  for (let i = 0; i < all.length; i += size) out.push(Buffer.from(all.subarray(i, i + size)));
  return out;
}
const toArrayBuffer = (b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.length);

const WORKLOADS = [
  { name: 'small/msg', chunks: SMALL_FRAMES, frames: SMALL_FRAMES.length },
  { name: 'small/tcp', chunks: chunked(SMALL_FRAMES, 64 * 1024), frames: SMALL_FRAMES.length },
  { name: '64k/msg', chunks: BIG_FRAMES, frames: BIG_FRAMES.length },
  { name: 'mix/tcp', chunks: chunked(MIX_FRAMES, 64 * 1024), frames: MIX_FRAMES.length },
];
for (const w of WORKLOADS) {
  w.bytes = w.chunks.reduce((n, c) => n + c.length, 0);
  w.arrayBuffers = w.chunks.map(toArrayBuffer);
}

// --- measurement ------------------------------------------------------------

let sink = 0;

/**
 * Run `pass` (which handles `frames` frames of `bytes` bytes) repeatedly for
 * SECONDS. Rates are per second of wall time and per second of process CPU
 * time: on a busy machine the CPU figure is the steadier one, and the ratios
 * use it (the codec is synchronous, so on an idle machine the two agree).
 */
function measure(pass, frames, bytes) {
  const until = process.hrtime.bigint() + BigInt(Math.round(SECONDS * 1e9));
  let passes = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let now = t0;
  while (now < until) {
    pass();
    passes++;
    now = process.hrtime.bigint();
  }
  const c = process.cpuUsage(c0);
  const wall = Number(now - t0) / 1e9;
  const cpu = (c.user + c.system) / 1e6;
  return { fps: (passes * frames) / cpu, mbps: (passes * bytes) / cpu / 1e6, wallFps: (passes * frames) / wall };
}

function ourParsePass(w) {
  let got = 0;
  const p = new FrameParser({
    onFrame: (f) => {
      got++;
      sink += f.body.length + (f.headers['message-id'] ? 1 : 0);
    },
    onError: (e) => {
      throw e;
    },
  });
  return () => {
    got = 0;
    for (const c of w.chunks) p.push(c);
    if (got !== w.frames) throw new Error(`ours parsed ${got} of ${w.frames}`);
  };
}

function stompjsParsePass(w) {
  let got = 0;
  const p = new Parser(
    (f) => {
      got++;
      sink += f.binaryBody.length + f.headers.length;
    },
    () => {},
  );
  return () => {
    got = 0;
    for (const ab of w.arrayBuffers) p.parseChunk(ab);
    if (got !== w.frames) throw new Error(`stompjs parsed ${got} of ${w.frames}`);
  };
}

function ourEncodePass(frames) {
  return () => {
    for (const f of frames) sink += encodeFrame(f).length;
  };
}

function stompjsEncodePass(frames) {
  return () => {
    for (const f of frames) {
      const out = FrameImpl.marshall({
        command: f.command,
        headers: f.headers,
        binaryBody: f.body,
        escapeHeaderValues: true,
      });
      sink += out.byteLength;
    }
  };
}

function best(results) {
  return results.reduce((a, b) => (b.fps > a.fps ? b : a));
}

function report(table, name, ours, theirs) {
  const o = best(ours);
  const s = best(theirs);
  const ratio = o.fps / s.fps;
  table[name] = {
    ours_fps: round(o.fps),
    ours_mbps: round(o.mbps, 1),
    stompjs_fps: round(s.fps),
    stompjs_mbps: round(s.mbps, 1),
    ratio: round(ratio, 2),
    ours_wall_fps: round(o.wallFps),
    stompjs_wall_fps: round(s.wallFps),
  };
  console.log(
    `${name.padEnd(10)} ${round(o.fps).toString().padStart(14)} ${round(o.mbps, 1).toString().padStart(9)} | ` +
      `${round(s.fps).toString().padStart(16)} ${round(s.mbps, 1).toString().padStart(8)} | ${round(ratio, 1)}x` +
      `   (wall: ${round(o.wallFps)} vs ${round(s.wallFps)})`,
  );
}

const round = (n, d = 0) => Math.round(n * 10 ** d) / 10 ** d;

// --- run --------------------------------------------------------------------

const summary = { bench: 'codec', node: process.version, seconds: SECONDS, rounds: ROUNDS, parse: {}, encode: {} };

console.log(`STOMP codec: ours vs @stomp/stompjs (best of ${ROUNDS} x ${SECONDS}s, rates per CPU second)\n`);
console.log('parse       ours frames/s      MB/s | stompjs frames/s     MB/s | ratio');
for (const w of WORKLOADS) {
  const ours = [];
  const theirs = [];
  for (let r = 0; r < ROUNDS; r++) {
    // interleaved so machine noise hits both alike
    ours.push(measure(ourParsePass(w), w.frames, w.bytes));
    theirs.push(measure(stompjsParsePass(w), w.frames, w.bytes));
  }
  report(summary.parse, w.name, ours, theirs);
}

const ENCODE = [
  { name: 'small', frames: Array.from({ length: 1000 }, (_, i) => message(i, small)) },
  { name: '64k', frames: Array.from({ length: 8 }, (_, i) => message(i, big)) },
];
console.log('\nencode      ours frames/s      MB/s | stompjs frames/s     MB/s | ratio');
for (const e of ENCODE) {
  const bytes = e.frames.reduce((n, f) => n + encodeFrame(f).length, 0);
  const ours = [];
  const theirs = [];
  for (let r = 0; r < ROUNDS; r++) {
    ours.push(measure(ourEncodePass(e.frames), e.frames.length, bytes));
    theirs.push(measure(stompjsEncodePass(e.frames), e.frames.length, bytes));
  }
  report(summary.encode, e.name, ours, theirs);
}

const minParse = Math.min(...Object.values(summary.parse).map((p) => p.ratio));
summary.min_parse_ratio = minParse;
summary.target_parse_ratio = TARGET_RATIO;
summary.pass = minParse >= TARGET_RATIO;
summary.sink = sink % 1000;
console.log(`\nparse ratio (worst workload) ${round(minParse, 1)}x, target >= ${TARGET_RATIO}x: ${summary.pass ? 'PASS' : 'FAIL'}`);
console.log(JSON.stringify(summary));
