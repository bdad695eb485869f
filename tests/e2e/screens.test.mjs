// The jobs, printer detail and settings screens end to end: headless Chromium against the real
// daemon, broker and simulator. Screenshots at phone and desktop sizes go to build/screenshots/
// with the dashboard test's; axe-core runs on each screen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, freePort, ACCESS_CODE } from '../integration/harness.mjs';
import { startFleet, stopFleet, openPage, axe, shot as shotAt, PHONE, DESKTOP } from './fixture.mjs';

const X1C = '00M09A350100521', P1S = '01P00A451200522';
const CONFIG = '[server]\nheartbeat_s = 1\n[history]\ninterval_s = 1\nams_interval_s = 2\n';

let f, broker, sim, daemon, browser, x1, p1;

before(async () => {
  f = await startFleet({ serials: [X1C, P1S], config: CONFIG, simArgs: ['--speedup', '4'] });
  ({ broker, sim, daemon, browser, x1, p1 } = f);
});

after(() => stopFleet(f));

const page = (viewport, path) => openPage(f, viewport, path);
const shot = (p, name) => shotAt(p, name, true);

test('jobs: a simulated print appears live, its page saves a rating and notes', async () => {
  const p = await page(DESKTOP, '/jobs');
  await p.getByRole('heading', { name: 'Jobs' }).waitFor();
  await waitFor(async () => /Live/.test(await p.locator('.live').innerText()), 10000, 'live');
  await sim.control(X1C, { action: 'start_job', name: 'Gear e2e', layers: 20, minutes: 1, prepare_s: 0 });
  const row = p.locator('table.jobs tbody tr', { hasText: 'Gear e2e' });
  await row.waitFor({ timeout: 20000 });
  await sim.control(X1C, { action: 'finish' });
  await waitFor(async () => /completed/.test(await row.innerText()), 20000, 'completed in the list without a reload');
  await shot(p, 'jobs-desktop');
  await axe(p, 'jobs');
  await row.getByRole('link', { name: 'Gear e2e' }).click();
  await p.getByRole('heading', { name: 'Gear e2e' }).waitFor();
  await p.getByRole('button', { name: '4 stars' }).click();
  await p.getByLabel('Notes').fill('Clean first layer');
  await p.getByRole('button', { name: 'Save notes' }).click();
  const id = Number(p.url().split('/').pop());
  await waitFor(async () => { const j = (await daemon.get(`/api/v1/jobs/${id}`)).json; return j.rating === 4 && j.notes === 'Clean first layer'; }, 10000, 'saved');
  await shot(p, 'job-desktop');
  await axe(p, 'job page');
  assert.deepEqual(p.errors, []);
  const phone = await page(PHONE, `/jobs/${id}`);
  await phone.getByRole('heading', { name: 'Gear e2e' }).waitFor();
  await shot(phone, 'job-phone');
  assert.ok(await phone.evaluate(() => document.documentElement.scrollWidth <= innerWidth), 'no sideways scroll');
  await phone.goto(daemon.url('/jobs'));
  await phone.locator('table.jobs').waitFor();
  await shot(phone, 'jobs-phone');
});

test('printer detail: charts drawn from the history, then live', async () => {
  await waitFor(async () => (await daemon.get(`/api/v1/printers/${x1.id}/history`)).json.t.length >= 3, 10000, 'history');
  for (const [vp, name] of [[DESKTOP, 'detail-charts-desktop'], [PHONE, 'detail-charts-phone']]) {
    const p = await page(vp, `/printers/${x1.id}`);
    await p.locator('.chart canvas').first().waitFor({ timeout: 15000 });
    assert.ok(await p.locator('.chart').count() >= 2, 'temperatures and fans');
    await p.getByText(/AMS 1 humidity/).first().waitFor({ timeout: 10000 });
    await shot(p, name);
    if (vp === DESKTOP) await axe(p, 'printer detail');
    assert.deepEqual(p.errors, []);
  }
});

test('settings: adding a printer with a failing connection test says why in words', async () => {
  const p = await page(DESKTOP, '/settings');
  await p.getByRole('button', { name: 'Add printer' }).click();
  await p.getByLabel('Name').fill('New one');
  await p.getByLabel('Serial').fill(X1C);
  await p.getByLabel('Address').fill('127.0.0.1');
  await p.getByLabel('LAN access code').fill('00000000');
  await p.getByLabel('MQTT port').fill(String(broker.portOf(X1C)));
  await p.getByLabel('CA file').fill(broker.ca);
  await p.getByRole('button', { name: 'Test connection' }).click();
  await p.getByText(/refused the access code/).waitFor({ timeout: 15000 });
  await shot(p, 'settings-add-desktop');
  await axe(p, 'add printer');
  await p.getByLabel('MQTT port').fill(String(await freePort()));
  await p.getByLabel('LAN access code').fill(ACCESS_CODE);
  await p.getByRole('button', { name: 'Test connection' }).click();
  await p.getByText(/refused the connection on port/).waitFor({ timeout: 15000 });
  await p.getByRole('button', { name: 'Cancel' }).click();
  const phone = await page(PHONE, '/settings');
  await phone.getByRole('cell', { name: 'Shelf P1S' }).or(phone.getByRole('rowheader', { name: 'Shelf P1S' })).first().waitFor();
  await shot(phone, 'settings-phone');
  await shot(p, 'settings-desktop');
});
