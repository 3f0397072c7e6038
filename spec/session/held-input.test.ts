/**
 * What a session holds for a client is bounded by the memory it keeps alive,
 * not by the lengths it sees:
 *  - a message kept until ACK is held in memory of its own when its body is a
 *    small view of a large client read, and counted with its header text;
 *  - frames waiting behind a slow /app handler are bounded in bytes (the reads
 *    they are views of): reading pauses at two frames' worth, and a client that
 *    keeps sending past the overflow bound gets STOMP_ERR_INPUT_OVERFLOW;
 *  - once a session failed, a frame whose handler was still running gets no
 *    RECEIPT after the ERROR;
 *  - a client promising heart-beats less often than heartbeat.maxMs is not
 *    read-checked at the ceiling (which would close it while it keeps its word).
 */
import t from 'tap';
import { DEFAULTS } from '../../src/config.js';
import { ErrorCode } from '../../src/errors.js';
import { heldBody, heldBytes } from '../../src/session/acks.js';
import { negotiateHeartBeat, serverOffer } from '../../src/session/handlers/connect.js';
import { startCore, type CoreBroker, type MemoryConnection } from '../helpers/memory-connection.js';
import { expectError, raw, type Asserts } from '../helpers/stomp-assert.js';
import { waitFor } from '../helpers/wait.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** `frame` at the start of a zeroed buffer of its own of `size` bytes, the rest EOLs (heart-beats between frames). */
function inRead(frames: string, size: number): Buffer {
  const buf = Buffer.alloc(size, '\n');
  const n = buf.write(frames, 0, 'utf8');
  if (n !== Buffer.byteLength(frames)) throw new Error('frames do not fit the read');
  return buf;
}

/** An /app handler at `path` that blocks until `release()` (at the latest at teardown). */
function slowHandler(t: { teardown(fn: () => unknown): void }, core: CoreBroker, path: string): { release: () => void; calls: () => number } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  t.teardown(() => release());
  let calls = 0;
  core.handle(path, async () => {
    calls++;
    await gate;
  });
  return { release, calls: () => calls };
}

/** Lets every pending callback and microtask run (one turn of the event loop). */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

// ---------------------------------------------------------------- heldBody / heldBytes

t.test('heldBody: a small view of a large read is copied into memory of its own', async (t) => {
  const read = Buffer.alloc(MiB, 'a');
  const view = read.subarray(1000, 1001);
  const held = heldBody(view);
  t.not(held, view, 'a copy');
  t.equal(held.length, 1);
  t.equal(held.toString(), 'a');
  t.ok(held.buffer.byteLength < 64, `backed by ${held.buffer.byteLength} bytes, not the 1 MiB read`);
  t.not(held.buffer, read.buffer, 'does not share the read');
  read[1000] = 0x62;
  t.equal(held.toString(), 'a', 'a change to the read does not show in it');

  // A small body from Node's shared pool is copied out of the pool slab too.
  const pooled = Buffer.from('xyz');
  if (pooled.buffer.byteLength > pooled.length + 1024) {
    const own = heldBody(pooled);
    t.equal(own.buffer.byteLength, 3, 'a pooled 3-byte body is held in 3 bytes');
    t.equal(own.toString(), 'xyz');
  }
});

t.test('heldBody: a body that (nearly) fills its backing is returned as is', async (t) => {
  const whole = Buffer.alloc(100 * KiB, 'b');
  t.equal(heldBody(whole), whole, 'a buffer that is its whole backing');
  const frameOfItsOwn = Buffer.alloc(100 * KiB + 40, 'c').subarray(30, 30 + 100 * KiB);
  t.equal(heldBody(frameOfItsOwn), frameOfItsOwn, 'a body with its own frame head and NUL around it');
  const empty = Buffer.alloc(0);
  t.equal(heldBody(empty).length, 0);
});

t.test('heldBytes: the backing memory plus the header text', async (t) => {
  const own = Buffer.alloc(10);
  t.equal(heldBytes(own, {}), 10);
  t.equal(heldBytes(own, { 'x-sender': 'alice', k: 'v' }), 10 + 'x-sender'.length + 'alice'.length + 2, 'names and values counted');
  const view = Buffer.alloc(MiB).subarray(0, 1);
  t.equal(heldBytes(view, {}), MiB, 'a view counts the whole read it keeps alive');
  t.equal(heldBytes(heldBody(view), { a: 'b' }), 1 + 2, 'its copy counts its own byte');
  const big = 'h'.repeat(8 * KiB);
  t.equal(heldBytes(Buffer.alloc(1), { big }), 1 + 3 + big.length, 'a 1-byte body with a long header counts the header');
});

