/** Parser behaviour beyond the fixture tables: buffers, limits, callbacks, version. */

import t from 'tap';
import { DEFAULT_PARSER_LIMITS, FrameParser, parserLimits, type FrameSink } from '../../src/stomp/parser.js';
import { encodeFrame } from '../../src/stomp/encoder.js';
import { ERROR_TABLE, ErrorCode, StompError } from '../../src/errors.js';
import { CLIENT_COMMANDS, SERVER_COMMANDS, isClientCommand, isServerCommand, type Frame } from '../../src/stomp/frame.js';
import { CODEC_ERROR_CODES, ERROR_FIXTURES, bytes, byteByByte, run } from './fixtures/codec.js';

const MiB = 1024 * 1024;

function collector(opts: { limits?: ConstructorParameters<typeof FrameParser>[0]['limits'] } = {}) {
  const frames: Frame[] = [];
  const errors: StompError[] = [];
  let heartbeats = 0;
  let heartbeatCalls = 0;
  const parser = new FrameParser({
    limits: opts.limits,
    onFrame: (f) => frames.push(f),
    onHeartbeat: (n) => {
      heartbeats += n;
      heartbeatCalls++;
    },
    onError: (e) => errors.push(e),
  });
  return { parser, frames, errors, heartbeats: () => heartbeats, heartbeatCalls: () => heartbeatCalls };
}

t.test('defaults', async (t) => {
  t.same(DEFAULT_PARSER_LIMITS, { maxFrameBytes: MiB, maxHeaders: 64, maxHeaderLineBytes: 8192, maxCommandBytes: 32, maxPaddingBytes: MiB });
  t.ok(Object.isFrozen(DEFAULT_PARSER_LIMITS));
  const { parser } = collector();
  t.equal(parser.version, '1.2');
  t.equal(parser.bufferedBytes, 0);
  t.equal(parser.failed, false);
});

t.test('every codec error code has an error fixture, and the error fixtures use no other code', async (t) => {
  const covered = new Set(ERROR_FIXTURES.map((f) => f.code));
  t.same([...covered].sort(), [...CODEC_ERROR_CODES].sort(), 'the fixtures cover exactly the codec section of src/errors.ts');
  for (const code of CODEC_ERROR_CODES) t.ok(covered.has(code), code);
});

t.test('errors are StompErrors with their table message', async (t) => {
  const { parser, errors } = collector();
  parser.push(bytes('NOPE\n\n\0'));
  const [err] = errors;
  t.ok(err instanceof StompError);
  t.equal(err?.code, ErrorCode.UNKNOWN_COMMAND);
  t.equal(err?.stompMessage, ERROR_TABLE[ErrorCode.UNKNOWN_COMMAND].message);
});

t.test('accepts exactly the client and server commands', async (t) => {
  for (const c of [...CLIENT_COMMANDS, ...SERVER_COMMANDS]) {
    const r = run([bytes(`${c}\n\n\0`)]);
    t.equal(r.frames[0]?.command, c, c);
    t.ok(isClientCommand(c) || isServerCommand(c));
  }
});

t.test('invalid limits are rejected at construction', async (t) => {
  for (const bad of [0, -1, 1.5, Number.NaN, Infinity]) {
    t.throws(() => new FrameParser({ limits: { maxHeaders: bad }, onFrame() {}, onError() {} }), RangeError, String(bad));
  }
  t.doesNotThrow(() => new FrameParser({ limits: { maxHeaders: undefined }, onFrame() {}, onError() {} }));
});

t.test('a huge content-length is rejected before any body byte is buffered', async (t) => {
  const { parser, errors } = collector();
  parser.push(bytes('SEND\ndestination:/q\ncontent-length:2000000\n\n'));
  t.equal(errors[0]?.code, ErrorCode.FRAME_TOO_LARGE);
  t.equal(parser.bufferedBytes, 0);
});

