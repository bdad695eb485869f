// The Spoolman-compatible inventory over real HTTP: CRUD, filters, sorting, paging, use/measure
// arithmetic, extra fields, settings, archive, the requests real Spoolman clients make, and the
// AMS slot map against simulated printers. Runs on SQLite, and on PostgreSQL when PD_TEST_PG is set.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Broker, Sim, Daemon, WS, waitFor, tmpDir, assertCleanExit } from './harness.mjs';

const X1C = '00M09A350100321';
let broker, sim, daemon, printerId;

// Spoolman clients send no token: loopback is a trusted network by default.
const open = (method, path, body) => daemon.req(method, path, body, { Authorization: '' });

before(async () => {
  broker = new Broker(tmpDir('pd-inv-broker-'), [X1C]);
  await broker.start();
  sim = new Sim(broker, ['X1C']);
  await sim.start();
  daemon = new Daemon({ config: '[server]\nheartbeat_s = 1\n' });
  await daemon.start();
  printerId = (await daemon.addPrinter(broker, X1C)).id;
});

after(async () => {
  const r = daemon && await daemon.stop();
  await sim?.stop();
  await broker?.stop();
  if (r) assertCleanExit(assert, r);
});

async function ok(method, path, body) {
  const r = await open(method, path, body);
  assert.equal(r.status, 200, `${method} ${path}: ${r.status} ${r.text}`);
  return r.json;
}

test('vendor, filament and spool CRUD in Spoolman shapes', async () => {
  const v = await ok('POST', '/api/v1/vendor', { name: 'Polymaker', empty_spool_weight: 140 });
  assert.equal(v.name, 'Polymaker');
  assert.deepEqual(v.extra, {});
  assert.match(v.registered, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.ok(!('comment' in v), 'nulls are omitted');

  const f = await ok('POST', '/api/v1/filament', { name: 'PolyTerra Black', vendor_id: v.id, material: 'PLA',
    density: 1.24, diameter: 1.75, weight: 1000, color_hex: '#2c3232', nozzle_temp_min: 190, nozzle_temp_max: 230 });
  assert.equal(f.color_hex, '2C3232', 'colour normalised: upper case, no #');
  assert.equal(f.spool_weight, 140, 'tare defaults to the vendor empty spool weight');
  assert.equal(f.vendor.id, v.id);
  assert.equal(f.nozzle_temp_max, 230);

  const s = await ok('POST', '/api/v1/spool', { filament_id: f.id, remaining_weight: 750, location: 'Shelf A',
    extra: {} });
  assert.equal(s.initial_weight, 1000);
  assert.equal(s.spool_weight, 140);
  assert.equal(s.used_weight, 250);
  assert.equal(s.remaining_weight, 750);
  assert.ok(Math.abs(s.remaining_length - 251462.7) < 0.5, `remaining_length ${s.remaining_length}`);
  assert.ok(Math.abs(s.used_length - 83820.9) < 0.5, `used_length ${s.used_length}`);
  assert.equal(s.archived, false);
  assert.equal(s.filament.vendor.name, 'Polymaker');

  const patched = await ok('PATCH', `/api/v1/spool/${s.id}`, { remaining_weight: 500, comment: 'opened' });
  assert.equal(patched.used_weight, 500);
  assert.equal(patched.comment, 'opened');
  const cleared = await ok('PATCH', `/api/v1/spool/${s.id}`, { comment: null });
  assert.ok(!('comment' in cleared));

  const got = await ok('GET', `/api/v1/spool/${s.id}`);
  assert.equal(got.used_weight, 500);
  const del = await open('DELETE', `/api/v1/filament/${f.id}`);
  assert.equal(del.status, 403, 'a filament with spools cannot be deleted');
  assert.deepEqual(await ok('DELETE', `/api/v1/spool/${s.id}`), { message: 'Success!' });
  const gone = await open('GET', `/api/v1/spool/${s.id}`);
  assert.equal(gone.status, 404);
  assert.equal(gone.json.message, `No spool with ID ${s.id} found.`);
  await ok('DELETE', `/api/v1/vendor/${v.id}`);
  const orphan = await ok('GET', `/api/v1/filament/${f.id}`);
  assert.ok(!('vendor' in orphan), 'deleting a vendor detaches its filaments');
});

test('validation: 422 names the field, 400 for business rules, nothing half-written', async () => {
  const f = await ok('POST', '/api/v1/filament', { density: 1.24, diameter: 1.75, weight: 1000 });
  let r = await open('POST', '/api/v1/filament', { density: -1, diameter: 1.75 });
  assert.equal(r.status, 422);
  assert.deepEqual(r.json.detail[0].loc, ['body', 'density']);
  r = await open('POST', '/api/v1/filament', { density: 1.2, diameter: 1.75, color_hex: 'XYZ123' });
  assert.equal(r.status, 422);
  assert.deepEqual(r.json.detail[0].loc, ['body', 'color_hex']);
  r = await open('POST', '/api/v1/spool', { filament_id: f.id, used_weight: 'lots' });
  assert.equal(r.status, 422);
  assert.deepEqual(r.json.detail[0].loc, ['body', 'used_weight']);
  r = await open('POST', '/api/v1/spool', { filament_id: f.id, initial_weight: -5 });
  assert.equal(r.status, 422);
  r = await open('POST', '/api/v1/spool', { filament_id: f.id, colour: 'red' });
  assert.equal(r.status, 422, 'unknown field');
  assert.deepEqual(r.json.detail[0].loc, ['body', 'colour']);
  r = await open('POST', '/api/v1/spool', { filament_id: 999999 });
  assert.equal(r.status, 404);
  assert.match(r.json.message, /No filament with ID 999999/);
  r = await open('POST', '/api/v1/spool', { filament_id: f.id, remaining_weight: 5, used_weight: 5 });
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'Only specify either remaining_weight or used_weight.');
  r = await open('POST', '/api/v1/spool', '{"filament_id": ');
  assert.equal(r.status, 400);
  r = await open('GET', '/api/v1/spool/abc');
  assert.equal(r.status, 422);
  const before = await open('GET', '/api/v1/spool?allow_archived=true');
  r = await open('POST', '/api/v1/spool', { filament_id: f.id, extra: { nope: '"x"' } });
  assert.equal(r.status, 400);
  const afterList = await open('GET', '/api/v1/spool?allow_archived=true');
  assert.equal(afterList.headers.get('x-total-count'), before.headers.get('x-total-count'), 'nothing written');
});

