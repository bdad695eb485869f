// Spoolman's current-level routes beside the core inventory, written from its API: spool groups
// (GET /spool/group), renaming a spool field's value (PATCH /spool/field/{field}), the backup
// retention rule, the host guard on X-Forwarded-Host, and the external filament catalogue.
// Runs on SQLite, and on PostgreSQL when PD_TEST_PG is set.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { readdirSync } from 'node:fs';
import { Daemon, WS, PG_BASE, join, waitFor, assertCleanExit, spoolmanClient } from './harness.mjs';

let daemon;

// Spoolman clients send no token: loopback is a trusted network by default.
const { open, ok } = spoolmanClient(() => daemon, assert);

before(async () => {
  daemon = new Daemon({ config: '[server]\nallowed_hosts = spoolman.example.com\n' });
  await daemon.start();
});

after(async () => {
  const r = daemon && await daemon.stop();
  if (r) assertCleanExit(assert, r);
});

async function groups(query) {
  const r = await open('GET', `/api/v1/spool/group?${query}`);
  assert.equal(r.status, 200, `${query}: ${r.status} ${r.text}`);
  return { list: r.json, total: Number(r.headers.get('x-total-count')) };
}

const byKey = (list) => Object.fromEntries(list.map((g) => [g.key ?? '(none)', g.spool_count]));
let seq = 0;
const unique = (s) => `${s} ${process.pid}-${++seq}`;

async function field(key, def) {
  await ok('POST', `/api/v1/field/spool/${key}`, { name: key, ...def });
}

test('groups by filament and location: counts, grams left, archived spools, paging', async () => {
  const f = await ok('POST', '/api/v1/filament', { name: unique('Group PLA'), density: 1.24, diameter: 1.75, weight: 1000 });
  const a = unique('Shelf A'), b = unique('Shelf B');
  await ok('POST', '/api/v1/spool', { filament_id: f.id, location: a });
  await ok('POST', '/api/v1/spool', { filament_id: f.id, location: b, used_weight: 600 });
  await ok('POST', '/api/v1/spool', { filament_id: f.id, location: b, archived: true });

  let { list, total } = await groups(`group_by=filament&filament.id=${f.id}`);
  assert.equal(total, 1);
  assert.equal(list.length, 1);
  assert.equal(list[0].group_by, 'filament');
  assert.equal(list[0].key, String(f.id));
  assert.equal(list[0].spool_count, 2);
  assert.equal(list[0].in_use_count, 1);
  assert.equal(list[0].total_remaining_weight, 1400);
  assert.equal(list[0].filament.id, f.id);
  assert.equal(list[0].filament.name, f.name);
  assert.ok(!('last_used' in list[0]), 'never used: no last_used');

  ({ list } = await groups(`group_by=filament&filament.id=${f.id}&allow_archived=true`));
  assert.equal(list[0].spool_count, 3);
  assert.equal(list[0].total_remaining_weight, 2400);

  ({ list, total } = await groups(`group_by=location&filament.id=${f.id}&sort=group.title:asc`));
  assert.deepEqual(list.map((g) => g.key), [a, b]);
  assert.deepEqual(list.map((g) => g.spool_count), [1, 1]);
  assert.equal(total, 2);
  assert.ok(list.every((g) => !('filament' in g) && !('vendor' in g)));

  ({ list, total } = await groups(`group_by=location&filament.id=${f.id}&sort=group.title:asc&limit=1&offset=1`));
  assert.deepEqual(list.map((g) => g.key), [b]);
  assert.equal(total, 2);
  ({ list } = await groups(`group_by=location&filament.id=${f.id}&sort=group.title:desc`));
  assert.deepEqual(list.map((g) => g.key), [b, a]);

  // the deprecated underscore aliases are not grouping filters
  const all = await groups('group_by=filament');
  ({ total } = await groups(`group_by=filament&filament_id=${f.id}`));
  assert.equal(total, all.total);
});

