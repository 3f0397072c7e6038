/**
 * The public API. Configuration: one typed defaults object, overridden by the
 * environment (docs/design.md "Configuration") and options; bad values fail at start with a
 * clear error. Lifecycle: createBroker → listen → close; close() is
 * idempotent, clients are told (ERROR STOMP_ERR_SERVER_SHUTDOWN) before their
 * connection closes, sessions close before the backends do. Server-side
 * publish / sendToUser / kick.
 */
import t from 'tap';
import { DEFAULTS, resolveConfig, type BrokerConfig, type DeepPartial } from '../../src/config.js';
import { fromEnv, parseUsers } from '../../src/env.js';
import { ErrorCode } from '../../src/errors.js';
import { MemoryBus, MemoryBusHub, MemoryInbox, createBroker } from '../../src/index.js';
import { RawClient } from '../helpers/client.js';
import { startBroker } from '../helpers/broker.js';
import { expectError, raw } from '../helpers/stomp-assert.js';
import { core } from '../helpers/internals.js';

t.test('defaults (docs/design.md "Configuration")', async (t) => {
  const c = resolveConfig();
  t.same(c, DEFAULTS, 'nothing given: the defaults');
  t.not(c, DEFAULTS, 'a copy');
  t.not(c.limits, DEFAULTS.limits, 'a deep copy');
  t.equal(DEFAULTS.port, 8080);
  t.equal(DEFAULTS.host, '0.0.0.0');
  t.same(DEFAULTS.endpoints, ['/ws']);
  t.equal(DEFAULTS.tcpPort, null, 'TCP off');
  t.equal(DEFAULTS.redisUrl, null, 'memory registry and inbox');
  t.equal(DEFAULTS.kafkaBrokers, null, 'memory bus');
  t.equal(DEFAULTS.nodeId, null, 'generated');
  t.equal(DEFAULTS.clusterPrefix, 'stomp-cluster');
  t.same(DEFAULTS.appPrefixes, ['/app']);
  t.same(DEFAULTS.topicPrefixes, ['/topic']);
  t.same(DEFAULTS.queuePrefixes, ['/queue']);
  t.equal(DEFAULTS.userPrefix, '/user');
  t.same(DEFAULTS.users, {});
  t.same(DEFAULTS.heartbeat, { outgoingMs: 1000, incomingMs: 1000, graceFactor: 1.5, minMs: 1000, maxMs: 3_600_000 });
});

t.test('options merge over the defaults, nested objects field by field', async (t) => {
  const c = resolveConfig({ port: 0, limits: { maxFrameBytes: 2048 }, heartbeat: { outgoingMs: 5 } });
  t.equal(c.port, 0);
  t.equal(c.limits.maxFrameBytes, 2048);
  t.equal(c.limits.maxHeaders, DEFAULTS.limits.maxHeaders, 'other limits kept');
  t.equal(c.heartbeat.outgoingMs, 5);
  t.equal(c.heartbeat.incomingMs, DEFAULTS.heartbeat.incomingMs);
  const later = resolveConfig({ port: 1, users: { a: '1', b: '2' } }, { port: 2, users: { c: '3' } });
  t.equal(later.port, 2, 'later parts win');
  t.same(later.users, { c: '3' }, 'users are replaced, not merged');
  t.equal(resolveConfig({ port: undefined }).port, 8080, 'undefined does not override');
});

t.test('validation: bad combinations fail at start', async (t) => {
  const bad: Array<[string, DeepPartial<BrokerConfig>, RegExp]> = [
    ['negative port', { port: -1 }, /port/],
    ['port too large', { port: 65536 }, /port/],
    ['fractional port', { port: 80.5 }, /port/],
    ['tcp port too large', { tcpPort: 70000 }, /tcpPort/],
    ['only REDIS_URL', { redisUrl: 'redis://127.0.0.1:6379' }, /REDIS_URL and KAFKA_BROKERS/],
    ['only KAFKA_BROKERS', { kafkaBrokers: '127.0.0.1:9092' }, /REDIS_URL and KAFKA_BROKERS/],
    ['app prefix without /', { appPrefixes: ['app'] }, /prefix "app"/],
    ['topic prefix ending in /', { topicPrefixes: ['/topic/'] }, /prefix "\/topic\/"/],
    ['user prefix "/"', { userPrefix: '/' }, /prefix "\/"/],
    ['the same prefix twice', { appPrefixes: ['/topic'] }, /distinct/],
    ['no endpoint', { endpoints: [] }, /endpoint/],
    ['endpoint without /', { endpoints: ['ws'] }, /endpoint "ws"/],
    ['zero limit', { limits: { maxFrameBytes: 0 } }, /limits\.maxFrameBytes/],
    ['fractional limit', { limits: { maxHeaders: 1.5 } }, /limits\.maxHeaders/],
    ['ws message smaller than a frame', { limits: { maxFrameBytes: 4096, maxWebSocketMessageBytes: 1024 } }, /maxWebSocketMessageBytes/],
    ['negative heart-beat', { heartbeat: { outgoingMs: -1 } }, /heart-beat/],
    ['grace factor below 1', { heartbeat: { graceFactor: 0.5 } }, /graceFactor/],
    ['bad NODE_ID', { nodeId: 'node 1/a' }, /NODE_ID/],
    ['bad CLUSTER_PREFIX', { clusterPrefix: 'a b' }, /CLUSTER_PREFIX/],
    ['cluster heartbeat not shorter than the TTL', { cluster: { heartbeatIntervalMs: 6000, nodeTtlMs: 6000 } }, /heartbeatIntervalMs/],
  ];
  for (const [name, part, re] of bad) t.throws(() => resolveConfig(part), re, name);
  // Several problems are reported together.
  t.throws(() => resolveConfig({ port: -1, endpoints: ['x'] }), /port[\s\S]*endpoint "x"/, 'every problem listed');
  t.doesNotThrow(() => resolveConfig({ redisUrl: 'redis://127.0.0.1:6379', kafkaBrokers: '127.0.0.1:9092' }), 'both is fine');
  t.doesNotThrow(() => resolveConfig({ port: 0, tcpPort: 0, nodeId: 'node-1.a_b' }), 'port 0 and a valid node id');
});

