/**
 * Bounded, seeded fuzzing (habit 5): random and mutated input must end in
 * frames and/or exactly one coded StompError — never a throw, never more than
 * one error, never more than `maxFrameBytes` buffered — and the outcome must
 * not depend on how the input is split into chunks. Random frames must
 * survive encode -> parse unchanged.
 */

import t from 'tap';
import { ErrorCode } from '../../src/errors.js';
import { encodeFrame } from '../../src/stomp/encoder.js';
import { DEFAULT_PARSER_LIMITS, type ParserLimits } from '../../src/stomp/parser.js';
import { CLIENT_COMMANDS, SERVER_COMMANDS, type Command, type StompVersion } from '../../src/stomp/frame.js';
import { CODEC_ERROR_CODES, FIXTURES, bytes, prng, run, type Run } from './fixtures/codec.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5702);
const ROUNDS = Number(process.env.FUZZ_ROUNDS ?? 2000);
const rnd = prng(SEED);
const int = (n: number): number => Math.floor(rnd() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;

const COMMANDS: readonly Command[] = [...CLIENT_COMMANDS, ...SERVER_COMMANDS];
const VERSIONS: readonly StompVersion[] = ['1.0', '1.1', '1.2'];
const CODEC_CODES = new Set<string>(CODEC_ERROR_CODES);
/** Limit errors may legitimately differ by split (whichever limit is seen first). */
const LIMIT_CODES = new Set<string>([
  ErrorCode.FRAME_TOO_LARGE,
  ErrorCode.TOO_MANY_HEADERS,
  ErrorCode.HEADER_LINE_TOO_LONG,
  ErrorCode.COMMAND_TOO_LONG,
]);

const TOKENS = [
  ...COMMANDS,
  '\n', '\n', '\n', '\r\n', '\r', ':', ':', '\\', '\\c', '\\n', '\\r', '\\\\', '\\t', '\0', '\0',
  'content-length:', 'content-length:', '0', '3', '12', '-1', 'destination:/queue/a', 'id:0', 'x', 'é', '😀',
];

function randomLimits(): Partial<ParserLimits> | undefined {
  if (rnd() < 0.5) return undefined;
  return {
    maxFrameBytes: 8 + int(512),
    maxHeaders: 1 + int(8),
    maxHeaderLineBytes: 2 + int(64),
    maxCommandBytes: 4 + int(16),
    maxPaddingBytes: 1 + int(4),
  };
}

function soup(): Buffer {
  const parts: Buffer[] = [];
  const n = 1 + int(40);
  for (let i = 0; i < n; i++) {
    parts.push(rnd() < 0.1 ? Buffer.from([int(256)]) : bytes(pick(TOKENS)));
  }
  return Buffer.concat(parts);
}

function randomText(max: number): string {
  const alphabet = ['a', 'b', 'Z', '0', ' ', ':', '\n', '\r', '\\', 'é', '漢', '😀', '/', '-', '\t'];
  let s = '';
  const n = int(max + 1);
  for (let i = 0; i < n; i++) s += pick(alphabet);
  return s;
}

function randomFrame(version: StompVersion): { command: Command; headers: Record<string, string>; body: Buffer } {
  const command = pick(COMMANDS);
  const raw = command === 'CONNECT' || command === 'STOMP' || command === 'CONNECTED' || version === '1.0';
  const headers: Record<string, string> = {};
  const n = int(6);
  for (let i = 0; i < n; i++) {
    let name = randomText(8) || 'h';
    let value = randomText(20);
    if (raw) {
      name = name.replace(/[\r\n:]/g, '_');
      value = value.replace(/[\r\n]/g, '_');
    } else if (version === '1.1') {
      value = value.replace(/\r/g, '_'); // 1.1 cannot carry CR in a value
      name = name.replace(/\r/g, '_');
    }
    if (name !== 'content-length' && headers[name] === undefined) headers[name] = value;
  }
  const body = Buffer.alloc(rnd() < 0.3 ? 0 : int(300));
  for (let i = 0; i < body.length; i++) body[i] = rnd() < 0.1 ? 0 : int(256);
  return { command, headers, body };
}

function mutate(input: Buffer): Buffer {
  let b = Buffer.from(input);
  const n = 1 + int(4);
  for (let i = 0; i < n && b.length > 0; i++) {
    const at = int(b.length);
    switch (int(6)) {
      case 0:
        b[at] = int(256); // flip
        break;
      case 1:
        b = Buffer.concat([b.subarray(0, at), bytes(pick(TOKENS)), b.subarray(at)]); // insert
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(8))]); // delete
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + int(16)), b.subarray(at)]); // duplicate
        break;
      case 4:
        b = b.subarray(0, at); // truncate
        break;
      default:
        b = Buffer.concat([b, b.subarray(0, int(b.length))]); // append a prefix of itself
    }
  }
  return b;
}