test('use and measure arithmetic through density and diameter', async () => {
  const f = await ok('POST', '/api/v1/filament', { density: 1.24, diameter: 1.75, weight: 1000, spool_weight: 200 });
  const s = await ok('POST', '/api/v1/spool', { filament_id: f.id });
  assert.equal(s.used_weight, 0);
  let u = await ok('PUT', `/api/v1/spool/${s.id}/use`, { use_weight: 10 });
  assert.equal(u.used_weight, 10);
  assert.ok(u.first_used && u.last_used);
  u = await ok('PUT', `/api/v1/spool/${s.id}/use`, { use_length: 1000 });
  const g = 1.24 * 1000 * Math.PI * (1.75 / 2) ** 2 / 1000;
  assert.ok(Math.abs(u.used_weight - (10 + g)) < 1e-6, `used ${u.used_weight}`);
  u = await ok('PUT', `/api/v1/spool/${s.id}/use`, { use_weight: -1000 });
  assert.equal(u.used_weight, 0, 'never below zero');
  let r = await open('PUT', `/api/v1/spool/${s.id}/use`, { use_weight: 1, use_length: 1 });
  assert.equal(r.status, 400);
  r = await open('PUT', '/api/v1/spool/999999/use', { use_weight: 1 });
  assert.equal(r.status, 404);
  const m = await ok('PUT', `/api/v1/spool/${s.id}/measure`, { weight: 700 });
  assert.equal(m.used_weight, 500, 'gross 700 = 1000 net + 200 tare - 500 used');
  const full = await ok('PUT', `/api/v1/spool/${s.id}/measure`, { weight: 1300 });
  assert.equal(full.initial_weight, 1100);
  assert.equal(full.used_weight, 0);
  r = await open('PUT', '/api/v1/spool/999999/measure', { weight: 5 });
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'Spool not found.');
});

