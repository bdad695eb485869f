// Notification rules (docs/notify.md, Rules): the rules API and its refusals by field, a
// printer's own kinds (opt-out), quiet hours holding a message for the digest while a critical
// one passes, the digest, templates, the seed's per-printer view, and a user's channel that
// hears only the printers that user sees. The daemon runs in a fixed time zone (TZ), so the
// test knows its local time and puts "now" inside the quiet window. HMS errors raised on the
// simulator are the events: each one is new, and arrives at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { waitFor, sleep, simFleet, stopSimFleet } from './harness.mjs';

const A1 = '03919C461900413';
const P1S = '01P00A451200002';
const SECRET = 'a-secret-of-enough-length';
const TZ = 'Etc/GMT-3'; // UTC+3 all year: the daemon's local time is UTC + 3 h
const CONFIG = `[mqtt]
silence_s = 5

[notify]
timeout_s = 2
attempts = 1
min_interval_s = 0
dashboard_url = http://deck.lan:8080
`;
// HMS attr and codes: severity is the code's high word (1 fatal, 3 common)
const ATTR = 0x03000100;
let next = 0x0001;
const common = () => ({ attr: ATTR, code: (0x0003 << 16) | next++ });
const fatal = () => ({ attr: ATTR, code: (0x0001 << 16) | next++ });

const got = [];
let receiver, base;
const fleet = {};
let daemon, sim, A, B;

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { got.push({ url: req.url, body: JSON.parse(body || 'null') }); res.writeHead(200).end(); });
  });
  await new Promise((ok) => receiver.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${receiver.address().port}`;
  const tz = process.env.TZ;
  process.env.TZ = TZ; // the daemon's environment (the harness passes ours on)
  try {
    ({ daemon, sim } = await simFleet(fleet, { prefix: 'pd-nrules-', serials: [A1, P1S], models: ['A1', 'P1S'],
      config: CONFIG }));
  } finally {
    if (tz === undefined) delete process.env.TZ; else process.env.TZ = tz;
  }
  A = fleet.ids[A1];
  B = fleet.ids[P1S];
});

after(async () => {
  receiver?.close();
  await stopSimFleet(assert, fleet);
});

const webhook = (name, path, extra = {}, req = daemon.req.bind(daemon)) => req('POST',
  '/api/v1/notifications/channels', { type: 'webhook', name, url: `${base}${path}`, secret: SECRET, ...extra });
const remove = (id) => daemon.req('DELETE', `/api/v1/notifications/channels/${id}`);
const logOf = async (id) => (await daemon.get(`/api/v1/notifications/log?channel_id=${id}`)).json;
const putRules = (body, req = daemon.req.bind(daemon)) => req('PUT', '/api/v1/notifications/rules', body);
const at = (path) => got.filter((x) => x.url === path).map((x) => x.body);

/** Raises an HMS error on the simulator; its code as printdeck writes it. */
async function hms(serial, code) {
  await sim.control(serial, { action: 'hms_raise', ...code });
  const h4 = (n) => n.toString(16).padStart(4, '0').toUpperCase();
  return `HMS_${[code.attr >>> 16, code.attr & 0xffff, code.code >>> 16, code.code & 0xffff].map(h4).join('_')}`;
}

/** "HH:MM" of the daemon's local time, `min` minutes from now. */
function local(min) {
  const d = new Date(Date.now() + (3 * 60 + min) * 60000);
  return `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
}

