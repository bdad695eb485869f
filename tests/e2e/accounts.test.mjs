// Accounts in the browser (docs/accounts.md): the setup page of a first start, sign-in, a
// viewer without controls (and the API refusing them), a user limited to one printer seeing
// only it (cards and the event stream), the tokens page, an ended session signing in again over
// the page without losing what was typed (also when the daemon ends it and closes the stream),
// and a cross-site write refused. Screenshots at phone and desktop sizes go to
// build/screenshots/ with the dashboard's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TOKEN, waitFor } from '../integration/harness.mjs';
import { startFleet, stopFleet, openPage, axe, shot as shotAt, PHONE, DESKTOP } from './fixture.mjs';

const X1C = '00M09A350100321', P1S = '01P00A451200002';

let f, broker, sim, daemon, browser, x1, p1;

before(async () => {
  f = await startFleet({ serials: [X1C, P1S] });
  ({ broker, sim, daemon, browser, x1, p1 } = f);
});

after(() => stopFleet(f));

const page = (viewport, path) => openPage(f, viewport, path, { token: false });
const shot = (p, name) => shotAt(p, name, false);
const card = (p, serial) => p.locator(`article[data-printer="${serial}"]`);

async function signIn(p, name, password) {
  await p.getByLabel('Name').fill(name);
  await p.getByLabel('Password').fill(password);
  await p.getByRole('button', { name: 'Sign in' }).click();
}

test('first start: the setup page creates the admin and opens the dashboard', async () => {
  const p = await page(PHONE);
  await p.getByRole('heading', { name: 'Welcome to printdeck' }).waitFor();
  await shot(p, 'setup-phone');
  await axe(p, 'setup');
  await p.getByLabel('Name').fill('root');
  await p.getByLabel(/^Password \(/).fill('short');
  await p.getByLabel('Password again').fill('short');
  await p.getByRole('button', { name: 'Create the admin' }).click();
  assert.match(await p.locator('.field-error').first().innerText(), /at least 8/);
  await p.getByLabel(/^Password \(/).fill('correct horse battery');
  await p.getByLabel('Password again').fill('correct horse battery');
  await p.getByRole('button', { name: 'Create the admin' }).click();
  await card(p, X1C).waitFor();
  assert.match(await p.locator('.user-menu').innerText(), /root/);
  assert.deepEqual(p.errors, []);
  await p.context().close();
});

test('sign-in: errors in words, then the dashboard; users are made on the users page', async () => {
  const p = await page(DESKTOP);
  await p.getByRole('heading', { name: 'Sign in to printdeck' }).waitFor();
  await signIn(p, 'root', 'wrong password');
  await waitFor(async () => /wrong name or password/.test(await p.locator('.form-error').innerText().catch(() => '')), 10000, 'error in words');
  await shot(p, 'signin-desktop');
  await axe(p, 'sign-in');
  await signIn(p, 'root', 'correct horse battery');
  await card(p, X1C).waitFor();
  await p.goto(daemon.url('/settings/users'));
  await p.getByRole('heading', { name: 'Users' }).waitFor();
  for (const [name, role, only] of [['vic', 'viewer', null], ['olga', 'operator', 'Workshop X1C']]) {
    await p.getByRole('button', { name: 'New user' }).click();
    const d = p.getByRole('dialog');
    await d.getByLabel('Name').fill(name);
    await d.getByLabel('Role').selectOption(role);
    await d.getByLabel('Password', { exact: true }).fill('a good password');
    await d.getByLabel('Password again').fill('a good password');
    if (only) {
      await d.getByLabel('All printers').uncheck();
      for (const box of await d.locator('.printer-picker input[type=checkbox]').all()) {
        const label = await box.evaluate((e) => e.parentElement.textContent.trim());
        if (label === 'All printers') continue;
        if ((label === only) !== (await box.isChecked())) await box.click();
      }
    }
    await d.getByRole('button', { name: 'Create' }).click();
    await p.locator(`tr[data-user="${name}"]`).waitFor();
  }
  assert.match(await p.locator('tr[data-user="olga"]').innerText(), /Workshop X1C/);
  assert.doesNotMatch(await p.locator('tr[data-user="olga"]').innerText(), /Shelf P1S/);
  await shot(p, 'users-desktop');
  await axe(p, 'users');
  await p.context().close();
});

test('a viewer sees no control, and the API refuses a pause', async () => {
  const p = await page(PHONE);
  await signIn(p, 'vic', 'a good password');
  await card(p, X1C).waitFor();
  assert.equal(await card(p, X1C).getByRole('button', { name: /Pause/ }).count(), 0);
  await shot(p, 'printers-viewer-phone');
  const status = await p.evaluate(async (id) => {
    const me = await (await fetch('/api/v1/me')).json();
    const r = await fetch(`/api/v1/printers/${id}/commands`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf }, body: '{"command":"pause"}' });
    return r.status;
  }, x1.id);
  assert.equal(status, 403);
  await p.goto(daemon.url('/inventory'));
  await p.getByRole('heading', { name: 'Inventory' }).waitFor();
  assert.equal(await p.getByRole('button', { name: '+ Spool' }).isVisible(), false);
  await p.context().close();
});

