// The dashboard end to end: headless Chromium (Debian's, driven by playwright-core from
// web/node_modules) against the real daemon, broker and simulator of the integration harness.
// Settings → Thresholds and the phone's top bar too. Each run saves screenshots of every screen
// at phone and desktop sizes in build/screenshots/ (not committed) and runs axe-core on each: no
// serious violations.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../integration/harness.mjs';
import { startFleet, stopFleet, openPage, axe, shot as shotAt, PHONE, DESKTOP } from './fixture.mjs';

const X1C = '00M09A350100321', P1S = '01P00A451200002';

let f, broker, sim, daemon, browser, x1, p1;

before(async () => {
  f = await startFleet({ serials: [X1C, P1S] });
  ({ broker, sim, daemon, browser, x1, p1 } = f);
});

after(() => stopFleet(f));

const page = (viewport, path) => openPage(f, viewport, path);
const shot = (p, name) => shotAt(p, name, false);
const card = (p, serial) => p.locator(`article[data-printer="${serial}"]`);

test('a printer card updates live from the event stream', async () => {
  const p = await page(DESKTOP);
  await card(p, X1C).waitFor();
  assert.match(await card(p, X1C).innerText(), /Workshop X1C/);
  await waitFor(async () => /Live/.test(await p.locator('.live').innerText()), 10000, 'live badge');
  await sim.control(X1C, { action: 'start_job', name: 'Benchy e2e', layers: 80, minutes: 4, prepare_s: 0 });
  await waitFor(async () => /Benchy e2e/.test(await card(p, X1C).innerText()), 15000, 'job on the card');
  await waitFor(async () => /Printing/.test(await card(p, X1C).innerText()), 15000, 'printing state');
  await waitFor(async () => /Layer \d+ \/ 80/.test(await card(p, X1C).innerText()), 15000, 'layer shown');
  const first = await card(p, X1C).locator('.job-meta').innerText();
  await waitFor(async () => (await card(p, X1C).locator('.job-meta').innerText()) !== first, 15000, 'progress moves');
  await sim.control(X1C, { action: 'hms_raise', attr: 201327360, code: 196615 });
  await waitFor(async () => (await card(p, X1C).locator('.alert').count()) > 0, 15000, 'HMS alert on the card');
  await shot(p, 'printers-desktop');
  await axe(p, 'printers (desktop)');
  await p.getByRole('button', { name: 'List' }).click();
  await p.locator('table.dense tr[data-printer]').first().waitFor();
  await shot(p, 'printers-list-desktop');
  await axe(p, 'printers list');
  await p.getByRole('button', { name: 'Cards' }).click();
  assert.deepEqual(p.errors, []);
  await p.context().close();
});

test('pause asks for confirmation and reaches the simulator', async () => {
  await waitFor(async () => (await daemon.printer(x1.id)).state === 'RUNNING', 15000, 'running');
  const p = await page(DESKTOP);
  const c = card(p, X1C);
  await c.getByRole('button', { name: /Pause/ }).click();
  const dialog = p.getByRole('dialog');
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /Pause Workshop X1C\?/);
  await shot(p, 'pause-confirm-desktop');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  assert.equal((await daemon.printer(x1.id)).state, 'RUNNING', 'cancel sends nothing');
  await c.getByRole('button', { name: /Pause/ }).click();
  await p.getByRole('dialog').getByRole('button', { name: 'Pause' }).click();
  await waitFor(async () => (await daemon.printer(x1.id)).state === 'PAUSE', 15000, 'the simulator paused');
  await waitFor(async () => /Paused/.test(await c.innerText()), 10000, 'card shows paused');
  assert.equal(await p.getByRole('dialog').count(), 0, 'the dialog closed');
  await c.getByRole('button', { name: /Resume/ }).click();
  await p.getByRole('dialog').getByRole('button', { name: 'Resume' }).click();
  await waitFor(async () => (await daemon.printer(x1.id)).state === 'RUNNING', 15000, 'resumed');
  await p.context().close();
});

