// The statistics, prompts and job filament screens end to end (each spool named, archived and
// deleted ones too), and the phone viewport of every screen: headless Chromium against the real
// daemon, broker and simulator. Screenshots at phone and desktop sizes go to build/screenshots/
// with the other e2e files'; axe-core runs on each screen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor, tmpDir } from '../integration/harness.mjs';
import { startFleet, stopFleet, openPage, axe, shot as shotAt, PHONE, DESKTOP } from './fixture.mjs';

const X1C = '00M09A350100621', P1S = '01P00A451200622';
const CONFIG = '[server]\nheartbeat_s = 1\n[history]\ninterval_s = 1\nams_interval_s = 2\n';

let f, broker, sim, daemon, browser, x1, p1, storage;

before(async () => {
  storage = tmpDir('pd-e2e-storage-');
  f = await startFleet({ serials: [X1C, P1S], config: CONFIG, simArgs: ['--speedup', '4', '--storage-dir', storage] });
  ({ broker, sim, daemon, browser, x1, p1 } = f);
});

after(() => stopFleet(f));

const page = (viewport, path) => openPage(f, viewport, path);
const shot = (p, name) => shotAt(p, name, true);
/** Nothing wider than the screen; the message names what sticks out. */
async function noSideways(p, what) {
  const wide = await p.evaluate(() => {
    if (document.documentElement.scrollWidth <= innerWidth) return [];
    const out = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > innerWidth + 1 &&
      !e.parentElement.closest('.table-wrap, .chart-box')).slice(0, 5)
      .map((e) => `${e.tagName.toLowerCase()}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`);
    return out.length ? out : [`page ${document.documentElement.scrollWidth} px wide`];
  });
  assert.deepEqual(wide, [], `${what}: no sideways scroll`);
}

/** A simulated print from start to end; its job id once the daemon has accounted it. */
async function print(serial, name) {
  await sim.control(serial, { action: 'start_job', name, layers: 10, minutes: 1, prepare_s: 0 });
  await waitFor(async () => (await daemon.get(`/api/v1/jobs?name=${name}`)).json.some((j) => j.status === 'printing'), 20000, `${name} printing`);
  await sim.control(serial, { action: 'finish' });
  return waitFor(async () => (await daemon.get(`/api/v1/jobs?name=${name}`)).json.find((j) => j.accounted_at)?.id, 30000, `${name} accounted`);
}

let jobId;

test('statistics: totals and charts from simulated prints; a 3MF gets its spools suggested', async () => {
  jobId = await print(X1C, 'Bracket e2e');
  await print(P1S, 'Hook e2e');
  const p = await page(DESKTOP, '/stats');
  await p.getByRole('heading', { name: 'Statistics' }).waitFor();
  const tile = p.locator('.tile', { hasText: 'Prints' });
  await waitFor(async () => Number(await tile.locator('.tile-value').innerText()) >= 2, 15000, 'two prints counted');
  await p.locator('.chart canvas').first().waitFor({ timeout: 15000 });
  await p.getByRole('heading', { name: 'Print hours per printer' }).waitFor();
  await p.locator('.hbars', { hasText: 'Workshop X1C' }).first().waitFor();
  // the simulator's storage holds the 3MF it "sliced": analysed against the printer it ran on
  const dir = join(storage, X1C);
  const file = readdirSync(dir, { recursive: true }).find((f) => String(f).endsWith('.gcode.3mf'));
  assert.ok(file, 'the simulator wrote a 3MF');
  await p.getByLabel('Check against a printer\'s trays').selectOption(String(x1.id));
  await p.getByLabel(/Print file/).setInputFiles(join(dir, String(file)));
  await p.getByRole('button', { name: 'Suggest spools' }).click();
  await p.locator('.plate').first().waitFor({ timeout: 15000 });
  await p.locator('.plate .verdict').first().waitFor();
  await p.locator('.plate img').first().waitFor();
  await shot(p, 'stats-desktop');
  await axe(p, 'statistics');
  assert.deepEqual(p.errors, []);
  const phone = await page(PHONE, '/stats');
  await phone.locator('.chart canvas').first().waitFor({ timeout: 15000 });
  await noSideways(phone, 'statistics');
  await shot(phone, 'stats-phone');
});

