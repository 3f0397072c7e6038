/**
 * STOMP frame encoder (pure, no I/O).
 *
 * The head (command line, headers, blank line) is built as one string and
 * written with one UTF-8 encode. Small bodies are copied after it so the
 * whole frame is one Buffer; a large Buffer body is never copied by
 * `encodeFrameParts`, so a transport can write head and body separately
 * (writev under cork/uncork).
 */

import { ErrorCode, StompError } from '../errors.js';
import { escapesHeaders, type OutFrame, type StompVersion } from './frame.js';
import { escapeHeader } from './escape.js';

/** A heart-beat: one EOL (STOMP 1.2: "heart-beats ... an end-of-line"). */
export const HEARTBEAT_EOL: Buffer = Buffer.from('\n');

/** The octet that ends every frame. */
export const NULL_BYTE: Buffer = Buffer.from([0]);

/**
 * Buffer bodies up to this many bytes are copied into the head buffer by
 * `encodeFrameParts` (one write); larger ones are returned as they are.
 */
export const INLINE_BODY_BYTES = 16 * 1024;

export interface EncodeOptions {
  /**
   * Default true: write a correct `content-length` header whenever the body is
   * non-empty or the frame has a `content-length` header (replacing its value,
   * in its position; appended last otherwise). False: write headers as given.
   */
  contentLength?: boolean | undefined;
}

/**
 * `[head, body]`. The frame on the wire is `head` when `body` is null (then
 * `head` is the complete frame, NUL included); otherwise it is `head`, then
 * `body`, then `NULL_BYTE`. `body` is non-null only for a body larger than
 * `INLINE_BODY_BYTES`: the caller's Buffer itself (no copy), or the UTF-8
 * encoding of a string body.
 */
export type FrameParts = [head: Buffer, body: Buffer | null];

/** Encode for a transport that can write several buffers (see `FrameParts`). */
export function encodeFrameParts(frame: OutFrame, version: StompVersion = '1.2', opts?: EncodeOptions): FrameParts {
  return encode(frame, version, opts, INLINE_BODY_BYTES);
}

/** Encode as one Buffer holding the whole frame (e.g. one WebSocket message). */
export function encodeFrame(frame: OutFrame, version: StompVersion = '1.2', opts?: EncodeOptions): Buffer {
  return encode(frame, version, opts, Infinity)[0];
}

function encode(frame: OutFrame, version: StompVersion, opts: EncodeOptions | undefined, inlineMax: number): FrameParts {
  const raw = frame.body;
  // Large strings are encoded once to a Buffer; small ones are written in place.
  const body = typeof raw === 'string' && raw.length > inlineMax ? Buffer.from(raw, 'utf8') : raw;
  const bodyBytes = body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
  const head = headString(frame, version, opts?.contentLength !== false, bodyBytes);
  if (typeof body !== 'string' && body !== undefined && bodyBytes > inlineMax) {
    return [Buffer.from(head, 'utf8'), body];
  }
  const headBytes = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headBytes + bodyBytes + 1);
  out.write(head, 0, 'utf8');
  if (typeof body === 'string') out.write(body, headBytes, 'utf8');
  else if (body !== undefined) body.copy(out, headBytes);
  out[headBytes + bodyBytes] = 0; // STOMP 1.2: a frame ends with NUL
  return [out, null];
}

/** Command line, header lines and the blank line, as one string. */
function headString(frame: OutFrame, version: StompVersion, autoLength: boolean, bodyBytes: number): string {
  const { command, headers } = frame;
  const escaped = escapesHeaders(command, version);
  let s = command + '\n';
  let hadLength = false;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue; // tolerate JS callers' optional headers
    if (autoLength && name === 'content-length') {
      hadLength = true;
      s += `content-length:${bodyBytes}\n`;
      continue;
    }
    s += escaped ? headerLine(name, value, version) : rawHeaderLine(name, value);
  }
  // STOMP 1.2: frames with a body SHOULD include content-length
  if (autoLength && !hadLength && bodyBytes > 0) s += `content-length:${bodyBytes}\n`;
  return s + '\n';
}

function headerLine(name: string, value: string, version: StompVersion): string {
  if (name.length === 0) throw invalidHeader('empty header name');
  return escapeHeader(name, version) + ':' + escapeHeader(String(value), version) + '\n';
}

/** STOMP 1.2: CONNECT/CONNECTED (and all of 1.0) are not escaped, so EOLs and a colon in a name can't be sent. */
const RAW_BAD_NAME = /[\r\n:]/;
const RAW_BAD_VALUE = /[\r\n]/;

function rawHeaderLine(name: string, value: string): string {
  const v = String(value);
  if (name.length === 0 || RAW_BAD_NAME.test(name)) throw invalidHeader(`header name ${JSON.stringify(name)} cannot be sent unescaped`);
  if (RAW_BAD_VALUE.test(v)) throw invalidHeader(`value of ${JSON.stringify(name)} cannot be sent unescaped`);
  return name + ':' + v + '\n';
}

function invalidHeader(detail: string): StompError {
  return new StompError(ErrorCode.INVALID_HEADER, detail);
}
