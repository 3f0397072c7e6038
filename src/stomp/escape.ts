/**
 * STOMP header escaping (pure, no I/O).
 *
 * STOMP 1.2: in header names and values `\r` `\n` `:` `\` are written as
 *   `\r` `\n` `\c` `\\`; any other escape is a fatal protocol error.
 * STOMP 1.1: the same without `\r` (a `\r` escape is invalid in 1.1).
 * STOMP 1.0: no escaping at all; bytes are taken verbatim.
 * CONNECT and CONNECTED headers are never escaped (see `escapesHeaders`).
 */

import { ErrorCode, StompError } from '../errors.js';
import type { StompVersion } from './frame.js';

const BACKSLASH = 92; // '\\'

/** One-pass decoders: escape letter (char code) -> decoded character. */
const DECODE_12: ReadonlyMap<number, string> = new Map([
  [0x72, '\r'], // \r
  [0x6e, '\n'], // \n
  [0x63, ':'], //  \c
  [BACKSLASH, '\\'], // \\
]);
const DECODE_11: ReadonlyMap<number, string> = new Map([
  [0x6e, '\n'], // \n
  [0x63, ':'], //  \c
  [BACKSLASH, '\\'], // \\
]);

const ENCODE_12: Readonly<Record<string, string>> = { '\r': '\\r', '\n': '\\n', ':': '\\c', '\\': '\\\\' };
const ENCODE_11: Readonly<Record<string, string>> = { '\n': '\\n', ':': '\\c', '\\': '\\\\' };
const SPECIAL_12 = /[\r\n:\\]/;
const SPECIAL_11 = /[\n:\\]/;
const ALL_12 = /[\r\n:\\]/g;
const ALL_11 = /[\n:\\]/g;

/**
 * Decode one header name or value. Throws `StompError(INVALID_ESCAPE)` on an
 * unknown escape or a trailing lone backslash. Returns `s` itself when it
 * holds no backslash (fast path) or when `version` is 1.0.
 */
export function unescapeHeader(s: string, version: StompVersion): string {
  if (version === '1.0') return s; // STOMP 1.0: no escaping
  let i = s.indexOf('\\');
  if (i === -1) return s;
  const table = version === '1.2' ? DECODE_12 : DECODE_11;
  let out = '';
  let from = 0;
  while (i !== -1) {
    const decoded = i + 1 < s.length ? table.get(s.charCodeAt(i + 1)) : undefined;
    // STOMP 1.2: "Undefined escape sequences such as \t MUST be treated as a fatal protocol error"
    if (decoded === undefined) throw invalidEscape(s, i);
    out += s.slice(from, i) + decoded;
    from = i + 2;
    i = s.indexOf('\\', from);
  }
  return out + s.slice(from);
}

/**
 * Encode one header name or value for `version`. Returns `s` itself when it
 * holds no character that needs escaping (fast path) or when `version` is 1.0.
 * In 1.1 a `\r` has no escape and is written raw.
 */
export function escapeHeader(s: string, version: StompVersion): string {
  if (version === '1.0') return s; // STOMP 1.0: no escaping
  if (version === '1.2') {
    return SPECIAL_12.test(s) ? s.replace(ALL_12, (c) => ENCODE_12[c] as string) : s;
  }
  return SPECIAL_11.test(s) ? s.replace(ALL_11, (c) => ENCODE_11[c] as string) : s;
}

function invalidEscape(s: string, at: number): StompError {
  const seq = at + 1 < s.length ? JSON.stringify(s.slice(at, at + 2)) : 'trailing backslash';
  return new StompError(ErrorCode.INVALID_ESCAPE, `${seq} at offset ${at}`);
}