test('a spool without its own weight counts its filament\'s, however many filter terms', async () => {
  const f = await ok('POST', '/api/v1/filament', { name: unique('Unweighed'), density: 1.24, diameter: 1.75, weight: 1000 });
  const a = unique('Bin A'), b = unique('Bin B'), lot = unique('LOT').replace(/ /g, '');
  await ok('POST', '/api/v1/spool', { filament_id: f.id, location: a, lot_nr: lot, initial_weight: 800, used_weight: 100 });
  await ok('POST', '/api/v1/spool', { filament_id: f.id, location: a, lot_nr: lot, used_weight: 300 });
  await ok('POST', '/api/v1/spool', { filament_id: f.id, location: b, lot_nr: lot, used_weight: 1200 });
  await ok('POST', '/api/v1/spool', { filament_id: f.id, location: b, lot_nr: lot, used_weight: 250 });
  // 40 text terms besides the two needed: more than one statement can carry twice
  const junk = (p) => Array.from({ length: 20 }, (_, i) => `${p}${i}-${process.pid}`);
  const few = `filament.id=${f.id}&location=${encodeURIComponent(`${a},${b}`)}&lot_nr=${lot}`;
  const many = `filament.id=${f.id}&location=${encodeURIComponent([a, b, ...junk('nowhere')].join(','))}` +
    `&lot_nr=${[lot, ...junk('nolot')].join(',')}`;
  for (const filters of [few, many]) {
    const { list } = await groups(`group_by=location&${filters}&sort=group.title:asc`);
    assert.deepEqual(list.map((g) => [g.key, g.spool_count, g.in_use_count, g.total_remaining_weight]),
      [[a, 2, 2, 1400], [b, 2, 2, 750]], filters);
    const byFilament = await groups(`group_by=filament&${filters}`);
    assert.equal(byFilament.list[0].total_remaining_weight, 2150);
  }
});

test('an over-used spool adds nothing; never-used groups sort last both ways', async () => {
  const f = await ok('POST', '/api/v1/filament', { name: unique('Used'), density: 1.24, diameter: 1.75 });
  const mat = unique('MAT');
  const g = await ok('POST', '/api/v1/filament', { name: unique('Unused'), material: mat, density: 1.24, diameter: 1.75 });
  await ok('PATCH', `/api/v1/filament/${f.id}`, { material: mat });
  await ok('POST', '/api/v1/spool', { filament_id: f.id, initial_weight: 500, used_weight: 200, last_used: '2024-01-01T00:00:00Z' });
  const over = await ok('POST', '/api/v1/spool', { filament_id: f.id, initial_weight: 500, used_weight: 800 });
  assert.equal(over.remaining_weight, 0);
  await ok('POST', '/api/v1/spool', { filament_id: g.id, initial_weight: 100 });

  const { list } = await groups(`group_by=filament&filament.material=${encodeURIComponent(mat)}`);
  const used = list.find((x) => x.key === String(f.id));
  assert.equal(used.total_remaining_weight, 300);
  assert.equal(used.in_use_count, 2);
  assert.equal(used.last_used, '2024-01-01T00:00:00Z');
  for (const dir of ['asc', 'desc']) {
    const r = await groups(`group_by=filament&filament.material=${encodeURIComponent(mat)}&sort=group.last_used:${dir}`);
    assert.deepEqual(r.list.map((x) => x.key), [String(f.id), String(g.id)], dir);
  }
  const r = await groups(`group_by=filament&filament.material=${encodeURIComponent(mat)}&sort=group.total_remaining:desc`);
  assert.deepEqual(r.list.map((x) => x.key), [String(f.id), String(g.id)]);
  const m = await groups(`group_by=material&filament.material=${encodeURIComponent(mat)}`);
  assert.deepEqual(byKey(m.list), { [mat]: 3 });
});

