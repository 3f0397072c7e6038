/**
 * Parsing a frame's head: the command line, the header lines and the blank
 * line that ends them (pure, no I/O; the frame parser in src/stomp/parser.ts
 * decides where a head starts and what follows it).
 *
 * STOMP 1.2 rules applied here: an EOL is LF or CRLF; the command is one of
 * the known commands; a header is name ":" value with a non-empty name, taken
 * verbatim (no trimming) from a UTF-8 decoding; if a header is repeated, only
 * the first entry is used; escapes are decoded per the protocol version,
 * except in CONNECT (and STOMP) and CONNECTED; a blank line ends the headers;
 * content-length is a non-negative decimal byte count.
 *
 * Heads are parsed from strings. LF, CR and ':' are ASCII, so they keep their
 * meaning in a UTF-8 decoding, but limits count bytes: the fast path
 * (`headInWindow`) measures a head in a decoding of the input whose offsets
 * are byte offsets, and leaves a head it cannot finish within the limits in
 * its window to the parser's byte scanner, which also reports the limits.
 *
 * Results go into a `ParsedHead` the caller owns, so parsing a head
 * allocates no result object.
 */

import { ErrorCode, StompError } from '../errors.js';
import { escapesHeaders, type Command, type Headers, type StompVersion } from './frame.js';
import { unescapeHeader } from './escape.js';
import type { ParserLimits } from './limits.js';

/** Where a parsed head goes: set only when a head was parsed. */
export interface ParsedHead {
  command: Command;
  headers: Headers;
}

const CR = 0x0d;

/** The fast path looks for the head in the first 512 bytes, then in the first 4 KiB. */
const FAST_HEAD_FIRST_BYTES = 512;
const FAST_HEAD_BYTES = 4096;

/**
 * Fast path for a head wholly inside the first bytes of `buf` from `base`:
 * decode a window once and walk its lines with string searches instead of a
 * byte scan per line. Offsets in the string must be byte offsets (so limits
 * are exact): an all-ASCII window decoded as UTF-8 has them; otherwise the
 * head is located in a latin1 decoding (one char per byte) and decoded again
 * as UTF-8. Returns the head's length through its blank line (command and
 * headers in `out`), or -1 when the head is not complete in the window or is
 * over a limit. Throws a StompError for a complete head within the limits
 * that is invalid (see parseHead).
 */
export function headInWindow(buf: Buffer, base: number, version: StompVersion, limits: Readonly<ParserLimits>, out: ParsedHead): number {
  const avail = buf.length - base;
  // a small window first, so the body of a small frame is not decoded with its head
  const first = Math.min(avail, FAST_HEAD_FIRST_BYTES);
  const headEnd = headInWindowOf(buf, base, first, version, limits, out);
  if (headEnd !== -1 || first === avail) return headEnd;
  return headInWindowOf(buf, base, Math.min(avail, FAST_HEAD_BYTES), version, limits, out);
}

function headInWindowOf(buf: Buffer, base: number, size: number, version: StompVersion, limits: Readonly<ParserLimits>, out: ParsedHead): number {
  // Decoded as UTF-8, a window of single-byte characters (ASCII) keeps byte
  // offsets: parse it in one walk that also checks the limits. Anything
  // unusual (and any other window) takes the exact two-step route below.
  let s = buf.toString('utf8', base, base + size);
  const single = s.length === size;
  if (single) {
    const headEnd = tryParseHead(s, version, limits, out);
    if (headEnd !== -1) return headEnd;
  } else {
    s = buf.toString('latin1', base, base + size);
  }
  const headEnd = findHeadEnd(s, limits);
  if (headEnd === -1) return -1;
  parseHead(single ? s.slice(0, headEnd) : buf.toString('utf8', base, base + headEnd), version, null, out);
  return headEnd;
}

/** parseHead() within the limits, or -1 (head incomplete, over a limit, or invalid). */
function tryParseHead(s: string, version: StompVersion, limits: Readonly<ParserLimits>, out: ParsedHead): number {
  try {
    return parseHead(s, version, limits, out);
  } catch {
    return -1; // invalid: reported by the exact route, once the head is complete and within limits
  }
}

/**
 * Set `out`'s command and headers from `s`, which starts with a decoded head
 * (header escapes decoded per `version`). Returns the head's length through
 * its blank line, or -1 when `s` holds no complete head or, given `limits`,
 * the head is over one of them (`out` is then untouched). Throws a
 * StompError for an unknown command, a malformed header or a bad escape.
 */
