/**
 * The session core without a server (in-memory Connection): RECEIPTs, coded
 * ERRORs for client mistakes, ACK/NACK modes, transactions, DISCONNECT, and
 * the bounded send buffer.
 */
import t from 'tap';
import { ErrorCode } from '../../src/errors.js';
import { DEFAULTS } from '../../src/config.js';
import { DEFAULT_PARSER_LIMITS } from '../../src/stomp/parser.js';
import { runClientMistakes } from '../helpers/client-mistakes.js';
import { startCore, type CoreBroker, type MemoryConnection } from '../helpers/memory-connection.js';
import { expectError, raw, type Asserts } from '../helpers/stomp-assert.js';

let markers = 0;

/** A marker published after the fact: `c` receives it next (so nothing else was in between). */
async function nextIsMarker(t: Asserts, core: CoreBroker, c: MemoryConnection, destination = '/topic/alive'): Promise<void> {
  const id = `marker-${++markers}`;
  if (destination.startsWith('/queue/')) {
    const p = await core.user('marker-sender');
    p.send(raw('SEND', { destination }, id));
  } else await core.broker.publish(destination, id);
  const m = await c.next('MESSAGE');
  t.equal(m.body.toString(), id, `the next message is the marker ${id}`);
}

const body = (f: { body: Buffer }): string => f.body.toString();

t.test('RECEIPT for every client frame with a receipt header', async (t) => {
  const core = await startCore(t);
  const c = await core.user('alice');
  const p = await core.user('producer');
  const cases: Array<[string, Record<string, string>]> = [
    ['SUBSCRIBE', { id: 's1', destination: '/queue/r', ack: 'client-individual' }],
    ['SEND', { destination: '/queue/r' }],
    ['BEGIN', { transaction: 'tx1' }],
    ['COMMIT', { transaction: 'tx1' }],
    ['BEGIN', { transaction: 'tx2' }],
    ['ABORT', { transaction: 'tx2' }],
  ];
  for (const [command, headers] of cases) {
    c.send(raw(command, { ...headers, receipt: `rc-${command}-${headers['transaction'] ?? ''}` }));
    const r = await c.next('RECEIPT');
    t.equal(r.headers['receipt-id'], `rc-${command}-${headers['transaction'] ?? ''}`, `RECEIPT for ${command}`);
  }
  p.send(raw('SEND', { destination: '/queue/r' }, 'second'));
  const [m1, m2] = await c.messages(2);
  c.send(raw('ACK', { id: m1!.headers['ack']!, receipt: 'rc-ack' }));
  t.equal((await c.next('RECEIPT')).headers['receipt-id'], 'rc-ack', 'RECEIPT for ACK');
  c.send(raw('NACK', { id: m2!.headers['ack']!, receipt: 'rc-nack' }));
  // The NACKed message comes straight back to the only consumer; the RECEIPT follows.
  t.equal((await c.next('RECEIPT')).headers['receipt-id'], 'rc-nack', 'RECEIPT for NACK');
  const again = await c.next('MESSAGE');
  c.send(raw('ACK', { id: again.headers['ack']! }));
  c.send(raw('UNSUBSCRIBE', { id: 's1', receipt: 'rc-unsub' }));
  t.equal((await c.next('RECEIPT')).headers['receipt-id'], 'rc-unsub', 'RECEIPT for UNSUBSCRIBE');
  c.send(raw('UNSUBSCRIBE', { id: 'never-subscribed', receipt: 'rc-unsub-unknown' }));
  t.equal((await c.next('RECEIPT')).headers['receipt-id'], 'rc-unsub-unknown', 'unknown subscription ids are ignored');
  c.send(raw('DISCONNECT', { receipt: 'rc-bye' }));
  t.equal((await c.next('RECEIPT')).headers['receipt-id'], 'rc-bye', 'RECEIPT for DISCONNECT');
  await c.waitClosed();
  t.equal(c.log.at(-1)!.command, 'RECEIPT', 'the DISCONNECT RECEIPT is the last frame before the close');
});