test('prompts: a spool without a tag raises a prompt, answered in two taps, reaching the slot', async () => {
  const v = (await daemon.req('POST', '/api/v1/vendor', { name: 'E2E Vendor' })).json.id;
  const f = (await daemon.req('POST', '/api/v1/filament', { vendor_id: v, name: 'Signal red', material: 'PLA', density: 1.24, diameter: 1.75, weight: 1000, color_hex: 'E02020' })).json.id;
  const spool = (await daemon.req('POST', '/api/v1/spool', { filament_id: f, remaining_weight: 870 })).json.id;
  const p = await page(DESKTOP, '/prompts');
  await p.getByRole('heading', { name: 'Slot prompts' }).waitFor();
  await waitFor(async () => /Live/.test(await p.locator('.live').innerText()), 10000, 'live');
  await sim.control(P1S, { action: 'swap_spool', ams: 0, slot: 2, type: 'PLA', color: 'E52222FF', rfid: false });
  const card = p.locator('.prompt', { hasText: 'AMS 1, slot 3 changed' });
  await card.waitFor({ timeout: 15000 });
  await p.locator('.nav-badge').first().waitFor();
  const cand = card.locator('.candidate', { hasText: `#${spool} ` });
  await cand.waitFor({ timeout: 10000 });
  await shot(p, 'prompts-desktop');
  await axe(p, 'prompts');
  await cand.click(); // tap one
  await card.getByRole('button', { name: `Assign spool #${spool}` }).click(); // tap two
  await card.waitFor({ state: 'detached', timeout: 10000 });
  const slot = await waitFor(async () => (await daemon.get(`/api/v1/printers/${p1.id}/ams`)).json.find((s) => s.unit === 0 && s.slot === 2 && s.spool_id === spool), 10000, 'the slot has the spool');
  assert.equal(slot.spool_id, spool);
  const item = p.locator('.slot-item', { hasText: `#${spool} ` });
  await item.waitFor({ timeout: 10000 });
  await item.getByRole('button', { name: 'History' }).click();
  await p.getByRole('dialog').getByText(`spool #${spool}`).first().waitFor();
  await shot(p, 'prompts-history-desktop');
  await p.getByRole('button', { name: 'Close' }).click();
  assert.deepEqual(p.errors, []);
  const phone = await page(PHONE, '/prompts');
  await phone.locator('.slot-item').first().waitFor();
  await noSideways(phone, 'prompts');
  await shot(phone, 'prompts-phone');
});

