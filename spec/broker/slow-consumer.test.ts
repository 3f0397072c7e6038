/**
 * Slow consumers: every session has a bounded send buffer. A TCP client that
 * stops reading while the server publishes is told why (ERROR
 * STOMP_ERR_SLOW_CONSUMER) and disconnected once its buffer overflows; a
 * normal session on the same topic keeps receiving everything, promptly.
 */
import net from 'node:net';
import t from 'tap';
import WebSocket from 'ws';
import { ErrorCode } from '../../src/errors.js';
import { DEFAULTS } from '../../src/config.js';
import { FrameParser } from '../../src/stomp/parser.js';
import { encodeFrame } from '../../src/stomp/encoder.js';
import type { Frame } from '../../src/stomp/frame.js';
import { startBroker } from '../helpers/broker.js';
import { waitFor, within } from '../helpers/wait.js';
import { core } from '../helpers/internals.js';

const KiB = 1024;

/** A raw TCP STOMP client that can stop reading. */
class PausableTcpClient {
  readonly frames: Frame[] = [];
  ended = false;
  private readonly parser = new FrameParser({
    limits: { maxFrameBytes: 64 * 1024 * 1024 },
    onFrame: (f) => this.frames.push({ command: f.command, headers: { ...f.headers }, body: Buffer.alloc(0) }),
    onError: (e) => {
      throw e;
    },
  });
  readonly closed: Promise<void>;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => this.parser.push(d));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('end', () => (this.ended = true));
  }

  static connect(port: number): Promise<PausableTcpClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new PausableTcpClient(s)));
      s.once('error', reject);
    });
  }

  send(command: Frame['command'], headers: Record<string, string>): void {
    this.socket.write(encodeFrame({ command, headers }));
  }
}

/** A normal WebSocket subscriber measuring each message's latency (the body starts with the send time). */
function normalSubscriber(url: string, destination: string): Promise<{ latencies: number[]; ws: WebSocket; last: () => string }> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    let lastBody = '';
    const ws = new WebSocket(url, ['v12.stomp']);
    const parser = new FrameParser({
      limits: { maxFrameBytes: 64 * 1024 * 1024 },
      onFrame: (f) => {
        if (f.command === 'RECEIPT') resolve({ latencies, ws, last: () => lastBody });
        else if (f.command === 'MESSAGE') {
          const body = f.body.toString('latin1', 0, 40);
          latencies.push(Date.now() - Number(body.slice(0, body.indexOf('|'))));
          lastBody = body;
        } else if (f.command === 'ERROR') reject(new Error(`normal subscriber got ERROR ${f.headers['code']}`));
      },
      onError: reject,
    });
    ws.on('message', (d: Buffer) => parser.push(d));
    ws.on('error', reject);
    ws.on('open', () => {
      ws.send(encodeFrame({ command: 'CONNECT', headers: { 'accept-version': '1.2', host: 'h', login: 'normal', 'heart-beat': '0,0' } }));
      ws.send(encodeFrame({ command: 'SUBSCRIBE', headers: { id: 'n', destination, receipt: 'subscribed' } }));
    });
  });
}

