/**
 * Incremental STOMP frame parser (pure, no I/O).
 *
 * Feed it byte chunks with `push()`; it calls `onFrame` for each complete
 * frame, `onHeartbeat` for the EOLs between frames (one call for a run of
 * them, see FrameSink), and `onError` once with a coded `StompError` when the
 * input is invalid or exceeds a limit. After an error the parser is dead and
 * ignores further input.
 *
 * Stray NULs between frames (an extra NUL after a frame's NUL, `\n\0` between
 * frames: some clients send them) are skipped like the EOLs there, as
 * RabbitMQ does. They are not heart-beats (the spec's heart-beat is an EOL,
 * and `heartbeat_in` counts those only); a session's read timeout sees any
 * byte anyway. A run of them is bounded by `maxPaddingBytes`.
 *
 * Buffers by offset (src/stomp/input.ts): while a chunk holds whole frames
 * the parser works inside it and hands out `subarray` views (the body of a
 * frame that arrived in one chunk is a view of that chunk, with no copy);
 * only a frame that spans chunks is copied, into one owned buffer.
 *
 * Memory is bounded by the limits: a frame is rejected as soon as it is known
 * to exceed `maxFrameBytes` (a large `content-length` before any body byte is
 * buffered; a frame without NUL once it has buffered `maxFrameBytes` bytes),
 * so `bufferedBytes` never exceeds `maxFrameBytes` once `push()` returns
 * (unless a callback threw: then the rest of that chunk is kept as well).
 *
 * The head of a frame (command, headers) is parsed by src/stomp/head.ts:
 * headers verbatim (STOMP 1.2: no trimming) from a UTF-8 decoding, escapes
 * decoded per `version`, except in CONNECT and CONNECTED. The limits and
 * their defaults are in src/stomp/limits.ts.
 */

import { ErrorCode, StompError, isStompError } from '../errors.js';
import type { Frame, Headers, StompVersion } from './frame.js';
import { headInWindow, parseHead, parseLength, type ParsedHead } from './head.js';
import { ParserInput } from './input.js';
import { limitsFor, type ParserLimits } from './limits.js';

export { DEFAULT_PARSER_LIMITS, parserLimits, type ParserLimits } from './limits.js';

/** Where a parser reports what it found. */
export interface FrameSink {
  onFrame(frame: Frame): void;
  /**
   * `count` (>= 1) heart-beats: EOLs between frames. Consecutive EOLs come in
   * one call per chunk they arrive in, so a flood of EOLs costs a call per
   * chunk, not per byte; the total does not depend on how input is chunked.
   */
  onHeartbeat?(count: number): void;
  onError(err: StompError): void;
}

/** Limits and version, without the callbacks (see the two-argument constructor). */
export interface ParserSettings {
  /** Partial limits (defaults fill the rest), or a shared set from parserLimits(). */
  limits?: Partial<ParserLimits> | undefined;
  /** Initial protocol version (governs header escaping); default '1.2'. */
  version?: StompVersion | undefined;
}

export interface FrameParserOptions extends ParserSettings, FrameSink {}

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;

/** The headers field between frames: nothing from the last frame is kept alive by the parser. */
const NO_HEADERS = Object.freeze(Object.create(null) as Headers);

const enum State {
  Head,
  BodyByLength,
  BodyToNul,
  Dead,
}

/** What the head scanner decided after one line. */
const enum Line {
  More,
  Done,
  Failed,
}

export class FrameParser {
  private readonly limits: Readonly<ParserLimits>;
  private readonly sink: FrameSink;
  private versionValue: StompVersion;

  /** The bytes from the current frame (or the padding before it) on: `input.buf` from `input.start`. */
  private readonly input: ParserInput;
  /** Chunks pushed from inside a callback (or left after a callback threw), in order; null when none. */
  private queue: Buffer[] | null = null;
  private queuedBytes = 0;
  private processing = false;

  // Per-frame state; positions are relative to `input.start`.
  private state = State.Head;
  private scanned = 0;
  private lineStart = 0;
  /** Lines of the head completed so far (the command line is line 0). */
  private lines = 0;
  private headEnd = 0;
  private bodyEnd = 0;
  /** The current frame's command and headers, once its head is parsed. */
  private readonly head: ParsedHead = { command: 'SEND', headers: NO_HEADERS };
  /** NULs in the current run between frames (see maxPaddingBytes). */
  private padding = 0;