t.test('a client-ack subscriber holds a small message padded into a large read by its own size', async (t) => {
  const core = await startCore(t);
  const sub = await core.user('sub');
  await sub.subscribe('t', '/topic/padded', { ack: 'client-individual' });
  await sub.subscribe('q', '/queue/padded', { ack: 'client' });
  const sender = await core.user('sender');

  // One SEND of 1 byte, then ~1 MiB of EOLs in the same read (a single WebSocket message, say).
  sender.send(inRead(raw('SEND', { destination: '/topic/padded' }, 'x'), MiB));
  const m = await sub.next('MESSAGE');
  t.equal(m.body.toString(), 'x');
  t.equal(sub.session.unackedCount, 1);
  const one = sub.session.unackedBytes;
  t.ok(one >= 1 + 'x-sender'.length + 'sender'.length, `counted with its header text (${one} bytes)`);
  t.ok(one < 4 * KiB, `held as ${one} bytes, not the 1 MiB read`);

  // Ten small SENDs in one 512 KiB read: each held on its own.
  let frames = '';
  for (let i = 0; i < 10; i++) frames += raw('SEND', { destination: i % 2 === 0 ? '/topic/padded' : '/queue/padded' }, `m${i}`);
  sender.send(inRead(frames, 512 * KiB));
  const ms = await sub.messages(10);
  t.same(ms.map((f) => f.body.toString()).sort(), [...Array(10).keys()].map((i) => `m${i}`).sort());
  t.equal(sub.session.unackedCount, 11);
  t.ok(sub.session.unackedBytes < 11 * 4 * KiB, `11 messages held as ${sub.session.unackedBytes} bytes`);

  // Acknowledged, nothing is held any more.
  const all = [m, ...ms];
  for (const f of all.slice(0, -1)) sub.send(raw('ACK', { id: f.headers['ack']! }));
  await sub.withReceipt({ command: 'ACK', headers: { id: all.at(-1)!.headers['ack']! } });
  t.equal(sub.session.unackedCount, 0, 'all acknowledged');
  t.equal(sub.session.unackedBytes, 0, 'nothing held after the ACKs');
});

// ---------------------------------------------------------------- frames waiting behind a slow handler

/** Small limits: reading pauses at 8 KiB of waiting reads, the overflow bound is 8 KiB + 2 x (4 KiB + 64 KiB). */
const SMALL = { maxFrameBytes: 4 * KiB, maxWebSocketMessageBytes: 4 * KiB };
const PAUSE_BYTES = 2 * SMALL.maxFrameBytes;
const OVERFLOW_BYTES = PAUSE_BYTES + 2 * (SMALL.maxWebSocketMessageBytes + 64 * KiB);
/** One read of READ_BYTES holding one SEND (to a topic nobody reads). */
const READ_BYTES = 4000;
const pileRead = (i: number): Buffer => inRead(raw('SEND', { destination: '/topic/pile', receipt: `p${i}` }, `pile ${i}`), READ_BYTES);

async function observer(core: CoreBroker): Promise<MemoryConnection> {
  const o = await core.user('observer');
  await o.subscribe('o', '/topic/obs');
  return o;
}

async function observerAlive(t: Asserts, core: CoreBroker, o: MemoryConnection, n: number): Promise<void> {
  await core.broker.publish('/topic/obs', `alive ${n}`);
  t.equal((await o.next('MESSAGE')).body.toString(), `alive ${n}`, 'the observer still receives');
}

t.test('frames piling up behind a slow /app handler: reading pauses, then past the byte bound ERROR STOMP_ERR_INPUT_OVERFLOW', async (t) => {
  const core = await startCore(t, { limits: SMALL });
  const obs = await observer(core);
  const slow = slowHandler(t, core, '/slow');
  const c = await core.user('piler');
  c.send(raw('SEND', { destination: '/app/slow', receipt: 'slow' }, 'wait'));
  await waitFor(() => slow.calls() === 1, { what: 'the handler started' });

  // Reads of 4000 bytes each, one small SEND in each: well under the 1000 frames that pause by count.
  let sent = 0;
  const maxReads = Math.ceil(OVERFLOW_BYTES / READ_BYTES) + 10;
  let pausedAfter = -1;
  for (; sent < maxReads && !c.frames.some((f) => f.command === 'ERROR'); sent++) {
    c.send(pileRead(sent));
    if (pausedAfter < 0 && c.paused) pausedAfter = sent + 1;
  }
  t.ok(pausedAfter > 0, `reading paused after ${pausedAfter} reads`);
  t.ok(pausedAfter * READ_BYTES >= PAUSE_BYTES && (pausedAfter - 1) * READ_BYTES < PAUSE_BYTES, 'at two frames worth of reads');
  t.ok(sent * READ_BYTES > OVERFLOW_BYTES, `ERROR after ${sent} reads (${sent * READ_BYTES} bytes > ${OVERFLOW_BYTES})`);
  t.ok((sent - 1) * READ_BYTES <= OVERFLOW_BYTES, 'not before the bound');
  await expectError(t, c, ErrorCode.INPUT_OVERFLOW);
  t.notOk(c.log.some((f) => f.command === 'RECEIPT'), 'none of the waiting frames was handled');
  await observerAlive(t, core, obs, 1);
  slow.release();
  await observerAlive(t, core, obs, 2);
  t.notOk(c.log.some((f) => f.command === 'RECEIPT'), 'no RECEIPT after the ERROR, not even for the slow frame');
});