t.test('a frame with no NUL never buffers more than maxFrameBytes (default)', async (t) => {
  const { parser, errors } = collector();
  parser.push(bytes('SEND\ndestination:/q\n\n'));
  const chunk = Buffer.alloc(64 * 1024, 'a');
  let pushed = 0;
  let maxBuffered = 0;
  while (errors.length === 0 && pushed < 4 * MiB) {
    parser.push(chunk);
    pushed += chunk.length;
    maxBuffered = Math.max(maxBuffered, parser.bufferedBytes);
  }
  t.equal(errors[0]?.code, ErrorCode.FRAME_TOO_LARGE);
  t.ok(pushed <= MiB, `failed within the first MiB of body (${pushed})`);
  t.ok(maxBuffered <= MiB, `buffered at most maxFrameBytes (${maxBuffered})`);
});

t.test('limits are checked before a full line or head arrives', async (t) => {
  const a = collector({ limits: { maxHeaderLineBytes: 100 } });
  a.parser.push(bytes('SEND\nx:'));
  for (let i = 0; i < 200 && a.errors.length === 0; i++) a.parser.push(bytes('v'));
  t.equal(a.errors[0]?.code, ErrorCode.HEADER_LINE_TOO_LONG);
  t.ok(a.parser.bufferedBytes === 0);

  const b = collector({ limits: { maxHeaders: 3 } });
  b.parser.push(bytes('SEND\na:1\nb:2\nc:3\nd:4\n'));
  t.equal(b.errors[0]?.code, ErrorCode.TOO_MANY_HEADERS, 'without the blank line');
});

t.test('setVersion from onFrame applies to the next frame of the same chunk', async (t) => {
  const got: Record<string, string>[] = [];
  const parser = new FrameParser({
    onFrame(f) {
      got.push({ ...f.headers });
      if (f.command === 'CONNECT') parser.setVersion('1.0');
    },
    onError: t.fail,
  });
  parser.push(bytes('CONNECT\naccept-version:1.0\n\n\0SEND\nx:a\\tb\n\n\0'));
  t.same(got, [{ 'accept-version': '1.0' }, { x: 'a\\tb' }]);
  t.equal(parser.version, '1.0');

  const p11 = new FrameParser({ version: '1.1', onFrame: t.fail, onError: (e) => got.push({ code: e.code }) });
  p11.push(bytes('SEND\nx:\\r\n\n\0'));
  t.same(got.at(-1), { code: ErrorCode.INVALID_ESCAPE }, 'version option');
});

t.test('frames spanning chunks are copied; bytes handed out are never overwritten', async (t) => {
  const wire = Buffer.concat([
    encodeFrame({ command: 'MESSAGE', headers: { n: '1' }, body: 'first-body' }),
    encodeFrame({ command: 'MESSAGE', headers: { n: '2' }, body: 'second-body' }),
    encodeFrame({ command: 'MESSAGE', headers: { n: '3' }, body: 'third' }),
  ]);
  const chunks = [wire.subarray(0, 20), wire.subarray(20, 45), wire.subarray(45)].map((c) => Buffer.from(c));
  const r = run(chunks);
  t.same(r.frames.map((f) => f.body.toString()), ['first-body', 'second-body', 'third']);
  for (const f of r.frames.slice(0, 2)) t.ok(!chunks.some((c) => c.buffer === f.body.buffer), 'spanning body is a copy');
  t.equal(r.frames[2]?.body.buffer, chunks[2]?.buffer, 'a frame wholly inside a later chunk is a view of it');

  // keep a view, then push more data through the same owned buffer
  const kept: Buffer[] = [];
  const p = new FrameParser({ onFrame: (f) => kept.push(f.body), onError: t.fail });
  for (const c of byteByByte(Buffer.concat([wire, wire, wire]))) p.push(c);
  t.same(kept.map((b) => b.toString()), ['first-body', 'second-body', 'third', 'first-body', 'second-body', 'third', 'first-body', 'second-body', 'third']);
});

