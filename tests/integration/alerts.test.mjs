// Alerts and statistics end to end (docs/alerts.md, docs/stats.md): the real broker, the
// simulator holding humidity and layer_num, the daemon raising each alert once per crossing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, sleep, simFleet, stopSimFleet } from './harness.mjs';

const X1C = '00M09A350100411', P1S = '01P00A451200412';
const CONFIG = `[mqtt]
silence_s = 30
reconnect_min_ms = 200
reconnect_max_ms = 2000
[server]
heartbeat_s = 1
[alerts]
humidity_pct = 40
humidity_margin_pct = 5
humidity_sustain_s = 2
stall_s = 10
drying_check_s = 1
low_stock_margin_g = 50
`;
let broker, sim, daemon, sse, ids = {};

const fleet = {};
before(async () => {
  ({ broker, sim, daemon, sse, ids } = await simFleet(fleet, { prefix: 'pd-alerts-', serials: [X1C, P1S],
    models: ['X1C', 'P1S'], simArgs: ['--speedup', '4'], config: CONFIG }));
});

after(() => stopSimFleet(assert, fleet));

const alerts = async (q) => (await daemon.get(`/api/v1/alerts?${q}`)).json;
const events = (change, kind) => sse.events.filter((e) => e.event === `alert.${change}` && e.json?.kind === kind);
const post = (path, body) => daemon.req('POST', path, body);

test('low stock: once per crossing for two spools of one filament, re-armed by a new spool', async () => {
  const f = (await post('/api/v1/filament', { name: 'Matte', material: 'PLA', density: 1.24, diameter: 1.75,
    weight: 1000, low_stock_weight: 300 })).json;
  const s1 = (await post('/api/v1/spool', { filament_id: f.id })).json;
  const s2 = (await post('/api/v1/spool', { filament_id: f.id })).json;
  const use = (s, g) => daemon.req('PUT', `/api/v1/spool/${s.id}/use`, { use_weight: g });
  assert.equal((await use(s1, 900)).status, 200);        // 100 + 1000: the second spool counts
  await sleep(300);
  assert.equal((await alerts(`kind=low_stock_filament&filament_id=${f.id}`)).length, 0);
  await use(s2, 850);                                      // 250 < 300
  const a = await sse.waitFor((e) => e.event === 'alert.raised' && e.json?.filament_id === f.id, 5000, 'raised');
  assert.equal(a.json.kind, 'low_stock_filament');
  assert.equal(a.json.data.remaining_g, 250);
  assert.equal(a.json.data.spools, 2);
  for (let i = 0; i < 5; i++) await use(s2, 10);           // lower and lower: still one alert
  await sleep(300);
  const open = await alerts(`kind=low_stock_filament&filament_id=${f.id}&state=open`);
  assert.equal(open.length, 1);
  assert.equal(events('raised', 'low_stock_filament').filter((e) => e.json.filament_id === f.id).length, 1);
  const acked = await post(`/api/v1/alerts/${open[0].id}/ack`);
  assert.equal(acked.status, 200);
  assert.equal(acked.json.acked, true);
  assert.equal(acked.json.open, true, 'acknowledged, the condition still holds');
  await sse.waitFor((e) => e.event === 'alert.acked' && e.json?.id === open[0].id, 5000, 'acked');
  // a new spool lifts the stock past threshold + margin: cleared, and the next crossing alerts again
  const s3 = (await post('/api/v1/spool', { filament_id: f.id })).json;
  await sse.waitFor((e) => e.event === 'alert.cleared' && e.json?.id === open[0].id, 5000, 'cleared');
  await use(s3, 990);
  await waitFor(() => events('raised', 'low_stock_filament').filter((e) => e.json.filament_id === f.id).length === 2,
    5000, 'raised again');
  assert.equal((await alerts(`kind=low_stock_filament&filament_id=${f.id}&state=open`)).length, 1);
  assert.equal((await post('/api/v1/alerts/999999/ack')).status, 404);
  assert.equal((await daemon.get('/api/v1/alerts?state=nope')).status, 422);

  const low = (await daemon.get('/api/v1/stats/low-stock')).json;
  const lf = low.filaments.find((x) => x.filament_id === f.id);
  assert.ok(lf && lf.remaining_g < 300 && lf.spools === 3, JSON.stringify(low));
});

test('AMS humidity: raised once after it stays high, cleared under the margin', async () => {
  const wet = { print: { ams: { ams: [{ id: '0', humidity: '1', humidity_raw: '72', temp: '25.0' }] } }, hold_s: 60 };
  await sim.control(X1C, { action: 'set', ...wet });
  const a = await sse.waitFor((e) => e.event === 'alert.raised' && e.json?.kind === 'ams_humidity'
    && e.json.printer_id === ids[X1C], 15000, 'humidity alert');
  assert.equal(a.json.data.humidity_pct, 72);
  assert.equal(a.json.data.unit, 0);
  await sim.control(X1C, { action: 'set', ...wet });       // still high: no second alert
  await sleep(2500);
  assert.equal(events('raised', 'ams_humidity').filter((e) => e.json.printer_id === ids[X1C]).length, 1);
  await sim.control(X1C, { action: 'set', print: { ams: { ams: [{ id: '0', humidity: '4', humidity_raw: '38' }] } }, hold_s: 60 });
  await sleep(2000);                                         // 38 %: inside the margin, still open
  assert.equal(events('cleared', 'ams_humidity').filter((e) => e.json.printer_id === ids[X1C]).length, 0);
  await sim.control(X1C, { action: 'set', print: { ams: { ams: [{ id: '0', humidity: '5', humidity_raw: '20' }] } }, hold_s: 1 });
  await sse.waitFor((e) => e.event === 'alert.cleared' && e.json?.kind === 'ams_humidity', 10000, 'humidity cleared');
  const list = await alerts(`kind=ams_humidity&printer_id=${ids[X1C]}`);
  assert.equal(list.length, 1);
  assert.ok(list[0].cleared_at);
});

