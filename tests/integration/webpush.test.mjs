// Web Push (docs/notify.md, "Web Push"): a local push service built from the RFCs checks what
// printdeck sends — the VAPID JWT (RFC 8292: ES256 signature with the key in k=, aud the push
// service's origin, exp within 24 h, sub the channel's contact) and the aes128gcm body, which
// it DECRYPTS with the subscription's private key and auth secret the test made (RFC 8291),
// as a browser would. Subscriptions over the API, a test, a print finishing on the simulator,
// 410 removing a subscription, and a limited user's device told nothing of another printer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { waitFor, sleep, simFleet, stopSimFleet } from './harness.mjs';
import { b64u, startPushService } from './pushservice.mjs';

const A1 = '03919C461900413';
const P1S = '01P00A451200002';
const SUBJECT = 'mailto:ops@example.org';
const CONFIG = `[notify]
timeout_s = 2
attempts = 2
retry_base_ms = 300
min_interval_s = 0
`;

const fleet = {};
let daemon, sim, service, key;

before(async () => {
  service = await startPushService();
  ({ daemon, sim } = await simFleet(fleet, { prefix: 'pd-webpush-', serials: [A1, P1S], models: ['A1', 'P1S'],
    simArgs: ['--speedup', '4'], config: CONFIG }));
});

after(async () => {
  service?.close();
  await stopSimFleet(assert, fleet);
});

const subscribe = (dev, headers) => daemon.req('POST', '/api/v1/notifications/push/subscriptions', dev.json, headers);
const unsubscribe = (dev) => `/api/v1/notifications/push/subscriptions?endpoint=${encodeURIComponent(dev.json.endpoint)}`;
async function print(serial, name) {
  await sim.control(serial, { action: 'start_job', name, layers: 5, minutes: 1 });
  await sleep(2500);
  await sim.control(serial, { action: 'finish' });
}
const pushesTo = (name) => service.got.filter((x) => x.name === name);

test('the VAPID key is served; subscriptions are checked, listed, renewed and removed', async () => {
  const k = await daemon.get('/api/v1/notifications/push/key');
  assert.equal(k.status, 200, k.text);
  key = k.json.public_key;
  const raw = Buffer.from(key, 'base64url');
  assert.equal(raw.length, 65);
  assert.equal(raw[0], 4);
  assert.equal(k.json.channel, null, 'no Web Push channel yet');
  const dev = service.device('first');
  const bad = [
    [{ ...dev.json, endpoint: 'http://push.example.net/x' }, 'endpoint'],
    [{ ...dev.json, endpoint: 'not a url' }, 'endpoint'],
    [{ ...dev.json, keys: { ...dev.json.keys, p256dh: b64u(randomBytes(65)) } }, 'keys.p256dh'],
    [{ ...dev.json, keys: { ...dev.json.keys, auth: b64u(randomBytes(8)) } }, 'keys.auth'],
    [{ endpoint: dev.json.endpoint }, 'keys.p256dh'],
  ];
  for (const [body, field] of bad) {
    const r = await daemon.req('POST', '/api/v1/notifications/push/subscriptions', body);
    assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.json.error.field, field, r.text);
  }
  const r = await subscribe(dev);
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.endpoint, dev.json.endpoint);
  // the same browser again: one row, not two
  assert.equal((await subscribe(dev)).json.id, r.json.id);
  const list = (await daemon.get('/api/v1/notifications/push/subscriptions')).json;
  assert.deepEqual(list.map((x) => x.endpoint), [dev.json.endpoint]);
  // a test needs the channel an admin adds
  const t = await daemon.req('POST', '/api/v1/notifications/push/test', { endpoint: dev.json.endpoint });
  assert.equal(t.status, 400, t.text);
  assert.match(t.json.error.message, /no Web Push channel/);
  const gone = service.device('gone');
  assert.equal((await subscribe(gone)).status, 201);
  assert.equal((await daemon.req('DELETE', unsubscribe(gone))).status, 204);
  assert.equal((await daemon.req('DELETE', unsubscribe(gone))).status, 404);
});

