// Swaps and multi-colour rollovers end to end (docs/accounting.md, "Splits"): real broker over
// TLS, one real vsftpd per printer, the simulator's ground truth per spool. A spool swapped by
// hand mid-print and an AMS refill in a three-colour print (tray_now reading 255 while the tube
// empties) on a printer that numbers trays globally (P1S), one that sends a unit's own slot
// and no extruder snow (X1C with two AMS: the push mapping names the unit) and a dual-nozzle
// H2D (each extruder's snow: its backup sits in the same slot number of the other unit).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { HAVE_FTPS, waitFor, join, loadSpool as loadSpoolIn, readTruth, truthGrams, Accuracy, simFleet,
  stopSimFleet } from './harness.mjs';

const P1S = '01P00A451200801', P1S2 = '01P00A451200802', X1C = '00M09A350100803', H2D = '0948AD350100804';
const ALL = [P1S, P1S2, X1C, H2D];
const skip = HAVE_FTPS ? false : 'needs root and vsftpd (scripts/setup.sh)';
const CONFIG = `[mqtt]
silence_s = 5
reconnect_min_ms = 200
reconnect_max_ms = 2000
[server]
heartbeat_s = 1
`;
const RED = 'C12E1FFF', WHITE = 'FFFFFFFF', BLUE = '0A2989FF', GREEN = '00AE42FF';
let broker, ftps, sim, daemon, storage, ids = {}, filament;
const accuracy = new Accuracy();

const fleet = {};
before(async () => {
  if (skip) return;
  // a tool change of the simulator takes no time and its reports sample tray_now: every 50 ms
  // (0.2 simulated s, a fifth of a layer below) each filament's share of a layer is seen, as a
  // printer's reports see its minute-long tool changes
  ({ broker, ftps, sim, daemon, ids, storage } = await simFleet(fleet, { prefix: 'pd-roll-', serials: ALL,
    models: ['P1S', 'P1S', 'X1C', 'H2D'], simArgs: ['--speedup', '4', '--interval-ms', '50'], config: CONFIG,
    ftps: true, sse: false }));
  const f = await daemon.req('POST', '/api/v1/filament', { name: 'Basic', material: 'PLA', density: 1.24,
    diameter: 1.75, weight: 1000, price: 20 });
  assert.equal(f.status, 200, f.text);
  filament = f.json.id;
});

after(async () => {
  if (skip) return;
  await stopSimFleet(assert, fleet);
  accuracy.print();
});

const job = async (id) => (await daemon.get(`/api/v1/jobs/${id}`)).json;
const until = (id, pred, what, ms = 30000) => waitFor(async () => { const j = await job(id); return pred(j) ? j : null; }, ms, what);
const openJob = (s, name) => waitFor(async () => (await daemon.get(`/api/v1/jobs?printer_id=${ids[s]}&name=${name}`)).json
  .find((j) => j.name === name), 15000, `${name} open on ${s}`);
const accounted = (id, ms = 90000) => until(id, (j) => j.accounted_at, `job ${id} accounted`, ms);
const loadSpool = (s, unit, slot, color, remain = 100) => loadSpoolIn(daemon, sim, s, ids[s], filament, unit, slot,
  { color, remain });
const used = async (spool) => (await daemon.get(`/api/v1/spool/${spool}`)).json.used_weight;
const slotOf = async (s, unit, slot) => {
  const slots = (await daemon.get(`/api/v1/printers/${ids[s]}/ams`)).json;
  return (Array.isArray(slots) ? slots : slots?.slots ?? []).find((x) => x.unit === unit && x.slot === slot);
};
/** The spools a job charges: those the slot map named at its start (its snapshot), by tray. The
 * tray's RFID tag may name another inventory spool later (the one printdeck made for the tag). */
const snapshotSpools = async (id) => {
  const snap = (await job(id)).snapshot;
  return (unit, slot) => snap.find((x) => x.unit === unit && x.slot === slot)?.spool_id;
};

