/**
 * Every client mistake, as one table run against the session core
 * (spec/session/protocol.test.ts) and over a real WebSocket
 * (spec/broker/websocket.test.ts): an ERROR frame with `code`, `message`,
 * `receipt-id` exactly when the frame had a receipt and a body saying what was
 * wrong; then the server closes the connection. What follows the bad frame in
 * the same chunk is not processed, and another session on the same broker
 * keeps working (it receives a message afterwards).
 */
import type { test } from 'tap';
import type { Broker } from '../../src/broker/broker.js';
import type { AppHandler } from '../../src/broker/app-handlers.js';
import { ErrorCode } from '../../src/errors.js';
import type { FrameClient } from './frame-client.js';
import { expectError, raw } from './stomp-assert.js';

/** The `t` a tap subtest callback receives. */
type Tap = Parameters<Parameters<typeof test>[0]>[0];

export interface ClientMistake {
  name: string;
  /** Frames sent (after CONNECT unless connect is false) before the bad one. */
  setup?: string[];
  frame: string;
  code: ErrorCode;
  /** The bad frame's receipt header: the ERROR must carry it as receipt-id. */
  receipt?: string;
  /** false: the bad frame is the first one (no CONNECT). */
  connect?: boolean;
}

/** An /app destination with a handler (registered by runClientMistakes). */
const KNOWN_APP = '/known';

export const CLIENT_MISTAKES: readonly ClientMistake[] = [
  { name: 'frame before CONNECT', connect: false, frame: raw('SEND', { destination: '/topic/x', receipt: 'r' }), code: ErrorCode.NOT_CONNECTED, receipt: 'r' },
  { name: 'SUBSCRIBE before CONNECT', connect: false, frame: raw('SUBSCRIBE', { id: '1', destination: '/topic/x' }), code: ErrorCode.NOT_CONNECTED },
  { name: 'second CONNECT', frame: raw('CONNECT', { 'accept-version': '1.2', host: 'h', receipt: 'r' }), code: ErrorCode.ALREADY_CONNECTED, receipt: 'r' },
  { name: 'second CONNECT as STOMP', frame: raw('STOMP', { 'accept-version': '1.2' }), code: ErrorCode.ALREADY_CONNECTED },
  { name: 'SEND without destination', frame: raw('SEND', { receipt: 'r' }, 'x'), code: ErrorCode.MISSING_HEADER, receipt: 'r' },
  { name: 'SUBSCRIBE without id', frame: raw('SUBSCRIBE', { destination: '/topic/x', receipt: 'r' }), code: ErrorCode.MISSING_HEADER, receipt: 'r' },
  { name: 'SUBSCRIBE without destination', frame: raw('SUBSCRIBE', { id: '1', receipt: 'r' }), code: ErrorCode.MISSING_HEADER, receipt: 'r' },
  { name: 'UNSUBSCRIBE without id', frame: raw('UNSUBSCRIBE', { receipt: 'r' }), code: ErrorCode.MISSING_HEADER, receipt: 'r' },
  { name: 'BEGIN without transaction', frame: raw('BEGIN', { receipt: 'r' }), code: ErrorCode.MISSING_HEADER, receipt: 'r' },
  { name: 'COMMIT without transaction', frame: raw('COMMIT', {}), code: ErrorCode.MISSING_HEADER },
  { name: 'ACK without id', frame: raw('ACK', { receipt: 'r' }), code: ErrorCode.MISSING_HEADER, receipt: 'r' },
  { name: 'NACK without id', frame: raw('NACK', {}), code: ErrorCode.MISSING_HEADER },
  {
    name: 'duplicate subscription id',
    setup: [raw('SUBSCRIBE', { id: 'dup', destination: '/topic/a' })],
    frame: raw('SUBSCRIBE', { id: 'dup', destination: '/topic/b', receipt: 'r' }),
    code: ErrorCode.DUPLICATE_SUBSCRIPTION,
    receipt: 'r',
  },
  { name: 'invalid ack mode', frame: raw('SUBSCRIBE', { id: '1', destination: '/queue/a', ack: 'sometimes', receipt: 'r' }), code: ErrorCode.INVALID_ACK_MODE, receipt: 'r' },
  { name: 'SEND in an unknown transaction', frame: raw('SEND', { destination: '/topic/x', transaction: 'nope', receipt: 'r' }), code: ErrorCode.UNKNOWN_TRANSACTION, receipt: 'r' },
  { name: 'ACK in an unknown transaction', frame: raw('ACK', { id: 'x', transaction: 'nope' }), code: ErrorCode.UNKNOWN_TRANSACTION },
  { name: 'COMMIT of an unknown transaction', frame: raw('COMMIT', { transaction: 'nope', receipt: 'r' }), code: ErrorCode.UNKNOWN_TRANSACTION, receipt: 'r' },
  { name: 'ABORT of an unknown transaction', frame: raw('ABORT', { transaction: 'nope', receipt: 'r' }), code: ErrorCode.UNKNOWN_TRANSACTION, receipt: 'r' },
  {
    name: 'BEGIN of an open transaction',
    setup: [raw('BEGIN', { transaction: 't' })],
    frame: raw('BEGIN', { transaction: 't', receipt: 'r' }),
    code: ErrorCode.DUPLICATE_TRANSACTION,
    receipt: 'r',
  },
  { name: 'ACK of an unknown id', frame: raw('ACK', { id: 'no-such-message', receipt: 'r' }), code: ErrorCode.UNKNOWN_ACK, receipt: 'r' },
  { name: 'NACK of an unknown id', frame: raw('NACK', { id: 'no-such-message' }), code: ErrorCode.UNKNOWN_ACK },
  { name: 'a server command from the client', frame: raw('MESSAGE', { destination: '/topic/x', receipt: 'r' }), code: ErrorCode.UNKNOWN_COMMAND, receipt: 'r' },
  { name: 'an unknown command', frame: raw('FROBNICATE', { receipt: 'r' }), code: ErrorCode.UNKNOWN_COMMAND },
  { name: 'an invalid header escape', frame: 'SEND\ndestination:/topic/x\nbad:a\\tb\n\nx\0', code: ErrorCode.INVALID_ESCAPE },
  { name: 'SEND to an /app destination without handler', frame: raw('SEND', { destination: '/app/unknown', receipt: 'r' }), code: ErrorCode.NO_HANDLER, receipt: 'r' },
  { name: 'SEND to an unknown prefix', frame: raw('SEND', { destination: '/elsewhere/x', receipt: 'r' }), code: ErrorCode.INVALID_DESTINATION, receipt: 'r' },
  { name: 'SEND to a relative destination', frame: raw('SEND', { destination: 'topic/x' }), code: ErrorCode.INVALID_DESTINATION },
  { name: 'SUBSCRIBE to an unknown prefix', frame: raw('SUBSCRIBE', { id: '1', destination: '/nowhere/x', receipt: 'r' }), code: ErrorCode.INVALID_DESTINATION, receipt: 'r' },
  { name: 'SUBSCRIBE to an /app destination', frame: raw('SUBSCRIBE', { id: '1', destination: `/app${KNOWN_APP}` }), code: ErrorCode.INVALID_DESTINATION },
  { name: 'SUBSCRIBE to a malformed destination', frame: raw('SUBSCRIBE', { id: '1', destination: '/topic//x' }), code: ErrorCode.INVALID_DESTINATION },
  { name: 'unclosed { in a topic pattern', frame: raw('SUBSCRIBE', { id: '1', destination: '/topic/{', receipt: 'r' }), code: ErrorCode.INVALID_DESTINATION, receipt: 'r' },
  { name: 'unclosed { in a user pattern', frame: raw('SUBSCRIBE', { id: '1', destination: '/user/queue/{', receipt: 'r' }), code: ErrorCode.INVALID_DESTINATION, receipt: 'r' },
  { name: 'a malformed header line', frame: 'SEND\ndestination:/topic/x\nno-colon-here\n\n\0', code: ErrorCode.MALFORMED_HEADER },
  { name: 'a bad content-length', frame: 'SEND\ndestination:/topic/x\ncontent-length:ten\n\n\0', code: ErrorCode.INVALID_CONTENT_LENGTH },
  { name: 'a body longer than content-length', frame: 'SEND\ndestination:/topic/x\ncontent-length:1\n\nxy\0', code: ErrorCode.MISSING_NULL },
];

