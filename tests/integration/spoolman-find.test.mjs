// Finding spools as Spoolman's current API does (its 0.26 level and the date filters after it),
// written from Spoolman's documented behaviour: the cross-entity search GET /search, the
// first_used / last_used / registered filters, spool filters on the filament's and the vendor's
// extra fields, typed extra-field filters with Spoolman's 400 sentences, literal LIKE wildcards
// where Spoolman escapes them, and `sort` validation. Runs on SQLite, and on PostgreSQL when
// PD_TEST_PG is set.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, assertCleanExit, spoolmanClient } from './harness.mjs';

let daemon;
let n = 0;
const uniq = () => `u${process.pid}x${++n}`;

// Spoolman clients send no token
const { open, ok } = spoolmanClient(() => daemon, assert);

before(async () => {
  daemon = new Daemon();
  await daemon.start();
});

after(async () => {
  const r = daemon && await daemon.stop();
  if (r) assertCleanExit(assert, r);
});

async function bad(path, status, message) {
  const r = await open('GET', path);
  assert.equal(r.status, status, `${path}: ${r.status} ${r.text}`);
  if (message instanceof RegExp) assert.match(r.json.message, message, path);
  else if (message) assert.equal(r.json.message, message, path);
  return r.json;
}

const filament = (body = {}) => ok('POST', '/api/v1/filament', { density: 1.24, diameter: 1.75, weight: 1000, ...body });

// --- §3 date filters ---------------------------------------------------------------------------

test('first_used, last_used and registered: ranges, exact times, never, ORed parts, offsets', async () => {
  const f = await filament({ name: uniq() });
  const at = (d) => ({ first_used: d, last_used: d });
  const old = await ok('POST', '/api/v1/spool', { filament_id: f.id, ...at('2023-01-01T00:00:00Z') });
  const middle = await ok('POST', '/api/v1/spool', { filament_id: f.id, ...at('2023-06-01T00:00:00Z') });
  const recent = await ok('POST', '/api/v1/spool', { filament_id: f.id, ...at('2024-01-01T00:00:00Z') });
  const never = await ok('POST', '/api/v1/spool', { filament_id: f.id });
  assert.equal(old.last_used, '2023-01-01T00:00:00Z', 'echoed as stored');
  const names = new Map([[old.id, 'old'], [middle.id, 'middle'], [recent.id, 'recent'], [never.id, 'never']]);
  const find = async (qs) => {
    const r = await open('GET', `/api/v1/spool?filament.id=${f.id}&sort=id:asc&${qs}`);
    assert.equal(r.status, 200, `${qs}: ${r.text}`);
    assert.equal(Number(r.headers.get('x-total-count')), r.json.length);
    return r.json.map((s) => names.get(s.id));
  };
  const cases = [
    ['last_used=2023-03-01T00:00:00Z|', ['middle', 'recent']],
    ['last_used=|2023-03-01T00:00:00Z', ['old']],
    ['last_used=2023-03-01T00:00:00Z|2023-09-01T00:00:00Z', ['middle']],
    ['first_used=2023-03-01T00:00:00Z|', ['middle', 'recent']],
    ['last_used=2023-06-01T00:00:00Z', ['middle']],
    ['last_used=2023-06-01T00:00:00', ['middle']],                      // no offset: UTC
    ['last_used=2023-06-01', ['middle']],                               // a date is its midnight
    ['last_used="2023-06-01T00:00:00Z"', ['middle']],                   // quotes mean nothing more
    ['last_used=|2023-03-01T00:00:00Z,2023-09-01T00:00:00Z|', ['old', 'recent']],
    ['last_used=', ['never']],
    ['first_used=', ['never']],
    ['last_used=,2024-01-01T00:00:00Z', ['recent', 'never']],
    ['last_used=2024-01-01T00:00:00Z|', ['recent']],                    // inclusive
    ['last_used=|2023-01-01T00:00:00Z', ['old']],
    ['last_used=%202023-03-01T00:00:00z%20|%20', ['middle', 'recent']], // trimmed, z
    ['last_used=2023-06-01T02:00:00%2B02:00|', ['middle', 'recent']],   // the offset is honoured
    ['last_used=2023-06-01T02:00:00%2B02:00', ['middle']],
    ['registered=2020-01-01T00:00:00Z|', ['old', 'middle', 'recent', 'never']],
    ['registered=|2020-01-01T00:00:00Z', []],
    ['last_used=2023-03-01T00:00:00Z|&first_used=|2023-09-01T00:00:00Z', ['middle']],
  ];
  for (const [qs, want] of cases) assert.deepEqual(await find(qs), want, qs);

  const msg = (v, col = 'last_used') =>
    `Invalid datetime '${v}' for '${col}'. Expected an ISO 8601 datetime, e.g. 2024-05-01T00:00:00Z.`;
  await bad('/api/v1/spool?last_used=yesterday', 400, msg('yesterday'));
  await bad('/api/v1/spool?last_used=yesterday|', 400, msg('yesterday'));
  await bad('/api/v1/spool?first_used=|yesterday', 400, msg('yesterday', 'first_used'));
  await bad('/api/v1/spool?last_used=2023-13-45T00:00:00Z|', 400, msg('2023-13-45T00:00:00Z'));
  await bad('/api/v1/spool?registered=2023-01-01,soon', 400, msg('soon', 'registered'));
  await bad('/api/v1/spool?last_used=|', 400,
    "Invalid datetime range filter for 'last_used': '|'. Expected '<start>|<end>' with at least one end given.");
});