test('groups by vendor: the vendor object, and filaments without one as the unset group', async () => {
  const v = await ok('POST', '/api/v1/vendor', { name: unique('Group Vendor') });
  const mat = unique('VMAT');
  const f1 = await ok('POST', '/api/v1/filament', { name: 'with', vendor_id: v.id, material: mat, density: 1.2, diameter: 1.75 });
  const f2 = await ok('POST', '/api/v1/filament', { name: 'without', material: mat, density: 1.2, diameter: 1.75 });
  await ok('POST', '/api/v1/spool', { filament_id: f1.id });
  await ok('POST', '/api/v1/spool', { filament_id: f2.id });
  const { list, total } = await groups(`group_by=vendor&filament.material=${encodeURIComponent(mat)}`);
  assert.equal(total, 2);
  // filaments without a name: groups without a title, side by side at the end
  for (let i = 0; i < 2; i++) {
    const nameless = await ok('POST', '/api/v1/filament', { material: mat, density: 1.2, diameter: 1.75 });
    await ok('POST', '/api/v1/spool', { filament_id: nameless.id });
  }
  const byFilament = await groups(`group_by=filament&filament.material=${encodeURIComponent(mat)}`);
  assert.equal(byFilament.total, 4);
  assert.deepEqual(byFilament.list.slice(0, 2).map((x) => x.filament.name), ['with', 'without']);
  assert.equal(list[0].key, String(v.id), 'a null title sorts last');
  assert.equal(list[0].vendor.name, v.name);
  assert.ok(!('key' in list[1]) && !('vendor' in list[1]));
});

test('groups by a spool extra field: decoded keys, unset spellings folded, other filters ANDed', async () => {
  await field('gshelf', { field_type: 'text' });
  await field('groom', { field_type: 'text' });
  await field('gcount', { field_type: 'integer' });
  await field('gmulti', { field_type: 'choice', choices: ['x', 'y'], multi_choice: true });
  const f = await ok('POST', '/api/v1/filament', { name: unique('Extra'), density: 1.2, diameter: 1.75 });
  const mk = (extra) => ok('POST', '/api/v1/spool', { filament_id: f.id, extra });
  await mk({ gshelf: '"A"', groom: '"Workshop"' });
  await mk({ gshelf: '"\\u0041"', groom: '"Workshop"' });
  await mk({ gshelf: '"B"', groom: '"Workshop"' });
  await mk({ groom: '"Workshop"' });
  await mk({ gshelf: '""', groom: '"Workshop"' });
  const cleared = await mk({ gshelf: '"C"', groom: '"Workshop"' });
  await ok('PATCH', `/api/v1/spool/${cleared.id}`, { extra: { gshelf: null } });

  let { list, total } = await groups(`group_by=extra.gshelf&filament.id=${f.id}`);
  assert.deepEqual(byKey(list), { A: 2, B: 1, '(none)': 3 });
  assert.equal(total, 3);
  assert.equal(list[0].group_by, 'extra.gshelf');
  ({ list } = await groups(`group_by=extra.gshelf&filament.id=${f.id}&extra.groom=%22Workshop%22`));
  assert.deepEqual(byKey(list), { A: 2, B: 1, '(none)': 3 });
  ({ list, total } = await groups(`group_by=extra.gshelf&filament.id=${f.id}&extra.groom=%22Attic%22`));
  assert.deepEqual(list, []);
  assert.equal(total, 0);
  const unset = await open('GET', `/api/v1/spool?filament.id=${f.id}&extra.gshelf=`);
  assert.equal(Number(unset.headers.get('x-total-count')), 3);

  const bad = async (q, msg) => {
    const r = await open('GET', `/api/v1/spool/group?${q}`);
    assert.equal(r.status, 400, `${q}: ${r.status} ${r.text}`);
    assert.equal(r.json.message, msg);
  };
  await bad('group_by=banana', "Invalid group_by field 'banana'. Must be one of ['filament', 'location', " +
    "'material', 'vendor'] or 'extra.<spool extra field key>'.");
  await bad('group_by=extra.does_not_exist', "Unknown spool extra field 'does_not_exist'.");
  const plain = (k) => `Spool extra field '${k}' does not hold a single plain value. Only text and single-choice fields do.`;
  await bad('group_by=extra.gcount', plain('gcount'));
  await bad('group_by=extra.gmulti', plain('gmulti'));
  await bad('group_by=location&sort=group.title', "Invalid sort 'group.title', expected the form 'field:asc' or 'field:desc'.");
  await bad('group_by=location&sort=:asc', "Invalid sort ':asc', no field name was given.");
  await bad('group_by=location&sort=group.title:sideways',
    "Invalid sort direction 'sideways' for field 'group.title', expected 'asc' or 'desc'.");
  assert.equal((await open('GET', '/api/v1/spool/group')).status, 422, 'group_by is required');
  assert.equal((await open('GET', '/api/v1/spool/group?group_by=location&sort=banana:asc')).status, 200,
    'unknown sort fields are ignored');
});

