// "Which spool is this?" end to end (docs/inventory.md, AMS slots and Prompts): the simulator
// swaps spools in a P1S's AMS over the real broker, the daemon keeps the slot map, makes
// inventory spools of Bambu RFID spools, and asks about the others at /api/v1/prompts. And a
// multi-colour job: tool changes between trays, each tray's remain going down, the 3MF.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TOKEN, waitFor, join, readFileSync, existsSync, simFleet, stopSimFleet } from './harness.mjs';

const P1S = '01P00A451200412', X1C = '00M09A350100413';
const CONFIG = '[mqtt]\nsilence_s = 5\nreconnect_min_ms = 200\nreconnect_max_ms = 2000\n[server]\nheartbeat_s = 1\n';
let broker, sim, daemon, sse, storage, ids = {};

const fleet = {};
before(async () => {
  ({ broker, sim, daemon, sse, ids, storage } = await simFleet(fleet, { prefix: 'pd-prompts-', serials: [P1S, X1C],
    models: ['P1S', 'X1C'], simArgs: ['--speedup', '4'], config: CONFIG, storage: true }));
});

after(() => stopSimFleet(assert, fleet));

const post = (path, body) => daemon.req('POST', path, body);
const slotOf = async (s, unit, slot) => (await daemon.get(`/api/v1/printers/${ids[s]}/ams`)).json
  .find((x) => x.unit === unit && x.slot === slot);
const openPrompt = (s, unit, slot, pred = () => true) => waitFor(async () => (await daemon.get('/api/v1/prompts')).json
  .find((p) => p.printer_id === ids[s] && p.unit === unit && p.slot === slot && pred(p)), 15000,
`prompt for ${s} ${unit}/${slot}`);
const make = async (kind, body) => {
  const r = await post(`/api/v1/${kind}`, body);
  assert.equal(r.status, 200, r.text);
  return r.json.id;
};

test('a Bambu RFID spool swapped in becomes an inventory spool, assigned, once', async () => {
  await sim.control(P1S, { action: 'swap_spool', ams: 0, slot: 1, type: 'PETG', color: '00AE42FF', remain: 80 });
  const slot = await waitFor(async () => {
    const x = await slotOf(P1S, 0, 1);
    return x?.spool && x.live?.material === 'PETG' && x.spool.tray_uuid === x.live.tray_uuid ? x : null;
  }, 15000, 'RFID spool assigned');
  const sp = slot.spool;
  assert.equal(sp.filament.material, 'PETG');
  assert.equal(sp.filament.vendor.name, 'Bambu Lab');
  assert.equal(sp.filament.color_hex.toLowerCase(), '00ae42');
  assert.equal(sp.filament.diameter, 1.75);
  assert.equal(sp.initial_weight, 1000);
  assert.ok(Math.abs(sp.remaining_weight - 800) <= 10, `remaining ${sp.remaining_weight}`);
  assert.equal(sp.tag_uid, slot.live.tag_uid);
  // the same tag reported again (every report carries it) makes nothing new
  await daemon.get(`/api/v1/printers/${ids[P1S]}/ams`);
  await new Promise((r) => setTimeout(r, 1500));
  const same = (await daemon.get(`/api/v1/spool?tray_uuid=${slot.live.tray_uuid}`)).json;
  assert.equal(same.length, 1);
  // a second spool of that filament shares it; the vendor is not made twice
  await sim.control(P1S, { action: 'swap_spool', ams: 0, slot: 2, type: 'PETG', color: '00AE42FF', remain: 100 });
  const second = await waitFor(async () => {
    const x = await slotOf(P1S, 0, 2);
    return x?.spool && x.live?.material === 'PETG' && x.spool.tray_uuid === x.live.tray_uuid ? x.spool : null;
  }, 15000, 'second RFID spool');
  assert.equal(second.filament.id, sp.filament.id);
  assert.equal((await daemon.get('/api/v1/vendor?name="Bambu Lab"')).json.length, 1);
  // the change is in the slot's history
  const hist = (await daemon.get(`/api/v1/printers/${ids[P1S]}/ams/history`)).json;
  assert.ok(hist.find((h) => h.slot === 1 && h.event_type === 'rfid' && h.spool_id === sp.id), JSON.stringify(hist));
  assert.ok(hist.find((h) => h.slot === 1 && h.reported?.material === 'PETG'));
});