  /**
   * `new FrameParser({ limits, version, onFrame, onError })`, or with the
   * callbacks as methods of a separate `sink` (an object that already exists,
   * such as a session: no closures per parser), and settings that many
   * parsers may share.
   */
  constructor(opts: FrameParserOptions);
  constructor(settings: ParserSettings, sink: FrameSink);
  constructor(settings: ParserSettings | FrameParserOptions, sink: FrameSink = settings as FrameParserOptions) {
    this.limits = limitsFor(settings.limits);
    this.input = new ParserInput(this.limits.maxFrameBytes);
    this.sink = sink;
    this.versionValue = settings.version ?? '1.2';
  }

  /** Protocol version used to decode header escapes of the frames that follow. */
  get version(): StompVersion {
    return this.versionValue;
  }

  /** Set by the session after CONNECT negotiation (may be called from onFrame). */
  setVersion(v: StompVersion): void {
    this.versionValue = v;
  }

  /** Bytes received but not yet part of an emitted frame or heart-beat, nor skipped. */
  get bufferedBytes(): number {
    return this.input.bufferedBytes + this.queuedBytes;
  }

  /** True once an error was reported; push() is then a no-op. */
  get failed(): boolean {
    return this.state === State.Dead;
  }

  /** Drop buffered bytes and any error; the version is kept. */
  reset(): void {
    this.release();
    this.resetFrame();
  }

  /**
   * Feed bytes. Emitted frames may hold views of `chunk`; the parser copies
   * whatever it still needs after push() returns. If a callback throws, the
   * exception propagates and the bytes not yet parsed stay buffered.
   */
  push(chunk: Buffer): void {
    if (this.state === State.Dead || chunk.length === 0) return;
    if (this.processing || this.queue !== null) {
      // pushed from a callback (the running loop takes it in order), or left queued by a throw
      (this.queue ??= []).push(chunk);
      this.queuedBytes += chunk.length;
      if (this.processing) return;
      chunk = this.dequeue();
    }
    this.processing = true;
    try {
      this.feed(chunk);
      while (this.queue !== null && !this.failed) this.feed(this.dequeue());
    } finally {
      this.processing = false;
      if (this.failed) this.release();
      else this.input.settle(this.frameBytes);
    }
  }

  /** The oldest queued chunk (the queue is not empty). */
  private dequeue(): Buffer {
    const queue = this.queue as Buffer[];
    const next = queue.shift() as Buffer;
    if (queue.length === 0) this.queue = null;
    this.queuedBytes -= next.length;
    return next;
  }

  // --- main loop -----------------------------------------------------------

  private feed(chunk: Buffer): void {
    this.input.add(chunk, this.frameBytes);
    this.drain();
  }

  private drain(): void {
    for (;;) {
      const progressed =
        this.state === State.Head ? this.scanHead() : this.state === State.BodyByLength ? this.takeSizedBody() : this.scanToNul();
      if (progressed) this.input.leaveOwned();
      else if (this.failed || !this.input.pull(this.frameBytes, this.state === State.Head ? LF : NUL)) return;
    }
  }

  /** Scan lines up to the blank line ending the head. True when it made progress. */
  private scanHead(): boolean {
    const { buf, start: base } = this.input;
    if (this.scanned === 0 && base < buf.length) {
      const first = buf[base];
      if (first === LF || first === NUL || first === CR) {
        const skipped = this.skipPadding();
        if (skipped !== null) return skipped;
      }
      const done = this.fastHead();
      if (done !== null) return done;
    }
    let pos = base + this.scanned;
    while (pos < buf.length) {
      const lf = buf.indexOf(LF, pos);
      if (lf === -1) break;
      const lineFrom = base + this.lineStart;
      const cr = lf > lineFrom && buf[lf - 1] === CR; // STOMP 1.2: EOL is LF or CRLF
      this.scanned = lf + 1 - base;
      const r = this.endLine(lf - base, lf - lineFrom - (cr ? 1 : 0));
      if (r !== Line.More) return r === Line.Done;
      pos = lf + 1;
    }
    this.scanned = buf.length - base;
    return this.checkPartialLine();
  }

