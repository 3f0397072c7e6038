/**
 * ScenarioClient adapters, one per client library of the matrix. Each uses the
 * library's documented API; only `sendBadFrame` reaches below it (the socket or
 * raw frame API), as no library sends an unknown command on purpose.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Client as Stomp7 } from '@stomp/stompjs';
import WebSocket from 'ws';
import { SYSTEM_PYTHON } from '../helpers/requirements.js';
import { Inbox, type ScenarioClient } from './scenario.js';

const require = createRequire(import.meta.url);

/* eslint-disable @typescript-eslint/no-explicit-any -- the legacy libraries ship no types */
type Any = any;

const BAD_FRAME = 'BOGUS\n\n\0';

function headersOf(h: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) out[k] = String(v);
  return out;
}

// ------------------------------------------------------------ @stomp/stompjs 7 over WebSocket (ws)

export function stompjs7(url: string): ScenarioClient {
  const inbox = new Inbox();
  let client: Stomp7;
  return {
    inbox,
    connect(login) {
      return new Promise((resolve, reject) => {
        client = new Stomp7({
          webSocketFactory: () => new WebSocket(url, ['v12.stomp']),
          connectHeaders: { login },
          reconnectDelay: 0,
          debug: () => undefined,
          onConnect: (f) => resolve(headersOf(f.headers)),
          onStompError: (f) => inbox.error({ command: f.command, headers: headersOf(f.headers), body: f.body }),
          onWebSocketClose: () => inbox.close(),
          onWebSocketError: () => reject(new Error(`@stomp/stompjs: WebSocket error on ${url}`)),
        });
        client.activate();
      });
    },
    subscribe(destination) {
      client.subscribe(destination, (m) => inbox.message({ command: m.command, headers: headersOf(m.headers), body: m.body }));
    },
    send(destination, body, headers = {}) {
      client.publish({ destination, body, headers });
    },
    sendWithReceipt(destination, body, receipt) {
      return new Promise((resolve) => {
        client.watchForReceipt(receipt, () => {
          inbox.receipt(receipt);
          resolve();
        });
        client.publish({ destination, body, headers: { receipt } });
      });
    },
    sendBadFrame() {
      client.webSocket!.send(BAD_FRAME);
    },
    async close() {
      await client.deactivate();
    },
  };
}

// ------------------------------------------------------------ legacy stompjs 2.3.3 over sockjs-client 1.6

export interface LegacyOptions {
  /** sockjs-client options, e.g. { transports: ['xhr-polling'] } */
  sockjs?: Record<string, unknown>;
  heartbeat?: { outgoing: number; incoming: number };
  /** Collects stompjs debug lines (">>> PING", "<<< PONG", ...). */
  debug?: string[];
}

/** stompjs 2.3.3 is CommonJS: `require('stompjs')`, `Stomp.over(new SockJS(url))`, as front ends did. */
export function legacyStompjs(
  sockjsUrl: string,
  o: LegacyOptions = {},
): ScenarioClient & { sock(): Any; client(): Any; /** sockjs-client transport in use when CONNECTED arrived. */ transport(): string | null } {
  const Stomp = require('stompjs');
  const SockJS = require('sockjs-client');
  const inbox = new Inbox();
  let sock: Any;
  let client: Any;
  let transport: string | null = null;
  return {
    inbox,
    sock: () => sock,
    client: () => client,
    transport: () => transport,
    connect(login) {
      sock = new SockJS(sockjsUrl, null, o.sockjs ?? {});
      client = Stomp.over(sock);
      client.debug = o.debug ? (s: string) => o.debug!.push(s) : null;
      if (o.heartbeat) client.heartbeat = o.heartbeat;
      client.onreceipt = (f: Any) => inbox.receipt(f.headers['receipt-id']);
      return new Promise((resolve, reject) => {
        client.connect(
          { login },
          (f: Any) => {
            transport = sock.transport;
            resolve(headersOf(f.headers));
          },
          (e: Any) => {
            // stompjs 2.x calls the error callback with the ERROR frame, or with a string when the socket closed.
            if (typeof e === 'string') {
              inbox.close();
              reject(new Error(e));
            } else inbox.error({ command: e.command, headers: headersOf(e.headers), body: e.body });
          },
        );
      });
    },
    subscribe(destination) {
      client.subscribe(destination, (m: Any) => inbox.message({ command: m.command, headers: headersOf(m.headers), body: m.body }));
    },
    send(destination, body, headers = {}) {
      client.send(destination, { ...headers }, body);
    },
    async sendWithReceipt(destination, body, receipt) {
      client.send(destination, { receipt }, body);
      await inbox.until(() => inbox.receipts.includes(receipt), `receipt ${receipt}`);
    },
    sendBadFrame() {
      client.ws.send(BAD_FRAME);
    },
    async close() {
      if (!inbox.closed && client?.connected) client.disconnect();
      sock?.close();
    },
  };
}