test('a spool without a tag: prompt with ranked candidates → assign → slot assigned, prompt answered', async () => {
  const v = await make('vendor', { name: 'Polymaker' });
  const red = await make('filament', { vendor_id: v, name: 'red', material: 'PLA', density: 1.24, diameter: 1.75,
    weight: 1000, color_hex: 'E02020' });
  const blue = await make('filament', { vendor_id: v, name: 'blue', material: 'PLA', density: 1.24, diameter: 1.75,
    weight: 1000, color_hex: '2020E0' });
  const redPetg = await make('filament', { vendor_id: v, name: 'red petg', material: 'PETG', density: 1.27,
    diameter: 1.75, weight: 1000, color_hex: 'E02020' });
  const sBlue = await make('spool', { filament_id: blue });
  const sRedLow = await make('spool', { filament_id: red, remaining_weight: 150 });
  const sRed = await make('spool', { filament_id: red, remaining_weight: 900 });
  const sPetg = await make('spool', { filament_id: redPetg });

  await sim.control(P1S, { action: 'swap_spool', ams: 0, slot: 3, type: 'PLA', color: 'E52222FF', rfid: false });
  const listed = await openPrompt(P1S, 0, 3, (x) => x.reported.material === 'PLA');
  assert.equal(listed.candidates, undefined, 'the list does not rank candidates');
  const p = (await daemon.get(`/api/v1/prompts/${listed.id}`)).json;
  assert.equal(p.kind, 'slot');
  assert.equal(p.status, 'open');
  // same material and near colour first, the fuller spool before the other; the simulator's
  // own spools (made from their tags) compete for the places after those
  const order = p.candidates.map((c) => c.spool_id);
  assert.deepEqual(order.slice(0, 2), [sRed, sRedLow]);
  for (const far of [sBlue, sPetg])
    assert.ok(!order.includes(far) || order.indexOf(far) > 1);
  const top = p.candidates[0];
  assert.equal(top.material_match, true);
  assert.ok(top.color_distance < 5);
  assert.equal(top.remaining_weight, 900);
  assert.equal(top.loaded, null);
  assert.equal(top.spool.id, sRed);
  await sse.waitFor((e) => e.event === 'prompt.raised' && e.json?.id === p.id, 5000, 'prompt.raised');
  assert.equal((await daemon.get(`/api/v1/prompts/${p.id}`)).json.id, p.id);

  const r = await post(`/api/v1/prompts/${p.id}/assign`, { spool_id: sRed });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, 'answered');
  assert.equal(r.json.spool_id, sRed);
  assert.equal((await slotOf(P1S, 0, 3)).spool_id, sRed);
  await sse.waitFor((e) => e.event === 'prompt.answered' && e.json?.id === p.id && e.json.status === 'answered', 5000, 'prompt.answered');
  assert.ok(!(await daemon.get('/api/v1/prompts')).json.find((x) => x.id === p.id));
  assert.equal((await daemon.get('/api/v1/prompts?all=true')).json.find((x) => x.id === p.id).status, 'answered');
  // answered is answered
  assert.equal((await post(`/api/v1/prompts/${p.id}/assign`, { spool_id: sRed })).status, 400);
  assert.equal((await post('/api/v1/prompts/999999/dismiss')).status, 404);
  assert.equal((await post(`/api/v1/prompts/${p.id}/assign`, { spool_id: 'x' })).status, 422);
});

