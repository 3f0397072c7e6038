/**
 * Limits raise coded ERRORs: frame size, header count, header line length,
 * subscriptions and transactions per session. Each is checked with a small
 * configured value and at its default value (asserted against DEFAULTS).
 */
import t from 'tap';
import { DEFAULTS } from '../../src/config.js';
import { ErrorCode } from '../../src/errors.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import type { RawClient } from '../helpers/client.js';
import { expectError, raw, type Asserts } from '../helpers/stomp-assert.js';

const KiB = 1024;
const MiB = 1024 * KiB;

t.test('the defaults', async (t) => {
  t.same(DEFAULTS.limits, {
    maxFrameBytes: MiB,
    maxHeaders: 64,
    maxHeaderLineBytes: 8 * KiB,
    maxWebSocketMessageBytes: MiB + 64 * KiB,
    maxBufferedBytes: 4 * MiB,
    maxSubscriptionsPerSession: 1000,
    maxTransactionsPerSession: 16,
    maxFramesPerTransaction: 1000,
    maxUnackedPerSession: 10_000,
    maxUnackedBytesPerSession: 32 * MiB,
    maxTransactionBytesPerSession: 16 * MiB,
    maxHeldBytes: 256 * MiB,
    maxHeldBytesPerSender: 64 * MiB,
    maxQueueAgeMs: 24 * 60 * 60 * 1000,
    maxQueueDepth: 10_000,
    connectTimeoutMs: 10_000,
    maxPatternLength: 1024,
    maxPatternWildcards: 16,
    maxPatternSubscriptionsPerSession: 100,
    maxTopicPatterns: 10_000,
  });
});

/** A SEND frame whose wire size (command, headers, blank line, body; not the NUL) is exactly `bytes`. */
function sendOfSize(destination: string, bytes: number): string {
  const head = `SEND\ndestination:${destination}\n\n`;
  return head + 'x'.repeat(bytes - head.length) + '\0';
}

function sendWithHeaders(destination: string, headerCount: number): string {
  const headers: Record<string, string> = { destination };
  for (let i = 1; i < headerCount; i++) headers[`h${i}`] = String(i);
  return raw('SEND', headers, 'body');
}

function sendWithHeaderLine(destination: string, lineBytes: number): string {
  const name = 'x-long';
  return raw('SEND', { destination, [name]: 'v'.repeat(lineBytes - name.length - 1) }, 'body');
}

function patternSubscribes(n: number, prefix = 'p'): string {
  let s = '';
  for (let i = 0; i < n; i++) s += raw('SUBSCRIBE', { id: `${prefix}${i}`, destination: `/topic/${prefix}${i}/*` });
  return s;
}

function subscribes(n: number, from = 0): string {
  let s = '';
  for (let i = from; i < from + n; i++) s += raw('SUBSCRIBE', { id: `s${i}`, destination: `/topic/t${i}` });
  return s;
}

async function confirmedOk(t: Asserts, c: RawClient, what: string): Promise<void> {
  c.send(raw('SEND', { destination: '/topic/limits', receipt: what }, 'sync'));
  const f = await c.until(() => {
    const i = c.frames.findIndex((x) => x.command === 'RECEIPT' || x.command === 'ERROR');
    return i < 0 ? undefined : c.frames.splice(i, 1)[0];
  }, 10_000, `RECEIPT ${what}`);
  t.equal(`${f.command} ${f.headers['receipt-id'] ?? f.headers['code']}`, `RECEIPT ${what}`, `${what}: accepted`);
}

/** At the limit accepted, one over it refused with `code`; another session keeps working. */
async function limitCase(
  t: Asserts,
  b: TestBroker,
  atLimit: string,
  overLimit: string,
  code: string,
  receipt?: string,
): Promise<void> {
  const ok = await b.user('at-limit');
  await ok.subscribe('l', '/topic/limits');
  ok.send(atLimit);
  await confirmedOk(t, ok, 'at the limit');
  const bad = await b.user('over-limit');
  bad.send(overLimit);
  await expectError(t, bad, code, receipt === undefined ? {} : { receipt });
  await confirmedOk(t, ok, 'after the other session failed');
}

