// What every end-to-end file stands on: the integration harness's broker, simulator and daemon
// with two printers online, Debian's Chromium driven by playwright-core from web/node_modules,
// pages opened at phone or desktop size, axe-core, and screenshots in build/screenshots/.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Broker, Sim, Daemon, ROOT, TOKEN, waitFor, tmpDir, assertCleanExit, freePorts } from '../integration/harness.mjs';

const need = createRequire(join(ROOT, 'web/package.json'));
const { chromium } = need('playwright-core');
const AXE = readFileSync(need.resolve('axe-core/axe.min.js'), 'utf8');
export const SHOTS = process.env.PD_SCREENSHOTS || join(ROOT, 'build/screenshots');
export const PHONE = { width: 390, height: 844 }, DESKTOP = { width: 1440, height: 900 };

/** A broker, the simulator playing an X1C and a P1S (serials [x1c, p1s]), a daemon with both
 * online (names "Workshop X1C", "Shelf P1S") and a browser. camera: the simulator's port-6000
 * camera for the P1S (the X1C's RTSPS camera is left unreachable: no relay port is given). */
export async function startFleet({ serials, config = '[server]\nheartbeat_s = 1\n', simArgs = [], camera = false }) {
  mkdirSync(SHOTS, { recursive: true });
  const f = {};
  f.broker = new Broker(tmpDir('pd-e2e-broker-'), serials);
  await f.broker.start();
  f.sim = new Sim(f.broker, ['X1C', 'P1S']);
  const cam = camera ? await freePorts(2) : 0;
  await f.sim.start([...(camera ? ['--camera-port', String(cam), '--cert-dir', f.broker.dir] : []), ...simArgs]);
  f.daemon = new Daemon({ config });
  await f.daemon.start();
  f.x1 = await f.daemon.addPrinter(f.broker, serials[0], { name: 'Workshop X1C' });
  f.p1 = await f.daemon.addPrinter(f.broker, serials[1], { name: 'Shelf P1S', ...(camera ? { camera_port: cam + 1 } : {}) });
  await waitFor(async () => (await f.daemon.printer(f.x1.id))?.online && (await f.daemon.printer(f.p1.id))?.online,
    20000, 'printers online');
  f.browser = await launchBrowser();
  return f;
}

/** Debian's Chromium, headless; `args` add to the flags every browser here runs with (a fake
 * camera, for instance). */
export function launchBrowser(args = []) {
  return chromium.launch({
    executablePath: process.env.PD_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', ...args],
  });
}

/** Everything down; the daemon must exit cleanly (no sanitizer report). */
export async function stopFleet(f) {
  await f?.browser?.close();
  const r = f?.daemon && await f.daemon.stop();
  await f?.sim?.stop();
  await f?.broker?.stop();
  if (r) assertCleanExit(assert, r);
}

/** A page at viewport on path, signed in with the harness's token unless token is false;
 * page errors collect in p.errors. */
export async function openPage(f, viewport, path = '/', { token = true } = {}) {
  const ctx = await f.browser.newContext({ viewport, deviceScaleFactor: 1, reducedMotion: 'reduce' });
  const p = await ctx.newPage();
  p.errors = [];
  p.on('pageerror', (e) => p.errors.push(String(e)));
  await p.goto(f.daemon.url(token ? `${path}${path.includes('?') ? '&' : '?'}token=${TOKEN}` : path));
  return p;
}

/** axe-core on the page: no serious or critical violation. */
export async function axe(p, what) {
  await p.addScriptTag({ content: AXE });
  const r = await p.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`), [], `axe on ${what}`);
}

export const shot = (p, name, fullPage = false) => p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