t.test('a client that stops reading is cut; a normal session keeps its latency', async (t) => {
  const maxBufferedBytes = 64 * KiB;
  const b = await startBroker(t, { tcpPort: 0, limits: { maxBufferedBytes } });
  t.ok(DEFAULTS.limits.maxBufferedBytes > 0, 'bounded by default too');

  const slow = await PausableTcpClient.connect(b.tcpPort!);
  t.teardown(() => slow.socket.destroy());
  slow.send('CONNECT', { 'accept-version': '1.2', host: 'h', login: 'slow', 'heart-beat': '0,0' });
  slow.send('SUBSCRIBE', { id: 's', destination: '/topic/firehose', receipt: 'subscribed' });
  await waitFor(() => slow.frames.some((f) => f.command === 'RECEIPT'), { what: 'slow client subscribed' });
  slow.socket.pause(); // stop reading: the kernel buffers fill, then the server's send buffer

  const normal = await normalSubscriber(`${b.url}/ws`, '/topic/firehose');
  t.teardown(() => normal.ws.terminate());
  // A normal reader over TCP as well.
  const tcpReader = await PausableTcpClient.connect(b.tcpPort!);
  t.teardown(() => tcpReader.socket.destroy());
  tcpReader.send('CONNECT', { 'accept-version': '1.2', host: 'h', login: 'tcp-reader', 'heart-beat': '0,0' });
  tcpReader.send('SUBSCRIBE', { id: 's', destination: '/topic/firehose', receipt: 'subscribed' });
  await waitFor(() => tcpReader.frames.some((f) => f.command === 'RECEIPT'), { what: 'tcp reader subscribed' });

  const counter = (): number => core(b.broker).counters.errors.get(ErrorCode.SLOW_CONSUMER) ?? 0;
  const filler = 'x'.repeat(4 * KiB);
  let published = 0;
  // Publish in small bursts and yield, like a real producer (bounded: at most 64 MiB).
  while (counter() === 0 && published < 16_384) {
    for (let i = 0; i < 8; i++) await b.broker.publish('/topic/firehose', `${Date.now()}|${published++}|${filler}`);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  t.equal(counter(), 1, `the slow consumer was detected (after ${published} messages of 4 KiB)`);

  // The slow client, reading again, finds the ERROR at the end of what was queued for it, then the close.
  slow.socket.resume();
  await within(slow.closed, 5000, 'the server closing the slow connection');
  const last = slow.frames.at(-1)!;
  t.equal(last.command, 'ERROR', 'the last frame is an ERROR');
  t.equal(last.headers['code'], ErrorCode.SLOW_CONSUMER);
  t.ok(last.headers['message']);
  t.equal(slow.frames.filter((f) => f.command === 'MESSAGE').length, published, 'what was queued before the cut, then nothing more');
  await waitFor(() => ![...core(b.broker).sessions].some((s) => s.user === 'slow'), { what: 'the slow session gone' });
  t.pass('its session is gone');

  // The normal session got every message, promptly, and is still connected.
  await waitFor(() => normal.latencies.length === published, { what: `all ${published} messages at the normal subscriber`, timeoutMs: 10_000 });
  const sorted = [...normal.latencies].sort((x, y) => x - y);
  const p50 = sorted[Math.floor(sorted.length * 0.5)]!;
  t.comment(`normal subscriber latency over ${sorted.length} messages: p50 ${p50} ms, max ${sorted.at(-1)} ms`);
  t.ok(p50 < 500, `p50 latency ${p50} ms stays low`);
  t.equal(normal.ws.readyState, WebSocket.OPEN, 'the normal session is still connected');
  await waitFor(() => tcpReader.frames.filter((f) => f.command === 'MESSAGE').length === published, {
    what: 'all messages at the TCP reader',
    timeoutMs: 10_000,
  });
  t.notOk(tcpReader.frames.some((f) => f.command === 'ERROR'), 'the normal TCP reader was not cut');
  t.notOk(tcpReader.ended, 'and is still connected');
  await b.broker.publish('/topic/firehose', `${Date.now()}|marker|`);
  await waitFor(() => normal.last().includes('|marker|'), { what: 'marker at the normal subscriber' });
  t.ok(normal.latencies.at(-1)! < 1000, 'and a message after the cut arrives promptly');
});

t.test('a burst published in one tick does not make a reading TCP client look slow', async (t) => {
  const b = await startBroker(t, { tcpPort: 0, limits: { maxBufferedBytes: 64 * KiB } });
  const reader = await PausableTcpClient.connect(b.tcpPort!);
  t.teardown(() => reader.socket.destroy());
  reader.send('CONNECT', { 'accept-version': '1.2', host: 'h', login: 'reader', 'heart-beat': '0,0' });
  reader.send('SUBSCRIBE', { id: 's', destination: '/topic/burst', receipt: 'subscribed' });
  await waitFor(() => reader.frames.some((f) => f.command === 'RECEIPT'), { what: 'subscribed' });
  // Server code publishing in a loop without yielding to the event loop: 256 KiB in one tick.
  const body = 'y'.repeat(4 * KiB);
  for (let i = 0; i < 64; i++) await b.broker.publish('/topic/burst', body);
  await waitFor(() => reader.frames.filter((f) => f.command === 'MESSAGE').length === 64, { what: 'all 64 messages' });
  t.equal(core(b.broker).counters.errors.get(ErrorCode.SLOW_CONSUMER) ?? 0, 0, 'nobody was cut');
  t.notOk(reader.frames.some((f) => f.command === 'ERROR'));
  t.notOk(reader.ended, 'still connected');
});