t.test('a callback that throws leaves the parser consistent', async (t) => {
  let calls = 0;
  const seen: string[] = [];
  const parser = new FrameParser({
    onFrame(f) {
      calls++;
      seen.push(f.body.toString());
      if (calls === 1) throw new Error('boom');
    },
    onError: t.fail,
  });
  const wire = bytes('SEND\n\none\0SEND\n\ntwo\0SEND\n\nthr');
  t.throws(() => parser.push(wire), { message: 'boom' });
  t.ok(parser.bufferedBytes > 0, 'unparsed bytes kept');
  parser.push(bytes('ee\0'));
  t.same(seen, ['one', 'two', 'three']);
  t.equal(parser.bufferedBytes, 0);
});

t.test('a callback that throws while a spanning frame completes', async (t) => {
  let calls = 0;
  const seen: string[] = [];
  const buffered: number[] = [];
  const parser = new FrameParser({
    onFrame(f) {
      seen.push(f.body.toString());
      buffered.push(parser.bufferedBytes);
      if (++calls === 1) throw new Error('boom');
    },
    onError: t.fail,
  });
  parser.push(bytes('SEND\n\non'));
  t.throws(() => parser.push(bytes('e\0SEND\n\ntwo\0SEND\n')), { message: 'boom' });
  t.equal(parser.bufferedBytes, 'SEND\n\ntwo\0SEND\n'.length, 'the rest of the chunk is kept');
  parser.push(bytes('\nthree\0'));
  t.same(seen, ['one', 'two', 'three']);
  // while 'two' is reported: 'SEND\n' still owned + '\nthree\0' of the new chunk
  t.same(buffered, ['SEND\n\ntwo\0SEND\n'.length, 'SEND\n\nthree\0'.length, 0], 'bufferedBytes seen from onFrame');
});

t.test('chunks queued by a callback that then throws are parsed on the next push', async (t) => {
  const seen: string[] = [];
  const parser = new FrameParser({
    onFrame(f) {
      seen.push(f.body.toString());
      if (seen.length === 1) {
        parser.push(bytes('SEND\n\nb\0'));
        throw new Error('boom');
      }
    },
    onError: t.fail,
  });
  t.throws(() => parser.push(bytes('SEND\n\na\0')), { message: 'boom' });
  t.equal(parser.bufferedBytes, 'SEND\n\nb\0'.length, 'the queued chunk is kept');
  parser.push(bytes('SEND\n\nc\0'));
  t.same(seen, ['a', 'b', 'c'], 'in order');
});

t.test('push from inside onFrame is queued, not nested', async (t) => {
  const seen: string[] = [];
  const parser = new FrameParser({
    onFrame(f) {
      seen.push(f.body.toString());
      if (seen.length === 1) parser.push(bytes('SEND\n\nc\0'));
    },
    onError: t.fail,
  });
  parser.push(bytes('SEND\n\na\0SEND\n\nb\0'));
  t.same(seen, ['a', 'b', 'c']);

  const seen2: string[] = [];
  const p2 = new FrameParser({
    onFrame(f) {
      seen2.push(f.body.toString());
      if (seen2.length === 1) p2.push(bytes('SEND\n\nc\0'));
    },
    onError: t.fail,
  });
  p2.push(bytes('SEND\n\na\0'));
  t.same(seen2, ['a', 'c'], 'when the outer chunk was fully consumed');

  const seen3: string[] = [];
  const p3 = new FrameParser({
    onFrame(f) {
      seen3.push(f.body.toString());
      if (seen3.length === 1) p3.push(bytes('tial\0'));
    },
    onError: t.fail,
  });
  p3.push(bytes('SEND\n\na\0SEND\n\npar'));
  t.same(seen3, ['a', 'partial'], 'when the outer chunk ends in an unfinished frame');
});