export function parseHead(s: string, version: StompVersion, limits: Readonly<ParserLimits> | null, out: ParsedHead): number {
  let eol = s.indexOf('\n');
  if (eol === -1 || (limits !== null && lineLength(s, 0, eol) > limits.maxCommandBytes)) return -1;
  const command = parseCommand(s, eol);
  const escaped = escapesHeaders(command, version) && s.includes('\\');
  const headers = Object.create(null) as Headers;
  let count = 0;
  for (let from = eol + 1; ; from = eol + 1) {
    eol = s.indexOf('\n', from);
    if (eol === -1) return -1;
    const to = eol > from && s.charCodeAt(eol - 1) === CR ? eol - 1 : eol; // STOMP 1.2: EOL is LF or CRLF
    if (to === from) break; // the blank line
    if (limits !== null && (to - from > limits.maxHeaderLineBytes || ++count > limits.maxHeaders)) return -1;
    const colon = s.indexOf(':', from);
    // STOMP 1.2: header = name ":" value, with a non-empty name
    if (colon === -1 || colon >= to || colon === from) throw new StompError(ErrorCode.MALFORMED_HEADER, JSON.stringify(s.slice(from, to)));
    let name = knownName(s, from, colon);
    let value = s.slice(colon + 1, to);
    if (escaped) {
      name = unescapeHeader(name, version);
      value = unescapeHeader(value, version);
    }
    // STOMP 1.2: if a header is repeated, only the first entry is used
    if (headers[name] === undefined) headers[name] = value;
  }
  if (limits !== null && eol + 1 > limits.maxFrameBytes) return -1;
  out.command = command;
  out.headers = headers;
  return eol + 1;
}

function parseCommand(head: string, eol: number): Command {
  const s = head.slice(0, head.charCodeAt(eol - 1) === CR ? eol - 1 : eol); // STOMP 1.2: EOL may be CRLF
  const command = knownCommand(s);
  if (command === undefined) throw new StompError(ErrorCode.UNKNOWN_COMMAND, JSON.stringify(s));
  return command;
}

/**
 * The command constant equal to `s` (client and server commands, so test
 * clients can parse too). A switch of string compares is cheaper than
 * hashing the fresh string, and frames then share the constant.
 */
function knownCommand(s: string): Command | undefined {
  switch (s) {
    case 'MESSAGE': return 'MESSAGE';
    case 'SEND': return 'SEND';
    case 'ACK': return 'ACK';
    case 'NACK': return 'NACK';
    case 'SUBSCRIBE': return 'SUBSCRIBE';
    case 'UNSUBSCRIBE': return 'UNSUBSCRIBE';
    case 'RECEIPT': return 'RECEIPT';
    case 'CONNECT': return 'CONNECT';
    case 'STOMP': return 'STOMP';
    case 'CONNECTED': return 'CONNECTED';
    case 'BEGIN': return 'BEGIN';
    case 'COMMIT': return 'COMMIT';
    case 'ABORT': return 'ABORT';
    case 'DISCONNECT': return 'DISCONNECT';
    case 'ERROR': return 'ERROR';
    default: return undefined;
  }
}

/**
 * End of the head (offset after its blank line) in a latin1 string, or -1
 * when it is not complete or a line or header count is over its limit.
 */
export function findHeadEnd(s: string, limits: Readonly<ParserLimits>): number {
  let eol = s.indexOf('\n');
  if (eol === -1 || lineLength(s, 0, eol) > limits.maxCommandBytes) return -1;
  let headers = 0;
  let from = eol + 1;
  while ((eol = s.indexOf('\n', from)) !== -1) {
    const len = lineLength(s, from, eol);
    if (len === 0) return eol + 1 > limits.maxFrameBytes ? -1 : eol + 1;
    if (len > limits.maxHeaderLineBytes || ++headers > limits.maxHeaders) return -1;
    from = eol + 1;
  }
  return -1;
}

/** Length of the line [from, eol) without the CR of a CRLF. */
function lineLength(s: string, from: number, eol: number): number {
  return eol > from && s.charCodeAt(eol - 1) === CR ? eol - 1 - from : eol - from;
}

/** STOMP 1.2: content-length is a byte count, a non-negative decimal integer; -1 if invalid. */
export function parseLength(s: string): number {
  if (s.length === 0 || s.length > 15) return s.length > 15 && /^[0-9]+$/.test(s) ? Infinity : -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * The header name in `head` [from, to), as a constant for the standard
 * STOMP headers: a keyed store with a fresh string has to look the string up
 * in V8's string table first, a constant is already there.
 */
function knownName(head: string, from: number, to: number): string {
  const name = head.slice(from, to);
  switch (name) {
    case 'destination': return 'destination';
    case 'subscription': return 'subscription';
    case 'message-id': return 'message-id';
    case 'content-type': return 'content-type';
    case 'content-length': return 'content-length';
    case 'id': return 'id';
    case 'ack': return 'ack';
    case 'receipt': return 'receipt';
    case 'receipt-id': return 'receipt-id';
    case 'transaction': return 'transaction';
    case 'message': return 'message';
    default: return name;
  }
}