t.test('DISCONNECT: RECEIPT, then close; frames after it are ignored', async (t) => {
  const core = await startCore(t);
  const obs = await core.user('observer');
  await obs.subscribe('o', '/topic/after');
  const c = await core.user('leaver');
  c.send(raw('DISCONNECT', { receipt: 'bye' }) + raw('SEND', { destination: '/topic/after' }, 'after disconnect'));
  const r = await c.next();
  t.equal(r.command, 'RECEIPT');
  t.equal(r.headers['receipt-id'], 'bye');
  await c.waitClosed();
  t.ok(c.ended, 'closed by the server');
  await nextIsMarker(t, core, obs, '/topic/after');
});

t.test('every client mistake: ERROR (code, message, receipt-id, body), close; other sessions unaffected', async (t) => {
  // The table is shared with the WebSocket run (spec/broker/websocket.test.ts).
  const core = await startCore(t);
  await runClientMistakes(t, {
    broker: core.broker,
    handle: (path, fn) => core.handle(path, fn),
    open: () => core.open(),
    user: (login) => core.user(login),
    closed: (t, c) => t.ok(c.ended, 'the server closed the connection'),
  });
});

t.test('ack modes on /queue', async (t) => {
  await t.test('auto: no ack header, nothing to acknowledge, nothing redelivered', async (t) => {
    const core = await startCore(t);
    const a = await core.user('a');
    await a.subscribe('q', '/queue/auto');
    const p = await core.user('p');
    p.send(raw('SEND', { destination: '/queue/auto' }, 'm1'));
    const m = await a.next('MESSAGE');
    t.equal(body(m), 'm1');
    t.notOk('ack' in m.headers, 'no ack header in auto mode');
    t.equal(m.headers['subscription'], 'q');
    t.equal(m.headers['destination'], '/queue/auto');
    t.ok(m.headers['message-id']);
    a.hangup();
    const b = await core.user('b');
    await b.subscribe('q', '/queue/auto');
    await nextIsMarker(t, core, b, '/queue/auto');
  });

  await t.test('client-individual: each ACK acknowledges one message; the rest come back at disconnect', async (t) => {
    const core = await startCore(t);
    const a = await core.user('a');
    await a.subscribe('q', '/queue/ci', { ack: 'client-individual' });
    const p = await core.user('p');
    for (const n of [1, 2, 3]) p.send(raw('SEND', { destination: '/queue/ci' }, `m${n}`));
    const ms = await a.messages(3);
    t.same(ms.map(body), ['m1', 'm2', 'm3']);
    for (const m of ms) t.ok(m.headers['ack'], 'STOMP 1.2 MESSAGE carries an ack header in client modes');
    t.equal(new Set(ms.map((m) => m.headers['ack'])).size, 3, 'ack ids are distinct');
    await a.withReceipt({ command: 'ACK', headers: { id: ms[1]!.headers['ack']! } });
    a.hangup();
    const b = await core.user('b');
    await b.subscribe('q', '/queue/ci', { ack: 'client-individual' });
    const again = await b.messages(2);
    t.same(again.map(body), ['m1', 'm3'], 'unacked messages are redelivered, in order');
    t.equal(again[0]!.headers['redelivered'], 'true');
    await nextIsMarker(t, core, b, '/queue/ci');
  });

  await t.test('client: ACK is cumulative', async (t) => {
    const core = await startCore(t);
    const a = await core.user('a');
    await a.subscribe('q', '/queue/cl', { ack: 'client' });
    const p = await core.user('p');
    for (const n of [1, 2, 3]) p.send(raw('SEND', { destination: '/queue/cl' }, `m${n}`));
    const ms = await a.messages(3);
    for (const m of ms) t.ok(m.headers['ack'], 'ack header present');
    await a.withReceipt({ command: 'ACK', headers: { id: ms[1]!.headers['ack']! } });
    t.equal(a.session.unackedCount, 1, 'ACK of m2 acknowledged m1 and m2');
    a.hangup();
    const b = await core.user('b');
    await b.subscribe('q', '/queue/cl');
    const [m] = await b.messages(1);
    t.equal(body(m!), 'm3', 'only the unacknowledged message comes back');
    await nextIsMarker(t, core, b, '/queue/cl');
  });

  await t.test('client-individual: NACK redelivers to another consumer when there is one', async (t) => {
    const core = await startCore(t);
    const a = await core.user('a');
    const b = await core.user('b');
    await a.subscribe('q', '/queue/nack', { ack: 'client-individual' });
    await b.subscribe('q', '/queue/nack', { ack: 'client-individual' });
    const p = await core.user('p');
    p.send(raw('SEND', { destination: '/queue/nack' }, 'm1'));
    p.send(raw('SEND', { destination: '/queue/nack' }, 'm2'));
    const ma = await a.next('MESSAGE');
    const mb = await b.next('MESSAGE');
    t.same([body(ma), body(mb)].sort(), ['m1', 'm2'], 'round robin: one each');
    // Both positions of the round robin: a NACK goes to the other consumer either way.
    await a.withReceipt({ command: 'NACK', headers: { id: ma.headers['ack']! } });
    const atB = await b.next('MESSAGE');
    t.equal(body(atB), body(ma), "a's NACKed message went to b");
    t.equal(atB.headers['redelivered'], 'true');
    await b.withReceipt({ command: 'NACK', headers: { id: mb.headers['ack']! } });
    const atA = await a.next('MESSAGE');
    t.equal(body(atA), body(mb), "b's NACKed message went to a");
  });

  await t.test('NACK with a single consumer redelivers to it', async (t) => {
    const core = await startCore(t);
    const a = await core.user('a');
    await a.subscribe('q', '/queue/single', { ack: 'client-individual' });
    await core.broker.publish('/queue/single', 'only');
    const m = await a.next('MESSAGE');
    t.notOk('redelivered' in m.headers);
    a.send(raw('NACK', { id: m.headers['ack']! }));
    const again = await a.next('MESSAGE');
    t.equal(body(again), 'only');
    t.equal(again.headers['redelivered'], 'true');
    t.not(again.headers['ack'], m.headers['ack'], 'a new ack id for the new delivery');
  });

  await t.test('UNSUBSCRIBE releases unacked messages to the other consumer', async (t) => {
    const core = await startCore(t);
    const a = await core.user('a');
    await a.subscribe('q', '/queue/unsub', { ack: 'client' });
    await core.broker.publish('/queue/unsub', 'held');
    await a.next('MESSAGE');
    const b = await core.user('b');
    await b.subscribe('q', '/queue/unsub');
    await a.withReceipt({ command: 'UNSUBSCRIBE', headers: { id: 'q' } });
    t.equal(body(await b.next('MESSAGE')), 'held');
  });

  await t.test('STOMP 1.1: ACK by message-id and subscription; no ack header', async (t) => {
    const core = await startCore(t);
    const a = core.open();
    await a.connect({ 'accept-version': '1.1', login: 'old' });
    await a.subscribe('q', '/queue/v11', { ack: 'client-individual' });
    await core.broker.publish('/queue/v11', 'one');
    await core.broker.publish('/queue/v11', 'two');
    const [m1, m2] = await a.messages(2);
    t.notOk('ack' in m1!.headers, 'no ack header before 1.2');
    await a.withReceipt({ command: 'ACK', headers: { 'message-id': m1!.headers['message-id']!, subscription: 'q' } });
    t.equal(a.session.unackedCount, 1);
    await a.withReceipt({ command: 'NACK', headers: { 'message-id': m2!.headers['message-id']!, subscription: 'q' } });
    t.equal(body(await a.next('MESSAGE')), 'two', 'the NACKed message is redelivered');
  });

  await t.test('too many unacked messages: SLOW_CONSUMER, and the message goes to another consumer once', async (t) => {
    const core = await startCore(t, { limits: { maxUnackedPerSession: 2 } });
    const hoarder = await core.user('hoarder');
    await hoarder.subscribe('q', '/queue/hoard', { ack: 'client-individual' });
    for (const n of [1, 2]) await core.broker.publish('/queue/hoard', `m${n}`);
    await hoarder.messages(2);
    const b = await core.user('b');
    await b.subscribe('q', '/queue/hoard');
    // Round robin points at b now; m3 goes to b, m4 to the hoarder, which is over its limit.
    await core.broker.publish('/queue/hoard', 'm3');
    await core.broker.publish('/queue/hoard', 'm4');
    await expectError(t, hoarder, ErrorCode.SLOW_CONSUMER);
    const got = await b.messages(4);
    t.same(got.map(body).sort(), ['m1', 'm2', 'm3', 'm4'], "b gets m3, m4 and the hoarder's unacked ones");
    await nextIsMarker(t, core, b, '/queue/hoard');
  });
});