  /** One line ended at frame-relative `lf`, with `len` bytes of content. */
  private endLine(lf: number, len: number): Line {
    const lineNo = this.lines;
    if (len === 0) {
      // STOMP 1.2: EOLs between frames are heart-beats
      if (lineNo === 0) return this.heartbeat(lf + 1);
      return this.endHead(lf + 1); // STOMP 1.2: a blank line ends the headers
    }
    if (lineNo === 0) {
      if (len > this.limits.maxCommandBytes) return this.failLine(ErrorCode.COMMAND_TOO_LONG, `${len} bytes`);
    } else {
      if (len > this.limits.maxHeaderLineBytes) return this.failLine(ErrorCode.HEADER_LINE_TOO_LONG, `${len} bytes`);
      if (lineNo > this.limits.maxHeaders) return this.failLine(ErrorCode.TOO_MANY_HEADERS, `more than ${this.limits.maxHeaders}`);
    }
    if (lf + 1 > this.limits.maxFrameBytes) return this.failLine(ErrorCode.FRAME_TOO_LARGE, 'headers too large');
    this.lines++;
    this.lineStart = lf + 1;
    return Line.More;
  }

  /** No EOL yet: fail as soon as the unfinished line or head is over a limit. */
  private checkPartialLine(): boolean {
    const pending = this.scanned - this.lineStart; // may end with the CR of a CRLF
    const { maxCommandBytes, maxHeaderLineBytes, maxFrameBytes } = this.limits;
    if (this.lines === 0) {
      if (pending > maxCommandBytes + 1) return this.fail(ErrorCode.COMMAND_TOO_LONG, `over ${maxCommandBytes} bytes`);
    } else if (pending > maxHeaderLineBytes + 1) {
      return this.fail(ErrorCode.HEADER_LINE_TOO_LONG, `over ${maxHeaderLineBytes} bytes`);
    }
    if (this.scanned > maxFrameBytes) return this.fail(ErrorCode.FRAME_TOO_LARGE, 'headers too large');
    return false;
  }

  /** A heart-beat whose EOL was split across chunks (CR, then LF): `bytes` long. */
  private heartbeat(bytes: number): Line {
    this.input.start += bytes;
    this.resetFrame();
    this.sink.onHeartbeat?.(1);
    return Line.Done;
  }

  /**
   * At a frame start: skip the run of EOLs (STOMP 1.2: EOLs between frames
   * are heart-beats) and stray NULs there in one pass, and report the EOLs in
   * one onHeartbeat call. Null when the first byte is neither (a CR whose LF
   * is not in the input yet is left to the head scanner, which waits for the
   * LF). A NUL past `maxPaddingBytes` in a row stops the pass; the next one
   * fails, after the EOLs before it were reported, as they would be byte by
   * byte.
   */
  private skipPadding(): boolean | null {
    const { buf, start: from } = this.input;
    const end = buf.length;
    const max = this.limits.maxPaddingBytes;
    let nuls = this.padding;
    let pos = from;
    let beats = 0;
    while (pos < end) {
      const b = buf[pos];
      if (b === NUL) {
        if (nuls === max) break;
        nuls++;
        pos++;
        continue;
      }
      if (b === LF) pos++;
      else if (b === CR && pos + 1 < end && buf[pos + 1] === LF) pos += 2; // STOMP 1.2: EOL is LF or CRLF
      else break;
      beats++;
      nuls = 0;
    }
    if (pos === from) {
      return buf[pos] === NUL ? this.fail(ErrorCode.PADDING_TOO_LONG, `more than ${max} NUL bytes between frames`) : null;
    }
    this.input.start = pos; // consumed before the callback, which may throw or push
    this.padding = nuls;
    if (beats > 0) this.sink.onHeartbeat?.(beats);
    return true;
  }

  /**
   * The fast path (see headInWindow): null when the head is not complete in
   * the first bytes of the input or is over a limit; the byte scanner then
   * handles (or reports) it.
   */
  private fastHead(): boolean | null {
    let headEnd: number;
    try {
      headEnd = headInWindow(this.input.buf, this.input.start, this.versionValue, this.limits, this.head);
    } catch (err) {
      return this.badHead(err) === Line.Done;
    }
    return headEnd === -1 ? null : this.afterHead(headEnd) === Line.Done;
  }