test('a user limited to one printer sees only it, in cards and in the stream', async () => {
  const p = await page(DESKTOP);
  await signIn(p, 'olga', 'a good password');
  await card(p, X1C).waitFor();
  await waitFor(async () => /Live/.test(await p.locator('.live').innerText()), 10000, 'live');
  assert.equal(await card(p, P1S).count(), 0);
  assert.equal(await card(p, X1C).getByRole('button', { name: /Pause/ }).count(), 1, 'an operator controls it');
  // the P1S starts printing: nothing of it reaches this page
  await p.evaluate(() => {
    window.seen = new Set();
    window.es = new EventSource('/api/v1/events');
    for (const name of ['printer', 'job.started', 'layer'])
      window.es.addEventListener(name, (e) => { const d = JSON.parse(e.data); window.seen.add(d.serial ?? `#${d.printer_id}`); });
  });
  await sim.control(P1S, { action: 'start_job', name: 'Not yours', layers: 20, minutes: 2, prepare_s: 0 });
  await sim.control(X1C, { action: 'start_job', name: 'Yours', layers: 20, minutes: 2, prepare_s: 0 });
  await waitFor(async () => /Yours/.test(await card(p, X1C).innerText()), 15000, 'own printer updates');
  await new Promise((r) => setTimeout(r, 2000));
  const seen = await p.evaluate(() => { window.es.close(); return [...window.seen]; });
  assert.ok(seen.includes(X1C), `stream saw ${seen}`);
  assert.ok(!seen.includes(P1S) && !seen.includes(`#${p1.id}`), `stream saw ${seen}`);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await card(p, P1S).count(), 0);
  await shot(p, 'printers-limited-desktop');
  await sim.control(P1S, { action: 'finish' }).catch(() => {});
  await sim.control(X1C, { action: 'finish' }).catch(() => {});
  await p.context().close();
});

test('tokens page: create with a role, shown once, revoke; /?token= signs a wall display in', async () => {
  const p = await page(DESKTOP, `/?token=${TOKEN}`);
  await card(p, X1C).waitFor();
  assert.equal(new URL(p.url()).search, '', 'the token left the address');
  await p.goto(daemon.url('/settings/tokens'));
  await p.getByRole('heading', { name: 'API tokens' }).waitFor();
  await p.getByLabel('Name').fill('wall display');
  await p.getByLabel('Role').selectOption('viewer');
  await p.getByRole('button', { name: 'Create token' }).click();
  const d = p.getByRole('dialog');
  const token = await d.locator('input.token-value').inputValue();
  assert.match(token, /^pdk_/);
  await shot(p, 'token-created-desktop');
  await d.getByRole('button', { name: 'Done' }).click();
  assert.match(await p.locator('tr[data-token="wall display"]').innerText(), /viewer/);
  assert.ok(!(await p.content()).includes(token), 'never shown again');
  await axe(p, 'tokens');
  const wall = await page(PHONE, `/?token=${token}`);
  await card(wall, X1C).waitFor();
  assert.match(await wall.locator('.user-menu').innerText(), /wall display/);
  await p.locator('tr[data-token="wall display"]').getByRole('button', { name: /Revoke/ }).click();
  await p.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await waitFor(async () => (await p.locator('tr[data-token="wall display"]').count()) === 0, 10000, 'revoked');
  await wall.reload();
  await wall.getByRole('heading', { name: 'Sign in to printdeck' }).waitFor();
  await wall.context().close();
  await p.context().close();
});

