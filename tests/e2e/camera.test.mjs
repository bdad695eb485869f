// The cameras in the dashboard (docs/web.md, Cameras): the simulator's port-6000 camera of the
// P1S live in printer detail and in its card while it prints, the X1C's camera said in words
// (its RTSPS port is closed here: the words say what to check), streams closed when the tab
// is hidden, and the camera wall's snapshots opening a live view. Timelapses are off here: their
// capture is a viewer of its own (tests/integration/timelapse.test.mjs), and these tests count
// the dashboard's.
// Screenshots at phone and desktop sizes, axe-core on each.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, sleep } from '../integration/harness.mjs';
import { startFleet, stopFleet, openPage, axe, shot, PHONE, DESKTOP } from './fixture.mjs';

const X1C = '00M09A350100654', P1S = '01P00A451200654';
let f;

before(async () => {
  f = await startFleet({ serials: [X1C, P1S], camera: true, simArgs: ['--camera-fps', '4'],
    config: '[server]\nheartbeat_s = 1\n[timelapse]\nenabled = false\n' });
});

after(() => stopFleet(f));

const viewers = async () => (await f.daemon.get(`/api/v1/printers/${f.p1.id}/camera/status`)).json.viewers;

/** Whether the <img> has a picture decoded (an MJPEG stream's latest frame, or a snapshot). */
const painted = (img) => img.evaluate((el) => el.complete && el.naturalWidth > 0);

test('printer detail shows the P1S camera live, and stops it when the tab is hidden', async () => {
  const p = await openPage(f, DESKTOP, `/printers/${f.p1.id}`);
  const img = p.locator('.detail-camera img');
  await img.waitFor({ timeout: 15000 });
  assert.match(await img.getAttribute('src'), new RegExp(`/api/v1/printers/${f.p1.id}/camera\\?exp=\\d+&sig=`));
  await waitFor(() => painted(img), 15000, 'a frame shown');
  // frames keep coming: the picture changes (the simulator draws the frame number)
  const a = await img.screenshot();
  await waitFor(async () => !(await img.screenshot()).equals(a), 10000, 'the picture moves');
  await waitFor(async () => /frames\/s/.test(await p.locator('.detail-camera h2').innerText()), 15000, 'the rate shown');
  assert.equal(await viewers(), 1);
  await shot(p, 'camera-detail-desktop');
  await axe(p, 'printer detail with its camera');
  // a tab in the background streams nothing
  await p.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await waitFor(async () => (await viewers()) === 0, 10000, 'the stream closed while hidden');
  await p.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await waitFor(async () => (await viewers()) === 1, 10000, 'and open again when shown');
  assert.deepEqual(p.errors, []);
  await p.context().close();
  await waitFor(async () => (await viewers()) === 0, 10000, 'closed with the page');
});

test('phone: printer detail is live too, and the X1C says in words why it has no picture', async () => {
  const p = await openPage(f, PHONE, `/printers/${f.p1.id}`);
  const img = p.locator('.detail-camera img');
  await img.waitFor({ timeout: 15000 });
  await waitFor(() => painted(img), 15000, 'a frame shown');
  await shot(p, 'camera-detail-phone');
  await axe(p, 'printer detail with its camera (phone)');
  await p.goto(f.daemon.url(`/printers/${f.x1.id}`));
  const off = p.locator('.detail-camera .cam-off');
  await off.waitFor({ timeout: 15000 });
  assert.match(await off.innerText(), /No picture\.[\s\S]*LAN Mode Liveview/);
  await shot(p, 'camera-unavailable-phone');
  assert.deepEqual(p.errors, []);
  await p.context().close();
});

test('a printing card shows the camera: live on a desktop, a snapshot every few seconds on a phone', async () => {
  await f.sim.control(P1S, { action: 'start_job', name: 'Camera e2e', layers: 60, minutes: 6, prepare_s: 0 });
  await waitFor(async () => (await f.daemon.printer(f.p1.id)).state === 'RUNNING', 15000, 'printing');
  const d = await openPage(f, DESKTOP, '/');
  const live = d.locator(`article[data-printer="${P1S}"] .cam-card img`);
  await live.waitFor({ timeout: 15000 });
  assert.match(await live.getAttribute('src'), /\/camera\?exp=/);
  await waitFor(() => painted(live), 15000, 'a frame on the card');
  // the X1C's card has no camera to show: nothing there, not an error
  assert.equal(await d.locator(`article[data-printer="${X1C}"] .cam`).count(), 0);
  await shot(d, 'camera-card-desktop');
  await axe(d, 'printers with a live camera');
  assert.deepEqual(d.errors, []);
  await d.context().close();
  await waitFor(async () => (await viewers()) === 0, 10000, 'the desktop\'s stream closed');
  const p = await openPage(f, PHONE, '/');
  const snap = p.locator(`article[data-printer="${P1S}"] .cam-card img`);
  await p.locator(`article[data-printer="${P1S}"]`).scrollIntoViewIfNeeded({ timeout: 15000 });
  await snap.waitFor({ timeout: 15000 });
  await waitFor(async () => /^blob:/.test(await snap.getAttribute('src')) && await painted(snap), 15000, 'a snapshot');
  const first = await snap.getAttribute('src');
  await waitFor(async () => (await snap.getAttribute('src')) !== first, 15000, 'the next snapshot');
  assert.equal(await viewers(), 0, 'no stream on a phone');
  await snap.scrollIntoViewIfNeeded();
  await shot(p, 'camera-card-phone');
  assert.deepEqual(p.errors, []);
  await p.context().close();
});

test('the camera wall shows snapshots and opens a live view', async () => {
  for (const [viewport, name] of [[DESKTOP, 'desktop'], [PHONE, 'phone']]) {
    const p = await openPage(f, viewport, '/camera');
    const tile = p.locator(`li.cam-tile[data-printer="${P1S}"]`);
    const img = tile.locator('img');
    await img.waitFor({ timeout: 15000 });
    await waitFor(async () => /^blob:/.test(await img.getAttribute('src')) && await painted(img), 15000, 'a snapshot');
    await waitFor(async () => (await viewers()) === 0, 10000, 'snapshots, not streams');
    const x1 = p.locator(`li.cam-tile[data-printer="${X1C}"]`);
    await waitFor(async () => /LAN Mode Liveview/.test(await x1.innerText()), 15000, 'the X1C in words');
    await shot(p, `camera-wall-${name}`);
    await axe(p, `camera wall (${name})`);
    await tile.getByRole('button', { name: /live view of Shelf P1S/ }).click();
    const dialog = p.getByRole('dialog');
    const live = dialog.locator('img');
    await live.waitFor({ timeout: 15000 });
    assert.match(await live.getAttribute('src'), /\/camera\?exp=/);
    await waitFor(() => painted(live), 15000, 'live in the dialog');
    await sleep(300);
    await shot(p, `camera-wall-live-${name}`);
    await axe(p, `camera wall's live view (${name})`);
    await dialog.getByRole('button', { name: /close/i }).first().click();
    await waitFor(async () => (await viewers()) === 0, 10000, 'the live view closed with its dialog');
    assert.deepEqual(p.errors, []);
    await p.context().close();
  }
});