// --- §4 filament and vendor extra fields on spools ---------------------------------------------

test('spools filtered by their filament\'s and vendor\'s extra fields', async () => {
  const u = uniq();
  await ok('POST', '/api/v1/field/filament/grade', { name: 'Grade', field_type: 'choice', choices: ['Premium', 'Standard'],
    multi_choice: false });
  await ok('POST', '/api/v1/field/vendor/region', { name: 'Region', field_type: 'text' });
  const eu = await ok('POST', '/api/v1/vendor', { name: `EU ${u}`, extra: { region: '"EU"' } });
  const us = await ok('POST', '/api/v1/vendor', { name: `US ${u}`, extra: { region: '"US"' } });
  const fa = await filament({ name: `A ${u}`, vendor_id: eu.id, extra: { grade: '"Premium"' } });
  const fb = await filament({ name: `B ${u}`, vendor_id: eu.id, extra: { grade: '"Standard"' } });
  const fc = await filament({ name: `C ${u}`, vendor_id: us.id, extra: { grade: '"Premium"' } });
  const fd = await filament({ name: `D ${u}`, vendor_id: eu.id });
  const fe = await filament({ name: `E ${u}` });  // no vendor at all
  const spools = {};
  for (const [k, f] of [['a', fa], ['b', fb], ['c', fc], ['d', fd], ['e', fe]])
    spools[k] = await ok('POST', '/api/v1/spool', { filament_id: f.id });
  const name = new Map(Object.entries(spools).map(([k, s]) => [s.id, k]));
  const find = async (qs) => {
    const r = await open('GET', `/api/v1/spool?filament.name=${encodeURIComponent(u)}&sort=id:asc&${qs}`);
    assert.equal(r.status, 200, `${qs}: ${r.text}`);
    return r.json.map((s) => name.get(s.id)).join('');
  };
  const cases = [
    ['filament.extra.grade="Premium"', 'ac'],
    ['filament.extra.grade=Premium', 'ac'],
    ['filament.extra.grade="Standard"', 'b'],
    ['filament.vendor.extra.region="EU"', 'abd'],
    ['filament.vendor.extra.region=us', 'c'],
    ['filament.extra.grade="Premium"&filament.vendor.extra.region="EU"', 'a'],
    ['filament.extra.grade="Standard"&filament.vendor.extra.region="US"', ''],
    ['filament.extra.grade="Premium","Standard"', 'abc'],
    ['filament.extra.grade=', 'de'],
    ['filament.vendor.extra.region=', 'e'],             // no vendor: no vendor value
    ['filament.extra.nope=whatever', 'abcde'],           // unknown keys are ignored
    ['filament.vendor.extra.nope=whatever', 'abcde'],
    ['filament.extra.grade=Standard&filament.extra.grade=Premium', 'ac'],  // the last one wins
    ['filament.extra.grade=Premium&extra.nope=x&filament.material=', 'ac'],
  ];
  for (const [qs, want] of cases) assert.equal(await find(qs), want, qs);
  // a bad value for a known key is a 400; Spoolman has no vendor.extra filter on filaments
  await ok('POST', '/api/v1/field/filament/heat', { name: 'Heat', field_type: 'integer' });
  await bad('/api/v1/spool?filament.extra.heat=hot', 400, "Invalid integer filter value for 'heat': hot");
  await bad('/api/v1/spool?filament.vendor.extra.region=', 200);
  const all = await ok('GET', `/api/v1/filament?name=${encodeURIComponent(u)}&vendor.extra.region="US"`);
  assert.equal(all.length, 5, 'vendor.extra.<k> on /filament is ignored');
  const sorted = await open('GET', '/api/v1/spool?sort=filament.extra.grade:asc');
  assert.equal(sorted.status, 400);
  assert.equal(sorted.json.message, "Invalid field name 'extra.grade', 'extra' is not a valid field on 'Filament'.");
});