test('an ended session signs in again over the page; what was typed stays', async () => {
  const p = await page(DESKTOP);
  await signIn(p, 'root', 'correct horse battery');
  await card(p, X1C).waitFor();
  await p.goto(daemon.url('/settings/tokens'));
  await p.getByLabel('Name').fill('typed before expiry');
  await p.context().clearCookies(); // the session ends under the page
  await p.getByRole('button', { name: 'Create token' }).click();
  const d = p.getByRole('dialog', { name: 'Your session has ended' });
  await d.waitFor();
  await shot(p, 'session-ended-desktop');
  await d.getByLabel('Name').fill('root');
  await d.getByLabel('Password').fill('correct horse battery');
  await d.getByRole('button', { name: 'Sign in' }).click();
  await d.waitFor({ state: 'detached' });
  assert.equal(await p.getByLabel('Name').inputValue(), 'typed before expiry');
  await p.getByRole('button', { name: 'Create token' }).click();
  await p.getByRole('dialog').locator('input.token-value').waitFor();
  await p.context().close();
});

test('a session ended by the server closes the stream: the page asks to sign in again by itself, keeping what was typed', async () => {
  const p = await page(DESKTOP);
  await signIn(p, 'root', 'correct horse battery');
  await card(p, X1C).waitFor();
  await waitFor(async () => /Live/.test(await p.locator('.live').innerText()), 10000, 'live');
  await p.goto(daemon.url('/settings/tokens'));
  await p.getByLabel('Name').fill('typed as the session ends');
  // an admin elsewhere resets this user's password: the daemon ends the sessions and their
  // streams; the page is not touched
  const rootId = (await daemon.get('/api/v1/users')).json.find((u) => u.name === 'root').id;
  assert.equal((await daemon.req('POST', `/api/v1/users/${rootId}/password`, { password: 'a new root password' })).status, 204);
  const d = p.getByRole('dialog', { name: 'Your session has ended' });
  await d.waitFor({ timeout: 10000 });
  await shot(p, 'session-ended-by-server-desktop');
  await d.getByLabel('Name').fill('root');
  await d.getByLabel('Password').fill('a new root password');
  await d.getByRole('button', { name: 'Sign in' }).click();
  await d.waitFor({ state: 'detached' });
  assert.equal(await p.getByLabel('Name').inputValue(), 'typed as the session ends');
  await waitFor(async () => /Live/.test(await p.locator('.live').innerText()), 10000, 'live again');
  // the others sign in with the new password from here on
  assert.equal((await daemon.req('POST', `/api/v1/users/${rootId}/password`, { password: 'correct horse battery' })).status, 204);
  await p.context().close();
});

test('a cross-site page cannot write with the session cookie', async () => {
  const p = await page(DESKTOP);
  await signIn(p, 'root', 'correct horse battery');
  await card(p, X1C).waitFor();
  const target = daemon.url('/api/v1/tokens');
  await p.route('http://evil.example/**', (r) => r.fulfill({ contentType: 'text/html', body: '<title>evil</title>' }));
  await p.goto('http://evil.example/');
  await p.evaluate(async (url) => {
    await fetch(url, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'Content-Type': 'text/plain' }, body: '{"name":"evil","role":"admin"}' }).catch(() => {});
  }, target);
  const list = await daemon.get('/api/v1/tokens');
  assert.ok(!list.json.some((t) => t.name === 'evil'), 'no token was made');
  await p.context().close();
});