test('rules: stored per channel and per printer, read back; a wrong field is a 422 naming it', async () => {
  const c = (await webhook('rules', '/rules')).json;
  const rules = { printers: [A], printer_events: { [A]: ['hms', 'job_failed'] }, min_interval_s: 30,
    quiet_hours: { start: '22:00', end: '07:00', days: ['fri', 'sat'], critical: true }, digest_hour: 8,
    templates: { '*': { title: '{printer}: {hms_code}' }, hms: { text: '{hms_text} {hms_url} {{x}}' } } };
  const r = await putRules({ channels: { [c.id]: rules }, printers: { [B]: ['job_completed'] } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.channels[c.id], rules);
  assert.deepEqual(r.json.printers[B], ['job_completed']);
  assert.deepEqual((await daemon.get('/api/v1/notifications/rules')).json, r.json);
  for (const [body, field] of [
    [{ channels: { [c.id]: { quiet_hours: { start: '22:00', end: '25:00' } } } }, 'quiet_hours.end'],
    [{ channels: { [c.id]: { templates: { hms: { text: '{job} {nope}' } } } } }, 'templates.hms.text'],
    [{ channels: { [c.id]: { templates: { hms: { text: '{job' } } } } }, 'templates.hms.text'],
    [{ channels: { [c.id]: { printer_events: { [A]: ['nope'] } } } }, `printer_events.${A}`],
    [{ channels: { [c.id]: { colour: 'red' } } }, 'colour'],
    [{ channels: { 99999: {} } }, 'channels.99999'],
    [{ printers: { 99999: null } }, 'printers.99999'],
    [{ printers: { [A]: ['nope'] } }, `printers.${A}`],
    [{ extra: {} }, 'extra'],
  ]) {
    const x = await putRules(body);
    assert.equal(x.status, 422, `${JSON.stringify(body)}: ${x.text}`);
    assert.equal(x.json.error.field, field, x.text);
  }
  const t = await putRules({ channels: { [c.id]: { templates: { hms: { text: '{nope}' } } } } });
  assert.match(t.json.error.message, /\{nope\}/);
  // nothing of a refused request was kept
  assert.deepEqual((await daemon.get('/api/v1/notifications/rules')).json, r.json);
  assert.equal((await putRules({ printers: { [B]: null } })).status, 200);
  await remove(c.id);
});

test('a printer told to say less says it nowhere; a template says the facts', async () => {
  const c = (await webhook('optout', '/optout', { events: ['hms'] })).json;
  let r = await putRules({ channels: { [c.id]: { templates: { hms: { title: 'T {printer}',
    text: '{hms_code}: {hms_text} <{hms_url}> {url}' } } } }, printers: { [B]: ['job_completed'] } });
  assert.equal(r.status, 200, r.text);
  await hms(P1S, common());
  const codeA = await hms(A1, common());
  const msgs = await waitFor(() => (at('/optout').length ? at('/optout') : null), 10000, 'the message of A');
  await sleep(1000);
  assert.equal(at('/optout').length, 1, 'nothing of the printer that opted out');
  const m = msgs[0];
  assert.equal(m.event, 'hms');
  assert.equal(m.printer.id, A);
  assert.match(m.title, /^T /);
  assert.ok(m.message.startsWith(`${codeA}: `), m.message);
  assert.match(m.message, /<https:\/\/[^>]+>/);
  assert.ok(m.message.endsWith(`http://deck.lan:8080/printers/${A}`), m.message);
  r = await putRules({ printers: { [B]: null } });
  assert.equal(r.status, 200);
  await sim.control(A1, { action: 'hms_clear', attr: 0, code: 0 });
  await sim.control(P1S, { action: 'hms_clear', attr: 0, code: 0 });
  await remove(c.id);
});

test('quiet hours hold a message for the digest, a critical one passes; the digest tells the day', async () => {
  const c = (await webhook('quiet', '/quiet', { events: ['hms'] })).json;
  const rules = { quiet_hours: { start: local(-60), end: local(60), critical: true }, digest_hour: 3 };
  assert.equal((await putRules({ channels: { [c.id]: rules } })).status, 200);
  await hms(A1, common());
  const held = await waitFor(async () => { const l = await logOf(c.id); return l.length ? l : null; }, 10000, 'held');
  assert.equal(held[0].ok, false);
  assert.equal(held[0].attempt, 0);
  assert.match(held[0].error, /held by quiet hours for the digest/);
  assert.equal(at('/quiet').length, 0);
  await hms(A1, fatal());
  const passed = await waitFor(() => (at('/quiet').length ? at('/quiet') : null), 10000, 'the critical message');
  assert.equal(passed[0].event, 'hms');
  assert.equal(passed[0].priority, 5);
  // without a digest, what quiet hours hold is dropped, and logged so
  const d = await daemon.req('POST', `/api/v1/notifications/channels/${c.id}/digest`);
  assert.equal(d.status, 202, d.text);
  const digest = await waitFor(() => at('/quiet').find((x) => x.event === 'digest'), 10000, 'the digest');
  assert.match(digest.message, /1 message held/);
  assert.match(digest.message, /Held by quiet hours:\n- p-0413: printer error/);
  assert.equal(digest.data.held, 1);
  // held once: the next digest has nothing held
  await daemon.req('POST', `/api/v1/notifications/channels/${c.id}/digest`);
  await waitFor(() => at('/quiet').filter((x) => x.event === 'digest').length === 2, 10000, 'the second digest');
  assert.equal(at('/quiet').filter((x) => x.event === 'digest')[1].data.held, 0);
  assert.equal((await putRules({ channels: { [c.id]: { quiet_hours: rules.quiet_hours } } })).status, 200);
  await hms(A1, common());
  const dropped = await waitFor(async () => { const l = await logOf(c.id); return l.find((x) => /no digest/.test(x.error || '')); },
    10000, 'dropped');
  assert.equal(dropped.ok, false);
  await sim.control(A1, { action: 'hms_clear', attr: 0, code: 0 });
  await remove(c.id);
});

test("the seed's per-printer view: flags over the printer's kinds, webhook_url a channel of that printer", async () => {
  let r = await daemon.get(`/api/v1/notifications/printers/${A}`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { id: A, printer_id: A, notify_print_start: true, notify_print_complete: true,
    notify_print_failed: true, notify_material_change: true, notify_maintenance: true, email_enabled: false,
    webhook_url: null });
  r = await daemon.req('PUT', `/api/v1/notifications/printers/${A}`, { notify_print_start: false,
    notify_maintenance: false, webhook_url: `${base}/seed` });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.notify_print_start, false);
  assert.equal(r.json.notify_maintenance, false);
  assert.equal(r.json.notify_print_complete, true);
  assert.equal(r.json.webhook_url, `${base}/seed`);
  assert.deepEqual(r.json, (await daemon.get(`/api/v1/notifications/printers/${A}`)).json);
  // over the general model: the printer's kinds, and a webhook channel of that printer alone
  const rules = (await daemon.get('/api/v1/notifications/rules')).json;
  assert.ok(!rules.printers[A].includes('job_started') && !rules.printers[A].includes('hms'));
  assert.ok(rules.printers[A].includes('job_completed'));
  const hook = (await daemon.get('/api/v1/notifications/channels')).json.find((x) => x.url === `${base}/seed`);
  assert.ok(hook && hook.secret_set);
  assert.deepEqual(rules.channels[hook.id].printers, [A]);
  // maintenance off: an HMS error of A tells nobody
  await hms(A1, common());
  await sleep(1500);
  assert.equal(at('/seed').length, 0);
  r = await daemon.req('PUT', `/api/v1/notifications/printers/${A}`, { webhook_url: `${base}/seed2` });
  assert.equal(r.json.webhook_url, `${base}/seed2`);
  assert.equal((await daemon.get('/api/v1/notifications/channels')).json.filter((x) => x.url?.includes('/seed')).length, 1);
  for (const [body, field] of [[{ notify_print_start: 'yes' }, 'notify_print_start'],
    [{ webhook_url: 'ftp://x/y' }, 'webhook_url'], [{ email_enabled: true }, 'email_enabled'], [{ sms: true }, 'sms']]) {
    const x = await daemon.req('PUT', `/api/v1/notifications/printers/${A}`, body);
    assert.equal(x.status, 422, x.text);
    assert.equal(x.json.error.field, field);
  }
  r = await daemon.req('PUT', `/api/v1/notifications/printers/${A}`, { notify_print_start: true,
    notify_maintenance: true, webhook_url: null });
  assert.equal(r.json.webhook_url, null);
  assert.equal(r.json.notify_maintenance, true);
  assert.ok(!(await daemon.get('/api/v1/notifications/channels')).json.some((x) => x.url?.includes('/seed')));
  assert.equal((await daemon.get('/api/v1/notifications/printers/99999')).status, 404);
  await sim.control(A1, { action: 'hms_clear', attr: 0, code: 0 });
});

