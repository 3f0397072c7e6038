/**
 * Every client mistake over a real WebSocket: an ERROR frame with `code`,
 * `message`, `receipt-id` when the frame had a receipt and a body saying what
 * was wrong; then the server closes the connection. Another session on the
 * same broker keeps working (it receives a message afterwards).
 */
import t from 'tap';
import { ErrorCode } from '../../src/errors.js';
import { startBroker } from '../helpers/broker.js';
import { expectError, raw } from '../helpers/stomp-assert.js';

interface Case {
  name: string;
  /** Frames sent (after CONNECT unless connect is false) before the bad one. */
  setup?: string[];
  frame: string;
  code: string;
  receipt?: string;
  connect?: boolean;
}

const cases: Case[] = [
  { name: 'frame before CONNECT', connect: false, frame: raw('SUBSCRIBE', { id: '1', destination: '/topic/x', receipt: 'r1' }), code: ErrorCode.NOT_CONNECTED, receipt: 'r1' },
  { name: 'second CONNECT', frame: raw('CONNECT', { 'accept-version': '1.2', host: 'h', receipt: 'r2' }), code: ErrorCode.ALREADY_CONNECTED, receipt: 'r2' },
  { name: 'SEND without destination', frame: raw('SEND', { receipt: 'r3' }, 'hello'), code: ErrorCode.MISSING_HEADER, receipt: 'r3' },
  { name: 'SUBSCRIBE without destination', frame: raw('SUBSCRIBE', { id: '1', receipt: 'r4' }), code: ErrorCode.MISSING_HEADER, receipt: 'r4' },
  { name: 'SUBSCRIBE without id', frame: raw('SUBSCRIBE', { destination: '/topic/x', receipt: 'r5' }), code: ErrorCode.MISSING_HEADER, receipt: 'r5' },
  { name: 'UNSUBSCRIBE without id', frame: raw('UNSUBSCRIBE', {}), code: ErrorCode.MISSING_HEADER },
  {
    name: 'duplicate subscription id',
    setup: [raw('SUBSCRIBE', { id: 'same', destination: '/topic/a' })],
    frame: raw('SUBSCRIBE', { id: 'same', destination: '/topic/b', receipt: 'r6' }),
    code: ErrorCode.DUPLICATE_SUBSCRIPTION,
    receipt: 'r6',
  },
  { name: 'unknown command', frame: raw('PUBLISH', { destination: '/topic/x' }), code: ErrorCode.UNKNOWN_COMMAND },
  { name: 'server command sent by the client', frame: raw('RECEIPT', { 'receipt-id': 'x', receipt: 'r7' }), code: ErrorCode.UNKNOWN_COMMAND, receipt: 'r7' },
  { name: 'invalid header escape', frame: 'SEND\ndestination:/topic/x\nx-bad:\\q\n\n\0', code: ErrorCode.INVALID_ESCAPE },
  { name: 'unknown transaction', frame: raw('SEND', { destination: '/topic/x', transaction: 'tx-none', receipt: 'r8' }), code: ErrorCode.UNKNOWN_TRANSACTION, receipt: 'r8' },
  { name: 'COMMIT of an unknown transaction', frame: raw('COMMIT', { transaction: 'tx-none' }), code: ErrorCode.UNKNOWN_TRANSACTION },
  { name: 'ACK of an unknown id', frame: raw('ACK', { id: 'not-a-message', receipt: 'r9' }), code: ErrorCode.UNKNOWN_ACK, receipt: 'r9' },
  { name: 'invalid ack mode', frame: raw('SUBSCRIBE', { id: '1', destination: '/queue/q', ack: 'never', receipt: 'r10' }), code: ErrorCode.INVALID_ACK_MODE, receipt: 'r10' },
  { name: 'SEND to an /app destination with no handler', frame: raw('SEND', { destination: '/app/missing', receipt: 'r11' }, '{}'), code: ErrorCode.NO_HANDLER, receipt: 'r11' },
  { name: 'invalid destination prefix (SEND)', frame: raw('SEND', { destination: '/exchange/x', receipt: 'r12' }), code: ErrorCode.INVALID_DESTINATION, receipt: 'r12' },
  { name: 'invalid destination prefix (SUBSCRIBE)', frame: raw('SUBSCRIBE', { id: '1', destination: '/amq/queue/x' }), code: ErrorCode.INVALID_DESTINATION },
  { name: 'unclosed { in a topic pattern', frame: raw('SUBSCRIBE', { id: '1', destination: '/topic/{', receipt: 'r13' }), code: ErrorCode.INVALID_DESTINATION, receipt: 'r13' },
  { name: 'unclosed { in a user pattern', frame: raw('SUBSCRIBE', { id: '1', destination: '/user/queue/{', receipt: 'r14' }), code: ErrorCode.INVALID_DESTINATION, receipt: 'r14' },
];

t.test('client mistakes over WebSocket', async (t) => {
  const b = await startBroker(t);
  const observer = await b.user('observer');
  await observer.subscribe('alive', '/topic/alive');
  let n = 0;
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const client = await b.client();
      if (c.connect !== false) await client.connect({ login: 'clumsy' });
      for (const s of c.setup ?? []) client.send(s);
      client.send(c.frame);
      await expectError(t, client, c.code, c.receipt === undefined ? {} : { receipt: c.receipt });
      t.equal(client.closeCode, 1000, 'a clean WebSocket close');
      const marker = `still alive ${++n}`;
      await b.broker.publish('/topic/alive', marker);
      const m = await observer.next('MESSAGE');
      t.equal(m.body.toString(), marker, 'the other session still receives');
    });
  }
  t.notOk(observer.closed, 'the observer was never disconnected');
});
