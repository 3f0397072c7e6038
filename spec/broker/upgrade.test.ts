/**
 * The checks every WebSocket upgrade makes (src/transport/upgrade.ts), raw and
 * SockJS alike: 503 while the node is not accepting, 403 and one log line for a
 * refused origin, the bare HTTP answer a refused upgrade gets. The endpoints
 * themselves are driven over real sockets in websocket.test.ts and
 * spec/clients/sockjs.test.ts.
 */
import { PassThrough } from 'node:stream';
import t from 'tap';
import { originPolicy } from '../../src/transport/origin.js';
import { admitUpgrade, refuseUpgrade, requestPath, type UpgradeChecks } from '../../src/transport/upgrade.js';

/** A socket that records what is written to it. */
function recordingSocket(): { socket: PassThrough; written: () => string } {
  const socket = new PassThrough();
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return { socket, written: () => Buffer.concat(chunks).toString() };
}

function checks(accepting: boolean): { checks: UpgradeChecks; logged: unknown[][] } {
  const logged: unknown[][] = [];
  const info = (...args: unknown[]): void => void logged.push(args);
  return { checks: { opener: { accepting }, origins: originPolicy(['https://app.example']), log: { info } }, logged };
}

const upgrade = (origin?: string) => ({ url: '/ws/websocket?token=x', headers: origin ? { origin } : {} });

t.test('refuseUpgrade: a bare HTTP answer, then the socket is ended', async (t) => {
  const { socket, written } = recordingSocket();
  refuseUpgrade(socket, 404, 'Not Found');
  await new Promise((r) => setImmediate(r));
  t.equal(written(), 'HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  t.ok(socket.writableEnded, 'ended');
});

t.test('admitUpgrade: an allowed origin (or none) while accepting goes on, nothing written', async (t) => {
  for (const origin of ['https://app.example', undefined]) {
    const { checks: c, logged } = checks(true);
    const { socket, written } = recordingSocket();
    t.equal(admitUpgrade(c, upgrade(origin), socket, 'websocket upgrade'), true, `origin ${origin ?? '(none)'}`);
    await new Promise((r) => setImmediate(r));
    t.equal(written(), '');
    t.notOk(socket.writableEnded);
    t.same(logged, []);
  }
});

t.test('admitUpgrade: not accepting is 503, before the origin is looked at, unlogged', async (t) => {
  for (const origin of ['https://app.example', 'https://evil.example']) {
    const { checks: c, logged } = checks(false);
    const { socket, written } = recordingSocket();
    t.equal(admitUpgrade(c, upgrade(origin), socket, 'websocket upgrade'), false);
    await new Promise((r) => setImmediate(r));
    t.match(written(), /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    t.ok(socket.writableEnded);
    t.same(logged, []);
  }
});

t.test('admitUpgrade: a refused origin is 403 with one info line naming it and the path', async (t) => {
  const { checks: c, logged } = checks(true);
  const { socket, written } = recordingSocket();
  t.equal(admitUpgrade(c, upgrade('https://evil.example'), socket, 'sockjs websocket'), false);
  await new Promise((r) => setImmediate(r));
  t.match(written(), /^HTTP\/1\.1 403 Forbidden\r\n/);
  t.ok(socket.writableEnded);
  t.same(logged, [[{ origin: 'https://evil.example', path: '/ws/websocket' }, 'sockjs websocket refused: origin not allowed']]);
});

t.test('requestPath: the path without its query', async (t) => {
  t.equal(requestPath({ url: '/ws/000/abc/websocket?x=1&y=2' }), '/ws/000/abc/websocket');
  t.equal(requestPath({ url: '/ws' }), '/ws');
  t.equal(requestPath({ url: undefined }), '/');
});