t.test('fromEnv maps the environment variables of docs/design.md "Configuration"', async (t) => {
  t.same(fromEnv({}), {}, 'nothing set: nothing overridden');
  const env = {
    PORT: '9090',
    HOST: '127.0.0.1',
    STOMP_ENDPOINTS: '/ws, /stomp ,,',
    STOMP_TCP_PORT: '61613',
    REDIS_URL: 'redis://10.0.0.1:6379/2',
    KAFKA_BROKERS: 'k1:9092,k2:9092',
    NODE_ID: 'node-a',
    CLUSTER_PREFIX: 'chat-prod',
    STOMP_USERS: 'alice:secret, bob:pa:ss',
  };
  const p = fromEnv(env);
  t.same(p, {
    port: 9090,
    host: '127.0.0.1',
    endpoints: ['/ws', '/stomp'],
    tcpPort: 61613,
    redisUrl: 'redis://10.0.0.1:6379/2',
    kafkaBrokers: 'k1:9092,k2:9092',
    nodeId: 'node-a',
    clusterPrefix: 'chat-prod',
    users: { alice: 'secret', bob: 'pa:ss' },
  });
  const c = resolveConfig(p);
  t.equal(c.port, 9090);
  t.equal(c.tcpPort, 61613);
  t.same(c.users, { alice: 'secret', bob: 'pa:ss' });
  t.equal(resolveConfig(p, { port: 1234 }).port, 1234, 'options override the environment');
  t.throws(() => fromEnv({ PORT: 'eighty' }), /PORT/);
  t.throws(() => fromEnv({ STOMP_TCP_PORT: '-5' }), /STOMP_TCP_PORT/);
  t.throws(() => fromEnv({ STOMP_USERS: 'alice' }), /STOMP_USERS/);
  t.throws(() => fromEnv({ STOMP_USERS: ':nopass' }), /STOMP_USERS/);
  t.same(parseUsers(''), {});
  t.same(fromEnv({ PORT: '' }), {}, 'empty values are unset');
});

t.test('createBroker reads the environment unless told not to', async (t) => {
  // Own the variables createBroker reads (the test runner exports KAFKA_BROKERS for other files).
  const names = ['STOMP_ENDPOINTS', 'REDIS_URL', 'KAFKA_BROKERS'];
  const saved = names.map((n) => [n, process.env[n]] as const);
  for (const n of names) delete process.env[n];
  process.env.STOMP_ENDPOINTS = '/from-env';
  t.teardown(() => {
    for (const [n, v] of saved) {
      if (v === undefined) delete process.env[n];
      else process.env[n] = v;
    }
  });
  const withEnv = createBroker({ logLevel: 'silent' });
  const withoutEnv = createBroker({ logLevel: 'silent' }, { env: false });
  const overridden = createBroker({ logLevel: 'silent', endpoints: ['/opt'] });
  t.teardown(() => Promise.all([withEnv.close(), withoutEnv.close(), overridden.close()]));
  t.same(withEnv.config.endpoints, ['/from-env']);
  t.same(withoutEnv.config.endpoints, ['/ws']);
  t.same(overridden.config.endpoints, ['/opt']);
  t.throws(() => createBroker({ port: -2, logLevel: 'silent' }, { env: false }), /port/, 'invalid options throw at creation');
});

