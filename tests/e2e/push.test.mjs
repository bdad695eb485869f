// Web Push in the dashboard (docs/notify.md, "Web Push"), in headless Chromium against the real
// daemon: Settings → Notifications adds the Web Push channel, "Notify this device" asks for the
// permission (granted here), subscribes with the daemon's VAPID key and posts the subscription;
// "Send a test" reaches the local push service (tests/integration/pushservice.mjs), which
// decrypts it with the subscription's keys; the service worker turns a push into a notification.
// What headless Chromium cannot do: reach a real push service (its PushManager.subscribe needs
// Google's), so PushManager hands out a subscription the test made, on the local service — the
// dashboard's own code does everything else. The push event is delivered to the worker over the
// DevTools protocol (ServiceWorker.deliverPushMessage), as the browser would on a real one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../integration/harness.mjs';
import { startPushService } from '../integration/pushservice.mjs';
import { startFleet, stopFleet, openPage, axe, shot, PHONE } from './fixture.mjs';

const X1C = '00M09A350100731', P1S = '01P00A451200732';
let f, service;

before(async () => {
  service = await startPushService();
  f = await startFleet({ serials: [X1C, P1S] });
});

after(async () => {
  service?.close();
  await stopFleet(f);
});

/** PushManager with the test's subscription in place of the browser's push service. */
function fakePushManager(sub) {
  let current = null;
  const make = (key) => ({
    endpoint: sub.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true, applicationServerKey: key },
    toJSON: () => sub,
    unsubscribe: async () => { current = null; return true; },
  });
  PushManager.prototype.subscribe = async function (o) {
    const k = o.applicationServerKey;
    current = make(k instanceof ArrayBuffer ? k : new Uint8Array(k).buffer);
    window.__subscribedWith = Array.from(new Uint8Array(current.options.applicationServerKey));
    return current;
  };
  PushManager.prototype.getSubscription = async () => current;
}

test('Settings → Notifications: this device subscribes, gets a test, shows a push and unsubscribes', async () => {
  const dev = service.device('chromium');
  const p = await openPage(f, PHONE, '/settings/notifications');
  await p.context().grantPermissions(['notifications'], { origin: f.daemon.url('') });
  await p.addInitScript(fakePushManager, dev.json);
  await p.reload();
  await p.getByRole('heading', { name: 'This device' }).waitFor();
  await waitFor(async () => (await p.locator('#push-state').getAttribute('data-state')) === 'off', 10000, 'state off');
  // no channel yet: the admin turns Web Push on from here
  await p.getByRole('button', { name: 'Turn on Web Push' }).click();
  await waitFor(async () => (await f.daemon.get('/api/v1/notifications/push/key')).json.channel, 10000, 'the channel');
  await p.getByRole('button', { name: 'Notify this device' }).click();
  await waitFor(async () => (await p.locator('#push-state').getAttribute('data-state')) === 'on', 15000, 'state on');
  // subscribed with the daemon's key, and the subscription reached the daemon
  const key = Buffer.from((await f.daemon.get('/api/v1/notifications/push/key')).json.public_key, 'base64url');
  assert.deepEqual(await p.evaluate(() => window.__subscribedWith), Array.from(key));
  const subs = (await f.daemon.get('/api/v1/notifications/push/subscriptions')).json;
  assert.deepEqual(subs.map((s) => s.endpoint), [dev.json.endpoint]);
  await axe(p, 'settings: notifications');
  await shot(p, 'push-phone');

  await p.getByRole('button', { name: 'Send a test' }).click();
  await p.getByText('Sent: it should show on this device').waitFor({ timeout: 15000 });
  const got = await waitFor(() => service.got.find((x) => x.name === 'chromium'), 10000, 'the test pushed');
  assert.equal(got.error, undefined, String(got.error?.stack));
  assert.equal(got.payload.event, 'test');

  // the worker shows what the daemon sent, tagged, with the page to open
  const cdp = await p.context().newCDPSession(p);
  const reg = await p.evaluate(async () => (await navigator.serviceWorker.ready).scope);
  const regs = [];
  cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => regs.push(...e.registrations));
  await cdp.send('ServiceWorker.enable');
  const r = await waitFor(() => regs.find((x) => x.scopeURL === reg && !x.isDeleted), 10000, 'the registration');
  await cdp.send('ServiceWorker.deliverPushMessage', { origin: new URL(reg).origin, registrationId: r.registrationId,
    data: JSON.stringify({ ...got.payload, title: 'Shelf P1S: print finished', tag: 'printdeck-2-job_completed', url: '/printers/2' }) });
  const shown = await waitFor(() => p.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications())
    .map((n) => ({ title: n.title, tag: n.tag, url: n.data?.url }))).then((l) => l.length ? l : null), 10000, 'a notification');
  assert.deepEqual(shown, [{ title: 'Shelf P1S: print finished', tag: 'printdeck-2-job_completed', url: '/printers/2' }]);

  await p.getByRole('button', { name: 'Stop notifying this device' }).click();
  await waitFor(async () => (await p.locator('#push-state').getAttribute('data-state')) === 'off', 10000, 'state off again');
  assert.deepEqual((await f.daemon.get('/api/v1/notifications/push/subscriptions')).json, []);
  assert.deepEqual(p.errors, []);
});