t.test('frames within the byte bound wait, then are all handled once the slow handler returns; reading resumes', async (t) => {
  const core = await startCore(t, { limits: SMALL });
  const obs = await observer(core);
  const slow = slowHandler(t, core, '/slow');
  const c = await core.user('patient');
  c.send(raw('SEND', { destination: '/app/slow', receipt: 'slow' }, 'wait'));
  await waitFor(() => slow.calls() === 1, { what: 'the handler started' });
  const reads = Math.floor(OVERFLOW_BYTES / READ_BYTES);
  for (let i = 0; i < reads; i++) c.send(pileRead(i));
  t.ok(c.paused, `paused with ${reads * READ_BYTES} bytes of reads waiting`);
  t.notOk(c.frames.some((f) => f.command === 'ERROR' || f.command === 'RECEIPT'), 'no ERROR, nothing handled yet');
  await observerAlive(t, core, obs, 1);
  slow.release();
  t.equal((await c.next('RECEIPT')).headers['receipt-id'], 'slow');
  for (let i = 0; i < reads; i++) t.equal((await c.next('RECEIPT')).headers['receipt-id'], `p${i}`, `p${i}`);
  t.notOk(c.paused, 'reading resumed');
  t.notOk(c.ended, 'still connected');
  await c.withReceipt({ command: 'SEND', headers: { destination: '/topic/pile' }, body: Buffer.from('after') });

  // The count starts over once the queue is empty: a second pile-up as large is fine too.
  const again = slowHandler(t, core, '/slow-again');
  c.send(raw('SEND', { destination: '/app/slow-again', receipt: 'slow-again' }, 'wait'));
  await waitFor(() => again.calls() === 1, { what: 'the second handler started' });
  for (let i = 0; i < reads; i++) c.send(pileRead(i));
  t.ok(c.paused, 'paused again');
  t.notOk(c.frames.some((f) => f.command === 'ERROR'), 'no ERROR the second time');
  again.release();
  t.equal((await c.next('RECEIPT')).headers['receipt-id'], 'slow-again');
  for (let i = 0; i < reads; i++) await c.next('RECEIPT');
  t.notOk(c.paused, 'reading resumed again');
});

t.test('many frames of one read are counted once: 500 small frames in a 60 KiB read wait without ERROR', async (t) => {
  const core = await startCore(t, { limits: SMALL });
  const slow = slowHandler(t, core, '/slow');
  const c = await core.user('batcher');
  c.send(raw('SEND', { destination: '/app/slow' }, 'wait'));
  await waitFor(() => slow.calls() === 1, { what: 'the handler started' });
  let frames = '';
  for (let i = 0; i < 500; i++) frames += raw('SEND', { destination: '/topic/pile', ...(i === 499 ? { receipt: 'last' } : {}) }, `${i}`);
  const read = inRead(frames, 60 * KiB);
  // Two such reads: 120 KiB, within the bound; 500 views of each counted per frame would be ~30 MiB.
  c.send(read);
  c.send(inRead(frames.replace('receipt:last', 'receipt:very-last'), 60 * KiB));
  t.ok(c.paused, 'paused (60 KiB is past two frames worth)');
  t.notOk(c.frames.some((f) => f.command === 'ERROR'), 'no ERROR');
  slow.release();
  t.equal((await c.next('RECEIPT')).headers['receipt-id'], 'last');
  t.equal((await c.next('RECEIPT')).headers['receipt-id'], 'very-last');
  await c.until(() => !c.paused || undefined, 2000, 'reading resumed');
});

// ---------------------------------------------------------------- no RECEIPT after an ERROR