test('filters, sorting, pagination and X-Total-Count', async () => {
  const v1 = await ok('POST', '/api/v1/vendor', { name: 'Sunlu' });
  const v2 = await ok('POST', '/api/v1/vendor', { name: 'eSun' });
  const pla = await ok('POST', '/api/v1/filament', { name: 'Sunlu PLA Red', vendor_id: v1.id, material: 'PLA',
    density: 1.24, diameter: 1.75, weight: 1000, color_hex: 'FF0000' });
  const petg = await ok('POST', '/api/v1/filament', { name: 'eSun PETG Blue', vendor_id: v2.id, material: 'PETG',
    density: 1.27, diameter: 1.75, weight: 1000, color_hex: '0000FF' });
  const made = [];
  for (let i = 0; i < 6; i++)
    made.push(await ok('POST', '/api/v1/spool', { filament_id: i % 2 ? petg.id : pla.id, used_weight: i * 100,
      location: i < 3 ? 'Rack 1' : 'Rack 2', lot_nr: `L${i}`, archived: i === 5 }));
  const ids = made.map((s) => s.id);
  const q = async (qs) => { const r = await open('GET', `/api/v1/spool?${qs}`); assert.equal(r.status, 200, r.text);
    return { total: Number(r.headers.get('x-total-count')), items: r.json.filter((s) => ids.includes(s.id)) }; };

  let r = await q('filament.material=PLA&location=rack%201');
  assert.deepEqual(r.items.map((s) => s.id), [ids[0], ids[2]]);
  r = await q('filament.material=PLA,PETG&location="Rack 2"');
  assert.deepEqual(r.items.map((s) => s.id), [ids[3], ids[4]], 'archived hidden by default');
  r = await q('location="Rack 2"&allow_archived=True');
  assert.equal(r.items.length, 3);
  r = await q(`filament.vendor.id=${v2.id}&sort=used_weight:desc`);
  assert.deepEqual(r.items.map((s) => s.id), [ids[3], ids[1]]);
  r = await q(`vendor_name=sunlu&sort=remaining_weight:asc&limit=2&offset=1&filament.id=${pla.id}`);
  assert.equal(r.total, 3);
  assert.deepEqual(r.items.map((s) => s.id), [ids[2], ids[0]]);
  r = await q(`filament.id=${pla.id}&limit=10&offset=1000`);
  assert.equal(r.total, 3, 'past the last page: no rows, the total still counted');
  assert.equal(r.items.length, 0);
  r = await q(`filament.id=${pla.id}&offset=2`);
  assert.equal(r.items.length, 3, 'offset is ignored without limit');
  const bad = await open('GET', '/api/v1/spool?sort=nonsense:asc');
  assert.equal(bad.status, 400);
  const badIds = await open('GET', '/api/v1/spool?filament.id=1,x');
  assert.equal(badIds.status, 422);
  // printdeck's id list (a label sheet's spools), archived ones with allow_archived
  r = await q(`id=${ids[4]},${ids[1]},${ids[5]}&sort=id:asc`);
  assert.deepEqual(r.items.map((s) => s.id), [ids[1], ids[4]]);
  assert.equal(r.total, 2);
  r = await q(`id=${ids[5]}&allow_archived=true`);
  assert.deepEqual(r.items.map((s) => s.id), [ids[5]]);
  assert.equal((await open('GET', `/api/v1/spool?id=${Array.from({ length: 257 }, (_, i) => i + 1).join(',')}`)).status, 422,
    'at most 256 ids');
  const red = await ok('GET', '/api/v1/filament?color_hex=F81010&color_similarity_threshold=10');
  assert.ok(red.some((f) => f.id === pla.id) && !red.some((f) => f.id === petg.id));
  const mats = await ok('GET', '/api/v1/material');
  assert.ok(mats.includes('PLA') && mats.includes('PETG'));
  assert.ok((await ok('GET', '/api/v1/location')).includes('Rack 1'));
  assert.equal(await ok('PATCH', '/api/v1/location/Rack%201', { name: 'Rack One' }), 'Rack One');
  assert.ok((await ok('GET', '/api/v1/location')).includes('Rack One'));
});

