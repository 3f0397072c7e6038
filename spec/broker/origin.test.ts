/**
 * The origin allow-list (src/transport/origin.ts), on requests made by hand: a
 * request without an Origin is refused when the browser's Sec-Fetch-Site says
 * another site made it; `same-origin` takes only an http(s) Origin of the
 * request's host:port and scheme (TLS socket: https; browser: Sec-Fetch-Site
 * `same-origin`); `*` takes everything.
 */
import t from 'tap';
import { originPolicy, type OriginRequest } from '../../src/transport/origin.js';

/** A request to host `h:1` with these headers (and socket, when given). */
function req(headers: Record<string, string>, socket?: object | null): OriginRequest {
  return { headers: { host: 'h:1', ...headers }, socket };
}

const sameOrigin = originPolicy(['same-origin']);

t.test('same-origin list: a request without Origin or Sec-Fetch-Site (not a browser) is allowed', async (t) => {
  t.equal(sameOrigin.check(req({})), true);
});

t.test('same-origin list: no Origin, Sec-Fetch-Site cross-site or same-site (another site made it) is refused', async (t) => {
  t.equal(sameOrigin.check(req({ 'sec-fetch-site': 'cross-site' })), false, 'cross-site');
  t.equal(sameOrigin.check(req({ 'sec-fetch-site': 'same-site' })), false, 'same-site');
});

t.test('same-origin list: no Origin, Sec-Fetch-Site same-origin or none (the page itself, or typed by the user) is allowed', async (t) => {
  t.equal(sameOrigin.check(req({ 'sec-fetch-site': 'same-origin' })), true, 'same-origin');
  t.equal(sameOrigin.check(req({ 'sec-fetch-site': 'none' })), true, 'none');
});

t.test('same-origin list: Origin http://h:1 on Host h:1 is allowed, but not when the browser says same-site', async (t) => {
  t.equal(sameOrigin.check(req({ origin: 'http://h:1' })), true, 'no Sec-Fetch-Site');
  t.equal(sameOrigin.check(req({ origin: 'http://h:1', 'sec-fetch-site': 'same-origin' })), true, 'Sec-Fetch-Site: same-origin');
  t.equal(sameOrigin.check(req({ origin: 'HTTP://H:1' })), true, 'scheme and host compared without case');
  t.equal(sameOrigin.check(req({ origin: 'http://h:1', 'sec-fetch-site': 'same-site' })), false, 'Sec-Fetch-Site: same-site (the other scheme)');
  t.equal(sameOrigin.check(req({ origin: 'http://h:1', 'sec-fetch-site': 'cross-site' })), false, 'Sec-Fetch-Site: cross-site');
  t.equal(sameOrigin.check(req({ origin: 'http://h:2' })), false, 'another port');
});

t.test('same-origin list: an Origin that is not http(s) (ftp://h:1, null) is refused', async (t) => {
  t.equal(sameOrigin.check(req({ origin: 'ftp://h:1' })), false, 'ftp://h:1');
  t.equal(sameOrigin.check(req({ origin: 'null' })), false, 'null');
});

t.test('same-origin list: on a TLS socket an http:// Origin is refused, an https:// one allowed', async (t) => {
  t.equal(sameOrigin.check(req({ origin: 'http://h:1' }, { encrypted: true })), false, 'http:// over TLS');
  t.equal(sameOrigin.check(req({ origin: 'https://h:1' }, { encrypted: true })), true, 'https:// over TLS');
  t.equal(sameOrigin.check(req({ origin: 'http://h:1' }, {})), true, 'http:// on a plain socket');
  t.equal(sameOrigin.check(req({ origin: 'http://h:1' }, null)), true, 'http:// without a socket');
});

t.test('an explicit list: no Origin with Sec-Fetch-Site cross-site is refused too', async (t) => {
  const p = originPolicy(['https://app.example']);
  t.equal(p.check(req({ origin: 'https://app.example' })), true, 'the listed origin');
  t.equal(p.check(req({})), true, 'no Origin, no Sec-Fetch-Site');
  t.equal(p.check(req({ 'sec-fetch-site': 'cross-site' })), false, 'no Origin, cross-site');
  t.equal(p.check(req({ 'sec-fetch-site': 'none' })), true, 'no Origin, none');
});

t.test('* list: everything is allowed', async (t) => {
  const any = originPolicy(['*']);
  t.equal(any.any, true);
  const requests: Array<[string, OriginRequest]> = [
    ['no Origin', req({})],
    ['no Origin, cross-site', req({ 'sec-fetch-site': 'cross-site' })],
    ['no Origin, same-site', req({ 'sec-fetch-site': 'same-site' })],
    ['Origin of another site, same-site', req({ origin: 'http://h:1', 'sec-fetch-site': 'same-site' })],
    ['ftp Origin', req({ origin: 'ftp://h:1' })],
    ['null Origin', req({ origin: 'null' })],
    ['another site', req({ origin: 'https://evil.example' })],
    ['http Origin over TLS', req({ origin: 'http://h:1' }, { encrypted: true })],
  ];
  for (const [what, r] of requests) t.equal(any.check(r), true, what);
});