t.test('a frame whose handler is still running when the session fails gets no RECEIPT after the ERROR', async (t) => {
  const core = await startCore(t);
  const slow = slowHandler(t, core, '/slow');
  const c = await core.user('failing');
  // The peer does not complete the close at once: the session stays "closing" while the handler runs.
  c.autoClose = false;
  t.teardown(() => c.hangup());
  c.send(raw('SEND', { destination: '/app/slow', receipt: 'slow-receipt' }, 'wait'));
  await waitFor(() => slow.calls() === 1, { what: 'the handler started' });
  c.send('SEND\ndestination:/topic/x\nno-colon-here\n\n\0');
  const e = await c.next();
  t.equal(e.command, 'ERROR');
  t.equal(e.headers['code'], ErrorCode.MALFORMED_HEADER);
  t.ok(c.ended, 'the server is closing the connection');
  slow.release();
  // The handler's continuation (and any RECEIPT it would write) runs within this turn.
  await turn();
  await turn();
  t.same(
    c.log.slice(c.log.indexOf(e)).map((f) => f.command),
    ['ERROR'],
    'nothing after the ERROR',
  );
  t.notOk(c.log.some((f) => f.command === 'RECEIPT' && f.headers['receipt-id'] === 'slow-receipt'), 'never the RECEIPT');
});

// ---------------------------------------------------------------- heart-beats beyond the ceiling

t.test('heart-beat: a client promising beats every 2 h (past maxMs) is not read-checked; CONNECTED offers at most maxMs', async (t) => {
  const hb = DEFAULTS.heartbeat;
  t.equal(hb.maxMs, 3_600_000, 'the default ceiling is 1 h');
  const offer = serverOffer(hb);
  t.same(offer, [1000, 1000]);
  t.same(negotiateHeartBeat([7_200_000, 0], offer, hb), { readMs: 0, writeMs: 0 }, 'heart-beat:7200000,0: no read check');
  t.same(negotiateHeartBeat([7_200_000, 7_200_000], offer, hb), { readMs: 0, writeMs: 3_600_000 }, 'writes at the ceiling, reads unchecked');
  t.same(negotiateHeartBeat([3_600_000, 0], offer, hb), { readMs: 3_600_000, writeMs: 0 }, 'exactly the ceiling is still checked');
  t.same(negotiateHeartBeat([3_600_001, 0], offer, hb), { readMs: 0, writeMs: 0 }, '1 ms past it is not');
  // Configured values are held within [minMs, maxMs] in what CONNECTED offers.
  t.same(serverOffer({ outgoingMs: 7_200_000, incomingMs: 7_200_000, minMs: 1000, maxMs: 3_600_000 }), [3_600_000, 3_600_000], 'held at maxMs');
  t.same(serverOffer({ outgoingMs: 10, incomingMs: 0, minMs: 1000, maxMs: 3_600_000 }), [1000, 0], 'raised to minMs; 0 stays 0');
  // A configured incoming interval past maxMs is offered as maxMs, so a client promising it is checked at maxMs.
  const high = { outgoingMs: 0, incomingMs: 7_200_000, minMs: 1000, maxMs: 3_600_000 };
  t.same(negotiateHeartBeat([1000, 0], serverOffer(high), high), { readMs: 3_600_000, writeMs: 0 });
});

t.test('heart-beat over a session: a client keeping a promise past maxMs is not closed; one within it that goes silent is', async (t) => {
  // Scaled down: maxMs 200 ms, so the read check at the ceiling would close after 300 ms.
  const core = await startCore(t, { heartbeat: { outgoingMs: 0, incomingMs: 100, minMs: 50, maxMs: 200, graceFactor: 1.5 } });
  const keeper = core.open();
  const connected = await keeper.connect({ login: 'keeper', 'heart-beat': '400,0' });
  t.equal(connected.headers['heart-beat'], '0,100', 'CONNECTED offers the configured values');
  const silent = core.open();
  await silent.connect({ login: 'silent', 'heart-beat': '150,0' });
  const start = Date.now();

  // The keeper beats every 400 ms, as it promised, for 1.2 s.
  for (let beat = 1; beat <= 3; beat++) {
    await waitFor(() => Date.now() - start >= beat * 400 || keeper.closed, { timeoutMs: 2000, what: `beat ${beat}` });
    if (keeper.closed) break;
    keeper.send('\n');
  }
  t.notOk(keeper.frames.some((f) => f.command === 'ERROR'), `no ERROR for the keeper (${keeper.log.map((f) => f.headers['code'] ?? f.command).join(',')})`);
  t.notOk(keeper.closed, 'the keeper is still connected after 1.2 s');
  await keeper.subscribe('k', '/topic/k');

  // The silent one promised 150 ms (within the ceiling): checked, closed after 1.5 x 150 ms.
  await expectError(t, silent, ErrorCode.HEARTBEAT_TIMEOUT);
});
