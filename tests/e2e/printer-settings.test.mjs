// Settings → Printers for this session's printer fields (docs/web.md, Settings → Printers): a
// printer followed through Home Assistant added through the form (a device name the daemon
// refuses shown under its field, the entity names with ha-bambulab's defaults as placeholders),
// its connection's state in words on the settings list, its card and its page (Home Assistant
// is a closed loopback port here: unreachable), its webhook secret set, replaced and cleared
// (write-only), and an MQTT printer's timelapse settings against the global ones; each checked
// through the API. Screenshots at phone and desktop sizes, axe-core, no sideways scroll.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, waitFor } from '../integration/harness.mjs';
import { startFleet, stopFleet, openPage, axe, shot, PHONE, DESKTOP } from './fixture.mjs';

const X1C = '00M09A350100861', P1S = '01P00A451200861';
const HA_SERIAL = '01P00A451200862', DEV = 'garage_p1s';
const SECRET = 'garage-webhook-secret-0123';
let f, closed;

before(async () => {
  closed = await freePort(); // nothing listens there: Home Assistant is unreachable
  f = await startFleet({
    serials: [X1C, P1S],
    config: `[server]\nheartbeat_s = 1\n[mqtt]\nreconnect_min_ms = 300\nreconnect_max_ms = 2000\n` +
      `[homeassistant]\napi_url = http://127.0.0.1:${closed}\ntoken = e2e-long-lived-token-0123456789\n`,
  });
});

after(() => stopFleet(f));

const noSideways = async (p, what) => assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= innerWidth), `${what}: no sideways scroll`);
const printerBySerial = async (serial) => (await f.daemon.get('/api/v1/printers')).json.find((x) => x.serial === serial);

test('a printer through Home Assistant: added through the form, its unreachable connection in words', async () => {
  const p = await openPage(f, DESKTOP, '/settings');
  await p.getByRole('heading', { name: 'Printers' }).waitFor();
  await p.getByRole('button', { name: 'Add printer' }).click();
  const dlg = p.getByRole('dialog');
  await dlg.getByRole('button', { name: /Its own link \(LAN mode, MQTT\)/ }).waitFor();
  assert.equal(await dlg.getByRole('button', { name: /Its own link/ }).getAttribute('aria-pressed'), 'true');
  assert.ok(await dlg.getByLabel('LAN access code').isVisible());
  await dlg.getByRole('button', { name: /Through Home Assistant/ }).click();
  // no link: no address, access code or connection test
  assert.equal(await dlg.getByLabel('LAN access code').count(), 0);
  assert.equal(await dlg.getByLabel('Address').count(), 0);
  assert.equal(await dlg.getByRole('button', { name: 'Test connection' }).count(), 0);
  await dlg.locator('#pf-name').fill('Garage P1S');
  await dlg.locator('#pf-serial').fill(HA_SERIAL);
  await dlg.locator('#pf-model').fill('P1S');
  // the daemon's rule, under its field
  await dlg.getByLabel('Home Assistant device').fill('Garage P1S');
  await dlg.getByRole('button', { name: 'Add printer' }).click();
  const devErr = dlg.locator('#pf-ha_device-err');
  await devErr.waitFor();
  assert.match(await devErr.textContent(), /must be .*entity prefix/);
  assert.equal(await dlg.getByLabel('Home Assistant device').getAttribute('aria-invalid'), 'true');
  await dlg.getByLabel('Home Assistant device').fill(DEV);
  // the entity names: ha-bambulab's defaults for the device typed, one set over its default
  await dlg.getByText('Entity names').click();
  assert.equal(await dlg.getByLabel('Print status').getAttribute('placeholder'), `sensor.${DEV}_print_status`);
  assert.equal(await dlg.getByLabel('AMS trays ({unit}, {tray})').getAttribute('placeholder'), `sensor.${DEV}_ams_{unit}_tray_{tray}`);
  await dlg.getByLabel('Task name').fill('sensor.garage_job_name');
  await axe(p, 'the printer form, Home Assistant');
  await shot(p, 'printer-add-ha-1440');
  await dlg.getByRole('button', { name: 'Add printer' }).click();
  await dlg.waitFor({ state: 'detached' });

  const ha = await printerBySerial(HA_SERIAL);
  assert.equal(ha.source, 'homeassistant');
  assert.equal(ha.ha_device, DEV);
  assert.equal(ha.ha_task_name, 'sensor.garage_job_name');
  assert.equal(ha.ha_print_status, null);
  assert.equal(ha.model, 'P1S');
  assert.ok(!ha.host, 'no host');

  // the settings list, the card and the page say where its state comes from and why none comes
  const row = p.getByRole('row', { name: /Garage P1S/ });
  await row.getByText('Home Assistant', { exact: true }).waitFor();
  await row.getByText(/Home Assistant is unreachable: .+; trying again\./).waitFor({ timeout: 15000 });
  await shot(p, 'printer-settings-list-1440');
  await p.getByRole('link', { name: 'Garage P1S' }).click();
  await p.getByRole('heading', { name: 'Garage P1S', level: 1 }).waitFor();
  await p.getByText(`State from Home Assistant (ha-bambulab device ${DEV}): not connected.`).waitFor();
  await p.getByText(/Home Assistant is unreachable: /).first().waitFor();
  assert.equal(await p.getByRole('button', { name: /Pause/ }).count(), 0, 'no commands for a printer Home Assistant feeds');
  await shot(p, 'printer-ha-detail-1440');
  await axe(p, 'the page of a printer Home Assistant feeds');
  assert.deepEqual(p.errors, []);
  await p.context().close();

  const phone = await openPage(f, PHONE, '/');
  const card = phone.locator(`article[data-printer="${HA_SERIAL}"]`);
  await card.getByText(`State from Home Assistant (ha-bambulab device ${DEV}): not connected.`).waitFor();
  await card.getByText(/Home Assistant is unreachable/).waitFor();
  await card.scrollIntoViewIfNeeded();
  await shot(phone, 'printer-ha-card-390');
  await noSideways(phone, 'printers with a Home Assistant card');
  await axe(phone, 'printers with a Home Assistant card (phone)');
  assert.deepEqual(phone.errors, []);
  await phone.context().close();
});

