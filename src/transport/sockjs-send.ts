/**
 * The requests that carry a SockJS client's messages (xhr_send, jsonp_send):
 *
 * - Their bodies are read here, not by sockjs (which copies everything received so
 *   far on every chunk: quadratic in the number of chunks): chunks are kept and
 *   joined once (`readBody`), and past the limit (2 x limits.maxWebSocketMessageBytes,
 *   sockjs.ts) reading stops at once with a 413 and the connection closes. sockjs
 *   then gets a stand-in request that carries the body in one piece (`ReadRequest`).
 * - Input flow control (the session pauses input behind a slow /app handler, as it
 *   does WebSocket and TCP; sockjs itself has no pause/resume): a session's sending
 *   requests are read one at a time in arrival order (`SendQueue`), and while it is
 *   paused none is read or answered: they wait unread (back-pressure on a client
 *   that sends one at a time, as sockjs-client does); at most MAX_WAITING_SENDS
 *   wait, more get 503. Resume lets them through in order. (The websocket transport
 *   pauses its socket instead: sockjs-connection.ts.)
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Sending requests one SockJS session may have waiting behind the one being read
 * (while its input is paused, or behind a slow body). sockjs-client sends one at a
 * time; more are refused (503) unread.
 */
const MAX_WAITING_SENDS = 4;

/**
 * Read a request body whole: its chunks kept as they come and joined once at the end
 * (sockjs itself would copy everything received so far on every chunk: quadratic).
 * Past `max` bytes it stops reading at once and calls `tooLarge`; `gone` if the
 * request goes away before its end.
 */
export function readBody(req: IncomingMessage, max: number, on: { body(b: Buffer): void; tooLarge(bytes: number): void; gone(): void }): void {
  const chunks: Buffer[] = [];
  let n = 0;
  let settled = false;
  const settle = (): void => {
    settled = true;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('close', onClose);
  };
  const onData = (chunk: Buffer): void => {
    n += chunk.length;
    if (n <= max) return void chunks.push(chunk);
    settle();
    chunks.length = 0;
    req.pause();
    on.tooLarge(n);
  };
  const onEnd = (): void => {
    settle();
    on.body(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n));
  };
  const onClose = (): void => {
    if (settled) return;
    settle();
    on.gone();
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('close', onClose);
}

/**
 * What sockjs gets for a sending request whose body was already read: the request's
 * fields, and the body as ONE 'data' event then 'end' (`deliver()`, once sockjs's
 * handler has registered its listeners).
 */
export class ReadRequest extends EventEmitter {
  readonly url: string | undefined;
  readonly method: string | undefined;
  readonly headers: IncomingMessage['headers'];
  readonly httpVersion: string;

  constructor(
    req: IncomingMessage,
    private readonly body: Buffer,
  ) {
    super();
    this.url = req.url;
    this.method = req.method;
    this.headers = req.headers;
    this.httpVersion = req.httpVersion;
  }

  deliver(): void {
    if (this.body.length > 0) this.emit('data', this.body);
    this.emit('end');
  }
}

/**
 * Input flow control for the HTTP sending transports (xhr_send, jsonp_send) of one
 * SockJS session: its requests are read and handed to sockjs one at a time, in
 * arrival order, and none while the session is paused; the waiting ones stay unread
 * (at most MAX_WAITING_SENDS).
 */
export class SendQueue {
  private paused = false;
  /** A request is being read (or handed over). */
  private running = false;
  private readonly waiting: Array<(done: () => void) => void> = [];

  /** Queue a request: `run` reads it, hands it over and then calls `done`. False (not queued) when too many wait. */
  add(run: (done: () => void) => void, res: ServerResponse): boolean {
    if (this.waiting.length >= MAX_WAITING_SENDS) return false;
    this.waiting.push(run);
    // A client that gives up on a waiting request frees its place.
    res.once('close', () => {
      const i = this.waiting.indexOf(run);
      if (i >= 0) this.waiting.splice(i, 1);
    });
    this.pump();
    return true;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  private pump(): void {
    while (!this.running && !this.paused && this.waiting.length > 0) {
      const run = this.waiting.shift()!;
      this.running = true;
      run(() => {
        this.running = false;
        this.pump();
      });
    }
  }
}
