/**
 * One STOMP session per connection: the protocol state machine. It owns the
 * codec for its connection, dispatches each client frame to a small handler
 * (src/session/handlers/*), and turns every client mistake into an ERROR
 * frame followed by a clean close. It knows the broker only through the
 * SessionHost interface, and the transport only through Connection.
 *
 * Why one file of ~580 lines: the state machine's steps (input queue and
 * slices, dispatch, CONNECT, heart-beat timers, delivery, errors and close)
 * read and write the same few fields on the hot path, and splitting them
 * would put those fields behind accessors; what has state of its own lives
 * beside it: the codec, one handler per command (handlers/), the
 * unacknowledged messages (acks.ts), subscriptions (subscription.ts).
 */
import type { Logger } from 'pino';
import { MAX_TIMER_MS, type BrokerConfig } from '../config.js';
import type { AuthContext, Principal } from './auth.js';
import { ErrorCode, StompError, isStompError } from '../errors.js';
import { setHeader, type Frame, type Headers, type OutFrame, type StompVersion } from '../stomp/frame.js';
import { FrameParser, parserLimits, type FrameSink, type ParserSettings } from '../stomp/parser.js';
import { encodeFrame } from '../stomp/encoder.js';
import type { Connection } from './connection.js';
import { DedupeWindow, type Delivery, type Subscription, type Unacked } from './subscription.js';
import { HANDLERS } from './handlers/index.js';
import { UnackedMessages, heldBody, heldBytes } from './acks.js';

/** The broker, as a session sees it. */
export interface SessionHost {
  readonly config: BrokerConfig;
  readonly log: Logger;
  readonly nodeId: string;
  newSessionId(): string;
  authenticate(ctx: AuthContext): Promise<Principal | null>;
  /** After CONNECTED was sent. */
  sessionOpened(s: Session): Promise<void> | void;
  /** Once, when the session is gone. */
  sessionClosed(s: Session): void;
  subscribe(s: Session, sub: Subscription): Promise<void> | void;
  unsubscribe(s: Session, sub: Subscription): void;
  send(s: Session, frame: Frame): Promise<void> | void;
  /** Counters for observability. */
  count?(event: SessionEvent, n?: number): void;
  /** Counts an ERROR sent to a client, by error code. */
  countError?(code: string): void;
  /**
   * Charge what a transaction of `s` buffers to the node's memory budget:
   * `grow` throws the coded refusal when it does not fit.
   */
  holdTransaction(s: Session): HeldBytes;
}

/** Bytes charged to the node's memory budget for one holder; released once. */
export interface HeldBytes {
  grow(bytes: number): void;
  release(): void;
}

/** An open transaction (STOMP 1.2 BEGIN .. COMMIT/ABORT). */
export interface Transaction {
  readonly frames: Frame[];
  readonly held: HeldBytes;
  bytes: number;
}

export type SessionEvent = 'frame_in' | 'frame_out' | 'error' | 'heartbeat_in' | 'heartbeat_out';

type State = 'awaiting-connect' | 'connecting' | 'connected' | 'closing' | 'closed';


/** Ids remembered per subscription for duplicate detection. */
const DEDUPE_WINDOW = 2048;
/** Frames waiting behind a slow one at which the session stops reading from its connection... */
const MAX_PENDING_FRAMES = 1000;
/** ...and past which (frames of a chunk already read) it closes with STOMP_ERR_INPUT_OVERFLOW. */
const MAX_WAITING_FRAMES = 10 * MAX_PENDING_FRAMES;
/** The most one transport read hands over (a TCP chunk; a WebSocket message is bounded by its own limit). */
const READ_CHUNK_BYTES = 64 * 1024;
/** How long a session works through its input in one turn of the event loop before it lets others go. */
const SLICE_MS = 2;
const ERROR_CLOSE_GRACE_MS = 1000;

/** Parser settings per broker limits: resolved once and shared by every session of that broker. */
const parserSettings = new WeakMap<BrokerConfig['limits'], ParserSettings>();

/**
 * Bytes of frames waiting behind a slow one (see Session.wait): reading pauses
 * at two frames' worth; what still arrives after that (the rest of the read
 * being handled, the message completing in it: a WebSocket message, a SockJS
 * request of up to two) is within the overflow bound, past which the client is
 * cut off with STOMP_ERR_INPUT_OVERFLOW.
 */
