import t from 'tap';
import { startBroker } from '../helpers/broker.js';

const TOKEN = 'test-token';

/** The JSON the API answers with (src/http/api.ts, /health in src/server.ts), as far as these tests read it. */
interface UserInfo {
  user: string;
  online: boolean;
  sessions: Array<{ sessionId: string; node: string; connectedAt: string }>;
  nodes: string[];
  inbox: number;
}
interface ClusterInfo {
  self: string;
  clustered: boolean;
  nodes: Array<{ node: string; alive: boolean; lastSeen: string; meta: Record<string, string> }>;
}
interface KickResult {
  user: string;
  closedHere: number;
  nodes: string[];
}
interface Health {
  status: string;
  node: string;
  sessions: number;
}

/** The response's JSON body, read as `T`. */
async function json<T>(res: Promise<Response>): Promise<T> {
  return (await (await res).json()) as T;
}

t.test('HTTP API: token, sendToUser, topics, users, kick, cluster', async (t) => {
  const b = await startBroker(t, { apiToken: TOKEN });
  const base = `http://127.0.0.1:${b.port}/api`;
  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

  const unauth = await fetch(`${base}/cluster`);
  t.equal(unauth.status, 401, 'no token: 401');
  const wrong = await fetch(`${base}/cluster`, { headers: { authorization: 'Bearer nope' } });
  t.equal(wrong.status, 401, 'wrong token: 401');

  const bob = await b.user('bob');
  await bob.subscribe('q', '/user/queue/news');
  await bob.subscribe('t', '/topic/prices');

  const sent = await fetch(`${base}/users/bob/messages`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ destination: '/queue/news', body: { headline: 'hi' }, headers: { 'x-source': 'api' } }),
  });
  t.equal(sent.status, 202);
  const m = await bob.next('MESSAGE');
  t.equal(m.headers['destination'], '/user/queue/news');
  t.equal(m.headers['x-source'], 'api');
  t.equal(m.headers['content-type'], 'application/json');
  t.same(JSON.parse(m.body.toString()), { headline: 'hi' });

  const bad = await fetch(`${base}/users/bob/messages`, { method: 'POST', headers: auth, body: JSON.stringify({ body: 1 }) });
  t.equal(bad.status, 400, 'schema: destination required');

  const pub = await fetch(`${base}/topics/prices`, { method: 'POST', headers: auth, body: JSON.stringify({ body: 'up' }) });
  t.equal(pub.status, 202);
  const tm = await bob.next('MESSAGE');
  t.equal(tm.headers['destination'], '/topic/prices');
  t.equal(tm.body.toString(), 'up');

  const info = await json<UserInfo>(fetch(`${base}/users/bob`, { headers: auth }));
  t.equal(info.online, true);
  t.equal(info.sessions.length, 1);
  t.same(info.nodes, [b.broker.nodeId]);

  const cluster = await json<ClusterInfo>(fetch(`${base}/cluster`, { headers: auth }));
  t.equal(cluster.self, b.broker.nodeId);
  t.equal(cluster.nodes.length, 1);
  t.equal(cluster.nodes[0]!.alive, true);

  const kicked = await json<KickResult>(fetch(`${base}/users/bob/sessions`, { method: 'DELETE', headers: { authorization: auth.authorization } }));
  t.equal(kicked.closedHere, 1);
  const err = await bob.next('ERROR');
  t.equal(err.headers['code'], 'STOMP_ERR_SESSION_KICKED');
  await bob.waitClosed();
});

t.test('HTTP API is off without a token', async (t) => {
  const b = await startBroker(t);
  const r = await fetch(`http://127.0.0.1:${b.port}/api/cluster`);
  t.equal(r.status, 404);
});

t.test('/metrics, /health, /ready', async (t) => {
  const b = await startBroker(t);
  const alice = await b.user('alice');
  await alice.subscribe('q', '/user/queue/x');
  await b.broker.sendToUser('alice', '/queue/x', 'hello');
  await alice.next('MESSAGE');
  alice.send({ command: 'SUBSCRIBE', headers: { destination: '/topic/x' } }); // no id: an error
  t.equal((await alice.next('ERROR')).headers['code'], 'STOMP_ERR_MISSING_HEADER');
  const text = await (await fetch(`http://127.0.0.1:${b.port}/metrics`)).text();
  t.match(text, /stomp_messages_delivered_local_total\{node="[^"]+"\} 1/);
  t.match(text, /stomp_errors_total\{code="STOMP_ERR_MISSING_HEADER",node="[^"]+"\} 1/);
  t.match(text, /stomp_sessions\{node=/);
  const health = await json<Health>(fetch(`http://127.0.0.1:${b.port}/health`));
  t.equal(health.status, 'ok');
  const ready = await fetch(`http://127.0.0.1:${b.port}/ready`);
  t.equal(ready.status, 200);
});
