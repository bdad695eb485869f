// Notifications (docs/notify.md): channels configured over the API, messages delivered to a
// local receiver built from the documented contracts (printdeck's webhook: a versioned JSON
// body, X-Printdeck-Timestamp and X-Printdeck-Signature = HMAC-SHA256 over "<ts>.<body>";
// ntfy's publish-as-JSON), a print finishing on the simulator, retries and timeouts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { waitFor, sleep, simFleet, stopSimFleet } from './harness.mjs';

const A1 = '03919C461900413';
const SECRET = 'a-secret-of-enough-length';
const CONFIG = `[notify]
timeout_s = 2
attempts = 3
retry_base_ms = 300
min_interval_s = 0
`;

// The receiver: records every request; `answer` decides each reply (a status, or null: never).
const got = [];
let answer = () => 200;
const seen = new Set(); // signatures of deliveries accepted: a replay of one is refused
const hang = [];
let receiver, base;

/** A receiver's check of printdeck's signature, as docs/notify.md tells receivers to do it. */
function verify(req, body) {
  const ts = req.headers['x-printdeck-timestamp'], sig = req.headers['x-printdeck-signature'] || '';
  if (!/^\d+$/.test(ts || '') || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  const want = 'sha256=' + createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex');
  if (sig.length !== want.length || !timingSafeEqual(Buffer.from(sig), Buffer.from(want))) return false;
  return !seen.has(sig);
}

const fleet = {};
let daemon, sim;
before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const r = { method: req.method, url: req.url, headers: req.headers, body, verified: verify(req, body) };
      got.push(r);
      const s = r.verified || !req.headers['x-printdeck-signature'] ? answer(r) : 401;
      if (s === null) { hang.push(res); return; }
      if (s < 300 && r.verified) seen.add(req.headers['x-printdeck-signature']); // accepted: a replay is refused
      res.writeHead(s).end();
    });
  });
  await new Promise((ok) => receiver.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${receiver.address().port}`;
  ({ daemon, sim } = await simFleet(fleet, { prefix: 'pd-notify-', serials: [A1], models: ['A1'],
    simArgs: ['--speedup', '4'], config: CONFIG }));
});

after(async () => {
  for (const res of hang) res.destroy();
  receiver.close();
  await stopSimFleet(assert, fleet);
});

const webhook = (name, path, extra = {}) => daemon.req('POST', '/api/v1/notifications/channels',
  { type: 'webhook', name, url: `${base}${path}`, secret: SECRET, ...extra });
const remove = (id) => daemon.req('DELETE', `/api/v1/notifications/channels/${id}`);
const logOf = async (id) => (await daemon.get(`/api/v1/notifications/log?channel_id=${id}`)).json;

test('channels: created with defaults, secrets write-only, bad fields refused by name', async () => {
  const r = await webhook('hook', '/a');
  assert.equal(r.status, 201, r.text);
  const c = r.json;
  assert.equal(c.type, 'webhook');
  assert.equal(c.enabled, true);
  assert.deepEqual(c.events.sort(), ['hms', 'insufficient_filament', 'job_completed', 'job_failed', 'low_stock',
    'slot_prompt'].sort());
  assert.equal(c.secret, undefined);
  assert.equal(c.secret_set, true);
  assert.ok(!JSON.stringify((await daemon.get('/api/v1/notifications/channels')).json).includes(SECRET));
  for (const [body, field] of [
    [{ type: 'webhook', name: 'x', url: 'ftp://h/x', secret: SECRET }, 'url'],
    [{ type: 'webhook', name: 'x', url: 'not a url', secret: SECRET }, 'url'],
    [{ type: 'webhook', name: 'x', url: `${base}/x`, secret: 'short' }, 'secret'],
    [{ type: 'webhook', name: 'x', url: `${base}/x` }, 'secret'],
    [{ type: 'ntfy', name: 'x', topic: 'bad topic!' }, 'topic'],
    [{ type: 'pager', name: 'x' }, 'type'],
    [{ type: 'webhook', name: 'x', url: `${base}/x`, secret: SECRET, events: ['nope'] }, 'events'],
  ]) {
    const b = await daemon.req('POST', '/api/v1/notifications/channels', body);
    assert.equal(b.status, 422, `${JSON.stringify(body)}: ${b.text}`);
    assert.equal(b.json.error.field, field, b.text);
  }
  const p = await daemon.req('PATCH', `/api/v1/notifications/channels/${c.id}`, { enabled: false, events: ['hms'] });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.enabled, false);
  assert.deepEqual(p.json.events, ['hms']);
  assert.equal((await daemon.req('PATCH', `/api/v1/notifications/channels/${c.id}`, { type: 'ntfy' })).status, 422);
  assert.equal((await remove(c.id)).status, 204);
  assert.equal((await remove(c.id)).status, 404);
});

test('test message: signed webhook, verified by the receiver; a replay is refused', async () => {
  const c = (await webhook('signed', '/signed')).json;
  const r = await daemon.req('POST', `/api/v1/notifications/channels/${c.id}/test`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.ok, true, r.text);
  assert.equal(r.json.status, 200);
  const h = got.find((x) => x.url === '/signed');
  assert.equal(h.method, 'POST');
  assert.equal(h.headers['content-type'], 'application/json');
  assert.ok(h.verified, 'signature verifies');
  const b = JSON.parse(h.body);
  assert.equal(b.version, 1);
  assert.equal(b.event, 'test');
  assert.equal(typeof b.title, 'string');
  assert.equal(b.ts, Number(h.headers['x-printdeck-timestamp']));
  // the same request again, as a replay would send it: the receiver refuses it
  assert.equal(verify({ headers: h.headers }, h.body), false);
  const log = await logOf(c.id);
  assert.equal(log.length, 1);
  assert.equal(log[0].ok, true);
  await remove(c.id);
});

test('a receiver that answers 500 gets the message again; the log keeps each attempt', async () => {
  let n = 0;
  answer = (r) => (r.url === '/flaky' && n++ < 1 ? 500 : 200);
  const c = (await webhook('flaky', '/flaky', { events: ['job_completed'] })).json;
  const t = await daemon.req('POST', `/api/v1/notifications/channels/${c.id}/test`);
  assert.equal(t.json.ok, false, 'a test is sent once');
  assert.match(t.json.message, /HTTP 500/);
  const ch = (await daemon.get('/api/v1/notifications/channels')).json.find((x) => x.id === c.id);
  assert.match(ch.last_error, /HTTP 500/);
  await remove(c.id);
  answer = () => 200;
});

test('a job finishing on the simulator delivers exactly one message; a hung receiver stalls nothing', async () => {
  answer = (r) => (r.url === '/hang' ? null : r.url === '/job' && !got.some((x) => x.url === '/job' && x !== r) ? 500 : 200);
  const good = (await webhook('job', '/job', { events: ['job_completed'] })).json;
  const slow = (await webhook('hang', '/hang', { events: ['job_completed'] })).json;
  const ntfy = (await daemon.req('POST', '/api/v1/notifications/channels', { type: 'ntfy', name: 'phone',
    server: `${base}/ntfy`, topic: 'printdeck_test', token: 'tk_abc', events: ['job_completed'] })).json;
  await sim.control(A1, { action: 'start_job', name: 'benchy', layers: 5, minutes: 1 });
  await sleep(3000);
  await sim.control(A1, { action: 'finish' });
  const oks = await waitFor(async () => { const l = await logOf(good.id); return l.some((x) => x.ok) ? l : null; },
    20000, 'the webhook delivered');
  // the first attempt answered 500, the second delivered: one message, two attempts
  assert.equal(oks.filter((x) => x.ok).length, 1);
  assert.ok(oks.some((x) => !x.ok && x.status === 500));
  const bodies = got.filter((x) => x.url === '/job').map((x) => JSON.parse(x.body));
  assert.equal(bodies[bodies.length - 1].event, 'job_completed');
  assert.match(bodies[bodies.length - 1].message, /benchy/);
  // ntfy: JSON to the server's root, the token as a bearer
  const nt = await waitFor(() => got.find((x) => x.url === '/ntfy/'), 10000, 'ntfy publish');
  assert.equal(nt.headers.authorization, 'Bearer tk_abc');
  const nb = JSON.parse(nt.body);
  assert.equal(nb.topic, 'printdeck_test');
  assert.match(nb.title, /finished/);
  assert.ok(Array.isArray(nb.tags) && nb.priority >= 1 && nb.priority <= 5);
  // the API answers while the hung receiver waits out its timeouts
  const t0 = Date.now();
  assert.equal((await daemon.get('/api/v1/notifications/channels')).status, 200);
  assert.ok(Date.now() - t0 < 1000);
  const hung = await waitFor(async () => { const l = await logOf(slow.id); return l.length >= 3 ? l : null; },
    30000, 'the hung receiver timed out 3 times');
  assert.ok(hung.every((x) => !x.ok && /no answer within 2 s/.test(x.error)), JSON.stringify(hung));
  await sleep(1500);
  assert.equal(got.filter((x) => x.url === '/ntfy/').length, 1, 'exactly one ntfy message');
  for (const c of [good, slow, ntfy]) await remove(c.id);
});