// --- §6 typed filters, literal wildcards ---------------------------------------------------------

test('typed extra-field filters on vendors, filaments and spools, with Spoolman\'s 400s', async () => {
  for (const entity of ['vendor', 'filament', 'spool']) {
    const u = uniq();
    await ok('POST', `/api/v1/field/${entity}/qty_${entity}`, { name: 'Qty', field_type: 'integer' });
    await ok('POST', `/api/v1/field/${entity}/ratio_${entity}`, { name: 'Ratio', field_type: 'float' });
    await ok('POST', `/api/v1/field/${entity}/span_${entity}`, { name: 'Span', field_type: 'integer_range' });
    await ok('POST', `/api/v1/field/${entity}/when_${entity}`, { name: 'When', field_type: 'datetime' });
    await ok('POST', `/api/v1/field/${entity}/ok_${entity}`, { name: 'Ok', field_type: 'boolean' });
    const f = entity === 'spool' ? await filament({ name: u }) : null;
    const make = (extra) => entity === 'vendor' ? ok('POST', '/api/v1/vendor', { name: u, extra })
      : entity === 'filament' ? filament({ name: u, extra }) : ok('POST', '/api/v1/spool', { filament_id: f.id, extra });
    const x = (k, v) => ({ [`${k}_${entity}`]: v });
    const rows = [
      await make({ ...x('qty', '100'), ...x('ratio', '1.5'), ...x('span', '[100,200]'), ...x('when', '"2023-01-01T00:00:00"'), ...x('ok', 'true') }),
      await make({ ...x('qty', '200'), ...x('ratio', '2.5'), ...x('span', '[300,400]'), ...x('when', '"2024-06-15T12:30:00"'), ...x('ok', 'false') }),
      await make({ ...x('span', '[null,200]') }),
      await make({ ...x('span', '[100,300]') }),
    ];
    const scope = entity === 'spool' ? `filament.id=${f.id}` : `name="${u}"`;
    const find = async (k, v) => {
      const r = await open('GET', `/api/v1/${entity}?${scope}&sort=id:asc&extra.${k}_${entity}=${encodeURIComponent(v)}`);
      assert.equal(r.status, 200, `${entity} ${k}=${v}: ${r.text}`);
      assert.equal(Number(r.headers.get('x-total-count')), r.json.length);
      return r.json.map((o) => rows.findIndex((w) => w.id === o.id)).join(',');
    };
    const cases = [
      ['qty', '100', '0'], ['qty', '150:', '1'], ['qty', ':150', '0'], ['qty', '50:150', '0'], ['qty', '100,300', '0'],
      ['qty', ' +100 ', '0'], ['qty', '', '2,3'],
      ['ratio', '1.5', '0'], ['ratio', '2.0:', '1'], ['ratio', ':2.0', '0'], ['ratio', '1.0:2.0', '0'], ['ratio', '2.50', '1'],
      ['span', '100:200', '0'], ['span', '200:', '1'], ['span', ':300', '0,2,3'], ['span', ':250', '0,2'], ['span', '50:', '0,1,3'],
      ['when', '2023-01-01T00:00:00', '0'], ['when', '2023-06-01|', '1'], ['when', '|2023-06-01', '0'],
      ['when', '2022-01-01|2025-01-01', '0,1'],
      ['ok', 'true', '0'], ['ok', 'FALSE', '1'], ['ok', '', '1,2,3'],
    ];
    for (const [k, v, want] of cases) assert.equal(await find(k, v), want, `${entity} extra.${k}=${v}`);
    const q = (k, v) => `/api/v1/${entity}?extra.${k}_${entity}=${encodeURIComponent(v)}`;
    await bad(q('qty', ':'), 400, `Invalid integer range filter value for 'qty_${entity}': :`);
    await bad(q('qty', 'abc'), 400, `Invalid integer filter value for 'qty_${entity}': abc`);
    await bad(q('qty', '1.5'), 400, `Invalid integer filter value for 'qty_${entity}': 1.5`);
    await bad(q('qty', '100,abc'), 400, /Invalid integer filter value/);
    await bad(q('ratio', 'notafloat'), 400, `Invalid float filter value for 'ratio_${entity}': notafloat`);
    await bad(q('ratio', 'x:'), 400, `Invalid float range filter value for 'ratio_${entity}': x:`);
    await bad(q('span', '100'), 400, `Invalid range filter value for 'span_${entity}': 100. Expected '<min>:<max>'.`);
    await bad(q('span', ':'), 400, `Invalid range filter value for 'span_${entity}': :. Expected '<min>:<max>'.`);
    await bad(q('span', 'abc:200'), 400, `Invalid integer range filter value for 'span_${entity}': abc:200`);
    await bad(q('when', '|'), 400, `Invalid datetime range filter for 'when_${entity}': '|'. Expected '<start>|<end>' with at least one end given.`);
    await bad(q('ok', 'maybe'), 400, "Invalid boolean filter value: 'maybe'");
    await bad(q('ok', '1'), 400, "Invalid boolean filter value: '1'");
    await bad(`/api/v1/${entity}?extra.nope=whatever`, 200);
  }
});

