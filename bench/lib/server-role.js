// Child process that hosts the server under test and, for the delivery
// benchmark, the publisher. kind "stomp" is the broker (dist/, Fastify + ws);
// kind "ws" is the baseline: a bare `ws` server on node:http with a
// Map user -> socket and the same publisher, forwarding the same payloads.
//
// Baseline protocol (text messages): client "HELLO <user>" -> server "OK";
// client "BYE" -> the server closes the socket (as DISCONNECT does).
import http from 'node:http';
import v8 from 'node:v8';
import { pathToFileURL } from 'node:url';
import { WebSocketServer } from 'ws';
import { serveRole } from './ipc.js';
import { progressTracker } from './progress.js';
import { cpuSince, nowUs, pace, sleep, tick } from './util.js';

const DESTINATION = '/queue/bench';
const BODY_BYTES = 128;

let server = null; // { kind, port, publish(userIndex, body), close() }
let users = [];
const progress = progressTracker({ deferred: true });

async function startStomp() {
  // BENCH_DIST: benchmark another build of the broker (e.g. a branch's dist/index.js).
  const distBase = process.env.BENCH_DIST ? pathToFileURL(process.env.BENCH_DIST) : new URL('../../dist/index.js', import.meta.url);
  const { createBroker } = await import(distBase.href);
  const broker = createBroker(
    { port: 0, host: '127.0.0.1', logLevel: 'silent', heartbeat: { outgoingMs: 0, incomingMs: 0 } },
    { env: false },
  );
  const { port } = await broker.listen();
  // The core: brokerCore() from the build's internals.js, or the `core` field of builds from before it.
  const core = broker.core ?? (await import(new URL('internals.js', distBase).href)).brokerCore(broker);
  let errors = 0;
  const failed = () => errors++;
  return {
    kind: 'stomp',
    port,
    broker,
    // Server-side publisher, as application code calls it (Spring's convertAndSendToUser).
    publish: (i, body) => broker.sendToUser(users[i], DESTINATION, body).catch(failed),
    sessions: () => core.sessions.size,
    errors: () => errors,
    close: () => broker.close(),
  };
}

async function startWs() {
  const byUser = new Map();
  const httpServer = http.createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1024 * 1024 + 64 * 1024 });
  httpServer.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    if ((req.url ?? '/').split('?')[0] !== '/ws') return socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
    wss.handleUpgrade(req, socket, head, (ws) => {
      let user = null;
      ws.on('message', (data) => {
        const s = data.toString();
        if (s.startsWith('HELLO ')) {
          user = s.slice(6);
          byUser.set(user, ws);
          ws.send('OK');
        } else if (s === 'BYE') ws.close(1000);
      });
      ws.on('close', () => {
        if (user !== null && byUser.get(user) === ws) byUser.delete(user);
      });
      ws.on('error', () => undefined);
    });
  });
  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  return {
    kind: 'ws',
    port: httpServer.address().port,
    publish: (i, body) => {
      const ws = byUser.get(users[i]);
      // Text, like the broker sends UTF-8 frames.
      if (ws !== undefined && ws.readyState === 1) ws.send(body, { binary: false });
    },
    sessions: () => byUser.size,
    errors: () => 0,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      await new Promise((resolve) => httpServer.close(resolve));
    },
  };
}

/**
 * The 128-byte body: "<phase>|<seq>|<sent µs>|" padded with "x". The
 * timestamp is taken just before the publish call; ASCII so the broker sends
 * it as a text frame, as it would JSON.
 */
function body(phase, seq) {
  return Buffer.from(`${phase}|${seq}|${nowUs().toFixed(1)}|`.padEnd(BODY_BYTES, 'x'), 'latin1');
}

async function gcMemory() {
  for (let i = 0; i < 4; i++) {
    global.gc?.();
    await tick();
  }
  await sleep(100);
  global.gc?.();
  const m = process.memoryUsage();
  // New space grows with the allocation rate and stays grown: part of RSS that no session holds.
  const newSpace = v8.getHeapSpaceStatistics().find((sp) => sp.space_name === 'new_space')?.space_size ?? 0;
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, newSpace, gc: typeof global.gc === 'function' };
}

serveRole({
  async start({ kind }) {
    server = kind === 'stomp' ? await startStomp() : await startWs();
    return { port: server.port, pid: process.pid };
  },

  setUsers(args) {
    users = args.users;
    return users.length;
  },

  sessions() {
    return server.sessions();
  },

  memory: gcMemory,

  /** Diagnostics: write a heap snapshot (after GC) to `file`. */
  async heapSnapshot({ file }) {
    await gcMemory();
    return v8.writeHeapSnapshot(file);
  },

  cpuUsage() {
    return process.cpuUsage();
  },

  /**
   * Flat out: publish `n` messages round-robin over the users as fast as the
   * server takes them, keeping at most `window` messages in flight (sent and
   * not yet counted by the clients, who report progress every few thousand).
   * Stops early after maxMs (a busy machine): `sent` says how many went out.
   */
  flatout({ phase, n, window, burst, maxMs = 30_000 }) {
    const cpu0 = process.cpuUsage();
    const nu = users.length;
    let sent = 0;
    let stalls = 0;
    const t0 = nowUs();
    return new Promise((resolve) => {
      const pump = () => {
        progress.next(null);
        let b = 0;
        while (sent < n && b < burst && sent - progress.received(phase) < window) {
          server.publish(sent % nu, body(phase, sent));
          sent++;
          b++;
        }
        if (sent >= n || nowUs() - t0 > maxMs * 1000) {
          resolve({ sent, t0, tPublished: nowUs(), stalls, errors: server.errors(), cpu: cpuSince(cpu0) });
          return;
        }
        if (b < burst) {
          stalls++;
          progress.next(pump); // window full: continue on the next progress report
        } else setImmediate(pump);
      };
      pump();
    });
  },

  /**
   * Paced: `rate` messages a second for warmupMs (phase W, not measured) then
   * measureMs (phase L). A 1 ms timer publishes whatever is due. Lateness of
   * the pacer against the schedule is recorded: a stalled event loop shows
   * there rather than hiding as fewer slow messages (coordinated omission).
   */
  async latency(args) {
    const cpu0 = process.cpuUsage();
    const nu = users.length;
    const p = await pace(args, (i, measured) => server.publish(i % nu, body(measured ? 'L' : 'W', i)));
    return {
      warm: p.warm,
      measured: p.measured,
      achievedRate: p.achievedRate,
      pacerLag: p.pacerLag,
      errors: server.errors(),
      cpu: cpuSince(cpu0),
      cpuMeasured: p.measureStart ? cpuSince(p.measureStart) : null,
    };
  },

  async close() {
    await server?.close();
    return true;
  },

  onEvent: progress.onEvent,
});