// ------------------------------------------------------------ webstomp-client over WebSocket (ws)

export function webstomp(url: string): ScenarioClient {
  const lib = require('webstomp-client');
  const inbox = new Inbox();
  let client: Any;
  return {
    inbox,
    connect(login) {
      const ws = new WebSocket(url, lib.VERSIONS.supportedProtocols());
      client = lib.over(ws, { debug: false });
      client.onreceipt = (f: Any) => inbox.receipt(f.headers['receipt-id']);
      return new Promise((resolve, reject) => {
        client.connect(
          { login },
          (f: Any) => resolve(headersOf(f.headers)),
          (e: Any) => {
            // webstomp calls the error callback with the ERROR frame, or with the close event.
            if (e && e.command === 'ERROR') inbox.error({ command: e.command, headers: headersOf(e.headers), body: e.body });
            else {
              inbox.close();
              reject(new Error('webstomp: connection closed'));
            }
          },
        );
      });
    },
    subscribe(destination) {
      client.subscribe(destination, (m: Any) => inbox.message({ command: m.command, headers: headersOf(m.headers), body: m.body }));
    },
    send(destination, body, headers = {}) {
      client.send(destination, body, headers);
    },
    async sendWithReceipt(destination, body, receipt) {
      client.send(destination, body, { receipt });
      await inbox.until(() => inbox.receipts.includes(receipt), `receipt ${receipt}`);
    },
    sendBadFrame() {
      client.ws.send(BAD_FRAME);
    },
    async close() {
      if (!inbox.closed) client.disconnect();
    },
  };
}

// ------------------------------------------------------------ stompit over TCP

/**
 * stompit numbers receipts itself (its `onReceipt` option sets the header), so the
 * scenario's receipt id is only a label here. stompit turns an ERROR frame into an
 * 'error' event carrying the `message` header and the body (no other headers), and
 * closes its socket.
 */
export function stompit(port: number, host = '127.0.0.1'): ScenarioClient {
  const lib = require('stompit');
  const inbox = new Inbox();
  let client: Any;
  return {
    inbox,
    connect(login) {
      return new Promise((resolve, reject) => {
        lib.connect({ host, port, connectHeaders: { login, host: 'localhost', 'heart-beat': '0,0' } }, (err: Error | null, c: Any) => {
          if (err) return reject(err);
          client = c;
          c.on('error', (e: Any) => {
            inbox.error({ command: 'ERROR', headers: { message: e.message }, body: e.longMessage ?? '' });
            inbox.close();
          });
          c.on('end', () => inbox.close());
          resolve(headersOf(c.headers));
        });
      });
    },
    subscribe(destination) {
      client.subscribe({ destination, ack: 'auto' }, (err: Error | null, message: Any) => {
        if (err) return;
        const headers = headersOf(message.headers);
        message.readString('utf-8', (e: Error | null, body: string) => {
          if (!e) inbox.message({ command: 'MESSAGE', headers, body });
        });
      });
    },
    send(destination, body, headers = {}) {
      const f = client.send({ ...headers, destination });
      f.write(body);
      f.end();
    },
    sendWithReceipt(destination, body, receipt) {
      return new Promise((resolve) => {
        const f = client.send(
          { destination },
          {
            onReceipt: () => {
              inbox.receipt(receipt);
              resolve();
            },
          },
        );
        f.write(body);
        f.end();
      });
    },
    sendBadFrame() {
      client.sendFrame('BOGUS', {}).end();
    },
    async close() {
      if (!inbox.closed) await new Promise<void>((r) => client.disconnect(() => r()));
    },
  };
}