test('text filters: %, _ and / are literal in extra fields, multi-choice elements are whole', async () => {
  const u = uniq();
  await ok('POST', '/api/v1/field/spool/note', { name: 'Note', field_type: 'text' });
  await ok('POST', '/api/v1/field/spool/tags', { name: 'Tags', field_type: 'choice', multi_choice: true,
    choices: ['Red', 'Reddish', '50%', '50X'] });
  await ok('POST', '/api/v1/field/spool/hue', { name: 'Hue', field_type: 'choice', multi_choice: false,
    choices: ['Red', 'Reddish', '50%', '50X'] });
  const f = await filament({ name: u });
  const values = [
    { note: '"100% cotton"', tags: '["Reddish"]', hue: '"Reddish"' },
    { note: '"100X cotton"', tags: '["50X"]', hue: '"50X"' },
    { note: '"a_b"', tags: '["Red","50%"]', hue: '"Red"' },
    { note: '"axb"' }, { note: '"and/or"' }, { note: '"andor"' },
    { note: '"Hello World"' }, { note: '"åäö 日本"' },
  ];
  const made = [];
  for (const extra of values) made.push(await ok('POST', '/api/v1/spool', { filament_id: f.id, extra }));
  const find = async (k, v) => {
    const r = await open('GET', `/api/v1/spool?filament.id=${f.id}&sort=id:asc&extra.${k}=${encodeURIComponent(v)}`);
    assert.equal(r.status, 200, r.text);
    return r.json.map((s) => made.findIndex((m) => m.id === s.id)).join(',');
  };
  const cases = [
    ['note', '100%', '0'], ['note', 'a_b', '2'], ['note', 'and/or', '4'], ['note', '/', '4'],
    ['note', 'elloworl', ''], ['note', 'ELLOWORL', ''], ['note', 'llo wor', '6'], ['note', 'HELLO', '6'],
    ['note', '"Hello World"', '6'], ['note', '"hello world"', ''], ['note', 'åäö', '7'], ['note', '日本', '7'],
    ['note', 'axb,andor', '3,5'],
    ['tags', 'Red', '2'], ['tags', '50%', '2'], ['tags', 'Reddish,50X', '0,1'],
    ['hue', 'Red', '2'], ['hue', '50%', ''], ['hue', '"Reddish"', '0'],
  ];
  for (const [k, v, want] of cases) assert.equal(await find(k, v), want, `extra.${k}=${v}`);
});

// --- §6.5 sort --------------------------------------------------------------------------------