t.test('reset() drops partial input and a previous error', async (t) => {
  const c = collector();
  c.parser.push(bytes('SEND\nx:1\n\npartial'));
  t.ok(c.parser.bufferedBytes > 0);
  c.parser.reset();
  t.equal(c.parser.bufferedBytes, 0);
  c.parser.push(bytes('BAD\n\n\0'));
  t.equal(c.errors.length, 1);
  c.parser.push(bytes('SEND\n\nx\0'));
  t.equal(c.frames.length, 0, 'dead until reset');
  c.parser.reset();
  c.parser.push(bytes('\nSEND\n\nx\0'));
  t.equal(c.frames.length, 1);
  t.equal(c.heartbeats(), 1);
  t.equal(c.parser.failed, false);

  let d: FrameParser | undefined = undefined;
  const seen: string[] = [];
  d = new FrameParser({
    onFrame(f) {
      seen.push(f.body.toString());
      d?.reset();
    },
    onError: t.fail,
  });
  d.push(bytes('SEND\n\na\0SEND\n\nb\0'));
  t.same(seen, ['a'], 'reset from onFrame drops the rest of the chunk');
});

t.test('empty chunks and missing onHeartbeat are fine', async (t) => {
  const frames: Frame[] = [];
  const parser = new FrameParser({ onFrame: (f) => frames.push(f), onError: t.fail });
  parser.push(Buffer.alloc(0));
  parser.push(bytes('\n\r\nSEND\n\n\0'));
  parser.push(Buffer.alloc(0));
  t.equal(frames.length, 1);
});

t.test('byte-by-byte input stays linear (256 KiB frame)', async (t) => {
  // quadratic copying would move ~32 GB here; linear takes well under a second
  const body = Buffer.alloc(MiB / 4 - 64, 'q');
  const wire = encodeFrame({ command: 'SEND', headers: { destination: '/q' }, body });
  const started = process.hrtime.bigint();
  const r = run(byteByByte(wire));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  t.equal(r.error, null);
  t.ok(r.frames[0]?.body.equals(body));
  t.ok(ms < 10_000, `took ${ms.toFixed(0)} ms`);

  const noLength = Buffer.concat([bytes('SEND\n\n'), Buffer.alloc(MiB / 4 - 16, 'r'), bytes('\0')]);
  const r2 = run(byteByByte(noLength));
  t.equal(r2.error, null);
  t.equal(r2.frames[0]?.body.length, MiB / 4 - 16);
});

t.test('a flood of EOL heart-beats: one onHeartbeat call per chunk, each heart-beat counted, linear', async (t) => {
  const c = collector();
  const chunk = Buffer.alloc(64 * 1024, '\n');
  const started = process.hrtime.bigint();
  for (let i = 0; i < 16; i++) c.parser.push(chunk); // 1 MiB of LF
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  t.equal(c.heartbeats(), MiB, 'every EOL is a heart-beat');
  t.equal(c.heartbeatCalls(), 16, 'one call per chunk');
  t.equal(c.parser.bufferedBytes, 0);
  t.ok(ms < 1000, `took ${ms.toFixed(1)} ms`);

  const d = collector();
  d.parser.push(bytes('\r\n\n\r\n\nSEND\n\na\0\n\n\r'));
  t.equal(d.heartbeats(), 6, 'LF and CRLF');
  t.equal(d.heartbeatCalls(), 2, 'one call for each run between frames');
  d.parser.push(bytes('\n\nSEND\n\nb\0'));
  t.equal(d.heartbeats(), 8, 'a CRLF split across chunks is one heart-beat');
  t.same(d.frames.map((f) => f.body.toString()), ['a', 'b']);
  t.same(d.errors, []);
});