t.test('transactions', async (t) => {
  await t.test('SENDs are invisible until COMMIT, then delivered in order', async (t) => {
    const core = await startCore(t);
    const obs = await core.user('obs');
    await obs.subscribe('o', '/topic/tx');
    const c = await core.user('c');
    c.send(raw('BEGIN', { transaction: 't1' }));
    c.send(raw('SEND', { destination: '/topic/tx', transaction: 't1' }, 'one'));
    c.send(raw('SEND', { destination: '/topic/tx', transaction: 't1' }, 'two'));
    await nextIsMarker(t, core, obs, '/topic/tx');
    await c.withReceipt({ command: 'COMMIT', headers: { transaction: 't1' } });
    t.same((await obs.messages(2)).map(body), ['one', 'two']);
  });

  await t.test('ABORT drops the SENDs', async (t) => {
    const core = await startCore(t);
    const obs = await core.user('obs');
    await obs.subscribe('o', '/queue/txq');
    const c = await core.user('c');
    c.send(raw('BEGIN', { transaction: 't1' }));
    c.send(raw('SEND', { destination: '/queue/txq', transaction: 't1' }, 'dropped'));
    await c.withReceipt({ command: 'ABORT', headers: { transaction: 't1' } });
    await nextIsMarker(t, core, obs, '/queue/txq');
  });

  await t.test('disconnect aborts open transactions', async (t) => {
    const core = await startCore(t);
    const obs = await core.user('obs');
    await obs.subscribe('o', '/topic/txd');
    const c = await core.user('c');
    c.send(raw('BEGIN', { transaction: 't1' }));
    c.send(raw('SEND', { destination: '/topic/txd', transaction: 't1' }, 'never'));
    c.send(raw('DISCONNECT', { receipt: 'bye' }));
    await c.next('RECEIPT');
    await c.waitClosed();
    await nextIsMarker(t, core, obs, '/topic/txd');
  });

  await t.test('ACK and NACK inside a transaction take effect on COMMIT only', async (t) => {
    const core = await startCore(t);
    const a = await core.user('a');
    await a.subscribe('q', '/queue/txack', { ack: 'client-individual' });
    for (const n of [1, 2, 3]) await core.broker.publish('/queue/txack', `m${n}`);
    const [m1, m2, m3] = await a.messages(3);
    await a.withReceipt({ command: 'BEGIN', headers: { transaction: 'keep' } });
    await a.withReceipt({ command: 'ACK', headers: { id: m1!.headers['ack']!, transaction: 'keep' } });
    t.equal(a.session.unackedCount, 3, 'not acknowledged before COMMIT');
    await a.withReceipt({ command: 'COMMIT', headers: { transaction: 'keep' } });
    t.equal(a.session.unackedCount, 2, 'acknowledged by COMMIT');
    await a.withReceipt({ command: 'BEGIN', headers: { transaction: 'drop' } });
    await a.withReceipt({ command: 'ACK', headers: { id: m2!.headers['ack']!, transaction: 'drop' } });
    await a.withReceipt({ command: 'ABORT', headers: { transaction: 'drop' } });
    t.equal(a.session.unackedCount, 2, 'an aborted ACK acknowledges nothing');
    await a.withReceipt({ command: 'BEGIN', headers: { transaction: 'n' } });
    await a.withReceipt({ command: 'NACK', headers: { id: m3!.headers['ack']!, transaction: 'n' } });
    await a.withReceipt({ command: 'COMMIT', headers: { transaction: 'n' } });
    const back = await a.next('MESSAGE');
    t.equal(body(back), 'm3', 'the committed NACK redelivers');
    a.hangup();
    const b = await core.user('b');
    await b.subscribe('q', '/queue/txack');
    t.same((await b.messages(2)).map(body), ['m2', 'm3'], 'what was not acknowledged comes back');
  });

  await t.test('limits: open transactions per session and frames per transaction', async (t) => {
    const core = await startCore(t, { limits: { maxTransactionsPerSession: 2, maxFramesPerTransaction: 2 } });
    const c = await core.user('c');
    c.send(raw('BEGIN', { transaction: 'a' }));
    c.send(raw('BEGIN', { transaction: 'b' }));
    c.send(raw('BEGIN', { transaction: 'c', receipt: 'third' }));
    await expectError(t, c, ErrorCode.TOO_MANY_TRANSACTIONS, { receipt: 'third' });
    const d = await core.user('d');
    d.send(raw('BEGIN', { transaction: 'a' }));
    for (let i = 0; i < 3; i++) d.send(raw('SEND', { destination: '/topic/x', transaction: 'a' }, String(i)));
    await expectError(t, d, ErrorCode.TOO_MANY_TRANSACTIONS);
    t.equal(DEFAULTS.limits.maxTransactionsPerSession, 16);
    t.equal(DEFAULTS.limits.maxFramesPerTransaction, 1000);
  });
});