test('extra fields and settings as Spoolman encodes them', async () => {
  const fields = await ok('POST', '/api/v1/field/spool/tag', { name: 'Tag', field_type: 'text' });
  assert.ok(fields.some((x) => x.key === 'tag'));
  const f = await ok('POST', '/api/v1/filament', { density: 1.24, diameter: 1.75 });
  const s = await ok('POST', '/api/v1/spool', { filament_id: f.id, extra: { tag: '"A1"' } });
  assert.deepEqual(s.extra, { tag: '"A1"' });
  const bad = await open('PATCH', `/api/v1/spool/${s.id}`, { extra: { tag: 'not json' } });
  assert.equal(bad.status, 400);
  const byTag = await ok('GET', '/api/v1/spool?extra.tag=a1');
  assert.ok(byTag.some((x) => x.id === s.id));
  const cur = await ok('GET', '/api/v1/setting/currency');
  assert.deepEqual(cur, { value: '"EUR"', is_set: false, type: 'string' });
  const set = await ok('POST', '/api/v1/setting/currency', '"\\"USD\\""');
  assert.equal(set.value, '"USD"');
  assert.equal(set.is_set, true);
  const all = await ok('GET', '/api/v1/setting/');
  assert.equal(all.currency.value, '"USD"');
  assert.equal((await open('GET', '/api/v1/setting/nope')).status, 404);
});

