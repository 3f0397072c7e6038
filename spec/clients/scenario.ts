/**
 * The client-matrix scenario, shared by every client library:
 * connect → user destination → topic → receipt → error frame on a bad frame.
 *
 * A library is plugged in through a small adapter (`ScenarioClient`, see
 * adapters.ts) that uses the library's own API for everything but the bad frame,
 * which has to be sent through the lowest level the library offers (its socket or
 * raw frame API) since no client sends malformed STOMP on purpose.
 */
import type { TestBroker } from '../helpers/broker.js';
import { Waiters } from '../helpers/wait.js';

export interface ClientFrame {
  command: string;
  headers: Record<string, string>;
  body: string;
}

/** Collects what a client library surfaced; adapters push into it. */
export class Inbox {
  readonly messages: ClientFrame[] = [];
  readonly errors: ClientFrame[] = [];
  readonly receipts: string[] = [];
  closed = false;
  private readonly waiters = new Waiters();

  message(f: ClientFrame): void {
    this.messages.push(f);
    this.wake();
  }
  error(f: ClientFrame): void {
    this.errors.push(f);
    this.wake();
  }
  receipt(id: string): void {
    this.receipts.push(id);
    this.wake();
  }
  close(): void {
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    this.waiters.wake();
  }

  /** Wait until `pred` returns a truthy value (re-checked on every event) or fail after `ms`. */
  until<T>(pred: () => T | undefined | null | false, what: string, ms = 8000): Promise<T> {
    return this.waiters.until(
      pred,
      ms,
      what,
      () =>
        `messages: ${JSON.stringify(this.messages)}, errors: ${JSON.stringify(this.errors)}, receipts: ${this.receipts.join(',')}, closed: ${this.closed}`,
    );
  }

  /** Take (remove) the first message matching `pred`. */
  take(pred: (f: ClientFrame) => boolean, what: string, ms?: number): Promise<ClientFrame> {
    return this.until(() => {
      const i = this.messages.findIndex(pred);
      return i >= 0 ? this.messages.splice(i, 1)[0] : undefined;
    }, what, ms);
  }
}

export interface ScenarioClient {
  readonly inbox: Inbox;
  /** CONNECT (or STOMP) with a `login` header; resolves with the CONNECTED frame's headers. */
  connect(login: string): Promise<Record<string, string>>;
  /** SUBSCRIBE (the scenario uses a later receipt as the barrier that it was processed). */
  subscribe(destination: string): void;
  send(destination: string, body: string, headers?: Record<string, string>): void;
  /** SEND asking for a receipt; resolves when the library reports that receipt. */
  sendWithReceipt(destination: string, body: string, receipt: string): Promise<void>;
  /** Send a frame the broker must refuse (an unknown command). */
  sendBadFrame(): void;
  close(): Promise<void>;
}