t.test('bounded send buffer: a session whose transport backs up is cut, the others are not', async (t) => {
  const core = await startCore(t, { limits: { maxBufferedBytes: 1000 } });
  const slow = await core.user('slow');
  const fast = await core.user('fast');
  await slow.subscribe('s', '/topic/firehose');
  await fast.subscribe('s', '/topic/firehose');
  slow.buffered = 1001; // its transport reports more queued than allowed
  await core.broker.publish('/topic/firehose', 'x');
  // The write that overflowed the buffer is followed by the ERROR.
  t.equal(body(await slow.next('MESSAGE')), 'x');
  await expectError(t, slow, ErrorCode.SLOW_CONSUMER);
  t.equal(body(await fast.next('MESSAGE')), 'x');
  await nextIsMarker(t, core, fast, '/topic/firehose');
  t.equal(core.broker.counters.errors.get(ErrorCode.SLOW_CONSUMER), 1);
});

t.test('stray NULs between frames are skipped (CONNECT NUL LF NUL SUBSCRIBE); a run past the limit is an ERROR', async (t) => {
  const core = await startCore(t);
  const c = core.open();
  c.send(
    raw('CONNECT', { 'accept-version': '1.2', host: 'localhost', login: 'padded', 'heart-beat': '0,0' }) +
      '\n\0' +
      raw('SUBSCRIBE', { id: 'p', destination: '/topic/padded', receipt: 'sub' }) +
      '\0\0',
  );
  const connected = await c.next();
  t.equal(connected.command, 'CONNECTED', 'CONNECTED, not an ERROR');
  t.equal(connected.headers['user-name'], 'padded');
  const receipt = await c.next();
  t.equal(receipt.command, 'RECEIPT');
  t.equal(receipt.headers['receipt-id'], 'sub', 'the SUBSCRIBE after the NULs was taken');
  await core.broker.publish('/topic/padded', 'through');
  const m = await c.next('MESSAGE');
  t.equal(body(m), 'through');
  t.equal(m.headers['subscription'], 'p', 'the subscription works');
  t.equal(core.broker.counters.heartbeatsIn, 1, 'the LF is a heart-beat, the NULs are not');
  t.notOk(c.ended, 'still connected');

  c.send(Buffer.alloc(DEFAULT_PARSER_LIMITS.maxPaddingBytes + 1));
  await expectError(t, c, ErrorCode.PADDING_TOO_LONG);
});