  /** The head (`headEnd` bytes) is complete: parse it, then set up the body. */
  private endHead(headEnd: number): Line {
    try {
      const { buf, start } = this.input;
      parseHead(buf.toString('utf8', start, start + headEnd), this.versionValue, null, this.head);
    } catch (err) {
      return this.badHead(err);
    }
    return this.afterHead(headEnd);
  }

  /** Report the StompError that parseHead() threw for an invalid head. */
  private badHead(err: unknown): Line {
    /* c8 ignore next */
    if (!isStompError(err)) throw err; // only StompErrors are thrown in there
    return this.failLine(err.code, err.detail);
  }

  private afterHead(headEnd: number): Line {
    this.headEnd = headEnd;
    this.scanned = headEnd;
    const cl = this.head.headers['content-length'];
    if (cl === undefined) {
      this.state = State.BodyToNul; // STOMP 1.2: without content-length the body ends at the first NUL
      return Line.Done;
    }
    const length = parseLength(cl);
    if (length === -1) return this.failLine(ErrorCode.INVALID_CONTENT_LENGTH, JSON.stringify(cl));
    const bodyEnd = headEnd + length;
    if (bodyEnd > this.limits.maxFrameBytes) return this.failLine(ErrorCode.FRAME_TOO_LARGE, `content-length ${cl}`);
    this.bodyEnd = bodyEnd;
    this.state = State.BodyByLength; // STOMP 1.2: content-length octets, which may include NULs
    this.input.reserve(bodyEnd + 1);
    return Line.Done;
  }

  /** Body of known length: wait for it plus its NUL. */
  private takeSizedBody(): boolean {
    const { buf, start } = this.input;
    const nulAt = start + this.bodyEnd;
    if (nulAt >= buf.length) return false;
    // STOMP 1.2: the body is followed by a NUL octet
    if (buf[nulAt] !== NUL) return this.fail(ErrorCode.MISSING_NULL, `byte ${buf[nulAt]} after content-length body`);
    return this.emit(this.bodyEnd);
  }

  /** Body without content-length: up to the first NUL. */
  private scanToNul(): boolean {
    const { buf, start: base } = this.input;
    const nul = buf.indexOf(NUL, base + this.scanned);
    const end = nul === -1 ? buf.length - base : nul - base;
    if (end > this.limits.maxFrameBytes) return this.fail(ErrorCode.FRAME_TOO_LARGE, 'body too large');
    if (nul === -1) {
      this.scanned = end;
      return false;
    }
    return this.emit(end);
  }

  /** Consume the frame (body ends at frame-relative `bodyEnd`, NUL follows), then report it. */
  private emit(bodyEnd: number): boolean {
    const input = this.input;
    const base = input.start;
    const frame: Frame = {
      command: this.head.command,
      headers: this.head.headers,
      body: input.buf.subarray(base + this.headEnd, base + bodyEnd),
    };
    input.start = base + bodyEnd + 1;
    this.resetFrame();
    this.sink.onFrame(frame);
    return true;
  }

  // --- frame state ---------------------------------------------------------

  /** The whole frame's length once its content-length is known (through its NUL), else 0. */
  private get frameBytes(): number {
    return this.state === State.BodyByLength ? this.bodyEnd + 1 : 0;
  }

  private release(): void {
    this.input.release();
    this.queue = null;
    this.queuedBytes = 0;
  }

  private resetFrame(): void {
    this.state = State.Head;
    this.scanned = 0;
    this.lineStart = 0;
    this.lines = 0;
    this.headEnd = 0;
    this.bodyEnd = 0;
    this.head.headers = NO_HEADERS;
    this.padding = 0;
  }

  // --- errors --------------------------------------------------------------

  private fail(code: ErrorCode, detail: string): false {
    this.state = State.Dead;
    this.release();
    this.sink.onError(new StompError(code, detail));
    return false;
  }

  private failLine(code: ErrorCode, detail: string): Line {
    this.fail(code, detail);
    return Line.Failed;
  }
}

