// The alert thresholds an admin changes while the daemon runs (docs/api.md, Thresholds): read
// by anyone, written by admins, checked by the configuration's own rules with the field named,
// applied at once (a low-stock alert raised and cleared, a material's hours in an AMS), kept over
// a reload of the file and a restart, reset to what the file says.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { waitFor, assertCleanExit, join, simFleet, stopSimFleet } from './harness.mjs';

const X1C = '00M09A350100511';
const CONFIG = `[server]
heartbeat_s = 1
[alerts]
drying_check_s = 1
humidity_pct = 45
`;
let daemon, sse, x1;

const fleet = {};
before(async () => {
  ({ daemon, sse } = await simFleet(fleet, { prefix: 'pd-th-', serials: [X1C], models: ['X1C'],
    config: CONFIG, idle: false }));
  x1 = { id: fleet.ids[X1C] };
});

after(() => stopSimFleet(assert, fleet));

const list = async (headers) => (await daemon.get('/api/v1/thresholds', headers)).json;
const one = async (key) => (await list()).find((t) => t.key === key);
const patch = (body, headers) => daemon.req('PATCH', '/api/v1/thresholds', body, headers);
const post = (path, body) => daemon.req('POST', path, body);

test('listed with the configured value, bounds and help; refused in words naming the field', async () => {
  const all = await list();
  assert.deepEqual(all.map((t) => t.key), ['alerts.low_stock_g', 'alerts.low_stock_margin_g', 'alerts.humidity_pct',
    'alerts.humidity_level', 'alerts.humidity_margin_pct', 'alerts.humidity_sustain_s', 'alerts.stall_s',
    'alerts.drying_check_s', 'alerts.drying_hours']);
  const h = all.find((t) => t.key === 'alerts.humidity_pct');
  assert.deepEqual({ ...h, help: undefined }, { key: 'alerts.humidity_pct', type: 'integer', value: 45, configured: 45,
    set: false, min: 1, max: 100, help: undefined });
  assert.match(h.help, /humidity/);
  const d = all.find((t) => t.key === 'alerts.drying_hours');
  assert.equal(d.type, 'materials');
  assert.equal(d.value.PVA, 8);
  assert.equal(d.value.PETG, 168);

  const bad = [
    [{ 'alerts.humidity_pct': 101 }, 'alerts.humidity_pct', /whole number from 1 to 100/],
    [{ 'alerts.humidity_pct': 40.5 }, 'alerts.humidity_pct', /whole number/],
    [{ 'alerts.humidity_pct': '40' }, 'alerts.humidity_pct', /whole number/],
    [{ 'alerts.stall_s': 5 }, 'alerts.stall_s', /from 10 to 86400/],
    [{ 'alerts.drying_hours': { PVA: 0 } }, 'alerts.drying_hours', /PVA: whole hours from 1 to 8760/],
    [{ 'alerts.drying_hours': { PVA: 6, pva: 7 } }, 'alerts.drying_hours', /named twice/],
    [{ 'alerts.drying_hours': { 'PA:6': 7 } }, 'alerts.drying_hours', /material 1/],
    [{ 'alerts.drying_hours': [8] }, 'alerts.drying_hours', /object of at most 32 materials/],
    [{ 'server.listen': '0.0.0.0:80' }, 'server.listen', /not a threshold/],
    [{ 'alerts.humidity_pct': 50, 'alerts.nope': 1 }, 'alerts.nope', /not a threshold/],
  ];
  for (const [body, field, msg] of bad) {
    const r = await patch(body);
    assert.equal(r.status, 422, JSON.stringify(body));
    assert.equal(r.json.error.field, field);
    assert.match(r.json.error.message, msg);
  }
  assert.equal((await patch({})).status, 400);
  assert.equal((await one('alerts.humidity_pct')).value, 45, 'nothing applied from a refused body');

  // viewers read, only admins write
  const tok = await post('/api/v1/tokens', { name: 'viewer', role: 'viewer' });
  const viewer = { Authorization: `Bearer ${tok.json.token}` };
  assert.equal((await daemon.get('/api/v1/thresholds', viewer)).status, 200);
  const r = await patch({ 'alerts.humidity_pct': 50 }, viewer);
  assert.equal(r.status, 403);
  assert.match(r.json.error.message, /admin/);
});