t.test('a session whose peer never completes the close is dropped after a grace period', async (t) => {
  const core = await startCore(t);
  const c = await core.user('stuck');
  c.autoClose = false;
  c.send(raw('FROBNICATE'));
  await c.next('ERROR');
  t.ok(c.ended);
  await c.until(() => c.destroyed || undefined, 3000, 'destroy');
  t.ok(c.closed, 'destroy() completed the close');
  t.notOk(core.broker.sessions.has(c.session));
});

t.test('a header a 1.0 subscriber cannot be sent (raw EOL) does not break delivery to anyone', async (t) => {
  const core = await startCore(t);
  const old = core.open();
  await old.connect({ 'accept-version': '1.0', login: 'old' });
  await old.subscribe('s', '/topic/h');
  const modern = await core.user('modern');
  await modern.subscribe('s', '/topic/h');
  const sender = await core.user('sender');
  // STOMP 1.2 escaping carries a newline inside a header value.
  await sender.withReceipt({ command: 'SEND', headers: { destination: '/topic/h', 'x-multi': 'line1\nline2', 'x-plain': 'ok' }, body: 'hello' });
  const m12 = await modern.next('MESSAGE');
  t.equal(m12.headers['x-multi'], 'line1\nline2', 'a 1.2 subscriber gets the header as sent');
  const m10 = await old.next('MESSAGE');
  t.equal(m10.body.toString(), 'hello', 'the 1.0 subscriber gets the message');
  t.equal(m10.headers['x-plain'], 'ok');
  t.notOk('x-multi' in m10.headers, 'without the header it cannot represent');
  t.notOk(sender.closed, 'the sender is not blamed');
  await old.subscribe('n', '/user/queue/n');
  await core.broker.sendToUser('old', '/queue/n', 'from server code', { 'x-bad': 'a\r\nb', 'x-good': 'yes' });
  const fromServer = await old.next('MESSAGE');
  t.equal(fromServer.body.toString(), 'from server code');
  t.equal(fromServer.headers['x-good'], 'yes');
  t.notOk('x-bad' in fromServer.headers);
  t.notOk(old.closed, 'the 1.0 session stays open');
});

t.test('STOMP 1.0: SUBSCRIBE without id, UNSUBSCRIBE by destination, ACK by message-id', async (t) => {
  const core = await startCore(t);
  const old = core.open();
  old.send(raw('CONNECT', { login: 'old', 'heart-beat': 'ignored in 1.0' }));
  t.equal((await old.next('CONNECTED')).headers['version'], '1.0');
  await old.withReceipt({ command: 'SUBSCRIBE', headers: { destination: '/queue/v10', ack: 'client' } });
  await core.broker.publish('/queue/v10', 'one');
  const m = await old.next('MESSAGE');
  t.equal(m.headers['subscription'], '/queue/v10', 'the destination stands in for the id');
  t.notOk('ack' in m.headers);
  await old.withReceipt({ command: 'ACK', headers: { 'message-id': m.headers['message-id']! } });
  t.equal(old.session.unackedCount, 0);
  await old.withReceipt({ command: 'UNSUBSCRIBE', headers: { destination: '/queue/v10' } });
  t.equal(old.session.subscriptions.size, 0, 'unsubscribed by destination');
});
