/**
 * The original recipe's flow, shipped as a demo (`npm start -- --demo`):
 * a page SENDs {"name","destination","messageBody"} to /app/chat; the handler
 * calls sendToUser(name, destination, messageBody); the named user's page,
 * subscribed to /user/<name>/chat (or /user/queue/chat), shows it, whichever
 * node each page landed on.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join, sep } from 'node:path';
import type { StompBroker } from './index.js';

const require = createRequire(import.meta.url);

interface ChatMessage {
  name?: unknown;
  destination?: unknown;
  messageBody?: unknown;
}

/** Path of @stomp/stompjs's browser bundle (its package "exports" do not list it, so go by the package root). */
export function stompjsBundlePath(): string {
  const main = require.resolve('@stomp/stompjs');
  const marker = `node_modules${sep}@stomp${sep}stompjs${sep}`;
  const i = main.lastIndexOf(marker);
  if (i < 0) throw new Error(`cannot locate @stomp/stompjs from ${main}`);
  return join(main.slice(0, i + marker.length), 'bundles', 'stomp.umd.min.js');
}

export function installDemo(broker: StompBroker): void {
  broker.handle('/chat', async (msg) => {
    const m = msg.json<ChatMessage>();
    if (typeof m.name !== 'string' || typeof m.destination !== 'string') return;
    const body = { from: msg.user, messageBody: m.messageBody };
    await broker.sendToUser(m.name, m.destination, body);
  });
  const dir = fileURLToPath(new URL('../examples/chat/', import.meta.url));
  const page = (): string => readFileSync(`${dir}index.html`, 'utf8');
  broker.app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page()));
  broker.app.get('/chat.html', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page()));
  broker.app.get('/dashboard', async (_req, reply) =>
    reply.type('text/html; charset=utf-8').send(readFileSync(fileURLToPath(new URL('../examples/dashboard/index.html', import.meta.url)), 'utf8')),
  );
  const bundle = stompjsBundlePath();
  broker.app.get('/vendor/stomp.umd.min.js', async (_req, reply) =>
    reply.type('application/javascript').send(readFileSync(bundle, 'utf8')),
  );
}