test('job page: filament per spool with its total, each spool named, archived or deleted; the bell lists open alerts', async () => {
  const v = (await daemon.req('POST', '/api/v1/vendor', { name: 'Jobs Vendor' })).json.id;
  const fil = (await daemon.req('POST', '/api/v1/filament', { vendor_id: v, name: 'Charcoal', material: 'PETG', density: 1.27,
    diameter: 1.75, weight: 1000, color_hex: '333333' })).json.id;
  const spools = [];
  for (let i = 0; i < 2; i++) spools.push((await daemon.req('POST', '/api/v1/spool', { filament_id: fil })).json);
  const p = await page(DESKTOP, `/jobs/${jobId}`);
  const card = p.locator('.card', { has: p.getByRole('heading', { name: 'Filament per spool' }) });
  // an operator corrects what the printer could not tell: two spools, grams each
  await card.getByRole('button', { name: 'Correct the filament…' }).click();
  const rows = card.locator('.fix-row');
  while ((await rows.count()) < 2) await card.getByRole('button', { name: '+ Spool' }).click();
  await rows.nth(0).getByLabel('Spool #').fill(String(spools[0].id));
  await rows.nth(0).getByLabel('Grams').fill('12.5');
  await rows.nth(1).getByLabel('Spool #').fill(String(spools[1].id));
  await rows.nth(1).getByLabel('Grams').fill('3');
  await card.getByRole('button', { name: 'Save the filament' }).click();
  await waitFor(async () => (await card.locator('tbody tr').count()) === 2, 10000, 'two spools in the table');
  const j = (await daemon.get(`/api/v1/jobs/${jobId}`)).json;
  assert.equal(j.filament.length, 2);
  assert.equal(j.grams, 15.5);
  const total = await card.locator('tfoot').innerText();
  assert.match(total, /Total/);
  assert.match(total, /16 g/);
  // each spool by its vendor and filament, with its colour, linked to it in the inventory
  const row = (i) => card.locator('tbody tr').nth(i);
  assert.equal(await row(0).getByRole('link', { name: 'Jobs Vendor Charcoal' }).getAttribute('href'), `/inventory?spool=${spools[0].id}`);
  assert.match(await row(0).innerText(), new RegExp(`#${spools[0].id} · PETG`));
  assert.equal(await row(0).getByRole('img', { name: 'colour #333333' }).count(), 1);
  // one archived, the other deleted: still told apart
  assert.equal((await daemon.req('PATCH', `/api/v1/spool/${spools[0].id}`, { archived: true })).status, 200);
  assert.equal((await daemon.req('DELETE', `/api/v1/spool/${spools[1].id}`)).status, 200);
  await p.reload();
  await waitFor(async () => /deleted spool/.test(await card.innerText().catch(() => '')), 10000, 'the deleted spool named');
  assert.match(await row(0).innerText(), /Jobs Vendor Charcoal.*archived/s);
  assert.match(await row(1).innerText(), new RegExp(`deleted spool #${spools[1].id}`));
  assert.equal(await row(1).getByRole('link').count(), 0, 'a deleted spool has no page');
  await shot(p, 'job-filament-desktop');
  await axe(p, 'job page');
  await p.getByRole('button', { name: /^Alerts:/ }).click();
  await p.getByRole('region', { name: 'Open alerts' }).waitFor();
  await shot(p, 'alerts-desktop');
  await axe(p, 'alerts');
  assert.deepEqual(p.errors, []);
  const phone = await page(PHONE, `/jobs/${jobId}`);
  await phone.locator('.card tbody tr').first().waitFor();
  await noSideways(phone, 'job page');
  await shot(phone, 'job-filament-phone');
  await phone.setViewportSize({ width: 360, height: 740 });
  await noSideways(phone, 'job page at 360 px');
  await shot(phone, 'job-filament-phone-360');
  // the link opens the archived spool in the inventory
  await phone.getByRole('link', { name: 'Jobs Vendor Charcoal' }).click();
  await phone.getByText(`Showing spool #${spools[0].id} only.`).waitFor();
  await phone.locator(`li[data-spool="${spools[0].id}"]`).waitFor();
  assert.equal(await phone.locator('li[data-spool]').count(), 1);
  await shot(phone, 'inventory-one-spool-phone-360');
  await phone.getByRole('button', { name: 'Show every spool' }).click();
  await waitFor(async () => (await phone.locator('li[data-spool]').count()) > 1, 10000, 'every spool again');
  assert.deepEqual(phone.errors, []);
});

test('phone: no sideways scroll on any screen, the charts follow the width, Settings under More', async () => {
  const p = await page(PHONE, '/');
  await p.locator('.printer-card').first().waitFor({ timeout: 10000 });
  for (const path of ['/', '/inventory', '/jobs', '/stats', '/prompts', '/settings', `/printers/${x1.id}`]) {
    await p.goto(daemon.url(path));
    await p.locator('main h1').first().waitFor({ timeout: 10000 });
    if (path.startsWith('/printers/')) await p.locator('.chart canvas').first().waitFor({ timeout: 15000 });
    await p.waitForTimeout(300);
    await noSideways(p, path);
  }
  await shot(p, 'detail-charts-phone-fit');
  // a resize narrower still: the canvas follows its box
  await p.setViewportSize({ width: 360, height: 740 });
  await p.waitForTimeout(300);
  await noSideways(p, 'printer page at 360 px');
  const w = await p.evaluate(() => Math.max(...[...document.querySelectorAll('.chart canvas')].map((c) => c.getBoundingClientRect().right)));
  assert.ok(w <= 360, `charts end at ${w}`);
  await p.getByText('More').click();
  await p.getByRole('link', { name: 'Settings' }).click();
  await p.getByRole('heading', { name: /Settings|Printers/ }).first().waitFor();
  assert.match(p.url(), /\/settings$/);
  await shot(p, 'more-phone');
  assert.deepEqual(p.errors, []);
});