test('a change applies at once: low stock raised and cleared by the default threshold', async () => {
  const f = (await post('/api/v1/filament', { name: 'Silk', material: 'PLA', density: 1.24, diameter: 1.75, weight: 1000 })).json;
  const s = (await post('/api/v1/spool', { filament_id: f.id })).json;
  assert.equal((await daemon.req('PUT', `/api/v1/spool/${s.id}/use`, { use_weight: 700 })).status, 200);
  let r = await patch({ 'alerts.low_stock_g': 400 });
  assert.equal(r.status, 200, r.text);
  const t = r.json.find((x) => x.key === 'alerts.low_stock_g');
  assert.deepEqual([t.value, t.configured, t.set], [400, 0, true]);
  const a = await sse.waitFor((e) => e.event === 'alert.raised' && e.json?.filament_id === f.id, 5000, 'low stock raised');
  assert.equal(a.json.kind, 'low_stock_filament');
  assert.equal(a.json.data.threshold_g, 400);
  // reset: back to the file's 0, and the alert clears
  r = await patch({ 'alerts.low_stock_g': null });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual((({ value, set }) => ({ value, set }))(r.json.find((x) => x.key === 'alerts.low_stock_g')), { value: 0, set: false });
  await sse.waitFor((e) => e.event === 'alert.cleared' && e.json?.id === a.json.id, 5000, 'cleared with the default gone');
});

test('a material\'s hours: a PETG spool dried two hours ago is due at 1 h, not at the default 168 h', async () => {
  await waitFor(async () => (await daemon.printer(x1.id))?.online, 20000, 'X1C online');
  const f = (await post('/api/v1/filament', { material: 'PETG HF', density: 1.27, diameter: 1.75, weight: 1000 })).json;
  const s = (await post('/api/v1/spool', { filament_id: f.id })).json;
  assert.ok((await post(`/api/v1/printers/${x1.id}/ams/0/2/assign`, { spool_id: s.id })).status < 300);
  assert.equal((await post(`/api/v1/spool/${s.id}/dried`, { at: new Date(Date.now() - 2 * 3600e3).toISOString() })).status, 200);
  await new Promise((res) => setTimeout(res, 2500));  // two drying checks
  assert.ok(!sse.find((e) => e.event === 'alert.raised' && e.json?.spool_id === s.id), 'not due at 168 h');
  const r = await patch({ 'alerts.drying_hours': { PVA: 8, PETG: 1 } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.find((x) => x.key === 'alerts.drying_hours').value, { PVA: 8, PETG: 1 });
  const a = await sse.waitFor((e) => e.event === 'alert.raised' && e.json?.kind === 'drying_due' && e.json.spool_id === s.id,
    5000, 'drying due at the new limit');
  assert.equal(a.json.data.limit_h, 1);
});

test('kept over a reload of the file and a restart; the file\'s own change shows as configured', async () => {
  assert.equal((await patch({ 'alerts.humidity_pct': 60 })).status, 200);
  const mark = daemon.log.text.length;
  daemon.config = CONFIG.replace('humidity_pct = 45', 'humidity_pct = 35');  // a restart writes it again
  writeFileSync(join(daemon.dir, 'printdeck.ini'), daemon.config);
  daemon.proc.kill('SIGHUP');
  await waitFor(() => daemon.log.text.slice(mark).includes('SIGHUP: reloading'), 5000, 'SIGHUP seen');
  await waitFor(async () => (await one('alerts.humidity_pct')).configured === 35, 5000, 'the file read again');
  let h = await one('alerts.humidity_pct');
  assert.deepEqual([h.value, h.set], [60, true], 'the dashboard\'s value still wins');
  sse.close();
  const r = await daemon.stop();
  assertCleanExit(assert, r);
  await daemon.start();
  h = await one('alerts.humidity_pct');
  assert.deepEqual([h.value, h.configured, h.set], [60, 35, true]);
  assert.deepEqual((await one('alerts.drying_hours')).value, { PVA: 8, PETG: 1 });
  // Spoolman's settings never list them
  const settings = (await daemon.get('/api/v1/setting/')).json;
  assert.ok(!Object.keys(settings).some((k) => k.includes('.')), Object.keys(settings).join());
  assert.equal((await daemon.get('/api/v1/setting/alerts.humidity_pct')).status, 404);
  assert.equal((await patch({ 'alerts.humidity_pct': null, 'alerts.drying_hours': null })).status, 200);
  h = await one('alerts.humidity_pct');
  assert.deepEqual([h.value, h.set], [35, false]);
  assert.equal((await one('alerts.drying_hours')).value.PETG, 168);
});
