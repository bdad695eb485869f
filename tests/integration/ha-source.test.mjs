// Home Assistant as a printer source (docs/homeassistant.md, Source): printdeck follows a
// printer's ha-bambulab entities over Home Assistant's WebSocket API (a local double built from
// its documented API, hass.mjs) and feeds them through the webhooks' parsers to the same job
// recorder, accounting and slot map; refused tokens, restarts, unknown states and oversized
// messages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Daemon, freePort, waitFor, sleep, assertCleanExit, SANITIZED } from './harness.mjs';
import { Hass } from './hass.mjs';

const TOKEN = 'ha-long-lived-token-0123456789abcdef';
const DEV = 'bambu_lab_p1s';
const SERIAL = '01P00A451200321';
const MAX = 65536;
let hass, daemon, pid;

const S = (k) => `sensor.${DEV}_${k}`;
const TRAY = (u, t) => `sensor.${DEV}_ams_${u}_tray_${t}`;

async function startDaemon(token) {
  const d = new Daemon({
    config: `[mqtt]\nreconnect_min_ms = 300\nreconnect_max_ms = 2000\n[homeassistant]\napi_url = http://127.0.0.1:${hass.port}\n` +
      `api_max_message = ${MAX}\n`,
    env: { PRINTDECK_HOMEASSISTANT_TOKEN: token },
  });
  await d.start();
  return d;
}

before(async () => {
  hass = new Hass(TOKEN);
  await hass.start(await freePort());
  // the printer as Home Assistant knows it before printdeck looks: idle, one PLA spool at 80 %
  hass.set(S('print_status'), 'idle');
  hass.set(S('print_progress'), '0');
  hass.set(S('active_tray_index'), 'unknown');
  hass.set(TRAY(1, 1), 'Bambu PLA Basic', { type: 'PLA', color: '#FF0000FF', remain: 80, empty: false });
  hass.set(TRAY(1, 2), 'Empty', { type: '', color: '#00000000', remain: 0, empty: true });
  daemon = await startDaemon(TOKEN);
});

after(async () => {
  const r = await daemon?.stop();
  await hass?.stop();
  if (r) assertCleanExit(assert, r);
});

const printer = async () => daemon.printer(pid);
const jobsOf = async () => (await daemon.get(`/api/v1/jobs?printer_id=${pid}`)).json;

test('a printer with source homeassistant is checked like every other field', async () => {
  let r = await daemon.req('POST', '/api/v1/printers', { name: 'HA P1S', serial: SERIAL, source: 'homeassistant' });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.error.message, /ha_device: required/);
  r = await daemon.req('POST', '/api/v1/printers', { name: 'HA P1S', serial: SERIAL, source: 'homeassistant', ha_device: 'Bambu P1S' });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.error.message, /^ha_device: must be/);
  r = await daemon.req('POST', '/api/v1/printers', { name: 'HA P1S', serial: SERIAL, source: 'homeassistant', ha_device: DEV,
    ha_ams_tray: 'sensor.x_ams_tray' });
  assert.match(r.json.error.message, /^ha_ams_tray: must be .*\{unit\}/);
  r = await daemon.req('POST', '/api/v1/printers', { name: 'M', serial: '01P00A451200322', host: '10.0.0.9',
    access_code: '12345678', ha_device: DEV });
  assert.match(r.json.error.message, /^ha_device: only for a printer with source homeassistant/);
  r = await daemon.req('POST', '/api/v1/printers', { name: 'HA P1S', serial: SERIAL, source: 'homeassistant', ha_device: DEV });
  assert.equal(r.status, 201, r.text);
  pid = r.json.id;
  assert.equal(r.json.source, 'homeassistant');
  assert.equal(r.json.ha_device, DEV);
  assert.equal(r.json.ha_print_status, null);
  r = await daemon.req('PATCH', `/api/v1/printers/${pid}`, { source: 'mqtt' });
  assert.equal(r.status, 422, r.text);
  r = await daemon.req('PATCH', `/api/v1/printers/${pid}`, { host: '10.0.0.1' });
  assert.equal(r.status, 422, r.text);
});

