/**
 * Issue 5.7: the chat example end to end in headless Chromium with two nodes
 * (separate processes on real Redis and Kafka), one user on each: alice on
 * node A sends to bob, bob's page on node B shows it. Saves a screenshot.
 */
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { chromium, type Browser } from 'playwright-core';
import { startKafka, startRedis, uniquePrefix } from '../helpers/services.js';
import { startNode } from '../helpers/nodes.js';
import { CHROMIUM, chromiumRequirement } from '../helpers/requirements.js';

t.setTimeout(180_000);

const SHOT = fileURLToPath(new URL('../../.tap/screenshots/chat-two-nodes.png', import.meta.url));

const chromiumNeeded = chromiumRequirement();

t.test('chat page: alice on node A, bob on node B', { skip: chromiumNeeded.skip }, async (t) => {
  if (chromiumNeeded.missing) return void t.fail(chromiumNeeded.missing);
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const kafka = await startKafka();
  t.teardown(() => kafka.stop());
  const env = { REDIS_URL: redis.url, KAFKA_BROKERS: kafka.brokers, CLUSTER_PREFIX: uniquePrefix('chat'), STOMP_DEMO: '1' };
  const [a, b] = await Promise.all([startNode(t, env), startNode(t, env)]);
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  t.teardown(() => browser.close());
  const ctx = await browser.newContext({ viewport: { width: 900, height: 700 } });
  const alice = await ctx.newPage();
  const bob = await ctx.newPage();
  await alice.goto(`http://127.0.0.1:${a.port}/`);
  await bob.goto(`http://127.0.0.1:${b.port}/`);
  for (const [page, name] of [[alice, 'alice'], [bob, 'bob']] as const) {
    await page.fill('#login', name);
    await page.click('#connect');
    await page.waitForSelector('#status.on', { timeout: 15_000 });
    t.equal(await page.textContent('#me'), `as ${name}`, `${name} connected`);
  }
  // bob's subscription is registered once the page connected; send from alice (node A) to bob (node B).
  await alice.fill('#to', 'bob');
  await alice.fill('#text', 'hello bob, from node A');
  await alice.click('#send');
  const li = await bob.waitForSelector('#log li:has-text("hello bob, from node A")', { timeout: 15_000 });
  t.match(await li.textContent(), /alice.*hello bob, from node A/, 'bob sees alice\'s message');
  await bob.screenshot({ path: SHOT });
  t.pass(`screenshot saved to .tap/screenshots/chat-two-nodes.png`);
  // And back, node B to node A.
  await bob.fill('#to', 'alice');
  await bob.fill('#text', 'hi alice, from node B');
  await bob.click('#send');
  await alice.waitForSelector('#log li:has-text("hi alice, from node B")', { timeout: 15_000 });
  t.pass('alice sees bob\'s reply');
});
