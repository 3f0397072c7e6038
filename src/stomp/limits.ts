/**
 * The frame parser's limits (pure, no I/O): what each one bounds, the
 * defaults, and their resolution into a complete, frozen set.
 *
 * The parser enforces them as it reads (src/stomp/parser.ts), so the memory
 * a connection's parser holds is bounded by `maxFrameBytes`. A set made by
 * parserLimits() is marked as resolved and shared as it is by every parser
 * given it; any other partial set is resolved again per parser.
 */

export interface ParserLimits {
  /**
   * Bytes of one frame: command line, header lines, blank line and body
   * (the terminating NUL, heart-beat EOLs and padding NULs are not counted).
   */
  maxFrameBytes: number;
  /** Header lines in one frame (repeated headers count). */
  maxHeaders: number;
  /** Bytes of one header line, not counting its EOL (LF or CRLF). */
  maxHeaderLineBytes: number;
  /** Bytes of the command line, not counting its EOL. */
  maxCommandBytes: number;
  /**
   * Stray NUL bytes in a row between frames (skipped as padding). A frame or
   * an EOL heart-beat ends the run; EOLs are not limited (an idle client
   * heart-beats for as long as it stays connected).
   */
  maxPaddingBytes: number;
}

export const DEFAULT_PARSER_LIMITS: Readonly<ParserLimits> = Object.freeze({
  maxFrameBytes: 1024 * 1024,
  maxHeaders: 64,
  maxHeaderLineBytes: 8192,
  maxCommandBytes: 32,
  maxPaddingBytes: 1024 * 1024, // as much as the default maxFrameBytes
});

/** Limits made by parserLimits(): complete and frozen, so parsers share them as they are. */
const RESOLVED_LIMITS = new WeakSet<Readonly<ParserLimits>>();

/**
 * Complete, frozen limits (defaults for what `given` leaves out) that any
 * number of parsers can share: a connection-per-parser server resolves them
 * once instead of once per connection.
 */
export function parserLimits(given?: Partial<ParserLimits>): Readonly<ParserLimits> {
  const limits = resolveLimits(given);
  RESOLVED_LIMITS.add(limits);
  return limits;
}

/**
 * The limits a parser uses for `given`: a set from parserLimits() as it is,
 * anything else (partial, or none) resolved anew. Throws a RangeError for a
 * limit that is not a positive integer.
 */
export function limitsFor(given: Partial<ParserLimits> | undefined): Readonly<ParserLimits> {
  return given !== undefined && RESOLVED_LIMITS.has(given as Readonly<ParserLimits>) ? (given as Readonly<ParserLimits>) : resolveLimits(given);
}

function resolveLimits(given: Partial<ParserLimits> | undefined): Readonly<ParserLimits> {
  const limits: ParserLimits = { ...DEFAULT_PARSER_LIMITS };
  for (const key of Object.keys(limits) as (keyof ParserLimits)[]) {
    const v = given?.[key];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`parser limit ${key} must be a positive integer, got ${String(v)}`);
    limits[key] = v;
  }
  return Object.freeze(limits);
}