test('a spool swapped by hand mid-print: split at the swap, each spool its grams within 2 %', { skip }, async () => {
  await loadSpool(P1S, 0, 0, RED);
  await sim.control(P1S, { action: 'start_job', name: 'swap', layers: 200, minutes: 2, grams: 50, tray: 0 });
  const j = await openJob(P1S, 'swap');
  const first = (await snapshotSpools(j.id))(0, 0);
  const u0 = await used(first);
  await until(j.id, (x) => x.file_status?.state === 'fetched' && x.progress >= 40, 'analysed, 40 % printed');
  // the user pauses, pulls the spool from the feeding slot, loads another (a Bambu spool:
  // printdeck makes it an inventory spool and the slot names it) and resumes
  let r = await daemon.req('POST', `/api/v1/printers/${ids[P1S]}/commands`, { command: 'pause' });
  assert.equal(r.status, 200, r.text);
  await waitFor(async () => (await daemon.printer(ids[P1S]))?.state === 'PAUSE', 10000, 'paused');
  await sim.control(P1S, { action: 'swap_spool', ams: 0, slot: 0, type: 'PLA', color: GREEN, remain: 100 });
  const second = await waitFor(async () => {
    const x = await slotOf(P1S, 0, 0);
    return x?.live?.color === `#${GREEN}` && x.spool?.tray_uuid === x.live.tray_uuid ? x.spool_id : null;
  }, 15000, 'the new spool in the slot');
  const u1 = await used(second);
  r = await daemon.req('POST', `/api/v1/printers/${ids[P1S]}/commands`, { command: 'resume' });
  assert.equal(r.status, 200, r.text);
  const done = await accounted(j.id);
  assert.equal(done.status, 'completed');
  const t = await readTruth(storage, P1S, 'swap');
  const spools = t.trays.filter((x) => x.tray === 0);
  assert.equal(spools.length, 2, `the simulator split the tray at the swap: ${JSON.stringify(t)}`);
  const [before, after] = spools;
  assert.deepEqual(done.filament.map((f) => f.spool_id).sort(), [first, second].sort(), JSON.stringify(done.filament));
  assert.ok(done.filament.every((f) => f.source === '3mf'));
  const tol = 0.02 * (before.grams + after.grams);
  accuracy.check(assert, 'swap by hand: spool pulled', (await used(first)) - u0, before.grams, Math.min(tol, 0.02 * before.grams + 0.5));
  accuracy.check(assert, 'swap by hand: spool loaded', (await used(second)) - u1, after.grams, Math.min(tol, 0.02 * after.grams + 0.5));
});

/** Three PLA colours; the white spool holds 30 g of the 60 g the white filament needs and the AMS
 * refills from the white backup (the printer's other slots emptied: nothing else to refill from).
 * Every spool charged its own grams, no other spool touched. */
async function multiColourRollover(s, label, { red, white, blue, backup, empty = [] }) {
  for (const [unit, slot] of empty) await sim.control(s, { action: 'swap_spool', ams: unit, slot, empty: true });
  const trays = { red, white, blue, backup };
  await loadSpool(s, ...red, RED);
  await loadSpool(s, ...white, WHITE, 3);
  await loadSpool(s, ...blue, BLUE);
  await loadSpool(s, ...backup, WHITE);
  const name = `roll-${label}`;
  await sim.control(s, { action: 'start_job', name, layers: 200, minutes: 3, trays: [red, white, blue],
    grams: [20, 60, 25] });
  const j = await openJob(s, name);
  const spoolAt = await snapshotSpools(j.id), spools = {}, before = {};
  for (const [k, tray] of Object.entries(trays)) {
    spools[k] = spoolAt(...tray);
    assert.ok(spools[k], `a spool in ${tray} at the start`);
    before[k] = await used(spools[k]);
  }
  const done = await accounted(j.id);
  assert.equal(done.status, 'completed');
  const t = await readTruth(storage, s, name);
  const at = ([unit, slot]) => unit * 4 + slot;
  assert.ok(truthGrams(t, at(backup)) > 20, `the simulator rolled over: ${JSON.stringify(t)}`);
  const detail = await job(j.id);
  // the refill in the tray log: the white tray for the last time, nothing while the tube
  // empties, then the backup (other colours may come between)
  const log = detail.trays.map((x) => (x.unit === null ? '-' : `${x.unit}/${x.slot}`));
  const lastWhite = log.lastIndexOf(white.join('/')), firstBackup = log.indexOf(backup.join('/'));
  assert.ok(lastWhite >= 0 && lastWhite < firstBackup && log.slice(lastWhite, firstBackup).includes('-'), log.join(' '));
  assert.deepEqual(done.filament.map((f) => f.spool_id).sort(), Object.values(spools).sort(),
    `only the four spools: ${JSON.stringify(done.filament)}`);
  for (const [k, tray] of Object.entries(trays)) {
    const want = truthGrams(t, at(tray));
    accuracy.check(assert, `multi-colour rollover, ${label}: ${k}`, (await used(spools[k])) - before[k], want,
      0.02 * want);
  }
}

test('multi-colour rollover, trays numbered globally (P1S, no mapping)', { skip }, () =>
  multiColourRollover(P1S2, 'P1S', { red: [0, 0], white: [0, 2], blue: [0, 3], backup: [0, 1] }));

test('multi-colour rollover, the unit\'s own slot and the push mapping (X1C, two AMS, no snow)', { skip }, async () => {
  await sim.control(X1C, { action: 'firmware', tray_now: 'local', snow: false });
  // tray_now says 1 for the backup in unit 1, and unit 0's slot 1 holds a PLA spool too
  await loadSpool(X1C, 0, 1, GREEN);
  await multiColourRollover(X1C, 'X1C', { red: [0, 0], white: [0, 2], blue: [1, 3], backup: [1, 1],
    empty: [[0, 3], [1, 0], [1, 2]] });
});

test('multi-colour rollover on two extruders\' snow (H2D: the backup in the same slot of the other unit)', { skip },
  () => multiColourRollover(H2D, 'H2D', { red: [0, 0], white: [0, 2], blue: [1, 0], backup: [1, 2],
    empty: [[0, 1], [0, 3], [1, 1], [1, 3]] }));