test('the present states are read once connected: the slots, no job while idle', async () => {
  const p = await waitFor(async () => { const x = await printer(); return x.connection?.state === 'connected' && x; },
    15000, 'connected to Home Assistant');
  assert.equal(p.connection.error ?? null, null);
  const slot = await waitFor(async () => (await daemon.get(`/api/v1/printers/${pid}/ams`)).json
    .find((s) => s.unit === 0 && s.slot === 0 && s.live?.material === 'PLA'), 10000, 'slot 1 PLA');
  assert.match(slot.live.color, /^#?FF0000/i);
  assert.deepEqual(hass.errors, []);
  assert.equal(hass.auths.ok, 1);
  const sub = hass.received.find((m) => m.type === 'subscribe_entities');
  assert.ok(sub.entity_ids.includes(S('print_status')) && sub.entity_ids.includes(TRAY(4, 4)), JSON.stringify(sub));
  assert.equal((await jobsOf()).length, 0);
});

test('a print followed through entity changes is one job, its grams from remain', async () => {
  // a spool for the slot: its prompt answered
  const prompt = await waitFor(async () => (await daemon.get('/api/v1/prompts')).json
    .find((x) => x.printer_id === pid && x.unit === 0 && x.slot === 0), 10000, 'slot prompt');
  const vendor = (await daemon.req('POST', '/api/v1/vendor', { name: 'HA Source' })).json;
  const fil = (await daemon.req('POST', '/api/v1/filament', { name: 'Red', vendor_id: vendor.id, material: 'PLA',
    density: 1.24, diameter: 1.75, weight: 1000, color_hex: 'FF0000' })).json;
  const spool = (await daemon.req('POST', '/api/v1/spool', { filament_id: fil.id, initial_weight: 1000 })).json;
  assert.equal((await daemon.req('POST', `/api/v1/prompts/${prompt.id}/assign`, { spool_id: spool.id })).status, 200);

  hass.set(S('task_name'), 'benchy');
  hass.set(S('active_tray_index'), '1');
  hass.set(S('print_status'), 'prepare');
  hass.set(S('print_status'), 'running');
  const job = await waitFor(async () => (await jobsOf()).find((j) => j.status === 'printing'), 10000, 'job open');
  assert.equal(job.name, 'benchy');
  for (const [pc, layer] of [['10', '5'], ['50', '25'], ['90', '45']]) {
    hass.set(S('print_progress'), pc);
    hass.set(S('current_layer'), layer);
  }
  hass.set(S('total_layer_count'), '50');
  await waitFor(async () => (await printer()).progress === 90, 10000, 'progress 90');
  // unknown and unavailable say nothing: the print goes on
  hass.set(S('print_status'), 'unavailable');
  hass.set(S('print_status'), 'unknown');
  hass.set(S('print_progress'), 'unavailable');
  hass.set(TRAY(1, 1), 'unavailable');
  await sleep(500);
  let p = await printer();
  assert.equal(p.state, 'RUNNING');
  assert.equal(p.progress, 90);
  assert.equal(p.layer, 45);
  assert.equal((await jobsOf()).length, 1);
  hass.set(TRAY(1, 1), 'Bambu PLA Basic', { remain: 70 });
  hass.set(S('print_status'), 'finish');
  const done = await waitFor(async () => {
    const j = (await daemon.get(`/api/v1/jobs/${job.id}`)).json;
    return j.status === 'completed' && j.filament?.length ? j : null;
  }, 15000, 'job completed and accounted');
  const use = done.filament.find((u) => u.spool_id === spool.id);
  assert.ok(use, JSON.stringify(done.filament));
  assert.equal(use.source, 'remain');
  assert.ok(Math.abs(use.grams - 100) < 0.5, `grams ${use.grams}`);
  assert.equal((await jobsOf()).length, 1);
});

test('Home Assistant restarting: reconnected, the states read again, no second job', async () => {
  hass.set(S('task_name'), 'cube');
  hass.set(S('print_status'), 'running');
  const job = await waitFor(async () => (await jobsOf()).find((j) => j.name === 'cube' && j.status === 'printing'), 10000, 'cube');
  const subs = hass.received.filter((m) => m.type === 'subscribe_entities').length;
  hass.drop();
  await waitFor(async () => (await printer()).connection.state !== 'connected', 5000, 'seen the drop');
  await waitFor(async () => (await printer()).connection.state === 'connected', 15000, 'reconnected');
  assert.equal(hass.received.filter((m) => m.type === 'subscribe_entities').length, subs + 1);
  await sleep(500);
  const jobs = await jobsOf();
  assert.equal(jobs.filter((j) => j.name === 'cube').length, 1, JSON.stringify(jobs));
  assert.equal((await daemon.get(`/api/v1/jobs/${job.id}`)).json.status, 'printing');
  hass.set(S('print_status'), 'failed');
  await waitFor(async () => (await daemon.get(`/api/v1/jobs/${job.id}`)).json.status === 'failed', 10000, 'cube failed');
  assert.deepEqual(hass.errors, []);
});

test('an oversized message is refused without growing memory, and the connection comes back', async () => {
  const rss = () => Number(readFileSync(`/proc/${daemon.proc.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
  const before = rss();
  const connects = hass.connects;
  for (let i = 0; i < 3; i++) {
    await waitFor(async () => hass.live() > 0, 15000, 'subscribed');
    hass.sendHuge(8 * 1024 * 1024);
    const p = await waitFor(async () => { const x = await printer(); return /more than 65536 bytes/.test(x.connection.error || '') && x; },
      10000, 'the oversized message refused');
    assert.notEqual(p.connection.state, 'connected');
  }
  await waitFor(async () => (await printer()).connection.state === 'connected', 15000, 'reconnected');
  assert.ok(hass.connects >= connects + 3);
  // 24 MB were sent; only the bound may have been held at a time
  if (!SANITIZED) assert.ok(rss() - before < 8 * 1024, `RSS grew by ${rss() - before} kB`);
  assert.equal((await printer()).state, 'FAILED');
});

test('a refused token is said in words and tried again with backoff', async () => {
  const wrong = await startDaemon('not-the-token');
  try {
    const r = await wrong.req('POST', '/api/v1/printers', { name: 'HA', serial: SERIAL, source: 'homeassistant', ha_device: DEV });
    assert.equal(r.status, 201, r.text);
    const p = await waitFor(async () => { const x = await wrong.printer(r.json.id); return x.connection.state === 'auth_failed' && x; },
      15000, 'auth_failed');
    assert.match(p.connection.error, /the token was refused/);
    const first = hass.auths.invalid;
    await sleep(3000);
    const tries = hass.auths.invalid - first;
    // 300 ms doubling up to 2 s, ±25 %: a few in 3 s, not one per loop turn
    assert.ok(tries >= 1 && tries <= 6, `tries ${tries}`);
    assert.equal((await wrong.get(`/api/v1/jobs?printer_id=${r.json.id}`)).json.length, 0);
  } finally {
    assertCleanExit(assert, await wrong.stop());
  }
});
