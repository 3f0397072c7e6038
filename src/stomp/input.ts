/**
 * The frame parser's input buffers (pure, no I/O): the bytes from the start
 * of the current frame on, worked on by offset (like ws's Receiver).
 *
 * While a chunk holds whole frames the parser works inside it and hands out
 * `subarray` views (the body of a frame that arrived in one chunk is a view
 * of that chunk, with no copy). Only a frame that spans chunks is copied,
 * into one owned buffer: the unfinished tail of a chunk, then from each later
 * chunk just the bytes that frame still needs (its next header line, its
 * remaining content-length bytes, or up to its NUL). Once it is complete the
 * parser goes back to working inside the chunk. The owned buffer grows
 * geometrically, or is sized exactly once `content-length` is known, so
 * byte-by-byte input stays linear. Bytes already handed out in a view are
 * never overwritten.
 *
 * This knows no STOMP syntax: the parser (src/stomp/parser.ts) reads `buf`
 * from `start`, moves `start` past what it consumed, and says what the
 * current frame needs next: its whole length once that is known
 * (`frameBytes`, else 0), or the byte its scan waits for (`stop`).
 */

/** Owned buffers start at least this big, so tiny chunks don't reallocate often. */
const MIN_OWNED_BYTES = 4096;
const EMPTY = Buffer.alloc(0);

export class ParserInput {
  /** Valid data: either a borrowed chunk or a view of `store`; `buf.length` is the end. */
  buf: Buffer = EMPTY;
  /** Offset in `buf` of the first byte of the current frame (or of the padding before it). */
  start = 0;
  /** Owned backing buffer (null while `buf` is a borrowed chunk). */
  private store: Buffer | null = null;
  /** While `buf` is owned: the chunk its frame continues in, and how much of it was taken. */
  private tail: Buffer | null = null;
  private tailOff = 0;

  /** `maxFrameBytes` bounds what pull() takes and how far an owned buffer grows ahead. */
  constructor(private readonly maxFrameBytes: number) {}

  /** Bytes from `start` to the end of `buf`: the unfinished frame so far. */
  get liveBytes(): number {
    return this.buf.length - this.start;
  }

  /** The live bytes and what is left of the tail. */
  get bufferedBytes(): number {
    return this.liveBytes + (this.tail === null ? 0 : this.tail.length - this.tailOff);
  }

  /**
   * A new chunk: worked inside when no bytes are live; otherwise it is the
   * tail the unfinished frame continues in (whose bytes, if borrowed, move
   * to an owned buffer first).
   */
  add(chunk: Buffer, frameBytes: number): void {
    if (this.liveBytes === 0) {
      this.borrow(chunk);
    } else {
      if (this.store === null) this.own(frameBytes); // the unfinished frame was in a borrowed chunk
      this.tail = chunk;
      this.tailOff = 0;
    }
  }

  /**
   * Copy from `tail` into the owned buffer what the unfinished frame needs
   * next: the rest of a sized frame (`frameBytes` > 0), else up to and with
   * the next `stop` byte (one header line, or up to a NUL) — never more than
   * would take the frame past `maxFrameBytes` (+1 so the excess is seen).
   * False when the tail is used up.
   */
  pull(frameBytes: number, stop: number): boolean {
    const tail = this.tail;
    if (tail === null) return false;
    const from = this.tailOff;
    let to: number;
    if (frameBytes > 0) {
      to = from + frameBytes - this.liveBytes;
    } else {
      const at = tail.indexOf(stop, from);
      to = at === -1 ? tail.length : at + 1;
    }
    // live <= maxFrameBytes here (the steps fail beyond it), so this always takes at least one byte
    to = Math.min(to, tail.length, from + this.maxFrameBytes + 1 - this.liveBytes);
    this.appendOwned(tail, from, to);
    if (to === tail.length) this.tail = null;
    else this.tailOff = to;
    return true;
  }

  /** After a frame or heart-beat: once the owned bytes are used up, work inside the tail chunk again. */
  leaveOwned(): void {
    if (this.tail !== null && this.liveBytes === 0) {
      const { tail, tailOff } = this;
      this.borrow(tail);
      this.start = tailOff;
    }
  }

  /** Once content-length is known, size the owned buffer for the whole frame. */
  reserve(frameBytes: number): void {
    if (this.store !== null) this.ensureOwned(frameBytes, true);
  }

  /**
   * When push() returns: keep what is still needed in the owned buffer (the
   * unfinished frame of a borrowed chunk; the rest of a tail left by a
   * callback that threw) and shrink an owned buffer whose consumed prefix
   * outweighs its live bytes.
   */
  settle(frameBytes: number): void {
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
      this.own(frameBytes);
    }
  }

  /** Drop every byte. */
  release(): void {
    this.buf = EMPTY;
    this.store = null;
    this.start = 0;
    this.tail = null;
  }

  private borrow(chunk: Buffer): void {
    this.buf = chunk;
    this.store = null;
    this.start = 0;
    this.tail = null;
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
    const cap = exact ? total : Math.max(total, Math.min(2 * total, this.maxFrameBytes + 1), MIN_OWNED_BYTES);
    const next = Buffer.allocUnsafeSlow(cap);
    this.buf.copy(next, 0, this.start);
    this.store = next;
    this.buf = next.subarray(0, live);
    this.start = 0;
    return live;
  }

  /** Move the live bytes into a new owned buffer (sized for the whole frame when its length is known). */
  private own(frameBytes: number): void {
    const sized = frameBytes > 0;
    this.store = null;
    this.ensureOwned(sized ? Math.max(frameBytes, this.liveBytes) : this.liveBytes, sized);
  }
}