test('location: a blank and a missing location are one group', async () => {
  const f = await ok('POST', '/api/v1/filament', { name: unique('Loc'), density: 1.2, diameter: 1.75 });
  await ok('POST', '/api/v1/spool', { filament_id: f.id });
  await ok('POST', '/api/v1/spool', { filament_id: f.id, location: '' });
  await ok('POST', '/api/v1/spool', { filament_id: f.id, location: 'Shelf A' });
  const { list } = await groups(`group_by=location&filament.id=${f.id}`);
  assert.deepEqual(byKey(list), { 'Shelf A': 1, '(none)': 2 });
  assert.equal(list.at(-1).key, undefined, 'the unset group has no title: last');
  const r = await open('GET', `/api/v1/spool?filament.id=${f.id}&location=`);
  assert.equal(r.json.length, 2);
});

test("the filament's and vendor's extra fields filter groups as they filter the list", async () => {
  await ok('POST', '/api/v1/field/filament/ggrade', { name: 'grade', field_type: 'text' });
  await ok('POST', '/api/v1/field/vendor/gregion', { name: 'region', field_type: 'text' });
  const v = await ok('POST', '/api/v1/vendor', { name: unique('EU'), extra: { gregion: '"EU"' } });
  const mat = unique('XMAT');
  const premium = await ok('POST', '/api/v1/filament', { name: 'p', vendor_id: v.id, material: mat, density: 1.2,
    diameter: 1.75, extra: { ggrade: '"Premium"' } });
  const plain = await ok('POST', '/api/v1/filament', { name: 'q', material: mat, density: 1.2, diameter: 1.75 });
  await ok('POST', '/api/v1/spool', { filament_id: premium.id, location: 'L1' });
  await ok('POST', '/api/v1/spool', { filament_id: plain.id, location: 'L2' });
  const m = encodeURIComponent(mat);
  let g = await groups(`group_by=location&filament.material=${m}&filament.extra.ggrade=%22Premium%22`);
  assert.deepEqual(byKey(g.list), { L1: 1 });
  g = await groups(`group_by=location&filament.material=${m}&filament.vendor.extra.gregion=%22EU%22`);
  assert.deepEqual(byKey(g.list), { L1: 1 });
  g = await groups(`group_by=vendor&filament.material=${m}&filament.extra.ggrade=%22Premium%22`);
  assert.deepEqual(byKey(g.list), { [v.id]: 1 });
});