function inputBounds(l: BrokerConfig['limits']): { pauseBytes: number; overflowBytes: number } {
  const pauseBytes = 2 * l.maxFrameBytes;
  return { pauseBytes, overflowBytes: pauseBytes + 2 * (l.maxWebSocketMessageBytes + READ_CHUNK_BYTES) };
}

function parserSettingsFor(l: BrokerConfig['limits']): ParserSettings {
  let settings = parserSettings.get(l);
  if (settings === undefined) {
    settings = { limits: parserLimits({ maxFrameBytes: l.maxFrameBytes, maxHeaders: l.maxHeaders, maxHeaderLineBytes: l.maxHeaderLineBytes }) };
    parserSettings.set(l, settings);
  }
  return settings;
}

/**
 * Memory per idle session matters (a node holds tens of thousands): what only
 * some sessions use (transactions, unacked messages, frames waiting behind a
 * slow one, a logger) is made on first use, and the session is its parser's
 * sink, so it needs no closures of its own.
 */
export class Session implements FrameSink {
  readonly id: string;
  readonly host: SessionHost;
  readonly conn: Connection;
  /** Child logger bound to this session's ids, made on first use (most sessions never log). */
  private logger: Logger | null = null;
  version: StompVersion = '1.2';
  principal: Principal | null = null;
  state: State = 'awaiting-connect';
  readonly subscriptions = new Map<string, Subscription>();
  /** transaction id -> frames buffered until COMMIT (made by the first BEGIN). */
  transactions: Map<string, Transaction> | null = null;
  /** Bytes buffered in all open transactions (limits.maxTransactionBytesPerSession). */
  transactionBytes = 0;
  readonly connectedAt = Date.now();

  private readonly parser: FrameParser;
  /** Frames that arrived while an earlier one was being handled (null when none), taken from `pendingHead` on. */
  private pending: Array<Frame | undefined> | null = null;
  private pendingHead = 0;
  private busy = false;
  /** When this session's current slice of work began (performance.now()). */
  private sliceStart = 0;
  /** Client ack modes: what this session delivered and holds until ACK/NACK (made by the first such delivery). */
  private acks: UnackedMessages | null = null;
  private ackSeq = 0;
  private lastReceived = Date.now();
  /** Reading is paused behind MAX_PENDING_FRAMES queued frames or their bytes (a slow handler). */
  private inputPaused = false;
  /** Memory the waiting frames hold (see wait()), since the queue was last empty. */
  private waitingBytes = 0;
  /** The backing memory last counted in waitingBytes (consecutive frames of one read share it). */
  private waitingBacking: ArrayBufferLike | null = null;
  private lastSent = Date.now();
  private readTimer: NodeJS.Timeout | null = null;
  /** The negotiated read interval times the grace factor (0: no read check). */
  private readWindowMs = 0;
  private writeTimer: NodeJS.Timeout | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  private killTimer: NodeJS.Timeout | null = null;

  constructor(host: SessionHost, conn: Connection) {
    this.host = host;
    this.conn = conn;
    this.id = host.newSessionId();
    const l = host.config.limits;
    this.parser = new FrameParser(parserSettingsFor(l), this);
    this.connectTimer = setTimeout(() => {
      if (this.state === 'awaiting-connect' || this.state === 'connecting')
        this.fail(new StompError(ErrorCode.CONNECT_TIMEOUT, `no CONNECT within ${l.connectTimeoutMs} ms`));
    }, l.connectTimeoutMs);
    this.connectTimer.unref?.();
  }

  get user(): string | null {
    return this.principal?.name ?? null;
  }



  get log(): Logger {
    this.logger ??= this.host.log.child({ session: this.id, transport: this.conn.transport });
    return this.logger;
  }

  get isConnected(): boolean {
    return this.state === 'connected';
  }

  get isOpen(): boolean {
    return this.state === 'connected' || this.state === 'connecting' || this.state === 'awaiting-connect';
  }

  // ---------------------------------------------------------------- input