export interface MistakeTarget<C extends FrameClient> {
  /** The broker core behind the connections (its counters, publish). */
  broker: Broker;
  /** Register an /app handler (before the connections). */
  handle(path: string, fn: AppHandler): void;
  /** A new connection, not yet CONNECTed. */
  open(): C | Promise<C>;
  /** A connection CONNECTed as `login`. */
  user(login: string): Promise<FrameClient>;
  /** What this transport shows once the server closed after the ERROR. */
  closed(t: Tap, c: C): void;
}

/** Each of CLIENT_MISTAKES as a subtest on `target`; then the ERRORs counted by code. */
export async function runClientMistakes<C extends FrameClient>(t: Tap, target: MistakeTarget<C>): Promise<void> {
  const { broker } = target;
  target.handle(KNOWN_APP, () => undefined);
  const observer = await target.user('observer');
  await observer.subscribe('alive', '/topic/alive');
  let n = 0;
  for (const c of CLIENT_MISTAKES) {
    await t.test(c.name, async (t) => {
      const conn = await target.open();
      if (c.connect !== false) await conn.connect({ login: 'mistaken' });
      for (const s of c.setup ?? []) conn.send(s);
      // Whatever follows the bad frame in the same chunk is not processed.
      conn.send(c.frame + raw('SEND', { destination: '/topic/alive' }, 'after the mistake'));
      await expectError(t, conn, c.code, c.receipt === undefined ? {} : { receipt: c.receipt });
      target.closed(t, conn);
      const marker = `still alive ${++n}`;
      await broker.publish('/topic/alive', marker);
      t.equal((await observer.next('MESSAGE')).body.toString(), marker, 'the other session still receives, and nothing else came');
    });
  }
  t.notOk(observer.closed, 'the observer was never disconnected');
  const perCode = new Map<string, number>();
  for (const c of CLIENT_MISTAKES) perCode.set(c.code, (perCode.get(c.code) ?? 0) + 1);
  for (const [code, count] of perCode) t.equal(broker.counters.errors.get(code), count, `errors are counted by code: ${code}`);
}