t.test('configured limits', async (t) => {
  const b = await startBroker(t, {
    limits: {
      maxFrameBytes: 1024,
      maxWebSocketMessageBytes: 64 * KiB,
      maxHeaders: 5,
      maxHeaderLineBytes: 100,
      maxSubscriptionsPerSession: 3,
      maxTransactionsPerSession: 2,
      maxTopicPatterns: 2,
    },
  });
  await t.test('maxFrameBytes', (t) => limitCase(t, b, sendOfSize('/topic/x', 1024), sendOfSize('/topic/x', 1025), ErrorCode.FRAME_TOO_LARGE));
  await t.test('maxFrameBytes, announced by content-length', async (t) => {
    const c = await b.user('announcer');
    c.send('SEND\ndestination:/topic/x\ncontent-length:5000\n\n'); // refused before the body arrives
    await expectError(t, c, ErrorCode.FRAME_TOO_LARGE);
  });
  await t.test('maxHeaders', (t) => limitCase(t, b, sendWithHeaders('/topic/x', 5), sendWithHeaders('/topic/x', 6), ErrorCode.TOO_MANY_HEADERS));
  await t.test('maxHeaderLineBytes', (t) =>
    limitCase(t, b, sendWithHeaderLine('/topic/x', 100), sendWithHeaderLine('/topic/x', 101), ErrorCode.HEADER_LINE_TOO_LONG),
  );
  await t.test('maxSubscriptionsPerSession', (t) =>
    limitCase(t, b, subscribes(2, 100), subscribes(3) + raw('SUBSCRIBE', { id: 'one-more', destination: '/topic/x', receipt: 'sub4' }), ErrorCode.TOO_MANY_SUBSCRIPTIONS, 'sub4'),
  );
  await t.test('maxTransactionsPerSession', (t) =>
    limitCase(
      t,
      b,
      raw('BEGIN', { transaction: 'a' }) + raw('BEGIN', { transaction: 'b' }),
      raw('BEGIN', { transaction: 'a' }) + raw('BEGIN', { transaction: 'b' }) + raw('BEGIN', { transaction: 'c', receipt: 'tx3' }),
      ErrorCode.TOO_MANY_TRANSACTIONS,
      'tx3',
    ),
  );
  await t.test('a finished transaction frees its slot', async (t) => {
    const c = await b.user('tx-cycler');
    let s = '';
    for (let i = 0; i < 5; i++) s += raw('BEGIN', { transaction: `t${i}` }) + raw(i % 2 ? 'ABORT' : 'COMMIT', { transaction: `t${i}` });
    c.send(s);
    await confirmedOk(t, c, 'five transactions, one at a time');
  });
  await t.test('maxTopicPatterns: a new distinct pattern past the node bound is refused; a shared one is not', async (t) => {
    const first = await b.user('patterns-1');
    first.send(patternSubscribes(2, 'n'));
    await confirmedOk(t, first, 'two distinct patterns');
    const second = await b.user('patterns-2');
    second.send(raw('SUBSCRIBE', { id: 'same', destination: '/topic/n0/*' }));
    await confirmedOk(t, second, 'a pattern already held is shared');
    second.send(raw('SUBSCRIBE', { id: 'new', destination: '/topic/other/*', receipt: 'new' }));
    await expectError(t, second, ErrorCode.TOO_MANY_SUBSCRIPTIONS, { receipt: 'new' });
    first.send(raw('UNSUBSCRIBE', { id: 'n1' }));
    await confirmedOk(t, first, 'one pattern given up');
    const third = await b.user('patterns-3');
    third.send(raw('SUBSCRIBE', { id: 'new', destination: '/topic/other/*' }));
    await confirmedOk(t, third, 'room again once a pattern is given up');
  });
  await t.test('UNSUBSCRIBE frees a subscription slot', async (t) => {
    const c = await b.user('sub-cycler');
    c.send(subscribes(3) + raw('UNSUBSCRIBE', { id: 's0' }) + raw('SUBSCRIBE', { id: 'again', destination: '/topic/limits' }));
    await confirmedOk(t, c, 'a fourth subscription after an UNSUBSCRIBE');
  });
});