test('editing: the source fixed, the webhook secret write-only, the timelapse against the global settings', async () => {
  const ha = await printerBySerial(HA_SERIAL);
  const p = await openPage(f, DESKTOP, '/settings');
  await p.getByRole('button', { name: 'Edit' }).first().waitFor();

  // the Home Assistant printer: source shown, no serial to change, no timelapse (no camera)
  await p.getByRole('row', { name: /Garage P1S/ }).getByRole('button', { name: 'Edit' }).click();
  let dlg = p.getByRole('dialog', { name: 'Edit Garage P1S' });
  await dlg.getByText('Through Home Assistant').waitFor();
  assert.equal(await dlg.locator('#pf-serial').count(), 0);
  assert.equal(await dlg.getByRole('group', { name: 'Timelapse' }).count(), 0);
  assert.equal(await dlg.getByLabel('Home Assistant device').inputValue(), DEV);
  // the entities set show with the disclosure open
  assert.equal(await dlg.getByLabel('Task name').inputValue(), 'sensor.garage_job_name');
  const secret = dlg.getByLabel('Webhook secret');
  assert.equal(await secret.getAttribute('type'), 'password');
  await secret.fill('too short');
  await dlg.getByRole('button', { name: 'Save' }).click();
  await dlg.locator('#pf-webhook_secret-err', { hasText: '16 to 128' }).waitFor();
  await secret.fill(SECRET);
  await dlg.getByRole('button', { name: 'Save' }).click();
  await dlg.waitFor({ state: 'detached' });
  assert.equal((await f.daemon.printer(ha.id)).webhook_secret_set, true);

  // set: never shown, "set" with Replace and Clear; cleared, the global one applies again
  await p.getByRole('row', { name: /Garage P1S/ }).getByRole('button', { name: 'Edit' }).click();
  dlg = p.getByRole('dialog', { name: 'Edit Garage P1S' });
  await dlg.locator('.secret-set .badge', { hasText: 'set' }).waitFor();
  assert.ok(!(await dlg.innerHTML()).includes(SECRET));
  await dlg.getByRole('button', { name: 'Replace the webhook secret' }).waitFor();
  await axe(p, 'the edit of a Home Assistant printer');
  await shot(p, 'printer-edit-ha-1440');
  await dlg.getByRole('button', { name: 'Clear the webhook secret' }).click();
  await dlg.getByText('Cleared when you save').waitFor();
  await dlg.getByRole('button', { name: 'Save' }).click();
  await dlg.waitFor({ state: 'detached' });
  assert.equal((await f.daemon.printer(ha.id)).webhook_secret_set, false);

  // the MQTT printer: every timelapse setting starts as the global one
  await p.getByRole('row', { name: /Shelf P1S/ }).getByRole('button', { name: 'Edit' }).click();
  dlg = p.getByRole('dialog', { name: 'Edit Shelf P1S' });
  const tl = dlg.getByRole('group', { name: 'Timelapse' });
  await tl.waitFor();
  assert.equal(await tl.getByLabel('Record a timelapse').inputValue(), '');
  assert.equal(await tl.getByLabel('Frames taken').inputValue(), '');
  const interval = tl.getByLabel('Interval (seconds)');
  assert.ok(await interval.isDisabled());
  const intervalGlobal = tl.locator('.field', { has: p.locator('#pf-timelapse_interval_s') }).getByLabel('Use the global setting');
  assert.ok(await intervalGlobal.isChecked());
  await tl.getByLabel('Record a timelapse').selectOption({ label: 'Yes' });
  await tl.getByLabel('Frames taken').selectOption({ label: 'One per interval' });
  await intervalGlobal.uncheck();
  await dlg.getByRole('button', { name: 'Save' }).click();
  await tl.locator('#pf-timelapse_interval_s-err', { hasText: 'required' }).waitFor();
  await interval.fill('15');
  await dlg.getByLabel('Webhook secret').fill(SECRET);
  await axe(p, 'the edit of an MQTT printer');
  await shot(p, 'printer-edit-timelapse-1440');
  await dlg.getByRole('button', { name: 'Save' }).click();
  await dlg.waitFor({ state: 'detached' });
  let shelf = await f.daemon.printer(f.p1.id);
  assert.deepEqual(shelf.timelapse, { enabled: true, mode: 'interval', interval_s: 15, fps: null });
  assert.equal(shelf.webhook_secret_set, true);

  // read back into the form; the interval given back to the global setting is null again
  await p.getByRole('row', { name: /Shelf P1S/ }).getByRole('button', { name: 'Edit' }).click();
  dlg = p.getByRole('dialog', { name: 'Edit Shelf P1S' });
  assert.equal(await dlg.getByLabel('Interval (seconds)').inputValue(), '15');
  assert.equal(await dlg.getByLabel('Record a timelapse').inputValue(), 'true');
  await dlg.locator('.field', { has: p.locator('#pf-timelapse_interval_s') }).getByLabel('Use the global setting').check();
  await dlg.getByRole('button', { name: 'Save' }).click();
  await dlg.waitFor({ state: 'detached' });
  shelf = await f.daemon.printer(f.p1.id);
  assert.deepEqual(shelf.timelapse, { enabled: true, mode: 'interval', interval_s: null, fps: null });
  assert.deepEqual(p.errors, []);
  await p.context().close();
});