test('a print tells when it starts, when its first layer is down, and when its printer drops off mid-print', async () => {
  const c = (await webhook('print', '/print', { events: ['job_started', 'first_layer', 'printer_offline'] })).json;
  await sim.control(A1, { action: 'start_job', name: 'vase', layers: 40, minutes: 2 });
  const started = await waitFor(() => at('/print').find((x) => x.event === 'job_started'), 15000, 'started');
  assert.equal(started.printer.id, A);
  assert.match(started.message, /^vase started/);
  assert.equal(started.title, 'p-0413: print started');
  const layer = await waitFor(() => at('/print').find((x) => x.event === 'first_layer'), 20000, 'first layer');
  assert.match(layer.message, /^vase has its first layer down \(\d+%\): .+ to go, done at \d\d:\d\d\. http:\/\/deck\.lan:8080\/printers\//,
    layer.message);
  await sim.control(A1, { action: 'silence', seconds: 8 });
  const off = await waitFor(() => at('/print').find((x) => x.event === 'printer_offline'), 20000, 'offline mid-print');
  assert.match(off.message, /^p-0413 stopped answering while printing vase at \d+%, layer \d+\/40\./, off.message);
  assert.equal(off.priority, 4);
  await waitFor(async () => (await daemon.printer(A))?.online, 20000, 'A1 back');
  await sim.control(A1, { action: 'finish' });
  await waitFor(async () => (await daemon.printer(A))?.state === 'FINISH', 15000, 'finished');
  assert.equal(at('/print').filter((x) => x.event === 'printer_offline').length, 1, 'offline told once');
  await remove(c.id);
});