t.test('close(): clients get SERVER_SHUTDOWN, then the close; sessions before backends; idempotent', async (t) => {
  const events: string[] = [];
  class RecordingInbox extends MemoryInbox {
    override async close(): Promise<void> {
      events.push(`inbox closed with ${core(b.broker).sessions.size} sessions open`);
      await super.close();
    }
  }
  const b = await startBroker(t, { tcpPort: 0, backends: { inbox: new RecordingInbox() } });
  const ws = await b.user('ws-user');
  await ws.subscribe('s', '/user/queue/x');
  const tcp = await RawClient.tcp(b.tcpPort!);
  t.teardown(() => tcp.close());
  await tcp.connect({ login: 'tcp-user' });
  const unconnected = await b.client(); // never sent CONNECT

  const first = b.broker.close();
  const second = b.broker.close();
  await Promise.all([
    expectError(t, ws, ErrorCode.SERVER_SHUTDOWN),
    expectError(t, tcp, ErrorCode.SERVER_SHUTDOWN),
    expectError(t, unconnected, ErrorCode.SERVER_SHUTDOWN),
  ]);
  await first;
  await second;
  await b.broker.close();
  t.pass('close() can be called again, and concurrently');
  t.equal(ws.closeCode, 1000, 'a clean WebSocket close after the ERROR');
  t.same(events, ['inbox closed with 0 sessions open'], 'backends closed after every session');
  t.equal(core(b.broker).sessions.size, 0);

  const refused = await RawClient.ws(`${b.url}/ws`).then(
    () => 'connected',
    () => 'refused',
  );
  t.equal(refused, 'refused', 'no new connections after close');
  await t.rejects(b.broker.sendToUser('ws-user', '/queue/x', 'late'), /closed/, 'sendToUser after close is an error, not a message lost');
  await t.rejects(b.broker.publish('/topic/x', 'late'), /closed/, 'publish after close too');
});

t.test('close() before listen() and listen() twice', async (t) => {
  const never = createBroker({ logLevel: 'silent', port: 0, host: '127.0.0.1' }, { env: false });
  await never.close();
  await never.close();
  t.pass('a broker that never listened closes');

  const b = createBroker({ logLevel: 'silent', port: 0, host: '127.0.0.1' }, { env: false });
  t.teardown(() => b.close());
  const [a1, a2] = await Promise.all([b.listen(), b.listen()]);
  t.same(a1, a2, 'listen() is idempotent too');
  t.ok(a1.port > 0);
  t.equal(a1.tcpPort, null);
});

t.test('a listen() that failed (a backend did not start) can be tried again', async (t) => {
  let failures = 1;
  class FlakyBus extends MemoryBus {
    override async start(...args: Parameters<MemoryBus['start']>): Promise<void> {
      if (failures-- > 0) throw new Error('bus down');
      return super.start(...args);
    }
  }
  const b = createBroker({ logLevel: 'silent', port: 0, host: '127.0.0.1', backends: { bus: new FlakyBus(new MemoryBusHub()) } }, { env: false });
  t.teardown(() => b.close());
  await t.rejects(b.listen(), /bus down/, 'the first listen() fails with the cause');
  const addr = await b.listen();
  t.ok(addr.port > 0, 'the second one listens');
  const c = await RawClient.ws(`ws://127.0.0.1:${addr.port}/ws`);
  t.teardown(() => c.close());
  await c.connect({ login: 'after-retry' });
  t.pass('and takes sessions');
});

t.test('server-side API: publish, sendToUser, kick', async (t) => {
  const b = await startBroker(t);
  await t.rejects(b.broker.publish('/nowhere/x', 'x'), /not a topic or queue/, 'publish to an unknown prefix');
  await t.rejects(b.broker.publish('/app/x', 'x'), 'publish to an application destination');
  await t.rejects(b.broker.sendToUser('', '/queue/x', 'x'), 'sendToUser needs a user');
  await t.rejects(b.broker.sendToUser('bob', 'queue/x', 'x'), 'sendToUser needs an absolute destination');

  const bob = await b.user('bob');
  await bob.subscribe('s', '/user/queue/x');
  await b.broker.publish('/user/bob/queue/x', { via: 'publish' });
  t.same(JSON.parse((await bob.next('MESSAGE')).body.toString()), { via: 'publish' }, 'publish to /user/{name}/... is sendToUser');

  const other = await b.user('carol');
  const tab2 = await b.user('bob');
  t.equal(await b.broker.kick('bob'), 2, 'both sessions of bob');
  await expectError(t, bob, ErrorCode.SESSION_KICKED);
  await expectError(t, tab2, ErrorCode.SESSION_KICKED);
  other.send(raw('SUBSCRIBE', { id: 's', destination: '/topic/x', receipt: 'still' }));
  t.equal((await other.next('RECEIPT')).headers['receipt-id'], 'still', 'other users are not kicked');
});