let channel;
test('a Web Push channel: the test reaches the device, signed and encrypted for it', async () => {
  const bad = await daemon.req('POST', '/api/v1/notifications/channels', { type: 'webpush', name: 'x', subject: 'ops' });
  assert.equal(bad.status, 422, bad.text);
  assert.equal(bad.json.error.field, 'subject');
  const c = await daemon.req('POST', '/api/v1/notifications/channels', { type: 'webpush', name: 'This dashboard',
    subject: SUBJECT, events: ['job_completed', 'job_failed', 'job_cancelled'] });
  assert.equal(c.status, 201, c.text);
  channel = c.json;
  assert.equal((await daemon.get('/api/v1/notifications/push/key')).json.channel.id, channel.id);
  const t = await daemon.req('POST', '/api/v1/notifications/push/test', { endpoint: service.devices.first.json.endpoint });
  assert.equal(t.status, 200, t.text);
  assert.equal(t.json.ok, true, t.text);
  assert.equal(t.json.status, 201);
  const p = pushesTo('first').at(-1);
  assert.equal(p.error, undefined, String(p.error?.stack));
  assert.equal(p.method, 'POST');
  assert.equal(p.headers['content-encoding'], 'aes128gcm');
  assert.equal(p.headers.ttl, '86400');
  assert.ok(['very-low', 'low', 'normal', 'high'].includes(p.headers.urgency));
  assert.equal(p.vapid.k, key, 'k is the key the dashboard subscribed with');
  assert.equal(p.vapid.claims.sub, SUBJECT);
  assert.equal(p.vapid.claims.aud, service.base, 'aud is the push service origin');
  assert.equal(p.payload.event, 'test');
  assert.equal(typeof p.payload.title, 'string');
  assert.equal(p.payload.url, '/');
  // the channel's own test goes to every device
  const ct = await daemon.req('POST', `/api/v1/notifications/channels/${channel.id}/test`);
  assert.equal(ct.json.ok, true, ct.text);
  assert.equal(pushesTo('first').length, 2);
});

test('a print finishing: the device is told; a limited user hears only of their printer', async () => {
  const u = await daemon.req('POST', '/api/v1/users', { name: 'lena', password: 'a limited password', role: 'viewer',
    printers: [fleet.ids[A1]] });
  assert.equal(u.status, 201, u.text);
  const login = await daemon.req('POST', '/api/v1/login', { name: 'lena', password: 'a limited password' },
    { Authorization: '' });
  assert.equal(login.status, 200, login.text);
  const session = { Authorization: '', Cookie: login.headers.get('set-cookie').split(';')[0], 'X-CSRF-Token': login.json.csrf };
  const lena = service.device('lena');
  const s = await subscribe(lena, session);
  assert.equal(s.status, 201, s.text);
  // each sees only their own devices
  assert.deepEqual((await daemon.get('/api/v1/notifications/push/subscriptions', session)).json.map((x) => x.endpoint),
    [lena.json.endpoint]);
  assert.ok(!(await daemon.get('/api/v1/notifications/push/subscriptions')).json.some((x) => x.endpoint === lena.json.endpoint));
  assert.equal((await daemon.req('DELETE', unsubscribe(lena))).status, 404);

  // the P1S (not lena's) finishes: the token's device hears of it, lena's does not
  await print(P1S, 'bracket');
  const p = await waitFor(() => pushesTo('first').find((x) => x.payload?.event === 'job_completed'), 20000,
    'the P1S job pushed');
  assert.equal(p.error, undefined, String(p.error?.stack));
  assert.match(p.payload.body, /bracket/);
  assert.equal(p.payload.url, `/printers/${fleet.ids[P1S]}`);
  assert.equal(p.payload.printer_id, fleet.ids[P1S]);
  assert.equal(p.payload.tag, `printdeck-${fleet.ids[P1S]}-job_completed`);
  assert.equal(p.headers.topic, `p${fleet.ids[P1S]}-job_completed`);

  // the A1 (lena's) finishes: both hear of it
  await print(A1, 'benchy');
  const l = await waitFor(() => pushesTo('lena').find((x) => x.payload?.event === 'job_completed'), 20000,
    'the A1 job pushed to lena');
  assert.equal(l.error, undefined, String(l.error?.stack));
  assert.match(l.payload.body, /benchy/);
  await waitFor(() => pushesTo('first').find((x) => /benchy/.test(x.payload?.body ?? '')), 10000, 'and to the token');
  await sleep(500);
  assert.ok(!pushesTo('lena').some((x) => /bracket/.test(x.payload?.body ?? '')), 'nothing of the P1S reached lena');
  assert.equal(pushesTo('first').filter((x) => x.payload?.event === 'job_completed').length, 2, 'each once');
});

test('a push service answering 410 Gone: the subscription is removed', async () => {
  service.status = (name) => (name === 'lena' ? 410 : 201);
  const r = await daemon.req('POST', '/api/v1/login', { name: 'lena', password: 'a limited password' }, { Authorization: '' });
  const session = { Authorization: '', Cookie: r.headers.get('set-cookie').split(';')[0], 'X-CSRF-Token': r.json.csrf };
  const t = await daemon.req('POST', '/api/v1/notifications/push/test', { endpoint: service.devices.lena.json.endpoint }, session);
  assert.equal(t.status, 200, t.text);
  assert.equal(t.json.ok, false);
  assert.equal(t.json.status, 410);
  const log = (await daemon.get(`/api/v1/notifications/log?channel_id=${channel.id}`)).json;
  assert.ok(log.some((x) => x.status === 410), JSON.stringify(log));
  assert.deepEqual((await daemon.get('/api/v1/notifications/push/subscriptions', session)).json, []);
  // the others stay
  assert.equal((await daemon.get('/api/v1/notifications/push/subscriptions')).json.length, 1);
  service.status = () => 201;
});