  /** Bytes from the transport. */
  receive(chunk: Buffer): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.lastReceived = Date.now();
    if (!this.busy) this.sliceStart = performance.now();
    this.parser.push(chunk);
  }

  /** FrameSink: a frame from this session's parser. */
  onFrame(frame: Frame): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.host.count?.('frame_in');
    if (this.busy) return this.wait(frame);
    if (performance.now() - this.sliceStart > SLICE_MS) {
      this.wait(frame);
      this.yieldTurn();
      return;
    }
    this.process(frame);
  }

  /**
   * Queue a frame behind the one being handled (or behind this turn's slice),
   * bounded in frames and in bytes. A waiting frame's body is a view of the read
   * it came in (a whole WebSocket message, a TCP chunk), so what it holds is that
   * read's memory, not its own length: each read is counted once, whole, by the
   * first of its frames that waits (a frame's headers are text decoded from the
   * same read, so they are within it). The count only grows until the queue is
   * empty again, when reading resumes: it is never below what is held.
   */
  private wait(frame: Frame): void {
    const pending = (this.pending ??= []);
    pending.push(frame);
    const waiting = pending.length - this.pendingHead;
    const backing = frame.body.buffer;
    if (backing !== this.waitingBacking) {
      this.waitingBacking = backing;
      this.waitingBytes += backing.byteLength;
    }
    const { pauseBytes, overflowBytes } = inputBounds(this.host.config.limits);
    if ((waiting >= MAX_PENDING_FRAMES || this.waitingBytes >= pauseBytes) && !this.inputPaused) {
      this.inputPaused = true;
      this.conn.pause?.();
    }
    // Pausing stops the next read, not the frames of one already read (a 1 MiB WebSocket
    // message can hold ~90,000 tiny frames): past a hard bound the client is cut off.
    if (waiting > MAX_WAITING_FRAMES)
      this.fail(new StompError(ErrorCode.INPUT_OVERFLOW, `more than ${MAX_WAITING_FRAMES} frames waiting behind a slow one`));
    else if (this.waitingBytes > overflowBytes)
      this.fail(new StompError(ErrorCode.INPUT_OVERFLOW, `more than ${overflowBytes} bytes of frames waiting behind a slow one`));
  }

  /**
   * This session had its slice of the turn (SLICE_MS): the frames left wait for
   * the next turn, so every other connection with input is served first. One
   * client cannot hold the event loop for longer than one slice (plus the one
   * frame that ends it) while others wait.
   */
  private yieldTurn(): void {
    this.busy = true;
    setImmediate(Session.nextSlice, this);
  }

  private static nextSlice(s: Session): void {
    s.busy = false;
    s.sliceStart = performance.now();
    s.drainPending();
  }

  /** FrameSink: `count` heart-beats (consecutive EOLs) from this session's parser. */
  onHeartbeat(count: number): void {
    this.host.count?.('heartbeat_in', count);
  }

  /** FrameSink: the client sent something invalid (the parser is dead from here on). */
  onError(err: StompError): void {
    this.fail(err);
  }

  private process(frame: Frame): void {
    let result: Promise<void> | void;
    try {
      result = this.dispatch(frame);
    } catch (err) {
      this.frameFailed(err, frame);
      return;
    }
    if (result && typeof (result as Promise<void>).then === 'function') {
      this.busy = true;
      (result as Promise<void>).then(
        () => {
          this.busy = false;
          this.sliceStart = performance.now(); // a new turn: a new slice
          this.frameDone(frame);
          this.drainPending();
        },
        (err: unknown) => {
          this.busy = false;
          this.frameFailed(err, frame);
        },
      );
    } else {
      this.frameDone(frame);
    }
  }

  private drainPending(): void {
    while (!this.busy && this.pending !== null && this.pendingHead < this.pending.length && this.isOpen) {
      if (performance.now() - this.sliceStart > SLICE_MS) return this.yieldTurn();
      const next = this.pending[this.pendingHead]!;
      this.pending[this.pendingHead++] = undefined; // let the frame go
      this.process(next);
      // Taken frames are cut off in bulk (amortised linear; shift() per frame is not).
      if (this.pending !== null && this.pendingHead >= 1024 && this.pendingHead * 2 >= this.pending.length) {
        this.pending.splice(0, this.pendingHead);
        this.pendingHead = 0;
      }
    }
    if (!this.busy && (this.pending === null || this.pendingHead >= this.pending.length)) {
      this.pending = null;
      this.pendingHead = 0;
      this.waitingBytes = 0;
      this.waitingBacking = null;
      if (this.inputPaused) {
        // Heart-beats were not read while paused: the client gets a fresh window.
        this.inputPaused = false;
        this.lastReceived = Date.now();
      }
      this.conn.resume?.();
    }
  }

  /** Run one frame's handler (also used by COMMIT to replay buffered frames). */
  dispatch(frame: Frame): Promise<void> | void {
    if (this.state === 'awaiting-connect' && frame.command !== 'CONNECT' && frame.command !== 'STOMP') {
      // STOMP 1.2: the first frame must be CONNECT (or STOMP).
      throw new StompError(ErrorCode.NOT_CONNECTED, `expected CONNECT, got ${frame.command}`);
    }
    const handler = HANDLERS[frame.command];
    if (!handler) throw new StompError(ErrorCode.UNKNOWN_COMMAND, `${frame.command} is not a client command`);
    return handler(this, frame);
  }

  private frameDone(frame: Frame): void {
    const receipt = frame.headers['receipt'];
    // DISCONNECT sends its own RECEIPT before closing.
    if (receipt !== undefined && frame.command !== 'DISCONNECT' && frame.command !== 'CONNECT' && frame.command !== 'STOMP')
      this.sendFrame({ command: 'RECEIPT', headers: { 'receipt-id': receipt } });
  }

  private frameFailed(err: unknown, frame: Frame): void {
    const receipt = frame.headers['receipt'];
    this.fail(err, receipt);
  }

  // ---------------------------------------------------------------- connect

  /** Called by the CONNECT handler once the session is authenticated. */
  markConnected(version: StompVersion, principal: Principal | null, readMs: number, writeMs: number): void {
    this.version = version;
    this.parser.setVersion(version);
    this.principal = principal;
    this.state = 'connected';
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.startHeartbeats(readMs, writeMs);
    this.armExpiry();
  }

  /** Heart-beat timers for the negotiated intervals (held within Node's timer range by negotiation). */
  private startHeartbeats(readMs: number, writeMs: number): void {
    if (writeMs > 0) {
      this.writeTimer = setInterval(() => {
        if (Date.now() - this.lastSent >= writeMs * 0.9) {
          this.lastSent = Date.now();
          this.host.count?.('heartbeat_out');
          this.conn.writeHeartbeat();
        }
      }, writeMs);
      this.writeTimer.unref?.();
    }
    if (readMs > 0) {
      this.readWindowMs = Math.round(readMs * this.host.config.heartbeat.graceFactor);
      this.armReadTimer(this.readWindowMs);
    }
  }

  /**
   * One timer per session, set for the moment its read window would end:
   * it fires about once per window while the client is alive (re-armed for
   * what is left of the window), and closes a silent client right when its
   * window ends.
   */
  private armReadTimer(delayMs: number): void {
    this.readTimer = setTimeout(Session.checkRead, delayMs, this);
    this.readTimer.unref?.();
  }

  private static checkRead(s: Session): void {
    if (s.state !== 'connected') return;
    const windowMs = s.readWindowMs;
    // While this side has paused reading (a slow handler), silence is ours, not the client's.
    if (s.inputPaused) return s.armReadTimer(windowMs);
    const left = s.lastReceived + windowMs - Date.now();
    if (left > 0) return s.armReadTimer(left);
    s.fail(new StompError(ErrorCode.HEARTBEAT_TIMEOUT, `nothing received for more than ${windowMs} ms`));
  }

  /**
   * A principal whose credentials expire (a JWT's `exp`): the session ends
   * with ERROR STOMP_ERR_TOKEN_EXPIRED at that moment (timers hold at most
   * MAX_TIMER_MS, so a far expiry is reached in steps).
   */
  private armExpiry(): void {
    const at = this.principal?.expiresAt;
    if (at === undefined) return;
    const left = at - Date.now();
    if (left <= 0) {
      this.fail(new StompError(ErrorCode.TOKEN_EXPIRED, 'the credentials of this session expired'));
      return;
    }
    this.expiryTimer = setTimeout(() => this.armExpiry(), Math.min(left, MAX_TIMER_MS));
    this.expiryTimer.unref?.();
  }

  // ---------------------------------------------------------------- output

  /**
   * Write a frame (RECEIPT, CONNECTED). Nothing is written once the session is
   * closing: after an ERROR (STOMP 1.2: the server closes after it) or a
   * DISCONNECT's RECEIPT, e.g. the RECEIPT of a frame whose handler was still
   * running when the session failed.
   */
  sendFrame(frame: OutFrame): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.writeRaw(this.encode(frame));
  }

  /**
   * Encode for this session's version. Headers the version cannot carry
   * (STOMP 1.0 has no escaping: no EOL in a value, no colon in a name) are left
   * out rather than failing the delivery, which would blame the sender and stop
   * the message reaching the other subscribers.
   */
  private encode(frame: OutFrame): Buffer {
    try {
      return encodeFrame(frame, this.version);
    } catch (err) {
      if (!isStompError(err) || err.code !== ErrorCode.INVALID_HEADER) throw err;
      const headers: Headers = {};
      for (const k in frame.headers) {
        const v = frame.headers[k]!;
        if (k.length > 0 && !/[\r\n:]/.test(k) && !/[\r\n]/.test(v)) headers[k] = v;
      }
      this.log.debug({ command: frame.command }, 'dropped headers that this protocol version cannot carry');
      return encodeFrame({ ...frame, headers }, this.version);
    }
  }

  private writeRaw(buf: Buffer): void {
    this.lastSent = Date.now();
    this.host.count?.('frame_out');
    this.conn.write(buf);
    if (this.state !== 'closing' && this.conn.bufferedAmount() > this.host.config.limits.maxBufferedBytes) {
      this.fail(
        new StompError(
          ErrorCode.SLOW_CONSUMER,
          `more than ${this.host.config.limits.maxBufferedBytes} bytes waiting to be sent; the client is not reading`,
        ),
      );
    }
  }

  /**
   * Hand one message to this session for `sub`. Returns false if it was not
   * written (duplicate, or session closed). In client ack modes the message
   * stays unacked until ACK/NACK; on session end unacked ones are NACKed.
   */
  deliver(sub: Subscription, d: Delivery): boolean {
    if (this.state !== 'connected' || this.subscriptions.get(sub.id) !== sub) return false;
    if (d.dedupe) {
      sub.seen ??= new DedupeWindow(DEDUPE_WINDOW);
      if (sub.seen.has(d.messageId)) return false;
      sub.seen.add(d.messageId);
    }
    const headers: Headers = {
      destination: d.destination,
      'message-id': d.messageId,
      subscription: sub.id,
    };
    if (sub.ack !== 'auto') {
      const limits = this.host.config.limits;
      // Kept until ACK: in memory of its own unless it (nearly) fills its backing, so a body
      // that is a view of a client's read (a 1-byte SEND padded to 1 MiB) does not pin it.
      const body = heldBody(d.body);
      const bytes = heldBytes(body, d.headers);
      const acks = (this.acks ??= new UnackedMessages());
      if (acks.count >= limits.maxUnackedPerSession || acks.bytes + bytes > limits.maxUnackedBytesPerSession) {
        this.fail(
          new StompError(
            ErrorCode.SLOW_CONSUMER,
            `more than ${limits.maxUnackedPerSession} unacknowledged messages or ${limits.maxUnackedBytesPerSession} unacknowledged bytes`,
          ),
        );
        // Not delivered: the caller (queue, dispatcher) offers it elsewhere or keeps it. Calling
        // onNack here as well would hand the same message on twice.
        return false;
      }
      const ackId = `${this.id}-${++this.ackSeq}`;
      // STOMP 1.2: MESSAGE carries an `ack` header matching ACK's `id` in client modes.
      if (this.version === '1.2') headers['ack'] = ackId;
      // The same Delivery object is kept (its owner may set onAck/onNack after this returns).
      d.body = body;
      acks.add({ ackId, sub, delivery: d, bytes });
    }
    // Own-property test: a header named like an Object.prototype member (constructor, toString) is a header too.
    for (const k in d.headers) if (!Object.hasOwn(headers, k)) setHeader(headers, k, d.headers[k]!);
    this.writeRaw(this.encode({ command: 'MESSAGE', headers, body: d.body }));
    if (sub.ack === 'auto') d.onAck?.();
    return true;
  }

  /**
   * ACK (ack=true) or NACK a delivered message by its ack id (1.2), or by
   * message-id and subscription (1.1; 1.0 has no subscription header: the
   * message-id alone, on any subscription). Every look-up is by key, and a
   * cumulative ACK walks only its own subscription's entries, so a client
   * cannot make one ACK cost more than the messages it settles.
   * `requeue: false` (a NACK with RabbitMQ's `requeue:false`) drops instead of redelivering.
   */
  acknowledge(id: string, subscriptionId: string | undefined, ack: boolean, requeue = true): void {
    const acks = this.acks;
    const target = acks?.find(id, subscriptionId, this.version === '1.0' ? this.subscriptions.values() : null);
    if (acks === null || target === undefined) throw new StompError(ErrorCode.UNKNOWN_ACK, `no unacknowledged message with id "${id}"`);
    if (target.sub.ack === 'client') {
      // STOMP 1.2: in client mode ACK/NACK are cumulative: all earlier messages of the subscription.
      for (const u of target.sub.unacked!.values()) {
        acks.remove(u);
        this.settle(u, ack, requeue);
        if (u === target) break;
      }
    } else {
      acks.remove(target);
      this.settle(target, ack, requeue);
    }
  }

  /** True while this session holds `messageId` on `sub` without an ACK/NACK yet. */
  holdsUnacked(sub: Subscription, messageId: string): boolean {
    return this.acks?.holds(sub, messageId) ?? false;
  }

  private settle(u: Unacked, ack: boolean, requeue = true): void {
    // A NACKed message may come back (redelivery): forget that this session saw it.
    if (!ack && u.delivery.dedupe) u.sub.seen?.forget(u.delivery.messageId);
    try {
      if (ack) u.delivery.onAck?.();
      else u.delivery.onNack?.(requeue);
    } catch (err) {
      this.log.error({ err }, 'ack callback failed');
    }
  }

  /** NACK every unacked message of `sub` (or of every subscription, also those already removed). */
  releaseUnacked(sub?: Subscription): void {
    const acks = this.acks;
    if (acks === null) return;
    for (const u of sub ? [...(sub.unacked?.values() ?? [])] : acks.all()) {
      acks.remove(u);
      this.settle(u, false);
    }
  }

  get unackedCount(): number {
    return this.acks?.count ?? 0;
  }

  /** Bytes the unacked messages hold, as counted against limits.maxUnackedBytesPerSession. */
  get unackedBytes(): number {
    return this.acks?.bytes ?? 0;
  }

  // ---------------------------------------------------------------- errors and close

  /**
   * Send an ERROR frame for `err` (coded) and close the connection cleanly.
   * STOMP 1.2: the server MUST close the connection after sending ERROR.
   */
  fail(err: unknown, receiptId?: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const e = isStompError(err) ? err : new StompError(ErrorCode.INTERNAL, 'the server failed to process the frame');
    if (!isStompError(err)) this.log.error({ err }, 'internal error while handling a frame');
    else this.log.debug({ code: e.code, detail: e.detail }, 'session error');
    this.host.count?.('error');
    this.host.countError?.(e.code);
    const headers: Headers = { message: e.stompMessage, code: e.code, ...e.headers };
    if (receiptId !== undefined) headers['receipt-id'] = receiptId;
    // With a charset, as the body is UTF-8. (Exactly "text/plain" also trips stompit 1.0.0,
    // whose ERROR handling then throws an uncaught exception instead of reporting the error.)
    headers['content-type'] = 'text/plain;charset=UTF-8';
    this.state = 'closing';
    this.writeRaw(this.encode({ command: 'ERROR', headers, body: e.detail }));
    this.close();
  }

  /** Close after flushing; force-drop if the peer does not complete the close in time. */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closing';
    this.stopTimers();
    this.conn.end();
    if (!this.killTimer) {
      this.killTimer = setTimeout(() => this.conn.destroy(), ERROR_CLOSE_GRACE_MS);
      this.killTimer.unref?.();
    }
  }

  /** The transport is gone (peer closed, error, or after close()). */
  transportClosed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.stopTimers();
    if (this.killTimer) clearTimeout(this.killTimer);
    this.killTimer = null;
    this.pending = null;
    this.pendingHead = 0;
    this.waitingBytes = 0;
    this.waitingBacking = null;
    this.endTransactions(); // STOMP 1.2: open transactions are aborted on disconnect.
    this.releaseUnacked();
    try {
      this.host.sessionClosed(this);
    } catch (err) {
      this.log.error({ err }, 'sessionClosed failed');
    }
  }

  /** Close one open transaction's accounts (COMMIT, ABORT), or every one (`id` omitted; the session ended). */
  endTransactions(id?: string): void {
    const txs = this.transactions;
    if (txs === null) return;
    for (const [k, tx] of txs) {
      if (id !== undefined && k !== id) continue;
      txs.delete(k);
      tx.held.release();
      this.transactionBytes -= tx.bytes;
    }
    if (txs.size === 0) this.transactions = null;
  }

  private stopTimers(): void {
    if (this.readTimer) clearTimeout(this.readTimer);
    if (this.writeTimer) clearInterval(this.writeTimer);
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.readTimer = this.writeTimer = this.connectTimer = this.expiryTimer = null;
  }
}
