import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startBroker } from '../helpers/broker.js';

const SECRET = 'a-test-secret-of-decent-length-0123456789';

async function hs(sub: string, opts: { secret?: string; exp?: string; iss?: string } = {}): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuer(opts.iss ?? 'test')
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '5m')
    .sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

t.test('JWT with a secret: Authorization header, passcode, query, cookie', async (t) => {
  const b = await startBroker(t, { jwt: { secret: SECRET, issuer: 'test' } });
  const c1 = await b.client();
  t.equal((await c1.connect({ Authorization: `Bearer ${await hs('ann')}` })).headers['user-name'], 'ann');
  const c2 = await b.client();
  t.equal((await c2.connect({ login: 'ignored', passcode: await hs('ben') })).headers['user-name'], 'ben');
  const c3 = await b.client({ path: `/ws?access_token=${await hs('cat')}` });
  t.equal((await c3.connect()).headers['user-name'], 'cat');
  const c4 = await b.client({ headers: { cookie: `other=1; access_token=${await hs('dan')}` } });
  t.equal((await c4.connect()).headers['user-name'], 'dan');
});

t.test('JWT refusals: none, bad signature, expired, wrong issuer', async (t) => {
  const b = await startBroker(t, { jwt: { secret: SECRET, issuer: 'test' } });
  const cases: Array<[string, Record<string, string>]> = [
    ['no token', {}],
    ['bad signature', { Authorization: `Bearer ${await hs('x', { secret: 'another-secret-another-secret-0000' })}` }],
    ['expired', { Authorization: `Bearer ${await hs('x', { exp: '-1m' })}` }],
    ['wrong issuer', { Authorization: `Bearer ${await hs('x', { iss: 'evil' })}` }],
  ];
  for (const [name, headers] of cases) {
    const c = await b.client();
    const err = await c.connect(headers, 'ERROR');
    t.equal(err.headers['code'], 'STOMP_ERR_AUTH_FAILED', name);
    t.ok(err.body.length > 0, `${name}: body says why`);
    await c.waitClosed();
  }
});

t.test('JWT with a JWKS endpoint (RS256)', async (t) => {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const jwks = http.createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => jwks.close(() => r())));
  const url = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
  const b = await startBroker(t, { jwt: { jwksUrl: url } });
  const token = await new SignJWT({ preferred_username: 'eve' })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setSubject('eve')
    .setExpirationTime('5m')
    .sign(privateKey);
  const c = await b.client();
  t.equal((await c.connect({ Authorization: `Bearer ${token}` })).headers['user-name'], 'eve');
});