test('print stalled: no layer progress while RUNNING raises it once; progress clears it', async () => {
  await sim.control(P1S, { action: 'start_job', name: 'tower', layers: 200, minutes: 30 });
  await waitFor(async () => { const p = await daemon.printer(ids[P1S]); return p?.state === 'RUNNING' && p.layer >= 1; },
    20000, 'running');
  const layer = (await daemon.printer(ids[P1S])).layer;
  await sim.control(P1S, { action: 'set', print: { layer_num: layer }, hold_s: 60 });
  const a = await sse.waitFor((e) => e.event === 'alert.raised' && e.json?.kind === 'print_stalled', 25000, 'stalled');
  assert.equal(a.json.printer_id, ids[P1S]);
  assert.equal(a.json.severity, 'critical');
  assert.ok(a.json.job_id, 'names the open job');
  await sleep(3000);
  assert.equal(events('raised', 'print_stalled').length, 1, 'once, not every tick');
  await sim.control(P1S, { action: 'set', print: { layer_num: layer + 1 }, hold_s: 1 });
  await sse.waitFor((e) => e.event === 'alert.cleared' && e.json?.kind === 'print_stalled', 10000, 'stall cleared');
  await sim.control(P1S, { action: 'finish' });
});

test('hygroscopic spool in an AMS too long since dried; POST /spool/{id}/dried clears it', async () => {
  const f = (await post('/api/v1/filament', { material: 'PVA', density: 1.23, diameter: 1.75, weight: 500 })).json;
  const s = (await post('/api/v1/spool', { filament_id: f.id })).json;
  const r = await post(`/api/v1/printers/${ids[X1C]}/ams/0/3/assign`, { spool_id: s.id });
  assert.ok(r.status < 300, r.text);
  const twoDaysAgo = new Date(Date.now() - 48 * 3600e3).toISOString();
  const d = await post(`/api/v1/spool/${s.id}/dried`, { at: twoDaysAgo });
  assert.equal(d.status, 200, d.text);
  assert.equal(d.json.last_dried, twoDaysAgo.replace(/\.\d+Z$/, 'Z'));
  const a = await sse.waitFor((e) => e.event === 'alert.raised' && e.json?.kind === 'drying_due' && e.json.spool_id === s.id,
    5000, 'drying due');
  assert.equal(a.json.data.limit_h, 8);
  assert.ok(a.json.data.exposed_h >= 47);
  assert.equal((await post(`/api/v1/spool/${s.id}/dried`)).status, 200);
  await sse.waitFor((e) => e.event === 'alert.cleared' && e.json?.id === a.json.id, 5000, 'dried: cleared');
  assert.equal((await post('/api/v1/spool/999999/dried')).status, 404);
  assert.equal((await post(`/api/v1/spool/${s.id}/dried`, { at: 'yesterday' })).status, 422);
});

test('stats: manual jobs counted, failure reasons ranked, bad filters refused', async () => {
  const from = new Date(Date.now() - 3600e3).toISOString();
  const mk = async (name, status, reason) => {
    const j = (await post('/api/v1/jobs', { name, printer_name: 'bench', started_at: new Date(Date.now() - 1800e3).toISOString() })).json;
    const e = await post(`/api/v1/jobs/${j.id}/end`, { status, reason });
    assert.equal(e.status, 200, e.text);
  };
  await mk('a', 'completed');
  await mk('b', 'failed', 'nozzle clog');
  await mk('c', 'failed', 'nozzle clog');
  await mk('d', 'failed', 'bed adhesion');
  const r = await daemon.get(`/api/v1/stats?from=${encodeURIComponent(from)}&period=day`);
  assert.equal(r.status, 200, r.text);
  const t = r.json.totals;
  assert.ok(t.jobs >= 4 && t.completed >= 1 && t.failed >= 3, JSON.stringify(t));
  assert.deepEqual(r.json.failure_reasons.slice(0, 2), [{ reason: 'nozzle clog', count: 2 }, { reason: 'bed adhesion', count: 1 }]);
  assert.ok(r.json.by_period.length >= 1);
  for (const bad of ['period=year', 'from=nope', 'printer_id=x', 'top=0', 'from=2024-02-01&to=2024-01-01'])
    assert.equal((await daemon.get(`/api/v1/stats?${bad}`)).status, 422, bad);
});