test('sort: the field:direction form, real fields only, extra fields by type with NULLs last', async () => {
  for (const p of ['/api/v1/vendor', '/api/v1/filament', '/api/v1/spool']) {
    await bad(`${p}?sort=name`, 400, "Invalid sort 'name', expected the form 'field:asc' or 'field:desc'.");
    await bad(`${p}?sort=:asc`, 400, "Invalid sort ':asc', no field name was given.");
    await bad(`${p}?sort=name:sideways`, 400,
      "Invalid sort direction 'sideways' for field 'name', expected 'asc' or 'desc'.");
    await bad(`${p}?sort=id:asc,registered`, 400,
      "Invalid sort 'registered', expected the form 'field:asc' or 'field:desc'.");
    await bad(`${p}?sort=%20id:%20DESC%20,,`, 200);
    await bad(`${p}?sort=id%20:asc`, 400, "Invalid field name 'id ', 'id ' is not a valid field on '" +
      { '/api/v1/vendor': 'Vendor', '/api/v1/filament': 'Filament', '/api/v1/spool': 'Spool' }[p] + "'.");
    await bad(`${p}?sort=extra.not_a_field:asc`, 200);
  }
  await bad('/api/v1/spool?sort=metadata:asc', 400, "Invalid field name 'metadata', 'metadata' is not a valid field on 'Spool'.");
  await bad('/api/v1/filament?sort=spools:asc', 400, "Invalid field name 'spools', 'spools' is not a valid field on 'Filament'.");
  await bad('/api/v1/spool?sort=filament:asc', 400, 'No field specified for filament');
  await bad('/api/v1/spool?sort=filament.vendor:desc', 400, 'No field specified for vendor');
  await bad('/api/v1/filament?sort=vendor:desc', 400, 'No field specified for vendor');
  await bad('/api/v1/spool?sort=location.x:asc', 400, "Field 'location' does not have any nested fields");
  await bad('/api/v1/spool?sort=filament.nope:asc', 400, "Invalid field name 'nope', 'nope' is not a valid field on 'Filament'.");
  await bad('/api/v1/vendor?sort=vendor.name:asc', 400, "Invalid field name 'vendor.name', 'vendor' is not a valid field on 'Vendor'.");
  await bad('/api/v1/spool?sort=filament.vendor.name:asc,filament.combined_name:desc,price:asc', 200);

  const u = uniq();
  await ok('POST', '/api/v1/field/spool/rank_sort', { name: 'Rank', field_type: 'integer' });
  await ok('POST', '/api/v1/field/spool/label_sort', { name: 'Label', field_type: 'text' });
  const f = await filament({ name: u });
  const extras = [{ rank_sort: '10', label_sort: '"b"' }, { rank_sort: '9', label_sort: '"a"' }, {}, { rank_sort: '100' }];
  const made = [];
  for (const extra of extras) made.push((await ok('POST', '/api/v1/spool', { filament_id: f.id, extra })).id);
  const order = async (sort) => (await ok('GET', `/api/v1/spool?filament.id=${f.id}&sort=${sort}`))
    .map((s) => made.indexOf(s.id)).join(',');
  assert.equal(await order('extra.rank_sort:asc'), '1,0,3,2', 'numeric, unset last');
  assert.equal(await order('extra.rank_sort:desc'), '3,0,1,2', 'unset last going down too');
  assert.equal(await order('extra.label_sort:asc,id:desc'), '1,0,3,2');
  assert.equal(await order('extra.label_sort:desc,id:asc'), '0,1,2,3');
});

// --- §1 search ----------------------------------------------------------------------------------

