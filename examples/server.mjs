// Server code using stomp-cluster as a library (run `npm run build` first):
//
//   node examples/server.mjs            # single node on :8080
//   REDIS_URL=redis://127.0.0.1:6379 KAFKA_BROKERS=127.0.0.1:9092 PORT=8081 node examples/server.mjs
//
// It registers /app handlers the way Spring's @MessageMapping does, calls
// sendToUser from anywhere in the process, and serves the chat page and the
// dashboard from examples/.
import { readFileSync } from 'node:fs';
import { createBroker, stompjsBundlePath } from '../dist/index.js';
const broker = createBroker(); // options over env (PORT, REDIS_URL, KAFKA_BROKERS, ...) over defaults

// The original recipe: {"name","destination","messageBody"} sent to /app/chat
// is delivered to user `name` at `destination` (e.g. /chat -> /user/<name>/chat).
broker.handle('/chat', async (msg) => {
  const { name, destination, messageBody } = msg.json();
  await broker.sendToUser(name, destination, { from: msg.user, messageBody });
});

// @MessageMapping("/greet/{lang}") + @SendToUser("/queue/greetings"): the return value goes back to the sender.
broker.handle('/greet/{lang}', (msg) => ({ greeting: msg.params.lang === 'fr' ? `Bonjour ${msg.user}` : `Hello ${msg.user}` }), {
  sendToUser: '/queue/greetings',
});

// @MessageMapping("/shout") + @SendTo("/topic/shouts"): the return value goes to every subscriber, on every node.
broker.handle('/shout', (msg) => ({ from: msg.user, text: msg.text().toUpperCase() }), { sendTo: '/topic/shouts' });

// Pages.
const page = (file) => async (_req, reply) => reply.type('text/html; charset=utf-8').send(readFileSync(new URL(file, import.meta.url)));
broker.app.get('/', page('./chat/index.html'));
broker.app.get('/dashboard', page('./dashboard/index.html'));
broker.app.get('/vendor/stomp.umd.min.js', async (_req, reply) =>
  reply.type('application/javascript').send(readFileSync(stompjsBundlePath())),
);

// Server-side pushes: a clock on a topic, every 5 s.
setInterval(() => void broker.publish('/topic/clock', { now: new Date().toISOString(), node: broker.nodeId }), 5000).unref();

await broker.listen();
process.on('SIGTERM', () => void broker.close().then(() => process.exit(0)));
process.on('SIGINT', () => void broker.close().then(() => process.exit(0)));