test('printer detail shows the AMS and assigns a spool to a slot', async () => {
  const v = (await daemon.req('POST', '/api/v1/vendor', { name: 'Bambu Lab' })).json;
  const f = (await daemon.req('POST', '/api/v1/filament', { name: 'PLA Basic Red', vendor_id: v.id, material: 'PLA', density: 1.24, diameter: 1.75, weight: 1000, color_hex: 'C12E1F' })).json;
  const s = (await daemon.req('POST', '/api/v1/spool', { filament_id: f.id, remaining_weight: 640, location: 'Shelf A' })).json;
  for (const vp of [DESKTOP, PHONE]) {
    const p = await page(vp, `/printers/${p1.id}`);
    await p.getByRole('heading', { name: 'Shelf P1S' }).waitFor();
    await p.locator('.detail table.dense').first().waitFor();
    await shot(p, `detail-${vp === PHONE ? 'phone' : 'desktop'}`);
    await axe(p, `detail ${vp.width}`);
    await p.context().close();
  }
  const p = await page(DESKTOP, `/printers/${p1.id}`);
  await p.getByRole('button', { name: 'Assign…' }).first().click();
  await p.getByRole('dialog').getByRole('button', { name: new RegExp(`#${s.id} `) }).click();
  await waitFor(async () => (await daemon.get(`/api/v1/printers/${p1.id}/ams`)).json.some((x) => x.spool_id === s.id), 10000, 'assigned');
  await waitFor(async () => /640 g/.test(await p.locator('.detail').innerText()), 10000, 'spool grams on the detail page');
  await p.context().close();
});

test('add and edit a spool; server field errors show next to the field', async () => {
  const p = await page(DESKTOP, '/inventory');
  await p.getByRole('heading', { name: 'Inventory' }).waitFor();
  // a filament the server refuses (density must be positive): its message sits by the field
  await p.getByRole('button', { name: '+ Filament' }).click();
  let d = p.getByRole('dialog');
  await d.getByLabel('Name (product)').fill('PETG HF Jade');
  await d.getByLabel('Material').fill('PETG');
  await d.getByLabel('Density (g/cm³)').fill('0');
  await d.getByRole('button', { name: 'Add filament' }).click();
  const err = d.locator('#f-density-err');
  await err.waitFor();
  assert.ok((await err.innerText()).length > 0);
  assert.equal(await d.getByLabel('Density (g/cm³)').getAttribute('aria-invalid'), 'true');
  await shot(p, 'filament-error-desktop');
  await d.getByLabel('Density (g/cm³)').fill('1.27');
  await d.locator('#f-multi_color_hexes').fill('00A86B,F5F5F5');
  await d.getByLabel('Multi-colour kind').selectOption('longitudinal');
  await d.getByRole('button', { name: 'Add filament' }).click();
  await d.waitFor({ state: 'detached' });

  await p.getByRole('button', { name: '+ Spool' }).click();
  d = p.getByRole('dialog');
  const fid = await d.getByLabel('Filament').locator('option', { hasText: 'PETG HF Jade' }).getAttribute('value');
  await d.getByLabel('Filament').selectOption(fid);
  await d.getByLabel('Remaining (g)').fill('820');
  await d.getByLabel('Location').fill('Dry box 2');
  await d.getByRole('button', { name: 'Add spool' }).click();
  await d.waitFor({ state: 'detached' });
  const row = p.locator('li.spool', { hasText: 'PETG HF Jade' });
  await row.waitFor();
  assert.match(await row.innerText(), /820 g/);
  assert.match(await row.innerText(), /Dry box 2/);
  const id = Number(await row.getAttribute('data-spool'));

  await row.getByRole('button', { name: `Edit spool ${id}` }).click();
  d = p.getByRole('dialog');
  await d.getByLabel('Location').fill('AMS shelf');
  await d.getByRole('button', { name: 'Save' }).click();
  await d.waitFor({ state: 'detached' });
  await waitFor(async () => (await daemon.get(`/api/v1/spool/${id}`)).json.location === 'AMS shelf', 10000, 'edit saved');
  const saved = (await daemon.get(`/api/v1/spool/${id}`)).json;
  assert.equal(saved.remaining_weight, 820, 'an edit sends only what changed');

  await row.getByRole('button', { name: `Weigh spool ${id}` }).click();
  d = p.getByRole('dialog');
  await d.getByLabel('Scale reading (g)').fill('-3');
  await d.getByRole('button', { name: 'Save weight' }).click();
  await d.locator('.field-error').waitFor(); // refused before sending or by the server: shown either way
  await d.getByRole('button', { name: 'Cancel' }).click();

  await shot(p, 'inventory-desktop');
  await axe(p, 'inventory');
  await p.getByRole('button', { name: '+ Spool' }).click();
  await shot(p, 'spool-form-desktop');
  await axe(p, 'spool form');
  await p.context().close();
});