// ------------------------------------------------------------ Debian python3-stomp over TCP

export const PYTHON_BRIDGE = fileURLToPath(new URL('./python_client.py', import.meta.url));

/** Drives spec/clients/python_client.py (stomp.py) over its stdin/stdout line protocol. */
export function pythonStomp(port: number, host = '127.0.0.1', timeoutMs = 60_000): ScenarioClient & { stderr: string[] } {
  const inbox = new Inbox();
  const stderr: string[] = [];
  let proc: ChildProcessWithoutNullStreams | null = null;
  let connected: ((h: Record<string, string>) => void) | null = null;
  let failed: ((e: Error) => void) | null = null;
  let exited = false;
  let subs = 0;
  const cmd = (o: Record<string, unknown>): void => {
    if (!exited) proc!.stdin.write(JSON.stringify(o) + '\n');
  };
  const start = (): void => {
    proc = spawn(SYSTEM_PYTHON, [PYTHON_BRIDGE, host, String(port)], {
      env: { ...process.env, PY_STOMP_TIMEOUT: String(Math.ceil(timeoutMs / 1000)) },
    });
    const killer = setTimeout(() => proc?.kill('SIGKILL'), timeoutMs + 5000);
    killer.unref();
    proc.stderr.on('data', (d: Buffer) => stderr.push(d.toString()));
    proc.on('exit', () => {
      exited = true;
      clearTimeout(killer);
      inbox.close();
      failed?.(new Error(`python bridge exited; stderr: ${stderr.join('')}`));
    });
    createInterface({ input: proc.stdout }).on('line', (line) => {
      let ev: { ev: string; headers?: Record<string, string>; body?: string; error?: string };
      try {
        ev = JSON.parse(line);
      } catch {
        stderr.push(`non-JSON stdout: ${line}\n`);
        return;
      }
      const f = { command: ev.ev.toUpperCase(), headers: headersOf(ev.headers), body: ev.body ?? '' };
      switch (ev.ev) {
        case 'connected':
          connected?.(f.headers);
          break;
        case 'message':
          inbox.message(f);
          break;
        case 'receipt':
          inbox.receipt(f.headers['receipt-id'] ?? '');
          break;
        case 'error':
          inbox.error(f);
          break;
        case 'disconnected':
          inbox.close();
          break;
        case 'failed':
          stderr.push(`bridge: ${ev.error}\n`);
          failed?.(new Error(`stomp.py: ${ev.error}`));
          break;
      }
    });
  };
  return {
    inbox,
    stderr,
    connect(login) {
      start();
      return new Promise((resolve, reject) => {
        connected = resolve;
        failed = reject;
        cmd({ op: 'connect', login });
      });
    },
    subscribe(destination) {
      cmd({ op: 'subscribe', destination, id: String(++subs) });
    },
    send(destination, body, headers = {}) {
      cmd({ op: 'send', destination, body, headers });
    },
    async sendWithReceipt(destination, body, receipt) {
      cmd({ op: 'send', destination, body, headers: { receipt } });
      await inbox.until(() => inbox.receipts.includes(receipt), `receipt ${receipt}`);
    },
    sendBadFrame() {
      cmd({ op: 'bad' });
    },
    async close() {
      cmd({ op: 'close' });
      if (!exited) {
        await new Promise<void>((r) => {
          const t = setTimeout(() => {
            proc?.kill('SIGKILL');
            r();
          }, 5000);
          proc!.once('exit', () => {
            clearTimeout(t);
            r();
          });
          proc!.stdin.end();
        });
      }
    },
  };
}
