// The dashboard as a phone and a wall of screens see it (sourced through bench/web.sh):
//   node bench/web.mjs load URL TOKEN        first load, cold and warm, of `/` on a throttled
//                                            phone (150 ms RTT, 1.6 Mbit/s down, 750 kbit/s up,
//                                            CPU 4× slower): bytes over the wire and the time
//                                            to the first printer card, 3 runs each
// Chromium is Debian's, driven by playwright-core from web/node_modules.
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { chromium } = createRequire(join(ROOT, 'web/package.json'))('playwright-core');
const [mode, url, token, n = '200'] = process.argv.slice(2);
const CARD = '.grid > *';

const browser = await chromium.launch({
  executablePath: process.env.PD_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
});

/** A signed-in context: the token exchanged for a session once, as a wall display does. */
async function signedIn(viewport) {
  const ctx = await browser.newContext({ viewport });
  const p = await ctx.newPage();
  await p.goto(`${url}/?token=${token}`);
  await p.waitForSelector(CARD, { timeout: 120000 });
  return { ctx, p };
}

/** One load of `/` in page p: bytes received (the event stream's too, up to the first card)
 * and ms from navigation start to the first card. */
async function load(p) {
  const cdp = await p.context().newCDPSession(p);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 150, downloadThroughput: (1.6e6 / 8), uploadThroughput: (750e3 / 8),
  });
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
  let bytes = 0, requests = 0;
  const seen = new Map(), urls = new Map();
  cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url.replace(url, '')));
  cdp.on('Network.dataReceived', (e) => { seen.set(e.requestId, (seen.get(e.requestId) ?? 0) + e.encodedDataLength); });
  cdp.on('Network.loadingFinished', (e) => { requests++; seen.set(e.requestId, e.encodedDataLength); });
  await p.goto(`${url}/`, { waitUntil: 'commit' });
  await p.waitForSelector(CARD, { timeout: 120000 });
  const ms = await p.evaluate(() => performance.now());
  for (const v of seen.values()) bytes += v;
  if (process.env.WEB_DETAIL) // which request brought what (WEB_DETAIL=1 bench/run.sh)
    for (const [id, v] of seen) console.error(`  ${(v / 1024).toFixed(1).padStart(8)} KB  ${urls.get(id) ?? id}`);
  await cdp.detach();
  return { ms, bytes, requests };
}

if (mode === 'load') {
  const { ctx: login } = await signedIn({ width: 390, height: 844 });
  const state = await login.storageState(); // the session cookie, nothing cached
  await login.close();
  const cold = [], warm = [];
  for (let i = 0; i < 3; i++) {
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, storageState: state });
    const p = await ctx.newPage();
    cold.push(await load(p));
    await p.waitForTimeout(2000); // the service worker installs and caches the shell
    warm.push(await load(p));
    await ctx.close();
  }
  const med = (a, k) => a.map((r) => r[k]).sort((x, y) => x - y)[1];
  const cards = n;
  for (const [name, a] of [['cold', cold], ['warm', warm]])
    console.log(`first load ${name} (${cards} printers, phone on slow 4G, CPU ÷4): first printer card at ` +
      `${med(a, 'ms').toFixed(0)} ms (runs ${a.map((r) => r.ms.toFixed(0)).join(', ')}), ` +
      `${(med(a, 'bytes') / 1024).toFixed(1)} KB over the wire in ${med(a, 'requests')} requests`);
}
await browser.close();