test('GET /search: fields, match_field, ranking, colours, ids, archived spools and spools_per_filament', async () => {
  const u = uniq();
  const search = async (qs) => {
    const r = await open('GET', `/api/v1/search?${qs}`);
    assert.equal(r.status, 200, `${qs}: ${r.text}`);
    assert.deepEqual(Object.keys(r.json).sort(), ['filaments', 'is_color_query', 'spools', 'vendors']);
    assert.equal(r.headers.get('x-total-count'), null);
    return r.json;
  };
  const q = (s) => `q=${encodeURIComponent(s)}`;
  await ok('POST', `/api/v1/field/spool/shelf_${u}`, { name: 'Shelf', field_type: 'text' });
  await ok('POST', `/api/v1/field/spool/bin_${u}`, { name: 'Bin', field_type: 'choice', multi_choice: false,
    choices: [`Left${u}`, `Right${u}`] });
  await ok('POST', `/api/v1/field/spool/count_${u}`, { name: 'Count', field_type: 'integer' });
  const v = await ok('POST', '/api/v1/vendor', { name: `Acme${u}`, comment: `vendornote${u}` });
  const f = await filament({ name: `Widget${u}`, vendor_id: v.id, material: 'PLA', comment: `filnote${u}`,
    color_hex: 'FF0000' });
  const s1 = await ok('POST', '/api/v1/spool', { filament_id: f.id, location: `Loc${u}`, comment: `spnote${u}`,
    extra: { [`shelf_${u}`]: `"Shelf${u}"`, [`bin_${u}`]: `"Right${u}"`, [`count_${u}`]: '4242' } });
  const s2 = await ok('POST', '/api/v1/spool', { filament_id: f.id, location: `Loc${u}`, used_weight: 400, archived: true });

  const one = async (qs, list, id) => {
    const r = await search(qs);
    const hits = r[list].filter((h) => h[list.slice(0, -1)].id === id);
    assert.equal(hits.length, 1, `${qs}: ${list} ${id} in ${JSON.stringify(r[list].map((h) => h.match_field))}`);
    return { r, hit: hits[0] };
  };
  assert.equal((await one(q(`Widget${u}`), 'filaments', f.id)).hit.match_field, 'name');
  assert.equal((await one(q(`acme${u}`), 'vendors', v.id)).hit.match_field, 'name');
  assert.equal((await one(q(`acme${u}`), 'filaments', f.id)).hit.match_field, 'vendor.name');
  assert.equal((await one(q(`vendornote${u}`), 'vendors', v.id)).hit.match_field, 'comment');
  assert.equal((await one(q(`FILNOTE${u}`), 'filaments', f.id)).hit.match_field, 'comment');
  assert.equal((await one(q(`Loc${u}`), 'spools', s1.id)).hit.match_field, 'location');
  assert.equal((await one(q(`spnote${u}`), 'spools', s1.id)).hit.match_field, 'comment');
  assert.equal((await one(q(`Shelf${u}`), 'spools', s1.id)).hit.match_field, `extra.shelf_${u}`);
  assert.equal((await one(q(`Right${u}`), 'spools', s1.id)).hit.match_field, `extra.bin_${u}`);
  assert.equal((await one(q(`Acme${u} PLA`), 'filaments', f.id)).hit.match_field, 'material');
  assert.equal((await one(q(`Loc${u} spnote${u}`), 'spools', s1.id)).hit.match_field, 'location');
  assert.equal((await one(q(`  loc${u}   shelf${u} LOC${u} `), 'spools', s1.id)).hit.match_field, 'location');
  const { hit } = await one(q(`Loc${u}`), 'spools', s1.id);
  assert.equal(hit.spool.filament.vendor.id, v.id, 'the full spool, filament and vendor');
  assert.equal(hit.spool.extra[`shelf_${u}`], `"Shelf${u}"`);
  assert.equal(hit.spool.remaining_weight, 1000);
  assert.ok(!('empty_spool_weight' in (await one(q(`Shelf${u}`), 'spools', s1.id)).hit.spool.filament.vendor), 'nulls omitted');
  // integer extra fields, filament and vendor names are not searched for spools
  assert.deepEqual((await search(q('4242'))).spools.filter((h) => h.spool.id === s1.id), []);
  assert.deepEqual((await search(q(`Widget${u}`))).spools, []);

  // every term must hit; one that hits nothing empties every list
  const none = await search(q(`Widget${u} nothing${u}`));
  assert.deepEqual(none, { spools: [], filaments: [], vendors: [], is_color_query: false });
  assert.deepEqual(await search('q=%20%20'), { spools: [], filaments: [], vendors: [], is_color_query: false });

  // archived spools: hidden unless allowed, in the text hits and the id shortcut alike
  assert.deepEqual((await search(q(`Loc${u}`))).spools.map((h) => h.spool.id), [s1.id]);
  assert.deepEqual((await search(`${q(`Loc${u}`)}&allow_archived=true`)).spools.map((h) => h.spool.id).sort((a, b) => a - b),
    [s1.id, s2.id]);
  let r = await search(q(String(s1.id)));
  assert.equal(r.spools[0].spool.id, s1.id);
  assert.equal(r.spools[0].match_field, 'id');
  assert.equal(r.spools.filter((h) => h.spool.id === s1.id).length, 1);
  r = await search(q(String(s2.id)));
  assert.ok(!r.spools.some((h) => h.spool.id === s2.id), 'an archived spool is not found by its id');
  r = await search(`${q(String(s2.id))}&allow_archived=yes&limit=1`);
  assert.deepEqual(r.spools.map((h) => [h.spool.id, h.match_field]), [[s2.id, 'id']]);

  // colours: a CSS name or a hex code is a colour query, and the close filaments rank first
  r = await search('q=red');
  assert.equal(r.is_color_query, true);
  assert.equal(r.filaments.find((h) => h.filament.id === f.id)?.match_field, 'color');
  r = await search('q=%23ff0000&color_similarity_threshold=5');
  assert.equal(r.filaments.find((h) => h.filament.id === f.id)?.match_field, 'color');
  assert.equal(r.filaments[0].match_field, 'color');
  r = await search('q=F00');
  assert.equal(r.filaments.find((h) => h.filament.id === f.id)?.match_field, 'color');
  for (const [s, want] of [['light blue', true], ['RebeccaPurple', true], ['grey', true], ['123', true],
    ['#12345678', false], [`Widget${u}`, false], ['blue green', false]])
    assert.equal((await search(q(s))).is_color_query, want, s);
  r = await search(`q=${encodeURIComponent(`Widget${u}`)}`);
  assert.equal(r.filaments.length, 1);
  r = await search('q=00ff00&color_similarity_threshold=0');
  assert.ok(!r.filaments.some((h) => h.filament.id === f.id));

  // spools_per_filament: absent or 0 adds nothing; archived spools only when allowed
  r = await search(q(`Widget${u}`));
  assert.ok(!('spools' in r.filaments[0]) && !('spool_count' in r.filaments[0]));
  r = await search(`${q(`Widget${u}`)}&spools_per_filament=0`);
  assert.ok(!('spools' in r.filaments[0]) && !('spool_count' in r.filaments[0]));
  r = await search(`${q(`Widget${u}`)}&spools_per_filament=5`);
  assert.equal(r.filaments[0].spool_count, 1);
  assert.deepEqual(r.filaments[0].spools, [{ id: s1.id, remaining_weight: 1000, location: `Loc${u}`, archived: false }]);
  r = await search(`${q(`Widget${u}`)}&spools_per_filament=5&allow_archived=true`);
  assert.equal(r.filaments[0].spool_count, 2);
  assert.deepEqual(r.filaments[0].spools[1], { id: s2.id, remaining_weight: 600, location: `Loc${u}`, archived: true });
  const f3 = await filament({ name: `Trio${u}`, weight: undefined });
  const trio = [];
  for (let i = 0; i < 3; i++) trio.push((await ok('POST', '/api/v1/spool', { filament_id: f3.id, initial_weight: 500 })).id);
  r = await search(`${q(`Trio${u}`)}&spools_per_filament=5`);
  assert.deepEqual(r.filaments[0].spools.map((s) => s.id), trio);
  assert.equal(r.filaments[0].spool_count, 3);
  r = await search(`${q(`Trio${u}`)}&spools_per_filament=2`);
  assert.deepEqual(r.filaments[0].spools.map((s) => s.id), trio.slice(0, 2));
  assert.equal(r.filaments[0].spool_count, 3);
  const empty = await filament({ name: `Lonely${u}` });
  r = await search(`${q(`Lonely${u}`)}&spools_per_filament=1`);
  assert.deepEqual(r.filaments.map((h) => [h.filament.id, h.spools, h.spool_count]), [[empty.id, [], 0]]);
});