test('renaming a location or a spool extra value, merging and refusing as Spoolman', async () => {
  await field('rshelf', { field_type: 'text' });
  await field('rnum', { field_type: 'integer' });
  const f = await ok('POST', '/api/v1/filament', { name: unique('Rename'), density: 1.2, diameter: 1.75 });
  const bottom = unique('Bottom'), top = unique('Top'), lower = unique('Lower');
  const s1 = await ok('POST', '/api/v1/spool', { filament_id: f.id, location: bottom, extra: { rshelf: JSON.stringify(bottom) } });
  const s2 = await ok('POST', '/api/v1/spool', { filament_id: f.id, location: bottom, archived: true,
    extra: { rshelf: JSON.stringify(bottom) } });
  const s3 = await ok('POST', '/api/v1/spool', { filament_id: f.id, location: top, extra: { rshelf: JSON.stringify(top) } });
  const patch = (fld, value, newValue) => open('PATCH', `/api/v1/spool/field/${fld}`, { value, new_value: newValue });

  let r = await patch('extra.rshelf', bottom, lower);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { spools_updated: 2 });
  for (const s of [s1, s2]) assert.equal((await ok('GET', `/api/v1/spool/${s.id}`)).extra.rshelf, JSON.stringify(lower));
  assert.equal((await ok('GET', `/api/v1/spool/${s3.id}`)).extra.rshelf, JSON.stringify(top));
  const g = await groups(`group_by=extra.rshelf&filament.id=${f.id}&allow_archived=true`);
  assert.deepEqual(byKey(g.list), { [lower]: 2, [top]: 1 });

  r = await patch('location', bottom, lower);
  assert.deepEqual(r.json, { spools_updated: 2 });
  assert.equal((await ok('GET', `/api/v1/spool/${s2.id}`)).location, lower);

  r = await patch('extra.rshelf', lower, top);
  assert.deepEqual(r.json, { spools_updated: 2 }, 'onto a value in use: merged');
  r = await patch('location', lower, top);
  assert.deepEqual(r.json, { spools_updated: 2 });
  for (const s of [s1, s2, s3]) {
    const got = await ok('GET', `/api/v1/spool/${s.id}`);
    assert.equal(got.location, top);
    assert.equal(got.extra.rshelf, JSON.stringify(top));
  }
  assert.deepEqual((await patch('location', unique('Nowhere'), 'x')).json, { spools_updated: 0 });
  assert.deepEqual((await patch('extra.rshelf', unique('Nowhere'), 'x')).json, { spools_updated: 0 });

  const refused = async (fld, msg, value = 'a', newValue = 'b') => {
    const x = await patch(fld, value, newValue);
    assert.equal(x.status, 400, `${fld}: ${x.status} ${x.text}`);
    assert.equal(x.json.message, msg);
  };
  for (const fld of ['material', 'vendor', 'filament', 'lot_nr'])
    await refused(fld, `Cannot rename values of '${fld}'. Only fields the spool itself owns can be renamed: ` +
      "location, or 'extra.<spool extra field key>'.");
  await refused('extra.nope', "Unknown spool extra field 'nope'.");
  await refused('extra.rnum', "Spool extra field 'rnum' does not hold a single plain value. Only text and " +
    'single-choice fields do.');
  await refused('location', 'A location can be at most 64 characters.', 'a', 'x'.repeat(65));
  assert.equal((await patch('location', '', 'b')).status, 422);
  assert.equal((await patch('location', 'a', '')).status, 422);
  assert.equal((await open('PATCH', '/api/v1/spool/field/location', { value: 'a' })).status, 422);
});

