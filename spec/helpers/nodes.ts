/**
 * Real cluster nodes as separate processes (`node dist/main.js` with env), the
 * way operators run them. Each node prints one JSON "listening" line; the
 * helper waits for it (bounded) and kills the node at teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RawClient } from './client.js';

const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
export const API_TOKEN = 'cluster-test-token';

export interface NodeProc {
  nodeId: string;
  port: number;
  /** The plain STOMP TCP port (STOMP_TCP_PORT set), else null. */
  tcpPort: number | null;
  proc: ChildProcess;
  url: string;
  /** stdout+stderr of the node, for failure messages. */
  output(): string;
  /** Resolves with the exit code once the process exited. */
  exited: Promise<number | null>;
  /** A raw STOMP client CONNECTed as `login` to this node. */
  user(login: string): Promise<RawClient>;
  /** sendToUser through this node's HTTP API (server code on any node). */
  sendToUser(user: string, destination: string, body: unknown): Promise<void>;
  publish(topic: string, body: unknown): Promise<void>;
  kill(signal?: NodeJS.Signals): void;
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export async function startNode(t: Teardown, env: Record<string, string>, timeoutMs = 30_000): Promise<NodeProc> {
  const proc = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: process.env.NODE_LOG_LEVEL ?? 'warn',
      STOMP_API_TOKEN: API_TOKEN,
      STOMP_HEARTBEAT: '0,0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  let out = '';
  const clients: RawClient[] = [];
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => {
    live.delete(proc);
    resolve(code);
  }));
  t.teardown(async () => {
    for (const c of clients) c.close();
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  const listening = await new Promise<{ node: string; port: number; tcpPort: number | null }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (d: Buffer): void => {
      out += d.toString();
      for (const line of out.split('\n')) {
        if (!line.startsWith('{"event":"listening"')) continue;
        clearTimeout(timer);
        resolve(JSON.parse(line) as { node: string; port: number; tcpPort: number | null });
        return;
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`node exited (${code}) before listening:\n${out}`));
    });
  });
  proc.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-100_000)));
  const url = `ws://127.0.0.1:${listening.port}/ws`;
  const api = `http://127.0.0.1:${listening.port}/api`;
  const post = async (path: string, body: unknown): Promise<void> => {
    const r = await fetch(`${api}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (r.status !== 202) throw new Error(`POST ${path}: HTTP ${r.status} ${await r.text()}`);
  };
  return {
    nodeId: listening.node,
    port: listening.port,
    tcpPort: listening.tcpPort,
    proc,
    url,
    exited,
    output: () => out,
    async user(login) {
      const c = await RawClient.ws(url);
      clients.push(c);
      await c.connect({ login });
      return c;
    },
    sendToUser: (user, destination, body) => post(`/users/${encodeURIComponent(user)}/messages`, { destination, body }),
    publish: (topic, body) => post(`/topics/${topic}`, { body }),
    kill: (signal = 'SIGKILL') => void proc.kill(signal),
  };
}
