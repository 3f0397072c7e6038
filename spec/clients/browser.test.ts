/**
 * Client matrix: legacy stompjs 2.3.3 + sockjs-client 1.6 in headless Chromium
 * (Debian's `chromium`, driven by playwright-core; no browser is downloaded). The
 * broker serves the test page and the two browser bundles straight from
 * node_modules, so the page is same-origin and real browser Origin headers are
 * checked against an allow-list.
 * scripts/setup.sh installs chromium; SKIP_BROWSER=1 opts out (a missing browser fails the test otherwise).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import t from 'tap';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { StompBroker } from '../../src/index.js';
import { startBroker } from '../helpers/broker.js';
import { CHROMIUM, chromiumRequirement } from '../helpers/requirements.js';
import { Inbox, registerScenarioHandlers, runScenario, type ScenarioClient } from './scenario.js';
import { core } from '../helpers/internals.js';

const require = createRequire(import.meta.url);
const pkgDir = (name: string): string => path.dirname(require.resolve(`${name}/package.json`));
const ASSETS: Record<string, string> = {
  '/__test/stomp.js': path.join(pkgDir('stompjs'), 'lib/stomp.min.js'),
  '/__test/sockjs.js': path.join(pkgDir('sockjs-client'), 'dist/sockjs.min.js'),
};

/** The page: the two bundles as a Spring-era front end loads them, plus a tiny bridge for the test. */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>stompjs 2.3.3 + SockJS</title>
<script src="/__test/sockjs.js"></script>
<script src="/__test/stomp.js"></script>
<script>
window.bridge = (function () {
  var client = null, sock = null;
  function emit(ev) { window.__emit(JSON.stringify(ev)); }
  return {
    connect: function (url, login, transports) {
      return new Promise(function (resolve, reject) {
        sock = new SockJS(url, null, transports ? { transports: transports } : {});
        client = Stomp.over(sock);
        client.debug = null;
        client.onreceipt = function (f) { emit({ ev: 'receipt', id: f.headers['receipt-id'] }); };
        client.connect({ login: login }, function (f) {
          resolve({ headers: f.headers, transport: sock.transport });
        }, function (e) {
          if (typeof e === 'string') { emit({ ev: 'close' }); reject(new Error(e)); }
          else emit({ ev: 'error', headers: e.headers, body: e.body });
        });
      });
    },
    subscribe: function (d) {
      client.subscribe(d, function (m) { emit({ ev: 'message', headers: m.headers, body: m.body }); });
    },
    send: function (d, body, headers) { client.send(d, headers || {}, body); },
    bad: function () { client.ws.send('BOGUS\\n\\n\\0'); },
    close: function () { if (client && client.connected) client.disconnect(); }
  };
})();
</script></head><body><h1>stompjs 2.3.3 over SockJS</h1></body></html>`;

function serveTestPage(broker: StompBroker): void {
  broker.app.get('/__test/page.html', async (_req, reply) => reply.type('text/html; charset=utf-8').send(PAGE));
  for (const [route, file] of Object.entries(ASSETS)) {
    broker.app.get(route, async (_req, reply) => reply.type('application/javascript; charset=utf-8').send(await readFile(file)));
  }
}

/**
 * What PAGE puts on the page's global object. The page.evaluate callbacks run
 * in the browser, where the global object is \`window\`; they reach it as
 * \`globalThis\` (spec/ is type-checked without the DOM library).
 */
interface PageGlobals {
  bridge: {
    connect(url: string, login: string, transports: string[] | null): Promise<{ headers: Record<string, string>; transport: string }>;
    subscribe(destination: string): void;
    send(destination: string, body: string, headers: object): void;
    bad(): void;
    close(): void;
  };
}

/** A ScenarioClient whose library runs in the page. */
async function browserClient(page: Page, sockjsUrl: string, transports: string[] | null): Promise<ScenarioClient & { transport(): string }> {
  const inbox = new Inbox();
  let transport = '';
  await page.exposeFunction('__emit', (json: string) => {
    const ev = JSON.parse(json) as { ev: string; id?: string; headers?: Record<string, string>; body?: string };
    if (ev.ev === 'message') inbox.message({ command: 'MESSAGE', headers: ev.headers ?? {}, body: ev.body ?? '' });
    else if (ev.ev === 'error') inbox.error({ command: 'ERROR', headers: ev.headers ?? {}, body: ev.body ?? '' });
    else if (ev.ev === 'receipt') inbox.receipt(ev.id ?? '');
    else if (ev.ev === 'close') inbox.close();
  });
  await page.goto(new URL('/__test/page.html', sockjsUrl).href);
  return {
    inbox,
    transport: () => transport,
    async connect(login) {
      const r = await page.evaluate(
        ([url, l, tr]) => (globalThis as unknown as PageGlobals).bridge.connect(url, l, tr),
        [sockjsUrl, login, transports] as const,
      );
      transport = r.transport;
      return r.headers;
    },
    subscribe(destination) {
      void page.evaluate((d) => (globalThis as unknown as PageGlobals).bridge.subscribe(d), destination);
    },
    send(destination, body, headers = {}) {
      void page.evaluate(([d, b, h]) => (globalThis as unknown as PageGlobals).bridge.send(d, b, h), [destination, body, headers] as const);
    },
    async sendWithReceipt(destination, body, receipt) {
      await page.evaluate(([d, b, r]) => (globalThis as unknown as PageGlobals).bridge.send(d, b, { receipt: r }), [destination, body, receipt] as const);
      await inbox.until(() => inbox.receipts.includes(receipt), `receipt ${receipt}`);
    },
    sendBadFrame() {
      void page.evaluate(() => (globalThis as unknown as PageGlobals).bridge.bad());
    },
    async close() {
      await page.evaluate(() => (globalThis as unknown as PageGlobals).bridge.close()).catch(() => undefined);
    },
  };
}

const chromiumNeeded = chromiumRequirement();

t.test('stompjs 2.3.3 + sockjs-client in headless Chromium', { skip: chromiumNeeded.skip }, async (t) => {
  if (chromiumNeeded.missing) return void t.fail(chromiumNeeded.missing);
  let browser: Browser | null = null;
  t.teardown(async () => {
    await browser?.close();
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    timeout: 60_000,
  });
  t.comment(`chromium ${browser.version()}`);

  // websocket is what sockjs-client picks by default; eventsource only exists in a browser.
  const cases: Array<[string, string[] | null, string]> = [
    ['default (websocket)', null, 'websocket'],
    ['xhr-streaming', ['xhr-streaming'], 'xhr-streaming'],
    ['eventsource', ['eventsource'], 'eventsource'],
    ['xhr-polling', ['xhr-polling'], 'xhr-polling'],
  ];
  let n = 0;
  for (const [name, transports, expected] of cases) {
    await t.test(name, async (t) => {
      // Only the page's own origin (any port on 127.0.0.1) is allowed: the browser's
      // Origin headers on XHR/EventSource/WebSocket requests pass the allow-list.
      const b = await startBroker(t, { allowedOrigins: ['http://127.0.0.1:*'] }, {
        beforeListen(broker) {
          serveTestPage(broker);
          registerScenarioHandlers(broker);
        },
      });
      const context = await browser!.newContext();
      t.teardown(() => context.close());
      const page = await context.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      const c = await browserClient(page, `${b.httpUrl}/ws`, transports);
      await runScenario(t, b, c, { versions: ['1.1'], login: `browser${n++}` });
      t.equal(c.transport(), expected, `sockjs-client in Chromium used ${expected}`);
      t.same(pageErrors, [], 'no page errors');
    });
  }

  await t.test('a page from an origin that is not allowed cannot connect', async (t) => {
    const b = await startBroker(t, { allowedOrigins: ['https://app.example.com'] }, { beforeListen: serveTestPage });
    const context = await browser!.newContext();
    t.teardown(() => context.close());
    const page = await context.newPage();
    const c = await browserClient(page, `${b.httpUrl}/ws`, null);
    await t.rejects(c.connect('mallory'), 'stompjs reports the lost connection');
    // A same-origin GET carries no Origin header, so a polling transport may open a SockJS
    // session before sockjs-client gives up; no STOMP frame may ever get through.
    t.equal(core(b.broker).counters.framesIn, 0, 'no STOMP frame reached the broker');
    t.equal([...core(b.broker).sessions].filter((s) => s.isConnected).length, 0, 'no session is connected');
  });
});