t.test('default limits are enforced at their DEFAULTS values', async (t) => {
  const b = await startBroker(t);
  const l = DEFAULTS.limits;
  await t.test(`maxFrameBytes ${l.maxFrameBytes}`, (t) =>
    limitCase(t, b, sendOfSize('/topic/x', l.maxFrameBytes), sendOfSize('/topic/x', l.maxFrameBytes + 1), ErrorCode.FRAME_TOO_LARGE),
  );
  await t.test(`maxHeaders ${l.maxHeaders}`, (t) =>
    limitCase(t, b, sendWithHeaders('/topic/x', l.maxHeaders), sendWithHeaders('/topic/x', l.maxHeaders + 1), ErrorCode.TOO_MANY_HEADERS),
  );
  await t.test(`maxHeaderLineBytes ${l.maxHeaderLineBytes}`, (t) =>
    limitCase(
      t,
      b,
      sendWithHeaderLine('/topic/x', l.maxHeaderLineBytes),
      sendWithHeaderLine('/topic/x', l.maxHeaderLineBytes + 1),
      ErrorCode.HEADER_LINE_TOO_LONG,
    ),
  );
  await t.test(`maxSubscriptionsPerSession ${l.maxSubscriptionsPerSession}`, (t) =>
    limitCase(
      t,
      b,
      // the helper's own subscription is one of them
      subscribes(l.maxSubscriptionsPerSession - 1),
      subscribes(l.maxSubscriptionsPerSession) + raw('SUBSCRIBE', { id: 'over', destination: '/topic/x', receipt: 'over' }),
      ErrorCode.TOO_MANY_SUBSCRIPTIONS,
      'over',
    ),
  );
  await t.test(`maxPatternWildcards ${l.maxPatternWildcards}`, (t) =>
    limitCase(
      t,
      b,
      raw('SUBSCRIBE', { id: 'p', destination: '/topic/' + '*x'.repeat(l.maxPatternWildcards) }),
      raw('SUBSCRIBE', { id: 'p', destination: '/topic/' + '*x'.repeat(l.maxPatternWildcards + 1), receipt: 'p' }),
      ErrorCode.PATTERN_TOO_COMPLEX,
      'p',
    ),
  );
  await t.test(`maxPatternLength ${l.maxPatternLength}`, (t) => {
    const pattern = (n: number): string => '/user/queue/*' + 'a'.repeat(n - '/queue/*'.length);
    return limitCase(
      t,
      b,
      raw('SUBSCRIBE', { id: 'p', destination: pattern(l.maxPatternLength) }),
      raw('SUBSCRIBE', { id: 'p', destination: pattern(l.maxPatternLength + 1), receipt: 'p' }),
      ErrorCode.PATTERN_TOO_COMPLEX,
      'p',
    );
  });
  await t.test(`maxPatternSubscriptionsPerSession ${l.maxPatternSubscriptionsPerSession}`, (t) =>
    limitCase(
      t,
      b,
      patternSubscribes(l.maxPatternSubscriptionsPerSession),
      patternSubscribes(l.maxPatternSubscriptionsPerSession) + raw('SUBSCRIBE', { id: 'over', destination: '/user/queue/**', receipt: 'over' }),
      ErrorCode.TOO_MANY_SUBSCRIPTIONS,
      'over',
    ),
  );
  await t.test(`maxTransactionsPerSession ${l.maxTransactionsPerSession}`, (t) => {
    let at = '';
    for (let i = 0; i < l.maxTransactionsPerSession; i++) at += raw('BEGIN', { transaction: `t${i}` });
    return limitCase(t, b, at, at + raw('BEGIN', { transaction: 'over', receipt: 'over' }), ErrorCode.TOO_MANY_TRANSACTIONS, 'over');
  });
});
