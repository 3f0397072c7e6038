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
 * Buffers by offset (like ws's Receiver): while a chunk holds whole frames the
 * parser works inside it and hands out `subarray` views (the body of a frame
 * that arrived in one chunk is a view of that chunk, with no copy). Only a
 * frame that spans chunks is copied, into one owned buffer: the unfinished
 * tail of a chunk, then from each later chunk just the bytes that frame still
 * needs (its next header line, its remaining content-length bytes, or up to
 * its NUL). Once it is complete the parser goes back to working inside the
 * chunk. The owned buffer grows geometrically, or is sized exactly once
 * `content-length` is known, so byte-by-byte input stays linear. Bytes already
 * handed out in a view are never overwritten.
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

/** Owned buffers start at least this big, so tiny chunks don't reallocate often. */
const MIN_OWNED_BYTES = 4096;
const EMPTY = Buffer.alloc(0);
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

  /** Valid data: either a borrowed chunk or a view of `store`; `buf.length` is the end. */
  private buf: Buffer = EMPTY;
  /** Owned backing buffer (null while `buf` is a borrowed chunk). */
  private store: Buffer | null = null;
  /** Offset in `buf` of the first byte of the current frame (or of the padding before it). */
  private start = 0;
  /** While `buf` is owned: the chunk its frame continues in, and how much of it was taken. */
  private tail: Buffer | null = null;
  private tailOff = 0;
  /** Chunks pushed from inside a callback (or left after a callback threw), in order; null when none. */
  private queue: Buffer[] | null = null;
  private queuedBytes = 0;
  private processing = false;

  // Per-frame state; positions are relative to `start`.
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
    return this.liveBytes + (this.tail === null ? 0 : this.tail.length - this.tailOff) + this.queuedBytes;
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
      this.settle();
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
    if (this.liveBytes === 0) {
      this.borrow(chunk);
    } else {
      if (this.store === null) this.own(); // the unfinished frame was in a borrowed chunk
      this.tail = chunk;
      this.tailOff = 0;
    }
    this.drain();
  }

  private drain(): void {
    for (;;) {
      const progressed =
        this.state === State.Head ? this.scanHead() : this.state === State.BodyByLength ? this.takeSizedBody() : this.scanToNul();
      if (progressed) this.leaveOwned();
      else if (this.failed || !this.pull()) return;
    }
  }

  /** Scan lines up to the blank line ending the head. True when it made progress. */
  private scanHead(): boolean {
    const buf = this.buf;
    const base = this.start;
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
    this.start += bytes;
    this.resetFrame();
    this.sink.onHeartbeat?.(1);
    return Line.Done;
  }

  /**
   * At a frame start: skip the run of EOLs (STOMP 1.2: EOLs between frames
   * are heart-beats) and stray NULs there in one pass, and report the EOLs in
   * one onHeartbeat call. Null when the first byte is neither (a CR whose LF
   * is not in `buf` yet is left to the head scanner, which waits for the LF).
   * A NUL past `maxPaddingBytes` in a row stops the pass; the next one fails,
   * after the EOLs before it were reported, as they would be byte by byte.
   */
  private skipPadding(): boolean | null {
    const buf = this.buf;
    const from = this.start;
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
    this.start = pos; // consumed before the callback, which may throw or push
    this.padding = nuls;
    if (beats > 0) this.sink.onHeartbeat?.(beats);
    return true;
  }

  /**
   * The fast path (see headInWindow): null when the head is not complete in
   * the first bytes of `buf` or is over a limit; the byte scanner then
   * handles (or reports) it.
   */
  private fastHead(): boolean | null {
    let headEnd: number;
    try {
      headEnd = headInWindow(this.buf, this.start, this.versionValue, this.limits, this.head);
    } catch (err) {
      return this.badHead(err) === Line.Done;
    }
    return headEnd === -1 ? null : this.afterHead(headEnd) === Line.Done;
  }

  /** The head (`headEnd` bytes) is complete: parse it, then set up the body. */
  private endHead(headEnd: number): Line {
    try {
      parseHead(this.buf.toString('utf8', this.start, this.start + headEnd), this.versionValue, null, this.head);
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
    this.reserve(bodyEnd + 1);
    return Line.Done;
  }

  /** Body of known length: wait for it plus its NUL. */
  private takeSizedBody(): boolean {
    const nulAt = this.start + this.bodyEnd;
    if (nulAt >= this.buf.length) return false;
    // STOMP 1.2: the body is followed by a NUL octet
    if (this.buf[nulAt] !== NUL) return this.fail(ErrorCode.MISSING_NULL, `byte ${this.buf[nulAt]} after content-length body`);
    return this.emit(this.bodyEnd);
  }

  /** Body without content-length: up to the first NUL. */
  private scanToNul(): boolean {
    const base = this.start;
    const nul = this.buf.indexOf(NUL, base + this.scanned);
    const end = nul === -1 ? this.buf.length - base : nul - base;
    if (end > this.limits.maxFrameBytes) return this.fail(ErrorCode.FRAME_TOO_LARGE, 'body too large');
    if (nul === -1) {
      this.scanned = end;
      return false;
    }
    return this.emit(end);
  }

  /** Consume the frame (body ends at frame-relative `bodyEnd`, NUL follows), then report it. */
  private emit(bodyEnd: number): boolean {
    const base = this.start;
    const frame: Frame = {
      command: this.head.command,
      headers: this.head.headers,
      body: this.buf.subarray(base + this.headEnd, base + bodyEnd),
    };
    this.start = base + bodyEnd + 1;
    this.resetFrame();
    this.sink.onFrame(frame);
    return true;
  }

  // --- buffers -------------------------------------------------------------

  private get liveBytes(): number {
    return this.buf.length - this.start;
  }

  private borrow(chunk: Buffer): void {
    this.buf = chunk;
    this.store = null;
    this.start = 0;
    this.tail = null;
  }

  /**
   * Copy from `tail` into the owned buffer what the unfinished frame needs
   * next: one header line, the rest of a sized body, or up to a NUL — never
   * more than would take the frame past `maxFrameBytes` (+1 so the excess is
   * seen). False when the tail is used up.
   */
  private pull(): boolean {
    const tail = this.tail;
    if (tail === null) return false;
    const from = this.tailOff;
    let to: number;
    if (this.state === State.BodyByLength) {
      to = from + this.bodyEnd + 1 - this.liveBytes;
    } else {
      const at = tail.indexOf(this.state === State.Head ? LF : NUL, from);
      to = at === -1 ? tail.length : at + 1;
    }
    // live <= maxFrameBytes here (the steps fail beyond it), so this always takes at least one byte
    to = Math.min(to, tail.length, from + this.limits.maxFrameBytes + 1 - this.liveBytes);
    this.appendOwned(tail, from, to);
    if (to === tail.length) this.tail = null;
    else this.tailOff = to;
    return true;
  }

  /** After a frame or heart-beat: once the owned bytes are used up, work inside the tail chunk again. */
  private leaveOwned(): void {
    if (this.tail !== null && this.liveBytes === 0) {
      const { tail, tailOff } = this;
      this.borrow(tail);
      this.start = tailOff;
    }
  }

  private appendOwned(src: Buffer, from: number, to: number): void {
    const at = this.ensureOwned(this.liveBytes + (to - from));
    src.copy(this.store as Buffer, at, from, to);
    this.buf = (this.store as Buffer).subarray(0, at + (to - from));
  }

  /**
   * Make `store` hold the live bytes with room for `total` live bytes in all;
   * returns the offset in `store` where new bytes go.
   */
  private ensureOwned(total: number, exact = false): number {
    const live = this.liveBytes;
    const store = this.store;
    if (store !== null && this.start + total <= store.length) return this.buf.length;
    // grow geometrically (amortized linear copying), but never far past one maximal frame
    const cap = exact ? total : Math.max(total, Math.min(2 * total, this.limits.maxFrameBytes + 1), MIN_OWNED_BYTES);
    const next = Buffer.allocUnsafeSlow(cap);
    this.buf.copy(next, 0, this.start);
    this.store = next;
    this.buf = next.subarray(0, live);
    this.start = 0;
    return live;
  }

  /** Once content-length is known, size the owned buffer for the whole frame. */
  private reserve(frameBytes: number): void {
    if (this.store !== null) this.ensureOwned(frameBytes, true);
  }

  /**
   * When push() returns: keep what is still needed in the owned buffer (the
   * unfinished frame of a borrowed chunk; the rest of a tail left by a
   * callback that threw) and shrink an owned buffer whose consumed prefix
   * outweighs its live bytes.
   */
  private settle(): void {
    if (this.state === State.Dead) {
      this.release();
      return;
    }
    const tail = this.tail;
    if (tail !== null) {
      this.tail = null;
      this.appendOwned(tail, this.tailOff, tail.length);
    }
    const live = this.liveBytes;
    if (live === 0) {
      this.buf = EMPTY;
      this.store = null;
      this.start = 0;
    } else if (this.store === null || this.start > live) {
      this.own();
    }
  }

  /** Move the live bytes into a new owned buffer (sized for the whole frame when its length is known). */
  private own(): void {
    const sized = this.state === State.BodyByLength;
    this.store = null;
    this.ensureOwned(sized ? Math.max(this.bodyEnd + 1, this.liveBytes) : this.liveBytes, sized);
  }

  private release(): void {
    this.buf = EMPTY;
    this.store = null;
    this.start = 0;
    this.tail = null;
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