// Unfiltered groups by a spool column add up a per-cell summary that triggers keep (docs/
// inventory.md, Groups): after writes through every path that moves a spool between cells or
// changes what it adds, the answer must equal the groups worked out here from the spools.
test('groups stay equal to the spools after a mixed burst of writes', async () => {
  const v = await ok('POST', '/api/v1/vendor', { name: unique('Burst vendor') });
  const f1 = await ok('POST', '/api/v1/filament', { name: unique('Burst PLA'), vendor_id: v.id, material: 'PLA', density: 1.24, diameter: 1.75, weight: 1000 });
  const f2 = await ok('POST', '/api/v1/filament', { name: unique('Burst PETG'), material: 'PETG', density: 1.27, diameter: 1.75, weight: 750 });
  const locs = [unique('Burst A'), unique('Burst B'), '', null];
  const made = [];
  for (let i = 0; i < 24; i++) {
    made.push(await ok('POST', '/api/v1/spool', {
      filament_id: i % 3 ? f1.id : f2.id, location: locs[i % 4], used_weight: (i * 37) % 300 + (i % 5 ? 0.25 : 0),
      ...(i % 4 ? { initial_weight: 600 + i } : {}), ...(i % 6 ? { last_used: `2024-0${1 + (i % 9)}-1${i % 10}T10:00:00Z` } : {}),
      archived: i % 7 === 0,
    }));
  }
  const [s0, s1, s2, s3, s4, s5, s6, s7, s8, s9] = made;
  await ok('PATCH', `/api/v1/spool/${s0.id}`, { location: locs[1], used_weight: 12.5 });
  await ok('PATCH', `/api/v1/spool/${s1.id}`, { filament_id: f2.id, initial_weight: null });
  await ok('PATCH', `/api/v1/spool/${s2.id}`, { archived: true });
  await ok('PATCH', `/api/v1/spool/${s7.id}`, { archived: false, last_used: '2023-05-05T05:05:05Z' });
  await ok('PATCH', `/api/v1/spool/${s3.id}`, { last_used: '2020-01-01T00:00:00Z' });  // an earlier time than it had
  await ok('PUT', `/api/v1/spool/${s4.id}/use`, { use_weight: 40 });
  await ok('PUT', `/api/v1/spool/${s5.id}/use`, { use_weight: -1000 });
  await ok('PUT', `/api/v1/spool/${s6.id}/measure`, { weight: 500 });
  await ok('DELETE', `/api/v1/spool/${s8.id}`);
  await ok('DELETE', `/api/v1/spool/${s9.id}`);
  await ok('PATCH', `/api/v1/location/${encodeURIComponent(locs[0])}`, { name: locs[1] });
  assert.equal((await open('PATCH', '/api/v1/spool/field/location', { value: locs[1], new_value: unique('Burst C') })).status, 200);
  await ok('PATCH', `/api/v1/filament/${f2.id}`, { weight: 900 });
  // the spool that held its group's latest use goes back in time, is deleted, moves away
  const d = unique('Burst D');
  const held = [];
  for (const t of ['2025-06-01T00:00:00Z', '2025-03-01T00:00:00Z', '2025-02-01T00:00:00Z'])
    held.push(await ok('POST', '/api/v1/spool', { filament_id: f1.id, location: d, last_used: t }));
  await ok('PATCH', `/api/v1/spool/${held[0].id}`, { last_used: '2025-01-01T00:00:00Z' });
  await ok('DELETE', `/api/v1/spool/${held[1].id}`);
  await ok('PATCH', `/api/v1/spool/${held[2].id}`, { location: locs[1] });

  for (const archived of [false, true]) {
    const spools = await ok('GET', `/api/v1/spool?allow_archived=${archived}`);
    for (const [by, keyOf] of [['location', (s) => s.location || null], ['filament', (s) => String(s.filament.id)],
      ['vendor', (s) => (s.filament.vendor ? String(s.filament.vendor.id) : null)], ['material', (s) => s.filament.material || null]]) {
      const want = new Map();
      for (const s of spools) {
        const k = keyOf(s);
        const g = want.get(k) ?? { spool_count: 0, in_use_count: 0, total_remaining_weight: 0 };
        g.spool_count++;
        g.in_use_count += s.used_weight > 0 ? 1 : 0;
        g.total_remaining_weight += s.remaining_weight ?? 0;
        if (s.last_used && !(g.last_used > s.last_used)) g.last_used = s.last_used;
        want.set(k, g);
      }
      const { list, total } = await groups(`group_by=${by}&allow_archived=${archived}`);
      assert.equal(total, want.size, `${by}, archived ${archived}: group count`);
      for (const g of list) {
        const w = want.get(g.key ?? null);
        const what = `${by} ${g.key ?? '(none)'}, archived ${archived}`;
        assert.ok(w, `${what}: no such group in the spools`);
        assert.equal(g.spool_count, w.spool_count, what);
        assert.equal(g.in_use_count, w.in_use_count, what);
        assert.ok(Math.abs(g.total_remaining_weight - w.total_remaining_weight) < 1e-6,
          `${what}: ${g.total_remaining_weight} vs ${w.total_remaining_weight}`);
        assert.equal(g.last_used, w.last_used, what);
      }
    }
  }
});

test('repeated backups keep the history: at most one of six is written', { skip: PG_BASE ? 'SQLite files only' : false }, async () => {
  const made = [];
  for (let i = 0; i < 6; i++) {
    const r = await open('POST', '/api/v1/backup');
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.path.endsWith('/backups/printdeck.db'), r.json.path);
    made.push(r.json.created);
    if (i === 2) await ok('POST', '/api/v1/vendor', { name: unique('between backups') });
  }
  assert.ok(made.filter(Boolean).length <= 1, JSON.stringify(made));
  const dir = join(daemon.dir, 'data', 'backups');
  assert.ok(!readdirSync(dir).some((f) => f.endsWith('.pending') || f.endsWith('.tmp')), 'no temporary file stays');
});

