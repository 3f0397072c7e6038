/**
 * `npm start`: one node from the environment (docs/design.md "Configuration")
 * and CLI flags. SIGTERM/SIGINT drain it gracefully: clients are told to
 * reconnect, pending messages are handed on, then the process exits.
 */
import { parseArgs } from 'node:util';
import { createBroker } from './index.js';
import type { BrokerOptions } from './options.js';
import { parseUsers } from './env.js';
import { installDemo } from './demo.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    endpoints: { type: 'string' },
    'tcp-port': { type: 'string' },
    'redis-url': { type: 'string' },
    'kafka-brokers': { type: 'string' },
    'node-id': { type: 'string' },
    'cluster-prefix': { type: 'string' },
    users: { type: 'string' },
    demo: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  process.stdout.write(`stomp-cluster node
  --port N            HTTP/WebSocket port (PORT, default 8080)
  --host H            listen address (HOST, default 0.0.0.0)
  --endpoints a,b     endpoint paths (STOMP_ENDPOINTS, default /ws)
  --tcp-port N        plain STOMP over TCP (STOMP_TCP_PORT, default off)
  --redis-url URL     registry and inbox in Redis (REDIS_URL)
  --kafka-brokers L   bus over Kafka (KAFKA_BROKERS)
  --node-id ID        override the generated node id (NODE_ID)
  --cluster-prefix P  Redis key / Kafka topic prefix (CLUSTER_PREFIX)
  --users a:p,b:q     check passcodes (STOMP_USERS)
  --demo              serve the chat demo and its /app/chat handler (STOMP_DEMO=1)
`);
  process.exit(0);
}

const opts: BrokerOptions = {};
if (values.port) opts.port = Number(values.port);
if (values.host) opts.host = values.host;
if (values.endpoints) opts.endpoints = values.endpoints.split(',');
if (values['tcp-port']) opts.tcpPort = Number(values['tcp-port']);
if (values['redis-url']) opts.redisUrl = values['redis-url'];
if (values['kafka-brokers']) opts.kafkaBrokers = values['kafka-brokers'];
if (values['node-id']) opts.nodeId = values['node-id'];
if (values['cluster-prefix']) opts.clusterPrefix = values['cluster-prefix'];
if (values.users) opts.users = parseUsers(values.users);

const broker = createBroker(opts);
if (values.demo || process.env.STOMP_DEMO === '1') installDemo(broker);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  broker.log.info({ signal }, 'draining');
  const hard = setTimeout(() => process.exit(1), 20_000);
  hard.unref();
  try {
    await broker.close();
  } finally {
    broker.log.info('stopped');
    process.exit(0);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

broker.listen().then(
  (addr) => {
    // One machine-readable line for scripts and tests that start nodes.
    process.stdout.write(`${JSON.stringify({ event: 'listening', node: broker.nodeId, ...addr })}\n`);
  },
  (err: unknown) => {
    broker.log.fatal({ err }, 'failed to start');
    process.exit(1);
  },
);