function randomChunks(input: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  let i = 0;
  while (i < input.length) {
    const n = rnd() < 0.3 ? 1 : 1 + int(rnd() < 0.5 ? 8 : 200);
    chunks.push(Buffer.from(input.subarray(i, i + n)));
    i += n;
  }
  return chunks;
}

function sameOutcome(a: Run, b: Run): boolean {
  if (JSON.stringify(a.events) !== JSON.stringify(b.events)) return false;
  if (a.error === b.error) return true;
  return a.error !== null && b.error !== null && LIMIT_CODES.has(a.error) && LIMIT_CODES.has(b.error);
}

interface Failure {
  kind: string;
  input: string;
  version: StompVersion;
  limits: Partial<ParserLimits> | undefined;
  why: string;
}

function check(kind: string, input: Buffer, version: StompVersion, limits: Partial<ParserLimits> | undefined): Failure | null {
  const fail = (why: string): Failure => ({ kind, input: input.toString('base64'), version, limits, why });
  const max = limits?.maxFrameBytes ?? DEFAULT_PARSER_LIMITS.maxFrameBytes;
  let whole: Run;
  let split: Run;
  try {
    whole = run([input], { version, limits });
    split = run(randomChunks(input), { version, limits });
  } catch (err) {
    return fail(`threw ${String(err)}`);
  }
  for (const r of [whole, split]) {
    if (r.afterError !== 0) return fail('callbacks after the error');
    if (r.error !== null && !CODEC_CODES.has(r.error)) return fail(`unexpected code ${r.error}`);
    if (r.maxBuffered > max) return fail(`buffered ${r.maxBuffered} > ${max}`);
    if (r.error !== null && r.parser.bufferedBytes !== 0) return fail('buffers kept after the error');
  }
  if (!sameOutcome(whole, split)) return fail('outcome depends on chunking');
  return null;
}

t.test(`fuzz: random and mutated input (seed ${SEED}, ${ROUNDS} rounds)`, async (t) => {
  const seeds = FIXTURES.map((f) => bytes(f.wire)).filter((b) => b.length < 4096);
  const failures: Failure[] = [];
  const tally = { frames: 0, errors: 0, incomplete: 0 };
  const started = Date.now();
  for (let i = 0; i < ROUNDS; i++) {
    const version = pick(VERSIONS);
    const limits = randomLimits();
    const kind = pick(['soup', 'mutated', 'mutated-encoded']);
    const input =
      kind === 'soup'
        ? soup()
        : kind === 'mutated'
          ? mutate(pick(seeds))
          : mutate(Buffer.concat([encodeFrame(randomFrame(version), version), encodeFrame(randomFrame(version), version)]));
    const f = check(kind, input, version, limits);
    if (f !== null) failures.push(f);
    const r = run([input], { version, limits });
    tally.frames += r.frames.length;
    if (r.error !== null) tally.errors++;
    else if (r.parser.bufferedBytes > 0) tally.incomplete++;
  }
  t.same(failures.slice(0, 5), [], `no failures (${failures.length})`);
  t.ok(tally.frames > ROUNDS / 4 && tally.errors > ROUNDS / 4, `covers frames and errors: ${JSON.stringify(tally)}`);
  t.ok(Date.now() - started < 20_000, `bounded time (${Date.now() - started} ms)`);
});

t.test(`fuzz: random frames survive encode -> parse (seed ${SEED})`, async (t) => {
  const bad: string[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const version = pick(VERSIONS);
    const frame = randomFrame(version);
    const wire = encodeFrame(frame, version);
    const r = run(randomChunks(wire), { version });
    const got = r.frames[0];
    const expectHeaders = { ...frame.headers };
    if (frame.body.length > 0) expectHeaders['content-length'] = String(frame.body.length);
    const ok =
      r.error === null &&
      r.frames.length === 1 &&
      got !== undefined &&
      got.command === frame.command &&
      JSON.stringify({ ...got.headers }) === JSON.stringify(expectHeaders) &&
      got.body.equals(frame.body);
    if (!ok) bad.push(JSON.stringify({ version, wire: wire.toString('base64'), error: r.error }));
  }
  t.same(bad.slice(0, 5), [], `all ${ROUNDS} round trips (${bad.length} bad)`);
});