/** One raw HTTP/1.1 request, for the headers fetch will not send (Host). */
function raw(method, path, headers, body = '') {
  return new Promise((resolve, reject) => {
    const s = connect(daemon.port, '127.0.0.1');
    let buf = '';
    s.on('data', (x) => { buf += x; });
    s.on('error', reject);
    s.on('end', () => {
      const text = buf.slice(buf.indexOf('\r\n\r\n') + 4);
      let json;
      try { json = JSON.parse(text); } catch { json = undefined; }
      resolve({ status: Number(buf.split(' ')[1]), json });
    });
    const h = { Host: `127.0.0.1:${daemon.port}`, ...headers };
    if (body) Object.assign(h, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    const lines = Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    s.write(`${method} ${path} HTTP/1.1\r\n${lines}Connection: close\r\n\r\n${body}`);
  });
}

test("the host and origin guards on Spoolman's table (allowed_hosts = spoolman.example.com)", async () => {
  const currency = (headers) => raw('POST', '/api/v1/setting/currency', headers, '"\\"HAX\\""');
  const evil = 'https://evil.example';
  assert.equal((await currency({ Origin: evil })).status, 403);
  assert.equal((await ok('GET', '/api/v1/setting/currency')).value, '"EUR"', 'a refused write has no effect');
  assert.equal((await currency({ Host: 'spoolman:8000', Origin: 'http://spoolman:8000' })).status, 200);
  assert.equal((await currency({})).status, 200);
  assert.equal((await raw('GET', '/api/v1/spool', { Origin: evil })).status, 200);
  assert.equal((await raw('DELETE', '/api/v1/spool/1', { Origin: evil })).status, 403);
  assert.equal((await raw('POST', '/api/v1/backup', { Origin: evil })).status, 403);
  const proxied = { Host: '127.0.0.1:1234', 'X-Forwarded-Host': 'spoolman.example.com' };
  assert.equal((await currency({ ...proxied, Origin: 'https://spoolman.example.com' })).status, 200,
    'the forwarded host (from a trusted proxy) is the origin it names');
  assert.equal((await currency({ ...proxied, Origin: evil })).status, 403);
  assert.equal((await raw('GET', '/api/v1/spool', { Host: 'evil.example' })).status, 400);
  assert.equal((await currency({ Host: 'evil.example', Origin: evil })).status, 400, 'the host guard first');
  assert.equal((await raw('GET', '/api/v1/spool', { 'X-Forwarded-Host': 'evil.example' })).status, 400);
  assert.equal((await raw('GET', '/api/v1/spool', { 'X-Forwarded-Host': 'evil.example, spoolman.lan' })).status, 400);
  assert.equal((await raw('GET', '/api/v1/spool', { Host: 'spoolman:8000' })).status, 200);
  assert.equal((await raw('GET', '/api/v1/spool', { Host: 'spoolman.example.com' })).status, 200);
  await ok('POST', '/api/v1/setting/currency', '"\\"EUR\\""');

  let r = await new WS(daemon, '/api/v1/spool', { 'X-Forwarded-Host': 'evil.example' }).open();
  assert.equal(r.status, 403);
  r = await new WS(daemon, '/api/v1/spool', { Origin: evil }).open();
  assert.equal(r.status, 403);
  for (const headers of [{ Host: 'spoolman:8000', Origin: 'http://spoolman:8000' }, {}]) {
    const ws = new WS(daemon, '/api/v1/spool', headers);
    assert.equal((await ws.open()).status, 101);
    ws.send('ping');
    assert.deepEqual(JSON.parse(await ws.waitFor(() => true)), { status: 'healthy' });
    ws.destroy();
  }
});

test('the external filament catalogue: the built-in one, served as the file, and searched', async () => {
  const all = await open('GET', '/api/v1/external/filament');
  assert.equal(all.status, 200);
  assert.match(all.headers.get('content-type'), /^application\/json/);
  assert.ok(Array.isArray(all.json) && all.json.length > 0);
  assert.ok(all.json.some((x) => x.color_hexes === null), 'the file keeps its nulls');
  for (const x of all.json) for (const k of ['id', 'manufacturer', 'name', 'material', 'density', 'weight', 'diameter'])
    assert.ok(k in x, `${x.id}: ${k}`);
  const mats = await ok('GET', '/api/v1/external/material');
  assert.ok(mats.some((m) => m.material === 'PLA' && m.density > 0));

  const search = async (q) => ok('GET', `/api/v1/external/filament/search?${q}`);
  const hits = await search('query=bambu%20PLA%20black');
  assert.deepEqual(hits.map((x) => x.id), ['bambulab_pla_basic_black_1000_175_n']);
  assert.ok(!('color_hexes' in hits[0]) && !('finish' in hits[0]), 'a search leaves the nulls out');
  const pla = all.json.filter((x) => `${x.manufacturer} ${x.name} ${x.material}`.toLowerCase().includes('pla'));
  assert.deepEqual((await search('query=pla')).map((x) => x.id), pla.map((x) => x.id).slice(0, 20), 'catalogue order');
  assert.equal((await search('query=pla&limit=2')).length, 2);
  assert.deepEqual(await search('query='), []);
  assert.deepEqual(await search('query=nosuchfilament'), []);
  assert.equal((await open('GET', '/api/v1/external/filament/search')).status, 422);
  assert.equal((await open('GET', '/api/v1/external/filament/search?query=pla&limit=0')).status, 422);
  assert.equal((await open('GET', '/api/v1/external/filament/search?query=pla&limit=101')).status, 422);
});

test('the catalogue is fetched when a source is configured, kept, and survives a source that fails', async () => {
  const { createServer } = await import('node:http');
  const filaments = [{ id: 'x_1', manufacturer: 'Fetched', name: 'Only One', material: 'PETG', density: 1.27,
    weight: 1000, spool_weight: null, spool_type: null, diameter: 1.75, color_hex: '112233', color_hexes: null,
    extruder_temp: 240, bed_temp: 80, finish: null, multi_color_direction: null, pattern: null, translucent: false,
    glow: false }];
  const materials = [{ material: 'PETG', density: 1.27, extruder_temp: 240, bed_temp: 80 }];
  let broken = false;
  const server = createServer((req, res) => {
    const body = broken ? 'not json' : req.url === '/db/filaments.json' ? JSON.stringify(filaments)
      : req.url === '/db/materials.json' ? JSON.stringify(materials) : null;
    res.writeHead(body === null ? 404 : 200, { 'Content-Type': 'application/json' });
    res.end(body ?? '');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}/db/`;
  const d = new Daemon({ config: `[inventory]\nexternal_db_url = ${url}\n` });
  try {
    await d.start();
    const get = async (path) => (await d.req('GET', path, undefined, { Authorization: '' })).json;
    await waitFor(async () => (await get('/api/v1/external/filament'))?.[0]?.id === 'x_1', 10000, 'fetched');
    assert.deepEqual(await get('/api/v1/external/material'), materials);
    assert.deepEqual((await get('/api/v1/external/filament/search?query=fetched')).map((x) => x.id), ['x_1']);
    const r = await d.stop();
    assertCleanExit(assert, r);
    // restarted with a source that answers garbage: the kept catalogue is served
    broken = true;
    await d.start();
    await waitFor(() => d.log.text.includes('filament catalogue not fetched'), 10000, 'the failed fetch');
    assert.equal((await get('/api/v1/external/filament'))[0].id, 'x_1');
  } finally {
    const r = await d.stop();
    server.close();
    if (r) assertCleanExit(assert, r);
  }
});

test('exports are attachments named as Spoolman names them', async () => {
  for (const [what, fmt] of [['spools', 'csv'], ['filaments', 'json'], ['vendors', 'csv']]) {
    const r = await open('GET', `/api/v1/export/${what}?fmt=${fmt}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-disposition'), `attachment; filename="${what}.${fmt}"`);
  }
});