test('every sort pages the same as the whole list, ties broken by id', async () => {
  await ok('POST', '/api/v1/field/spool/prio', { name: 'Priority', field_type: 'integer' });
  const v = await ok('POST', '/api/v1/vendor', { name: 'Pager' });
  const fa = await ok('POST', '/api/v1/filament', { name: 'Pager A', vendor_id: v.id, material: 'PAGE',
    density: 1.2, diameter: 1.75, weight: 750 });
  const fb = await ok('POST', '/api/v1/filament', { name: 'Pager B', material: 'PAGE', density: 1.3, diameter: 2.85,
    weight: 1000 });
  for (let i = 0; i < 9; i++)  // repeated values and nulls in every sort key
    await ok('POST', '/api/v1/spool', { filament_id: i % 3 ? fa.id : fb.id, used_weight: (i % 4) * 50,
      initial_weight: i % 2 ? 900 : null, location: i % 3 ? `P${i % 2}` : null, price: i % 5 ? 10 + (i % 3) : null,
      extra: i % 4 ? { prio: `${i % 3}` } : {} });
  const sorts = ['remaining_weight:desc', 'used_length:asc', 'filament.name:asc,id:desc', 'location:desc,price:asc',
    'extra.prio:asc,used_weight:desc', 'filament.vendor.name:asc,remaining_length:desc', 'filament.combined_name:desc'];
  for (const sort of sorts) {
    const base = `filament.material=PAGE&sort=${encodeURIComponent(sort)}`;
    const whole = (await ok('GET', `/api/v1/spool?${base}`)).map((x) => x.id);
    assert.equal(whole.length, 9);
    const paged = [];
    for (let off = 0; off < 12; off += 4) {
      const r = await open('GET', `/api/v1/spool?${base}&limit=4&offset=${off}`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-total-count'), '9', `${sort} @${off}`);
      paged.push(...r.json.map((x) => x.id));
    }
    assert.deepEqual(paged, whole, sort);
  }
});

test('what Moonraker, OctoPrint, Home Assistant and spoolman2slicer request, without a token', async () => {
  assert.deepEqual(await ok('GET', '/api/v1/health'), { status: 'healthy' });
  const info = await ok('GET', '/api/v1/info');
  assert.match(info.version, /^\d+\.\d+\.\d+$/);
  assert.equal(info.git_commit, null);
  // Moonraker holds the spool websocket open (that is "Spoolman is up"), spoolman2slicer the root
  const spoolWs = new WS(daemon, '/api/v1/spool'), rootWs = new WS(daemon, '/api/v1/');
  assert.equal((await spoolWs.open()).status, 101);
  assert.equal((await rootWs.open()).status, 101);
  const f = await ok('POST', '/api/v1/filament', { name: 'Moon PLA', material: 'PLA', density: 1.24, diameter: 1.75, weight: 1000 });
  const s = await ok('POST', '/api/v1/spool', { filament_id: f.id });
  // Moonraker: GET the active spool, then report usage by length every few seconds
  assert.equal((await ok('GET', `/api/v1/spool/${s.id}`)).id, s.id);
  const used = await ok('PUT', `/api/v1/spool/${s.id}/use`, { use_length: 2500.5 });
  assert.ok(used.used_weight > 7 && used.used_weight < 8);
  const ev = JSON.parse(await spoolWs.waitFor((m) => JSON.parse(m).type === 'updated'));
  assert.equal(ev.resource, 'spool');
  assert.equal(ev.payload.id, s.id);
  assert.equal(ev.payload.used_weight, used.used_weight);
  assert.match(ev.date, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  await rootWs.waitFor((m) => { const x = JSON.parse(m); return x.resource === 'filament' && x.type === 'added'; }, 5000, 'root socket sees every resource');
  await ok('DELETE', `/api/v1/spool/${s.id}`);
  await spoolWs.waitFor((m) => { const x = JSON.parse(m); return x.type === 'deleted' && x.payload.id === s.id; });
  spoolWs.destroy();
  rootWs.destroy();
  // Home Assistant
  await ok('GET', '/api/v1/spool?allow_archived=False');
  await ok('GET', '/api/v1/filament');
  await ok('GET', '/api/v1/field/spool');
  await ok('GET', '/api/v1/location');
  const s2 = await ok('POST', '/api/v1/spool', { filament_id: f.id });
  await ok('PATCH', `/api/v1/spool/${s2.id}`, { archived: true });
  // spoolman2slicer
  for (const p of ['/api/v1/vendor', '/api/v1/filament', '/api/v1/spool']) assert.ok(Array.isArray(await ok('GET', p)));
  // Fluidd and Mainsail, through Moonraker's proxy (server.spoolman.proxy: the path under /api)
  // when they connect, then the spool list and the active spool
  assert.equal((await ok('GET', '/api/v1/health')).status, 'healthy');
  assert.ok((await ok('GET', '/api/v1/info')).version);
  assert.ok(Array.isArray(await ok('GET', '/api/v1/vendor')));
  assert.ok((await ok('GET', '/api/v1/spool')).some((x) => x.id === s2.id && x.archived === false) === false,
    'the archived spool is not in the default list');
  assert.equal((await ok('GET', `/api/v1/spool/${s2.id}`)).archived, true);
  // printdeck's own routes still need the token
  assert.equal((await open('GET', '/api/v1/printers')).status, 401);
});

// Spoolman's Prometheus gauges ([inventory] metrics, Spoolman's SPOOLMAN_METRICS_ENABLED), for
// the dashboards written against Spoolman's /metrics. A daemon of its own, restarted once: the
// gauges are read at start and then each minute. No network is trusted there, so the gauges,
// which show the inventory, need the token that Spoolman's routes then need.
test("Spoolman's gauges on /metrics with [inventory] metrics", async () => {
  assert.doesNotMatch((await daemon.get('/metrics')).text, /spoolman_/, 'off by default');
  const d = new Daemon({ config: '[inventory]\nmetrics = true\n[auth]\ntrusted_networks =\n' });
  const post = async (method, path, body) => {
    const r = await d.req(method, path, body);
    assert.equal(r.status, 200, `${path}: ${r.text}`);
    return r.json;
  };
  try {
    await d.start();
    const v = await post('POST', '/api/v1/vendor', { name: 'Poly"maker\\' });
    const f = await post('POST', '/api/v1/filament', { name: 'Terra', vendor_id: v.id, material: 'PLA', density: 1.24,
      diameter: 1.75, weight: 1000, color_hex: 'ff0000' });
    const bare = await post('POST', '/api/v1/filament', { density: 1.27, diameter: 2.85 });
    const s1 = await post('POST', '/api/v1/spool', { filament_id: f.id, price: 19.99, used_weight: 250.5 });
    const s2 = await post('POST', '/api/v1/spool', { filament_id: bare.id });
    const s3 = await post('POST', '/api/v1/spool', { filament_id: f.id });
    await post('PATCH', `/api/v1/spool/${s3.id}`, { archived: true });
    assertCleanExit(assert, await d.stop());
    await d.start();
    const text = await waitFor(async () => {
      const t = (await d.get('/metrics')).text;
      return t.includes('spoolman_spool_weight_used{') && t;
    }, 10000, 'the first read of the gauges');
    const lines = text.split('\n');
    const has = (l) => assert.ok(lines.includes(l), `missing ${l} in\n${text.slice(text.indexOf('# HELP spoolman_'))}`);
    const sp = (s, fil) => `{spool_id="${s.id}",filament_id="${fil.id}"}`;
    has(`spoolman_spool_price${sp(s1, f)} 19.99`);
    has(`spoolman_spool_weight_used${sp(s1, f)} 250.5`);
    has(`spoolman_spool_initial_weight${sp(s1, f)} 1000`);
    has(`spoolman_spool_weight_used${sp(s2, bare)} 0`);
    assert.ok(!text.includes(`spoolman_spool_price${sp(s2, bare)}`), 'a spool without a price has no price sample');
    assert.ok(!text.includes(`spoolman_spool_initial_weight${sp(s2, bare)}`), 'nor one without a weight a weight');
    assert.ok(!text.includes(`spool_id="${s3.id}"`), 'archived spools are left out');
    has(`spoolman_filament_info{filament_id="${f.id}",vendor="Poly\\"maker\\\\",name="Terra",material="PLA",color="FF0000"} 1`);
    has(`spoolman_filament_info{filament_id="${bare.id}",vendor="-",name="None",material="None",color="None"} 1`);
    has(`spoolman_filament_density{filament_id="${f.id}"} 1.24`);
    has(`spoolman_filament_diameter{filament_id="${bare.id}"} 2.85`);
    has(`spoolman_filament_weight{filament_id="${f.id}"} 1000`);
    assert.ok(!text.includes(`spoolman_filament_weight{filament_id="${bare.id}"}`), 'no weight, no sample');
    // every family declared, and its samples together right after it, as the format wants
    const families = ['spoolman_spool_price', 'spoolman_spool_weight_used', 'spoolman_spool_initial_weight',
      'spoolman_filament_info', 'spoolman_filament_density', 'spoolman_filament_diameter', 'spoolman_filament_weight'];
    for (const fam of families) {
      has(`# TYPE ${fam} gauge`);
      const at = lines.indexOf(`# TYPE ${fam} gauge`);
      const mine = lines.flatMap((l, i) => (l.startsWith(`${fam}{`) ? [i] : []));
      assert.deepEqual(mine, mine.map((_, k) => at + 1 + k), `${fam}: samples together after its TYPE line`);
    }
    assert.match(text, /^printdeck_uptime_seconds \d+$/m, "printdeck's own families are still there");
    const anon = await d.req('GET', '/metrics', undefined, { Authorization: '' });
    assert.equal(anon.status, 200);
    assert.match(anon.text, /^printdeck_uptime_seconds \d+$/m);
    assert.doesNotMatch(anon.text, /spoolman_/, 'no token, no trusted network: no inventory');
    assert.equal((await d.req('GET', '/api/v1/spool', undefined, { Authorization: '' })).status, 401, 'as on its routes');
  } finally {
    const r = await d.stop();
    if (r) assertCleanExit(assert, r);
  }
});

test('AMS slots: assign, unassign, history, live tray and mismatch', async () => {
  await waitFor(async () => (await daemon.printer(printerId))?.online, 10000, 'printer online');
  await sim.control(X1C, { action: 'swap_spool', ams: 0, slot: 1, type: 'PLA', color: 'FF0000', rfid: false });
  await waitFor(async () => {
    const slots = (await daemon.get(`/api/v1/printers/${printerId}/ams`)).json;
    return slots?.find((x) => x.unit === 0 && x.slot === 1 && x.live?.material === 'PLA' && x.live?.color === '#FF0000FF');
  }, 10000, 'live tray in slot 0/1');
  const f = await ok('POST', '/api/v1/filament', { material: 'PETG', density: 1.27, diameter: 1.75, color_hex: '00FF00' });
  const s = await ok('POST', '/api/v1/spool', { filament_id: f.id });
  let r = await daemon.req('POST', `/api/v1/printers/${printerId}/ams/0/1/assign`, { spool_id: s.id });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.spool.id, s.id);
  assert.deepEqual(r.json.mismatch, { material: true, color: true });
  r = await daemon.req('POST', `/api/v1/printers/${printerId}/ams/0/1/assign`, { spool_id: 999999 });
  assert.equal(r.status, 404);
  const all = (await daemon.get('/api/v1/ams')).json;
  assert.ok(all.some((x) => x.printer_id === printerId && x.spool_id === s.id));
  // the printer now reports another material in that slot: the spool was swapped out
  await sim.control(X1C, { action: 'swap_spool', ams: 0, slot: 1, type: 'ABS', color: '000000', rfid: false });
  await waitFor(async () => {
    const h = (await daemon.get(`/api/v1/printers/${printerId}/ams/history`)).json;
    return h?.find((x) => x.spool_id === s.id && x.unassign_event === 'material_change');
  }, 10000, 'material change unassigns');
  r = await daemon.req('POST', `/api/v1/printers/${printerId}/ams/0/1/assign`, { spool_id: s.id, event_type: 'manual' });
  assert.equal(r.status, 200);
  r = await daemon.req('POST', `/api/v1/printers/${printerId}/ams/0/1/unassign`, {});
  assert.equal(r.status, 200);
  assert.ok(!('spool_id' in r.json));
  const hist = await daemon.get(`/api/v1/printers/${printerId}/ams/history?limit=1`);
  assert.equal(hist.json.length, 1);
  assert.ok(Number(hist.headers.get('x-total-count')) >= 2);
  // an RFID spool: registering its tray_uuid puts it into the slot that reports it
  const slot2 = async () => (await daemon.get(`/api/v1/printers/${printerId}/ams`)).json?.find((y) => y.unit === 0 && y.slot === 2);
  const before = (await slot2())?.reported?.tray_uuid;
  await sim.control(X1C, { action: 'swap_spool', ams: 0, slot: 2, type: 'PLA', color: 'FFFFFF', rfid: true });
  const live = await waitFor(async () => {
    const x = await slot2();
    return x?.reported?.tray_uuid && x.reported.tray_uuid !== before ? x : null;
  }, 10000, 'the new rfid tray reported');
  const rf = await ok('POST', '/api/v1/spool', { filament_id: f.id, tray_uuid: live.reported.tray_uuid });
  const slot = (await daemon.get(`/api/v1/printers/${printerId}/ams`)).json.find((y) => y.unit === 0 && y.slot === 2);
  assert.equal(slot.spool_id, rf.id);
  assert.equal((await daemon.req('POST', `/api/v1/printers/${printerId}/ams/0/1/assign`, { spool_id: s.id }, { Authorization: '' })).status, 401);
});