test('GET /search: ranking, limit, literal wildcards and parameter checks', async () => {
  const u = uniq();
  const search = async (qs) => {
    const r = await open('GET', `/api/v1/search?${qs}`);
    assert.equal(r.status, 200, `${qs}: ${r.text}`);
    return r.json;
  };
  // a hit at the start of a field ranks above one inside it; the id only breaks ties
  const inside = await filament({ name: `Plain ${u}`, comment: `the zeta${u}` });
  const prefix = await filament({ name: `Zeta${u} Plus` });
  const vend = await ok('POST', '/api/v1/vendor', { name: `Zeta${u} Works` });
  const byVendor = await filament({ name: `Other ${u}`, vendor_id: vend.id });
  let r = await search(`q=zeta${u}`);
  assert.deepEqual(r.filaments.map((h) => [h.filament.id, h.match_field]),
    [[prefix.id, 'name'], [inside.id, 'comment'], [byVendor.id, 'vendor.name']]);
  r = await search(`q=zeta${u}&limit=1`);
  assert.deepEqual(r.filaments.map((h) => h.filament.id), [prefix.id]);
  assert.equal(r.vendors.length, 1);
  r = await search(`q=${u}`);
  assert.deepEqual(r.filaments.map((h) => h.filament.id), [inside.id, prefix.id, byVendor.id],
    'all inside a field: by id');

  // %, _ and / in a term are literal
  const pct = await filament({ name: `pct${u}`, comment: `50%off${u}` });
  const under = await filament({ name: `und${u}`, comment: `a_b${u}` });
  await filament({ name: `und2${u}`, comment: `axb${u}` });
  assert.deepEqual((await search(`q=${encodeURIComponent(`%off${u}`)}`)).filaments.map((h) => h.filament.id), [pct.id]);
  assert.deepEqual((await search(`q=${encodeURIComponent(`a_b${u}`)}`)).filaments.map((h) => h.filament.id), [under.id]);
  assert.deepEqual((await search('q=%25%25%25%25')).filaments, []);

  // parameters: FastAPI's 422s
  for (const qs of ['', 'q=', 'q=x&limit=0', 'q=x&limit=101', 'q=x&limit=abc', 'q=x&spools_per_filament=11',
    'q=x&spools_per_filament=-1', 'q=x&color_similarity_threshold=101', 'q=x&color_similarity_threshold=-1',
    'q=x&allow_archived=perhaps']) {
    const b = await open('GET', `/api/v1/search?${qs}`);
    assert.equal(b.status, 422, `${qs}: ${b.status} ${b.text}`);
    assert.equal(b.json.detail[0].loc[0], 'query');
  }
  await search('q=x&limit=100&spools_per_filament=10&color_similarity_threshold=100&allow_archived=False');
});