/** Requests as a signed-in user (their session cookie and CSRF token, no admin token). */
async function signIn(name, password) {
  const r = await fetch(daemon.url('/api/v1/login'), { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name, password }) });
  const me = await r.text();
  assert.equal(r.status, 200, me);
  const cookie = r.headers.get('set-cookie').split(';')[0], { csrf } = JSON.parse(me);
  return async (method, path, body) => {
    const res = await fetch(daemon.url(path), { method, body: body === undefined ? undefined : JSON.stringify(body),
      headers: { Cookie: cookie, 'X-CSRF-Token': csrf, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) } });
    const text = await res.text();
    return { status: res.status, text, json: text ? JSON.parse(text) : undefined };
  };
}

test("a user's channel hears only the printers that user sees; users manage only their own", async () => {
  const admin = (await webhook('admin', '/admin', { events: ['hms'] })).json;
  const u = await daemon.req('POST', '/api/v1/users', { name: 'ann', password: 'a long password', role: 'viewer',
    printers: [A] });
  assert.equal(u.status, 201, u.text);
  const ann = await signIn('ann', 'a long password');
  const mine = await webhook('mine', '/ann', { events: ['hms'] }, ann);
  assert.equal(mine.status, 201, mine.text);
  assert.equal(mine.json.owner_id, u.json.id);
  // ann sees her channel only, and cannot touch the admin's nor give hers away
  const list = await ann('GET', '/api/v1/notifications/channels');
  assert.deepEqual(list.json.map((x) => x.id), [mine.json.id]);
  assert.equal((await ann('PATCH', `/api/v1/notifications/channels/${admin.id}`, { enabled: false })).status, 404);
  assert.equal((await ann('DELETE', `/api/v1/notifications/channels/${admin.id}`)).status, 404);
  let x = await ann('PATCH', `/api/v1/notifications/channels/${mine.json.id}`, { owner_id: null });
  assert.equal(x.status, 422);
  assert.equal(x.json.error.field, 'owner_id');
  x = await putRules({ channels: { [admin.id]: {} } }, ann);
  assert.equal(x.status, 422);
  assert.equal(x.json.error.field, `channels.${admin.id}`);
  x = await putRules({ printers: { [A]: null } }, ann);
  assert.equal(x.json.error.field, 'printers');
  const rules = await ann('GET', '/api/v1/notifications/rules');
  assert.deepEqual(Object.keys(rules.json.channels), [String(mine.json.id)]);
  assert.equal((await putRules({ channels: { [mine.json.id]: { min_interval_s: 0 } } }, ann)).status, 200);
  // an HMS error on B reaches the admin's channel, not ann's; one on A reaches both
  await hms(P1S, common());
  await waitFor(() => at('/admin').length === 1, 10000, 'the admin hears B');
  await hms(A1, common());
  await waitFor(() => at('/admin').length === 2 && at('/ann').length === 1, 10000, 'both hear A');
  await sleep(1000);
  assert.equal(at('/ann').length, 1);
  assert.equal(at('/ann')[0].printer.id, A);
  await sim.control(A1, { action: 'hms_clear', attr: 0, code: 0 });
  await sim.control(P1S, { action: 'hms_clear', attr: 0, code: 0 });
  await remove(admin.id);
  await remove(mine.json.id);
});
