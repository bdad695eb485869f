// Settings → Notifications in headless Chromium against the real daemon (docs/web.md, docs/notify.md):
// a webhook channel added through the form generated from the types' table (a short secret
// refused under its field first), Test reaching a local receiver that checks the signature as
// docs/notify.md tells receivers to, and a refusing one whose words show inline; quiet hours
// and a template saved through the rules (a bad placeholder refused under the text); a printer's
// preference toggled on its page; the delivery log's rows and its channel filter; a user who
// sees only their own channels and no log. Screenshots at phone and desktop sizes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHmac } from 'node:crypto';
import { waitFor } from '../integration/harness.mjs';
import { startFleet, stopFleet, openPage, axe, shot, PHONE, DESKTOP } from './fixture.mjs';

const X1C = '00M09A350100741', P1S = '01P00A451200742';
const SECRET = 'a-receiver-secret-long-enough';
let f, receiver, base;
const got = [];

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const ts = req.headers['x-printdeck-timestamp'];
      const want = 'sha256=' + createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex');
      got.push({ url: req.url, event: req.headers['x-printdeck-event'], verified: req.headers['x-printdeck-signature'] === want, body });
      if (req.url === '/refuse')
        res.writeHead(403, { 'Content-Type': 'application/json' }).end(JSON.stringify({ message: 'this receiver takes no messages from printdeck today' }));
      else res.writeHead(200).end();
    });
  });
  await new Promise((ok) => receiver.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${receiver.address().port}`;
  f = await startFleet({ serials: [X1C, P1S], config: '[server]\nheartbeat_s = 1\n[notify]\ntimeout_s = 3\nattempts = 1\nmin_interval_s = 0\n' });
});

after(async () => {
  receiver?.close();
  await stopFleet(f);
});

const noSideways = async (p, what) => assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= innerWidth), `${what}: no sideways scroll`);

test('channels: added through the form, a field error under its field, tested, rules saved, the log', async () => {
  const p = await openPage(f, DESKTOP, '/settings/notifications');
  await p.getByRole('heading', { name: 'Channels' }).waitFor();
  await p.getByRole('heading', { name: 'No channel yet' }).waitFor();
  await p.getByRole('heading', { name: 'Nothing sent yet' }).waitFor();
  await shot(p, 'notify-empty-1440', true);

  // the form comes from the type's fields; a short secret is the daemon's 422, under the field
  await p.getByRole('button', { name: 'Add channel' }).click();
  const dlg = p.getByRole('dialog');
  await dlg.getByRole('button', { name: 'Telegram' }).click();
  await dlg.getByText('The token @BotFather gives').waitFor();
  await dlg.getByRole('button', { name: 'Webhook' }).click();
  await dlg.getByLabel('Name').fill('Workshop hook');
  await dlg.getByLabel('URL').fill(`${base}/hook`);
  await dlg.getByLabel('Secret').fill('short');
  await dlg.getByRole('button', { name: 'Add channel' }).click();
  const secretErr = dlg.locator('#ch-secret-err');
  await secretErr.waitFor();
  assert.match(await secretErr.textContent(), /16/);
  assert.equal(await dlg.getByLabel('Secret').getAttribute('aria-invalid'), 'true');
  await axe(p, 'notifications: the channel form');
  await shot(p, 'notify-form-error-1440');
  await dlg.getByLabel('Secret').fill(SECRET);
  await dlg.getByRole('button', { name: 'Add channel' }).click();
  await dlg.waitFor({ state: 'detached' });
  const [hook] = (await f.daemon.get('/api/v1/notifications/channels')).json;
  assert.equal(hook.name, 'Workshop hook');
  assert.equal(hook.url, `${base}/hook`);
  assert.equal(hook.secret_set, true);
  const card = p.locator(`li.channel[data-channel="${hook.id}"]`);
  await card.getByText('Nothing sent yet.').waitFor();

  // Test: one signed message to the receiver, the outcome inline
  await card.getByRole('button', { name: 'Test Workshop hook' }).click();
  await card.getByText('Test: delivered (HTTP 200)').waitFor({ timeout: 15000 });
  const t = got.find((x) => x.url === '/hook');
  assert.equal(t.event, 'test');
  assert.ok(t.verified, 'signed with the secret typed');
  await card.getByText(/Delivered \d+ s ago/).waitFor();

  // an edit never shows the secret: "set", with Replace; the name changes alone
  await card.getByRole('button', { name: 'Edit Workshop hook' }).click();
  const edit = p.getByRole('dialog');
  await edit.locator('.secret-set .badge', { hasText: 'set' }).waitFor();
  assert.ok(!(await edit.innerHTML()).includes(SECRET));
  await edit.getByRole('button', { name: 'Replace the secret' }).waitFor();
  await shot(p, 'notify-edit-1440');
  await edit.getByLabel('Name').fill('Workshop hook ');
  await edit.getByRole('button', { name: 'Save' }).click();
  await edit.waitFor({ state: 'detached' });

  // a receiver that refuses: its own words, inline
  assert.equal((await f.daemon.req('POST', '/api/v1/notifications/channels', { type: 'webhook', name: 'Refusing receiver', url: `${base}/refuse`, secret: SECRET })).status, 201);
  await p.reload();
  const refusing = p.locator('li.channel', { hasText: 'Refusing receiver' });
  await refusing.getByRole('button', { name: 'Test Refusing receiver' }).click();
  await refusing.getByText('Test not delivered:').waitFor({ timeout: 15000 });
  assert.match(await refusing.locator('.test-result').textContent(), /403.*this receiver takes no messages from printdeck today/);
  // …and the channel keeps it as its last error, said on its line once the test's words are gone
  assert.match((await f.daemon.get('/api/v1/notifications/channels')).json.find((c) => c.name === 'Refusing receiver').last_error, /takes no messages/);

  // rules: quiet hours and a template; a bad placeholder is refused under the text
  const card2 = p.locator(`li.channel[data-channel="${hook.id}"]`);
  await card2.getByRole('button', { name: 'Rules of Workshop hook' }).click();
  const rules = card2.getByRole('form', { name: 'Rules of Workshop hook' });
  await rules.getByLabel('Print started').check();
  await rules.getByLabel('Hold messages during quiet hours').check();
  await rules.getByLabel('From').fill('22:00');
  await rules.getByLabel('Until').fill('06:30');
  await rules.getByLabel('Sat', { exact: true }).uncheck();
  await rules.getByLabel('Daily digest').selectOption({ label: 'at 08:00' });
  await rules.getByLabel('Wording of').selectOption({ label: 'Print finished' });
  await rules.getByLabel('Text').fill('{printer} finished {nope}');
  await rules.getByRole('button', { name: 'Save rules' }).click();
  await rules.locator('.field-error', { hasText: 'unknown placeholder {nope}' }).waitFor();
  await shot(p, 'notify-rules-error-1440', true);
  await rules.getByLabel('Text').fill('{printer} finished {job} in {duration}');
  await rules.getByRole('button', { name: 'Save rules' }).click();
  await rules.getByText('Saved.').waitFor();
  const stored = (await f.daemon.get('/api/v1/notifications/rules')).json.channels[hook.id];
  assert.deepEqual(stored.quiet_hours, { start: '22:00', end: '06:30', critical: true, days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sun'] });
  assert.equal(stored.digest_hour, 8);
  assert.deepEqual(stored.templates, { job_completed: { text: '{printer} finished {job} in {duration}' } });
  const after = (await f.daemon.get('/api/v1/notifications/channels')).json.find((c) => c.id === hook.id);
  assert.ok(after.events.includes('job_started'));
  await axe(p, 'notifications: rules');

  // the log: both tests, newest first; the channel filter
  await p.getByRole('button', { name: 'Refresh' }).click();
  const log = p.locator('table.log-table tbody tr');
  await waitFor(async () => (await log.count()) === 2, 10000, 'two log rows');
  assert.match(await log.nth(0).textContent(), /Refusing receiver.*Test message.*failed \(403\)/);
  assert.match(await log.nth(1).textContent(), /Workshop hook.*Test message.*delivered \(200\)/);
  await p.getByLabel('Channel', { exact: true }).selectOption({ label: 'Workshop hook' });
  await waitFor(async () => (await log.count()) === 1, 10000, 'one row of the channel');
  await p.getByLabel('Channel', { exact: true }).selectOption({ label: 'All channels' });
  await waitFor(async () => (await log.count()) === 2, 10000, 'both rows again');
  await p.reload();
  await p.locator('li.channel', { hasText: 'Refusing receiver' }).getByText(/Failed \d+ (s|min) ago: the receiver answered HTTP 403/).waitFor();
  await p.locator('table.log-table tbody tr').nth(1).waitFor();
  await shot(p, 'notify-1440', true);
  assert.deepEqual(p.errors, []);
  await p.context().close();

  // the phone: the same page whole, no sideways scroll
  const m = await openPage(f, PHONE, '/settings/notifications');
  await m.locator(`li.channel[data-channel="${hook.id}"]`).getByRole('button', { name: 'Rules of Workshop hook' }).click();
  await m.getByRole('button', { name: 'Save rules' }).waitFor();
  await m.locator('table.log-table tbody tr').first().waitFor();
  await noSideways(m, 'notifications on a phone');
  await shot(m, 'notify-390', true);
  await m.getByRole('button', { name: 'Add channel' }).click();
  await m.getByRole('dialog').getByRole('button', { name: 'E-mail' }).click();
  await shot(m, 'notify-form-email-390');
  await axe(m, 'notifications on a phone: the e-mail form');
  assert.deepEqual(m.errors, []);
  await m.context().close();
});

test('a printer\'s notification preferences on its page; e-mail refused with no e-mail channel', async () => {
  const path = `/api/v1/notifications/printers/${f.x1.id}`;
  assert.equal((await f.daemon.get(path)).json.notify_print_start, true);
  for (const [vp, name] of [[DESKTOP, '1440'], [PHONE, '390']]) {
    const p = await openPage(f, vp, `/printers/${f.x1.id}`);
    const card = p.locator('.card', { has: p.getByRole('heading', { name: 'Notifications' }) });
    await card.getByRole('switch', { name: 'Print complete' }).waitFor();
    if (name === '1440') {
      // the switches show the stored preferences once they are read: only then is a click a change
      const start = card.getByRole('switch', { name: 'Print start' });
      await waitFor(() => start.isChecked(), 10000, 'the stored preferences shown');
      await start.click();
      await card.getByText('Saved.').waitFor();
      assert.equal((await f.daemon.get(path)).json.notify_print_start, false);
      assert.equal((await f.daemon.get(path)).json.notify_print_complete, true);
      // no e-mail channel: the switch stays off and says why
      assert.equal(await card.getByRole('switch', { name: 'E-mail' }).isChecked(), false);
      await card.getByRole('switch', { name: 'E-mail' }).click();
      await card.locator('.field-error').first().waitFor();
      assert.match(await card.locator('.field-error').first().textContent(), /e-mail channel/i);
      await axe(p, 'printer page: notifications');
    } else {
      assert.equal(await card.getByRole('switch', { name: 'Print start' }).isChecked(), false);
      await noSideways(p, 'printer page on a phone');
    }
    await card.scrollIntoViewIfNeeded();
    await shot(p, `notify-printer-${name}`);
    assert.deepEqual(p.errors, []);
    await p.context().close();
  }
});

test('a user sees and adds only their own channels, and no delivery log', async () => {
  assert.equal((await f.daemon.req('POST', '/api/v1/users', { name: 'olga', password: 'operator password', role: 'operator' })).status, 201);
  const p = await openPage(f, PHONE, '/settings/notifications', { token: false });
  await p.getByLabel('Name').fill('olga');
  await p.getByLabel('Password').fill('operator password');
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('heading', { name: 'No channel yet' }).waitFor();
  assert.equal(await p.getByRole('heading', { name: 'Delivery log' }).count(), 0);
  await p.getByRole('button', { name: 'Add channel' }).click();
  const dlg = p.getByRole('dialog');
  await dlg.getByRole('button', { name: 'ntfy' }).click();
  await dlg.getByLabel('Name').fill('My phone');
  await dlg.getByLabel('Topic').fill('olga_prints');
  await dlg.getByLabel('Server').fill(base);
  await dlg.getByRole('button', { name: 'Add channel' }).click();
  await dlg.waitFor({ state: 'detached' });
  await p.locator('li.channel', { hasText: 'My phone' }).waitFor();
  assert.equal(await p.locator('li.channel').count(), 1, 'only hers');
  const all = (await f.daemon.get('/api/v1/notifications/channels')).json;
  const mine = all.find((c) => c.name === 'My phone');
  const olga = (await f.daemon.get('/api/v1/users')).json.find((u) => u.name === 'olga');
  assert.equal(mine.owner_id, olga.id);
  await shot(p, 'notify-user-390', true);
  assert.deepEqual(p.errors, []);
  await p.context().close();
});