// Without spool text extra fields the spools' words are looked up in a text index first where the
// backend has one (docs/inventory.md, Search): the hits must be those of the words as substrings
// of the comment, location or lot number, ignoring ASCII case, with short words, quotes and
// wildcards literal. A daemon of its own: the other tests define spool extra fields.
test('GET /search: spool hits through the text index equal the words as substrings', async () => {
  const d = new Daemon();
  await d.start();
  try {
    const c = spoolmanClient(() => d, assert);
    const f = await c.ok('POST', '/api/v1/filament', { name: 'Indexed', density: 1.24, diameter: 1.75, weight: 1000 });
    const rows = [
      { location: 'Rack 42', lot_nr: 'L120', comment: 'Dry box' },
      { location: 'rack 7', lot_nr: 'L12', comment: '50% off_cut "sale"' },
      { location: 'Shelf 42', lot_nr: 'B99', comment: 'a/b test' },
      { location: null, lot_nr: 'X42RACK', comment: null },
      { location: 'RACK 99', lot_nr: 'L4', comment: 'Dry', archived: true },
      { location: 'Ünïcode Rack', lot_nr: 'l99', comment: 'ok' },
    ];
    const made = [];
    for (const r of rows) made.push(await c.ok('POST', '/api/v1/spool', { filament_id: f.id, ...r }));
    await c.ok('PATCH', `/api/v1/spool/${made[2].id}`, { comment: 'a/b moved rack' });
    await c.ok('DELETE', `/api/v1/spool/${made[5].id}`);
    const spools = await c.ok('GET', '/api/v1/spool?allow_archived=true');
    for (const words of ['rack', 'rack 42', 'RACK 9', 'l12', 'l12 rack', 'dry box', '50%', 'off_cut', '"sale"', 'a/b',
      'a/b rack', 'x42', 'ünïcode', 'nothing', 'rack nothing', '42', 'ack 4']) {
      for (const archived of [false, true]) {
        const terms = words.toLowerCase().split(/\s+/);
        const want = spools.filter((s) => (archived || !s.archived) && terms.every((t) =>
          [s.comment, s.location, s.lot_nr].some((v) => v != null && v.toLowerCase().includes(t))))
          .map((s) => s.id).sort((a, b) => a - b);
        const r = await c.ok('GET', `/api/v1/search?q=${encodeURIComponent(words)}&limit=100&allow_archived=${archived}`);
        const got = r.spools.filter((h) => h.match_field !== 'id').map((h) => h.spool.id).sort((a, b) => a - b);
        assert.deepEqual(got, want, `${words}, archived ${archived}`);
      }
    }
  } finally {
    assertCleanExit(assert, await d.stop());
  }
});