test('Settings → Thresholds: an admin changes one and it applies; the server\'s refusal shows by the field; a viewer reads', async () => {
  const p = await page(DESKTOP, '/settings');
  await p.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Thresholds' }).click();
  await p.getByRole('heading', { name: 'Thresholds' }).waitFor();
  const humid = p.getByLabel('Humid above');
  const field = p.locator('.field[data-key="alerts.humidity_pct"]');
  assert.equal(await humid.inputValue(), '40');
  assert.match(await field.innerText(), /As the configuration says/);
  // checked before sending
  await humid.fill('101');
  await p.getByRole('button', { name: 'Save thresholds' }).click();
  assert.equal(await field.locator('.field-error').innerText(), 'must be 100 or less');
  // the server's own refusal, under the same field: the request leaves with a value the page
  // would not send, and the daemon's 422 is shown where it belongs
  await humid.fill('55');
  await p.route('**/api/v1/thresholds', (r) => r.request().method() === 'PATCH'
    ? r.continue({ postData: JSON.stringify({ 'alerts.humidity_pct': 1000 }) }) : r.continue());
  await p.getByRole('button', { name: 'Save thresholds' }).click();
  await waitFor(async () => /whole number from 1 to 100/.test(await field.locator('.field-error').innerText().catch(() => '')), 5000, 'server error by the field');
  assert.equal(await humid.getAttribute('aria-invalid'), 'true');
  await p.unroute('**/api/v1/thresholds');
  await shot(p, 'thresholds-error-desktop');
  // saved: read back from the API, shown with the file's value beside it
  await p.getByRole('button', { name: 'Save thresholds' }).click();
  await p.getByText('Saved: applied now.').waitFor();
  let t = (await daemon.get('/api/v1/thresholds')).json.find((x) => x.key === 'alerts.humidity_pct');
  assert.deepEqual([t.value, t.configured, t.set], [55, 40, true]);
  assert.match(await field.innerText(), /Changed here; the file says 40 %/);
  // a material's hours: one more row
  await p.getByRole('button', { name: '+ Material' }).click();
  await p.getByLabel('Material 18', { exact: true }).fill('PETG HF');
  await p.getByLabel('Hours for PETG HF').fill('72');
  await p.getByRole('button', { name: 'Save thresholds' }).click();
  await p.getByText('Saved: applied now.').waitFor();
  const d = (await daemon.get('/api/v1/thresholds')).json.find((x) => x.key === 'alerts.drying_hours');
  assert.equal(d.value['PETG HF'], 72);
  await axe(p, 'thresholds');
  for (const [w, h] of [[1440, 900], [390, 844], [360, 740]]) {
    await p.setViewportSize({ width: w, height: h });
    await p.evaluate(() => scrollTo(0, 0));
    await shot(p, `thresholds-${w}`);
  }
  // back to what the file says
  await field.getByRole('button', { name: /^Reset/ }).click();
  assert.match(await field.innerText(), /Goes back to the file's 40 %/);
  await p.getByRole('button', { name: 'Save thresholds' }).click();
  await p.getByText('Saved: applied now.').waitFor();
  t = (await daemon.get('/api/v1/thresholds')).json.find((x) => x.key === 'alerts.humidity_pct');
  assert.deepEqual([t.value, t.set], [40, false]);
  assert.equal(await humid.inputValue(), '40');
  assert.deepEqual(p.errors, []);
  await p.context().close();

  // a viewer reads them and cannot change them
  const tok = (await daemon.req('POST', '/api/v1/tokens', { name: 'thresholds viewer', role: 'viewer' })).json.token;
  const v = await openPage(f, { width: 390, height: 844 }, `/settings/thresholds?token=${tok}`, { token: false });
  await v.getByRole('heading', { name: 'Thresholds' }).waitFor();
  await v.getByText('Only an admin can change them.').waitFor();
  assert.equal(await v.getByLabel('Humid above').getAttribute('readonly'), '');
  assert.equal(await v.getByRole('button', { name: 'Save thresholds' }).count(), 0);
  assert.equal(await v.getByRole('link', { name: 'Users' }).count(), 0, 'users are an admin\'s');
  await shot(v, 'thresholds-viewer-390');
  await axe(v, 'thresholds (viewer)');
  await v.context().close();
});

test('the install manifest is valid and the service worker keeps the shell', async () => {
  const r = await fetch(daemon.url('/manifest.webmanifest'));
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/manifest+json');
  const m = await r.json();
  assert.equal(m.display, 'standalone');
  assert.equal(m.start_url, '/');
  assert.ok(m.name && m.short_name && m.theme_color && m.background_color);
  for (const want of [{ sizes: '192x192', purpose: 'any' }, { sizes: '512x512', purpose: 'any' }, { sizes: '512x512', purpose: 'maskable' }]) {
    const icon = m.icons.find((i) => i.sizes === want.sizes && i.purpose === want.purpose);
    assert.ok(icon, `icon ${JSON.stringify(want)}`);
    const ir = await fetch(daemon.url(icon.src));
    assert.equal(ir.status, 200);
    assert.equal(ir.headers.get('content-type'), 'image/png');
    const b = Buffer.from(await ir.arrayBuffer());
    const [w, h] = want.sizes.split('x').map(Number);
    assert.deepEqual([b.readUInt32BE(16), b.readUInt32BE(20)], [w, h], `${icon.src} is ${want.sizes}`);
  }
  // served as the issue asks: hashed assets immutable, the page revalidated, compressed
  const index = await fetch(daemon.url('/'), { headers: { 'Accept-Encoding': 'br' } });
  assert.equal(index.headers.get('cache-control'), 'no-cache');
  const html = await index.text();
  const js = html.match(/\/assets\/[^"]+\.js/)[0];
  const a = await fetch(daemon.url(js), { headers: { 'Accept-Encoding': 'gzip, br' } });
  assert.equal(a.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(a.headers.get('content-encoding'), 'br');
  assert.equal((await fetch(daemon.url('/api/v1/nope'))).headers.get('content-type'), 'application/json');

  // opened once online, then offline: the kept shell with the last state, marked stale
  const p = await page(DESKTOP);
  await card(p, X1C).waitFor();
  await p.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  await waitFor(() => p.evaluate(() => !!localStorage.getItem('printdeck.snapshot')), 15000, 'snapshot saved');
  await p.context().setOffline(true);
  await p.reload();
  await card(p, X1C).waitFor();
  await p.locator('.banner.stale').waitFor();
  assert.match(await p.locator('.live').innerText(), /Offline|Connecting/);
  await shot(p, 'offline-desktop');
  await p.context().close();
});

/** The theme from the top bar's switch: an icon button and its menu. */
async function theme(p, name) {
  await p.getByRole('button', { name: /^Theme:/ }).click();
  await p.getByRole('menuitemradio', { name }).click();
  await waitFor(async () => (await p.evaluate(() => document.documentElement.dataset.theme ?? 'system')) === name.toLowerCase(), 5000, `${name} theme`);
}

test('the top bar fits a 360 and a 390 px phone: every control whole, the theme an icon with a name', async () => {
  for (const viewport of [{ width: 360, height: 740 }, PHONE]) {
    const p = await page(viewport);
    await card(p, X1C).waitFor();
    const boxes = await p.evaluate(() => [...document.querySelectorAll('.topbar > *')].map((e) => {
      const r = e.getBoundingClientRect();
      return { what: e.className, left: r.left, right: r.right, clipped: e.scrollWidth > e.clientWidth + 1 };
    }));
    for (const b of boxes) {
      assert.ok(b.left >= 0 && b.right <= viewport.width, `${b.what} inside ${viewport.width} px: ${JSON.stringify(b)}`);
      assert.ok(!b.clipped, `${b.what} not cut at ${viewport.width} px`);
    }
    for (let i = 1; i < boxes.length; i++)
      assert.ok(boxes[i].left >= boxes[i - 1].right - 1, `${boxes[i - 1].what} and ${boxes[i].what} apart`);
    const btn = p.getByRole('button', { name: 'Theme: as the system' });
    const r = await btn.boundingBox();
    assert.ok(r.width >= 40 && r.height >= 40, `a 40 px target: ${JSON.stringify(r)}`);
    await btn.click();
    assert.equal(await p.getByRole('menuitemradio', { name: 'As the system' }).getAttribute('aria-checked'), 'true');
    await shot(p, `topbar-theme-menu-${viewport.width}`);
    await axe(p, `top bar at ${viewport.width} px, theme menu open`);
    await p.keyboard.press('Escape');
    await p.getByRole('menu', { name: 'Theme' }).waitFor({ state: 'detached' });
    await theme(p, 'Light');
    assert.equal(await p.getByRole('button', { name: 'Theme: light' }).count(), 1);
    await shot(p, `topbar-${viewport.width}`);
    await p.context().close();
  }
});

test('phone viewport: no sideways scroll, bottom navigation, every screen', async () => {
  const p = await page(PHONE);
  await card(p, X1C).waitFor();
  const overflow = () => p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok((await overflow()) <= 0, 'printers fit 390 px');
  const nav = p.getByRole('navigation', { name: 'Main' });
  const box = await nav.boundingBox();
  assert.ok(box.y + box.height >= PHONE.height - 2 && box.y > PHONE.height / 2, 'navigation at the bottom');
  await shot(p, 'printers-phone');
  await axe(p, 'printers (phone)');
  await nav.getByRole('link', { name: 'Inventory' }).click();
  await p.locator('li.spool').first().waitFor();
  assert.ok((await overflow()) <= 0, 'inventory fits 390 px');
  await shot(p, 'inventory-phone');
  await axe(p, 'inventory (phone)');
  await p.getByRole('button', { name: '+ Spool' }).click();
  await shot(p, 'spool-form-phone');
  await p.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  await nav.getByRole('link', { name: 'Jobs' }).click();
  await p.getByRole('heading', { name: 'Jobs' }).waitFor();
  await shot(p, 'jobs-placeholder-phone');
  // dark theme, from the switch
  await theme(p, 'Dark');
  await nav.getByRole('link', { name: 'Printers' }).click();
  await card(p, X1C).waitFor();
  await shot(p, 'printers-dark-phone');
  await axe(p, 'printers (dark)');
  await p.context().close();
  const d = await page(DESKTOP, '/inventory');
  await theme(d, 'Dark');
  await d.locator('li.spool').first().waitFor();
  await shot(d, 'inventory-dark-desktop');
  await d.context().close();
});