/** The part of a tap Test the scenario uses (kept loose so any tap subtest fits). */
/* eslint-disable @typescript-eslint/no-explicit-any */
interface Tap {
  test(name: string, opts: { todo?: string | boolean }, fn: (t: any) => Promise<void>): any;
  equal(found: any, wanted: any, ...rest: any[]): any;
  ok(v: any, ...rest: any[]): any;
  match(found: any, pattern: any, ...rest: any[]): any;
  same(found: any, wanted: any, ...rest: any[]): any;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

export interface ScenarioOptions {
  /** STOMP versions the library may negotiate (stompjs 2.x only offers 1.0 and 1.1). */
  versions: string[];
  /** Login name; unique per client so parallel runs cannot mix. */
  login: string;
  /** Whether the library surfaces the ERROR frame's `code` header (stompit only gives the message). */
  errorHeaders?: boolean;
  /** A known client-side defect makes the ERROR step fail: run it as a tap `todo` with this reason. */
  errorStepTodo?: string | undefined;
}

/**
 * Register the app handler the scenario needs. Call before listen() or any
 * time after (handlers may be added at any time).
 */
export function registerScenarioHandlers(b: Pick<TestBroker['broker'], 'handle'>): void {
  // Spring: @MessageMapping("/echo") @SendToUser("/queue/x")
  b.handle('/echo', (m) => ({ echo: m.json<{ text: string }>().text, from: m.user }), { sendToUser: '/queue/x' });
}

export async function runScenario(t: Tap, b: TestBroker, client: ScenarioClient, o: ScenarioOptions): Promise<void> {
  const { inbox } = client;
  const login = o.login;

  // 1. connect
  const connected = await client.connect(login);
  t.ok(o.versions.includes(connected['version'] ?? ''), `negotiated version ${connected['version']} is one of ${o.versions.join(',')}`);
  t.equal(connected['user-name'], login, 'CONNECTED user-name is the login');
  t.match(connected['server'], /^stomp-cluster\//, 'CONNECTED server');
  t.ok(connected['session'], 'CONNECTED session');
  t.match(connected['heart-beat'], /^\d+,\d+$/, 'CONNECTED heart-beat');

  // 2. subscriptions (confirmed by the receipt below: frames are processed in order)
  client.subscribe('/user/queue/x');
  client.subscribe('/topic/t');

  // 3. receipt + topic: SEND to /topic/t with a receipt, get the RECEIPT and our own message back
  await client.sendWithReceipt('/topic/t', 'hello topic', 'receipt-1');
  t.ok(true, 'RECEIPT for the SEND');
  const own = await inbox.take((m) => m.headers['destination'] === '/topic/t' && m.body === 'hello topic', 'own topic message');
  t.ok(own.headers['message-id'], 'topic MESSAGE has message-id');
  t.ok(own.headers['subscription'], 'topic MESSAGE has subscription');

  // 4. server publish to the topic
  await b.broker.publish('/topic/t', 'from the server');
  const pub = await inbox.take((m) => m.headers['destination'] === '/topic/t' && m.body === 'from the server', 'server publish');
  t.equal(pub.body, 'from the server', 'broker.publish reached the topic subscription');

  // 5. user destination: server-side sendToUser (Spring's convertAndSendToUser)
  await b.broker.sendToUser(login, '/queue/x', { hello: login });
  const dm = await inbox.take((m) => m.headers['destination'] === '/user/queue/x' && m.body.includes('hello'), 'sendToUser message');
  t.equal(dm.headers['destination'], '/user/queue/x', 'MESSAGE destination is the subscription /user/queue/x');
  t.match(dm.headers['content-type'], /^application\/json/, 'objects are sent as JSON');
  t.same(JSON.parse(dm.body), { hello: login }, 'sendToUser body');

  // 6. /app handler replying to the user (Spring's @MessageMapping + @SendToUser)
  client.send('/app/echo', JSON.stringify({ text: 'ping' }), { 'content-type': 'application/json' });
  const echo = await inbox.take((m) => m.headers['destination'] === '/user/queue/x' && m.body.includes('echo'), '@SendToUser reply');
  t.same(JSON.parse(echo.body), { echo: 'ping', from: login }, 'handler reply reached the sender at /user/queue/x');

  // 7. error: a bad frame gets an ERROR frame, then the connection is closed
  const errorStep = async (t: Tap): Promise<void> => {
    client.sendBadFrame();
    const err = await inbox.until(() => inbox.errors[0], 'ERROR frame');
    t.match(err.headers['message'], /unknown command/i, 'ERROR message header');
    if (o.errorHeaders !== false) t.equal(err.headers['code'], 'STOMP_ERR_UNKNOWN_COMMAND', 'ERROR code header');
    await inbox.until(() => inbox.closed, 'connection closed after ERROR');
    t.ok(true, 'connection closed after the ERROR frame');
  };
  if (o.errorStepTodo) await t.test('ERROR frame on a bad frame', { todo: o.errorStepTodo }, errorStep);
  else await errorStep(t);
  await client.close();
}
