/**
 * Browser-facing defaults: with cookie tokens accepted (default JWT
 * authentication), a page on another site cannot open a WebSocket or SockJS
 * session as the visitor unless origins are configured; a JWT without `exp`
 * is refused by default; a session ends when its token expires; /metrics can
 * be kept behind a token or on a port of its own.
 */
import t from 'tap';
import { SignJWT } from 'jose';
import { ErrorCode } from '../../src/errors.js';
import { RawClient } from '../helpers/client.js';
import { startBroker } from '../helpers/broker.js';
import { expectError } from '../helpers/stomp-assert.js';
import { waitFor } from '../helpers/wait.js';
import { connect, type Socket } from 'node:net';
import { MAX_METRICS_CONNECTIONS } from '../../src/http/metrics.js';

const SECRET = 'a-test-secret-of-decent-length-0123456789';
const key = new TextEncoder().encode(SECRET);

function token(sub: string, exp: number | null): Promise<string> {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt();
  if (exp !== null) jwt.setExpirationTime(exp);
  return jwt.sign(key);
}

const inFiveMinutes = (): number => Math.floor(Date.now() / 1000) + 300;

t.test('cookie tokens accepted and no origins configured: only same-origin pages connect', async (t) => {
  const b = await startBroker(t, { jwt: { secret: SECRET } });
  const cookie = `access_token=${await token('victim', inFiveMinutes())}`;
  const status = (path: string, origin: string | undefined): Promise<number | string> =>
    RawClient.ws(`${b.url}${path}`, { headers: { cookie }, ...(origin ? { origin } : {}) }).then(
      (c) => {
        c.close();
        return 'open';
      },
      (e: { status?: number }) => e.status ?? 'error',
    );
  t.equal(await status('/ws', 'https://evil.example'), 403, 'a cross-site page is refused (cross-site WebSocket hijacking)');
  t.equal(await status('/ws/websocket', 'https://evil.example'), 403, 'on every endpoint path');
  t.equal(await status('/ws/000/abcdefgh/websocket', 'https://evil.example'), 403, 'and over SockJS');
  const info = await fetch(`${b.httpUrl}/ws/info`, { headers: { origin: 'https://evil.example' } });
  t.equal(info.status, 403, 'SockJS HTTP requests too');
  const same = await RawClient.ws(`${b.url}/ws`, { headers: { cookie }, origin: `http://127.0.0.1:${b.port}` });
  t.teardown(() => same.close());
  t.equal((await same.connect()).headers['user-name'], 'victim', 'the same origin connects with the cookie');
  const noOrigin = await RawClient.ws(`${b.url}/ws`, { headers: { cookie } });
  t.teardown(() => noOrigin.close());
  t.equal((await noOrigin.connect()).command, 'CONNECTED', 'a non-browser client (no Origin) connects');
});

t.test('configured origins are honoured with cookie tokens', async (t) => {
  const b = await startBroker(t, { jwt: { secret: SECRET }, allowedOrigins: ['https://app.example'] });
  const cookie = `access_token=${await token('u', inFiveMinutes())}`;
  const c = await RawClient.ws(`${b.url}/ws`, { headers: { cookie }, origin: 'https://app.example' });
  t.teardown(() => c.close());
  t.equal((await c.connect()).headers['user-name'], 'u');
});

t.test('a JWT without exp is refused by default; allowed when STOMP_JWT_REQUIRE_EXP=false', async (t) => {
  const strict = await startBroker(t, { jwt: { secret: SECRET } });
  const c = await strict.client();
  c.send({ command: 'CONNECT', headers: { 'accept-version': '1.2', host: 'h', Authorization: `Bearer ${await token('forever', null)}` } });
  await expectError(t, c, ErrorCode.AUTH_FAILED);
  const relaxed = await startBroker(t, { jwt: { secret: SECRET, requireExp: false } });
  const d = await relaxed.client();
  t.equal((await d.connect({ Authorization: `Bearer ${await token('forever', null)}` })).headers['user-name'], 'forever');
});

t.test('a session ends with STOMP_ERR_TOKEN_EXPIRED when its token expires', async (t) => {
  const b = await startBroker(t, { jwt: { secret: SECRET } });
  const exp = Math.floor(Date.now() / 1000) + 2;
  const c = await b.client();
  await c.connect({ Authorization: `Bearer ${await token('short', exp)}` });
  const other = await b.client();
  await other.connect({ Authorization: `Bearer ${await token('long', inFiveMinutes())}` });
  await other.subscribe('o', '/topic/o');
  const f = await expectError(t, c, ErrorCode.TOKEN_EXPIRED);
  t.ok(Date.now() >= exp * 1000 - 20, 'not before the token expired');
  t.ok(f.body.length > 0);
  await b.broker.publish('/topic/o', 'x');
  t.equal((await other.next('MESSAGE')).body.toString(), 'x', 'a session with a valid token stays');
});

t.test('/metrics behind METRICS_TOKEN', async (t) => {
  const b = await startBroker(t, { metrics: { token: 'm-tok' } });
  t.equal((await fetch(`${b.httpUrl}/metrics`)).status, 401, 'no token: 401');
  const ok = await fetch(`${b.httpUrl}/metrics`, { headers: { authorization: 'Bearer m-tok' } });
  t.equal(ok.status, 200);
  t.match(await ok.text(), /stomp_sessions/);
});

t.test('/metrics on METRICS_PORT only', async (t) => {
  const b = await startBroker(t, { metrics: { port: 0, host: '127.0.0.1' } });
  const addr = b.broker.app.server.address();
  t.ok(addr, 'main listener up');
  t.equal((await fetch(`${b.httpUrl}/metrics`)).status, 404, 'not on the main port');
  const port = b.metricsPort;
  t.ok(port, 'a metrics port');
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  t.equal(r.status, 200);
  t.match(await r.text(), /stomp_sessions/);
  t.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 404, 'nothing else there');

  // Its own connection cap: idle sockets past it are dropped, and scraping still works once they go.
  const sockets: Socket[] = [];
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  let dropped = 0;
  for (let i = 0; i < MAX_METRICS_CONNECTIONS + 5; i++) {
    const s = connect(port!, '127.0.0.1');
    sockets.push(s);
    s.once('close', () => dropped++);
  }
  await waitFor(() => dropped >= 5, { what: 'the connections past the cap dropped' });
  t.pass(`connections past ${MAX_METRICS_CONNECTIONS} are dropped`);
  sockets.forEach((s) => s.destroy());
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => null))?.status === 200, { what: 'scrape again' });
  t.pass('scraping works again');
});