test('dismiss; two changes on one slot leave one open prompt', async () => {
  await sim.control(P1S, { action: 'swap_spool', ams: 0, slot: 0, type: 'ABS', color: '101010FF', rfid: false });
  const first = await openPrompt(P1S, 0, 0, (x) => x.reported.material === 'ABS');
  await sim.control(P1S, { action: 'swap_spool', ams: 0, slot: 0, type: 'ASA', color: 'F0F0F0FF', rfid: false });
  const second = await openPrompt(P1S, 0, 0, (x) => x.reported.material === 'ASA');
  assert.notEqual(second.id, first.id);
  const open = (await daemon.get(`/api/v1/prompts?printer=${ids[P1S]}`)).json.filter((x) => x.unit === 0 && x.slot === 0);
  assert.equal(open.length, 1);
  const all = (await daemon.get('/api/v1/prompts?all=true')).json;
  assert.equal(all.find((x) => x.id === first.id).status, 'replaced');
  // a page of them, newest first, and how many there are in all
  const page = await daemon.get('/api/v1/prompts?all=true&limit=1&offset=1');
  assert.equal(page.headers.get('x-total-count'), String(all.length));
  assert.deepEqual(page.json.map((x) => x.id), [all[1].id]);
  assert.equal((await daemon.get('/api/v1/prompts?limit=x')).status, 422);
  await sse.waitFor((e) => e.event === 'prompt.replaced' && e.json?.id === first.id && e.json.status === 'replaced', 5000, 'prompt.replaced');
  const d = await post(`/api/v1/prompts/${second.id}/dismiss`);
  assert.equal(d.status, 200, d.text);
  assert.equal(d.json.status, 'dismissed');
  assert.ok(!(await daemon.get('/api/v1/prompts')).json.find((x) => x.id === second.id));
  assert.equal((await slotOf(P1S, 0, 0)).spool_id, undefined);
});

test('a multi-colour job: tool changes between trays, remain per tray, the 3MF lists every filament', async () => {
  await sim.control(X1C, { action: 'swap_spool', ams: 0, slot: 0, type: 'PLA', color: 'FFFFFFFF', remain: 100 });
  await sim.control(X1C, { action: 'swap_spool', ams: 0, slot: 2, type: 'PLA', color: '000000FF', remain: 100 });
  await waitFor(async () => (await slotOf(X1C, 0, 2))?.live?.remain === 100, 15000, 'spools loaded');
  await sim.control(X1C, { action: 'start_job', name: 'twotone', layers: 12, minutes: 1, trays: [[0, 0], [0, 2]],
    grams: [30, 20] });
  const seen = new Set();
  await waitFor(async () => {
    const pr = await daemon.printer(ids[X1C]);
    if (pr?.state === 'RUNNING') seen.add(pr.ams?.tray_now ?? pr.tray_now);
    return seen.has(0) && seen.has(2);
  }, 30000, 'tray_now on both trays', 100);
  const file = join(storage, X1C, 'twotone.gcode.3mf');
  assert.ok(existsSync(file));
  const r = await fetch(daemon.url('/api/v1/files/analyze'), { method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}` }, body: readFileSync(file) });
  const a = await r.json();
  assert.equal(r.status, 200, JSON.stringify(a));
  const fil = a.plates[0].filaments;
  assert.equal(fil.length, 2);
  assert.deepEqual(fil.map((f) => Math.round(f.grams)), [30, 20]);
  assert.deepEqual(fil.map((f) => f.type), ['PLA', 'PLA']);
  // the plate's G-code, tool changes and purges included, extrudes what slice_info says
  for (const f of fil) assert.ok(Math.abs(f.gcode_grams - f.grams) / f.grams < 0.005, JSON.stringify(f));
  const truth = join(storage, X1C, 'twotone.truth.json');
  await waitFor(() => existsSync(truth), 60000, 'the job ends', 200);
  const t = JSON.parse(readFileSync(truth, 'utf8'));
  const g = (slot) => t.trays.find((x) => x.unit === 0 && x.slot === slot)?.grams;
  assert.ok(Math.abs(g(0) - 30) < 0.01 && Math.abs(g(2) - 20) < 0.01, JSON.stringify(t));
  // 30 g and 20 g of 1000 g spools: 3 % and 2 % (the AMS reports whole percents, rounded up)
  let last;
  await waitFor(async () => {
    last = [(await slotOf(X1C, 0, 0)).live.remain, (await slotOf(X1C, 0, 2)).live.remain];
    return last[0] === 97 && last[1] === 98;
  }, 10000, 'remain per tray').catch(() => assert.fail(`remain ${last}`));
});