test('on a 390 px phone: the forms whole, no sideways scroll', async () => {
  const p = await openPage(f, PHONE, '/settings');
  await p.getByRole('button', { name: 'Add printer' }).click();
  const dlg = p.getByRole('dialog');
  await dlg.getByRole('button', { name: /Through Home Assistant/ }).click();
  await dlg.getByText('Entity names').click();
  await dlg.getByLabel('Home Assistant device').fill('bambu_lab_a1_mini');
  await noSideways(p, 'the Home Assistant form');
  assert.ok(await dlg.evaluate((d) => d.scrollWidth <= d.clientWidth), 'the dialog holds its fields');
  await axe(p, 'the printer form, Home Assistant (phone)');
  await shot(p, 'printer-add-ha-390');
  await dlg.evaluate((d) => { d.scrollTop = d.scrollHeight; });
  await shot(p, 'printer-add-ha-entities-390');
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await p.getByRole('row', { name: /Shelf P1S/ }).getByRole('button', { name: 'Edit' }).click();
  const edit = p.getByRole('dialog', { name: 'Edit Shelf P1S' });
  await edit.getByRole('group', { name: 'Timelapse' }).scrollIntoViewIfNeeded();
  await noSideways(p, 'the MQTT printer\'s edit');
  await shot(p, 'printer-edit-timelapse-390');
  await axe(p, 'the edit of an MQTT printer (phone)');
  assert.deepEqual(p.errors, []);
  await p.context().close();
});