t.test('stray NULs between frames: skipped in linear time, not heart-beats, never buffered, bounded', async (t) => {
  const c = collector();
  const chunk = Buffer.alloc(64 * 1024);
  const started = process.hrtime.bigint();
  for (let i = 0; i < 16; i++) {
    c.parser.push(chunk); // 1 MiB of NUL: exactly the default maxPaddingBytes
    t.equal(c.parser.bufferedBytes, 0, 'nothing buffered');
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  t.ok(ms < 1000, `took ${ms.toFixed(1)} ms`);
  t.equal(c.heartbeats(), 0, 'a NUL is not a heart-beat');
  t.same(c.errors, [], 'at the limit');
  c.parser.push(bytes('\0'));
  t.equal(c.errors[0]?.code, ErrorCode.PADDING_TOO_LONG, 'one byte over');
  t.equal(c.errors.length, 1);

  const d = collector({ limits: { maxPaddingBytes: 2 } });
  for (let i = 0; i < 1000; i++) d.parser.push(bytes('\0\0\n')); // each EOL ends a run of NULs
  d.parser.push(bytes('\0\0SEND\n\nx\0\0\0'));
  t.same(d.errors, []);
  t.equal(d.heartbeats(), 1000, 'the EOLs are heart-beats');
  t.equal(d.frames.length, 1);
  d.parser.push(bytes('\0'));
  t.equal(d.errors[0]?.code, ErrorCode.PADDING_TOO_LONG, 'a frame starts a new run');
});

t.test('a throwing onHeartbeat leaves the parser consistent', async (t) => {
  const seen: string[] = [];
  let beats = 0;
  const parser = new FrameParser({
    onFrame: (f) => seen.push(f.body.toString()),
    onHeartbeat(n) {
      beats += n;
      if (beats === 2) throw new Error('boom');
    },
    onError: t.fail,
  });
  t.throws(() => parser.push(bytes('\n\nSEND\n\na\0\nSEND\n\nb')), { message: 'boom' });
  t.equal(parser.bufferedBytes, 'SEND\n\na\0\nSEND\n\nb'.length, 'the heart-beats are consumed, the rest kept');
  parser.push(bytes('\0'));
  t.same(seen, ['a', 'b']);
  t.equal(beats, 3);
});

t.test('owned buffer shrinks after a large frame', async (t) => {
  const big = encodeFrame({ command: 'SEND', headers: {}, body: Buffer.alloc(200_000, 'x') });
  const next = bytes('SEND\n\npart');
  const parser = new FrameParser({ onFrame() {}, onError: t.fail });
  parser.push(big.subarray(0, 10)); // frame starts: owned
  parser.push(Buffer.concat([big.subarray(10), next])); // finishes it, leaves a short partial frame
  t.equal(parser.bufferedBytes, next.length);
});

t.test('a sink object and shared limits (one parser per connection, no closures per parser)', async (t) => {
  const limits = parserLimits({ maxHeaders: 2 });
  t.ok(Object.isFrozen(limits));
  t.same(limits, { ...DEFAULT_PARSER_LIMITS, maxHeaders: 2 }, 'defaults fill the rest');
  t.throws(() => parserLimits({ maxFrameBytes: 0 }), RangeError);
  class Sink implements FrameSink {
    frames: Frame[] = [];
    heartbeats = 0;
    errors: StompError[] = [];
    onFrame(f: Frame): void {
      this.frames.push(f);
    }
    onHeartbeat(n: number): void {
      this.heartbeats += n;
    }
    onError(e: StompError): void {
      this.errors.push(e);
    }
  }
  const settings = { limits };
  const a = new Sink();
  const b = new Sink();
  const pa = new FrameParser(settings, a);
  const pb = new FrameParser(settings, b);
  pa.push(bytes('\nSEND\nx:1\ny:2\n\nhi\0'));
  t.equal(a.heartbeats, 1);
  t.same(a.frames.map((f) => [f.command, f.body.toString()]), [['SEND', 'hi']]);
  t.same(a.errors, []);
  pb.push(bytes('SEND\nx:1\ny:2\nz:3\n\n\0'));
  t.equal(b.errors[0]?.code, ErrorCode.TOO_MANY_HEADERS, 'the shared limits apply');
  t.same(b.frames, []);
  pa.push(bytes('SEND\n\nagain\0'));
  t.equal(a.frames.length, 2, 'one parser failing does not touch the other');
});
