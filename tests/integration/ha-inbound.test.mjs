// Home Assistant, inbound (docs/homeassistant.md, Inbound): the filament-tracking seed's
// automations posting to /webhook/homeassistant/print_event and …/ams_update as Home Assistant's
// rest_command sends them (`payload: "{{ (data | tojson) }}"`, Content-Type application/json),
// feeding the same job recorder, accounting, slot map and prompts as an MQTT printer; and the
// printer they create merged into the MQTT printer it is (the simulator's, over a real broker).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, simFleet, stopSimFleet } from './harness.mjs';

const P1S = '01P00A451200777';
const SECRET = 'ha-webhook-secret-0123456789';
const CONFIG = `[mqtt]\nsilence_s = 5\n[homeassistant]\nwebhook_secret = ${SECRET}\n`;
const fleet = {};
let daemon, ids;

before(async () => {
  ({ daemon, ids } = await simFleet(fleet, { prefix: 'pd-hain-', serials: [P1S], models: ['P1S'], config: CONFIG }));
});
after(() => stopSimFleet(assert, fleet));

// as Home Assistant's rest_command posts: no printdeck token, the secret in a header
const hook = (kind, data, headers = { 'X-Printdeck-Secret': SECRET }) =>
  daemon.req('POST', `/webhook/homeassistant/${kind}`, data, { Authorization: '', ...headers });
const printers = async () => (await daemon.get('/api/v1/printers')).json;
const byHa = async (id) => (await printers()).find((p) => p.ha_printer_id === id);
const jobsOf = async (pid) => (await daemon.get(`/api/v1/jobs?printer_id=${pid}`)).json;
const promptsOf = async (pid) => (await daemon.get('/api/v1/prompts')).json.filter((p) => p.printer_id === pid);

test('a wrong or missing secret is 401 and changes nothing', async () => {
  const before = (await printers()).length;
  const data = { printer_id: 'Ghost_1', status: 'PRINTING', gcode_file_name: 'x.gcode.3mf' };
  for (const headers of [{}, { 'X-Printdeck-Secret': 'wrong-secret-0123456789' }, { Authorization: 'Bearer nope' }]) {
    const r = await hook('print_event', data, headers);
    assert.equal(r.status, 401, r.text);
  }
  assert.equal((await printers()).length, before);
  // the other two ways Home Assistant can send it
  assert.equal((await hook('ams_update', { printer_id: 'Ghost_2', ams_unit_number: 1, slot_number: 1, material: 'PLA' },
    { Authorization: `Bearer ${SECRET}` })).status, 201);
  const r = await daemon.req('POST', `/webhook/homeassistant/ams_update?token=${SECRET}`,
    { printer_id: 'Ghost_2', ams_unit_number: 1, slot_number: 1, material: 'PLA' }, { Authorization: '' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.changed, false);
});

test('a printer with its own webhook secret takes only it; the global one creates printers', async () => {
  const OWN = 'own-secret-of-garage-0123';
  const OTHER = 'own-secret-of-shed-456789';
  let r = await hook('print_event', { printer_id: 'Garage_1', status: 'idle' });
  assert.equal(r.status, 201, r.text);
  const garage = r.json.printer;
  r = await hook('print_event', { printer_id: 'Shed_1', status: 'idle' });
  const shed = r.json.printer;
  // write-only: a rule broken is said without the value, the value never shown, only whether set
  r = await daemon.req('PATCH', `/api/v1/printers/${garage}`, { webhook_secret: 'short' });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.error.message, /^webhook_secret: must be 16-128/);
  assert.ok(!r.text.includes('short'), r.text);
  for (const [id, secret] of [[garage, OWN], [shed, OTHER]]) {
    r = await daemon.req('PATCH', `/api/v1/printers/${id}`, { webhook_secret: secret });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.webhook_secret_set, true);
    assert.ok(!r.text.includes(secret), r.text);
  }
  assert.ok(!JSON.stringify(await printers()).includes(OWN));
  assert.equal((await daemon.printer(ids[P1S])).webhook_secret_set, false);

  const running = { printer_id: 'Garage_1', status: 'printing', gcode_file_name: 'gear.gcode.3mf' };
  // the global secret, another printer's, a wrong one: 401, nothing written
  for (const secret of [SECRET, OTHER, 'wrong-secret-0123456789']) {
    r = await hook('print_event', running, { 'X-Printdeck-Secret': secret });
    assert.equal(r.status, 401, `${secret}: ${r.text}`);
    assert.match(r.json.error.message, /its own/);
  }
  assert.equal((await daemon.printer(garage)).state, 'IDLE');
  assert.equal((await jobsOf(garage)).length, 0);
  // its own, in each of the three places
  r = await hook('print_event', running, { 'X-Printdeck-Secret': OWN });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.changed, true);
  r = await hook('ams_update', { printer_id: 'Garage_1', ams_unit_number: 1, slot_number: 2, material: 'PETG' },
    { Authorization: `Bearer ${OWN}` });
  assert.equal(r.status, 200, r.text);
  r = await daemon.req('POST', `/webhook/homeassistant/print_event?token=${OWN}`,
    { printer_id: 'Garage_1', status: 'finish' }, { Authorization: '' });
  assert.equal(r.status, 200, r.text);
  await waitFor(async () => (await jobsOf(garage)).find((j) => j.status === 'completed'), 10000, 'gear completed');
  // a printer's secret creates nothing: an unknown printer_id needs the global one
  const count = (await printers()).length;
  r = await hook('print_event', { printer_id: 'Attic_1', status: 'idle' }, { 'X-Printdeck-Secret': OWN });
  assert.equal(r.status, 401, r.text);
  assert.equal((await printers()).length, count);
  // cleared: the global secret again
  r = await daemon.req('PATCH', `/api/v1/printers/${shed}`, { webhook_secret: null });
  assert.equal(r.json.webhook_secret_set, false);
  assert.equal((await hook('print_event', { printer_id: 'Shed_1', status: 'idle' }, { 'X-Printdeck-Secret': OTHER })).status, 401);
  assert.equal((await hook('print_event', { printer_id: 'Shed_1', status: 'idle' })).status, 200);
  assert.equal((await daemon.req('DELETE', `/api/v1/printers/${garage}`)).status, 204);
  assert.equal((await daemon.req('DELETE', `/api/v1/printers/${shed}`)).status, 204);
});

test('malformed payloads are refused naming the field, with nothing written', async () => {
  const before = (await printers()).length;
  const bad = [
    // the seed's template takes split('_')[-3] of sensor.bambu_lab_p1s_ams_1_slot_1_color: "slot"
    ['ams_update', { printer_id: 'Bad_1', ams_unit_number: 'slot', slot_number: '1', color: [255, 0, 0], material: null }, 'ams_unit_number'],
    ['ams_update', { printer_id: 'Bad_1', ams_unit_number: '1', slot_number: '5', material: 'PLA' }, 'slot_number'],
    ['ams_update', { printer_id: 'Bad_1', ams_unit_number: '1', slot_number: '1', color: '[300, 0, 0]' }, 'color'],
    ['ams_update', { printer_id: 'Bad_1', ams_unit_number: '1', slot_number: '1', color: 'None', material: 'None' }, 'color'],
    ['ams_update', { ams_unit_number: '1', slot_number: '1', material: 'PLA' }, 'printer_id'],
    ['print_event', { printer_id: 'Bad_1', status: 'exploded' }, 'status'],
    ['print_event', { printer_id: 'Bad_1', status: 'printing', progress: '101' }, 'progress'],
  ];
  for (const [kind, data, field] of bad) {
    const r = await hook(kind, data);
    assert.equal(r.status, 422, `${JSON.stringify(data)}: ${r.text}`);
    assert.match(r.json.error.message, new RegExp(`^${field}:`), r.text);
  }
  const r = await hook('print_event', '{"printer_id": "Bad_1", "status": ');
  assert.equal(r.status, 400, r.text);
  assert.equal((await printers()).length, before);
});

test('the seed payloads create a printer, a slot change with its prompt, a job with its usage', async () => {
  // the AMS automation, once per entity: a colour (rgb_color, rendered natively or as text) with
  // no material, then the material with no colour; numbers as the template's text
  let r = await hook('ams_update', { printer_id: 'BambuP1S_001', ams_unit_number: '1', slot_number: '1',
    color: [255, 0, 0], material: null });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.created, true);
  const pid = r.json.printer;
  const p = await daemon.printer(pid);
  assert.equal(p.source, 'homeassistant');
  assert.equal(p.ha_printer_id, 'BambuP1S_001');
  assert.equal(p.name, 'BambuP1S_001');
  assert.match(p.serial, /^HA[0-9A-F]{13}$/);
  r = await hook('ams_update', { printer_id: 'BambuP1S_001', ams_unit_number: '1', slot_number: '1',
    color: 'None', material: 'PLA' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.changed, true);
  const slot = await waitFor(async () => (await daemon.get(`/api/v1/printers/${pid}/ams`)).json
    .find((s) => s.unit === 0 && s.slot === 0 && s.live?.material === 'PLA'), 10000, 'slot 0/0 PLA');
  assert.match(slot.live.color, /^#?FF0000/i);
  const prompt = await waitFor(async () => (await promptsOf(pid)).find((x) => x.unit === 0 && x.slot === 0), 10000, 'slot prompt');
  // a replay is a no-op: no second prompt, no history row
  const hist = (await daemon.get(`/api/v1/printers/${pid}/ams/history`)).json;
  r = await hook('ams_update', { printer_id: 'BambuP1S_001', ams_unit_number: '1', slot_number: '1',
    color: '(255, 0, 0)', material: 'PLA' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.changed, false);
  assert.deepEqual((await promptsOf(pid)).map((x) => x.id), [prompt.id]);
  assert.deepEqual((await daemon.get(`/api/v1/printers/${pid}/ams/history`)).json, hist);

  // a spool for the slot, answering the prompt; the AMS's remain % from Home Assistant
  const vendor = (await daemon.req('POST', '/api/v1/vendor', { name: 'HA Test' })).json;
  const fil = (await daemon.req('POST', '/api/v1/filament', { name: 'Red', vendor_id: vendor.id, material: 'PLA',
    density: 1.24, diameter: 1.75, weight: 1000, color_hex: 'FF0000' })).json;
  const spool = (await daemon.req('POST', '/api/v1/spool', { filament_id: fil.id, initial_weight: 1000 })).json;
  r = await daemon.req('POST', `/api/v1/prompts/${prompt.id}/assign`, { spool_id: spool.id });
  assert.equal(r.status, 200, r.text);
  r = await hook('ams_update', { printer_id: 'BambuP1S_001', ams_unit_number: 1, slot_number: 1, remain: '80' });
  assert.equal(r.json.changed, true, r.text);

  // the print automation: PRINTING, then what it left PRINTING for
  const event = { printer_id: 'BambuP1S_001', status: 'PRINTING', gcode_file_name: '/cache/benchy.gcode.3mf',
    ams_unit_number: '1', slot_number: '1' };
  r = await hook('print_event', event);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.state, 'RUNNING');
  const job = await waitFor(async () => (await jobsOf(pid)).find((j) => j.status === 'printing'), 10000, 'job open');
  assert.equal(job.name, 'benchy');
  assert.equal(job.file, '/cache/benchy.gcode.3mf');
  r = await hook('print_event', event);
  assert.equal(r.json.changed, false, r.text);
  assert.equal((await jobsOf(pid)).length, 1);
  assert.equal((await hook('ams_update', { printer_id: 'BambuP1S_001', ams_unit_number: 1, slot_number: 1, remain: 70 })).status, 200);
  r = await hook('print_event', { printer_id: 'BambuP1S_001', status: 'FINISH', gcode_file_name: 'None' });
  assert.equal(r.json.state, 'FINISH', r.text);
  const done = await waitFor(async () => {
    const j = (await daemon.get(`/api/v1/jobs/${job.id}`)).json;
    return j.status === 'completed' && j.filament?.length ? j : null;
  }, 15000, 'job completed and accounted');
  assert.equal(done.file_status.state, 'unavailable');
  assert.deepEqual(done.trays.map((t) => [t.unit, t.slot]), [[0, 0]]);
  const use = done.filament.find((u) => u.spool_id === spool.id);
  assert.ok(use, JSON.stringify(done.filament));
  assert.equal(use.source, 'remain');
  assert.ok(Math.abs(use.grams - 100) < 0.5, `grams ${use.grams}`);
  const sp = (await daemon.get(`/api/v1/spool/${spool.id}`)).json;
  assert.ok(Math.abs(sp.used_weight - 100) < 0.5, `used ${sp.used_weight}`);
  // the same end again is one transition: nothing more taken
  r = await hook('print_event', { printer_id: 'BambuP1S_001', status: 'finish' });
  assert.equal(r.json.changed, false, r.text);
  assert.equal((await daemon.get(`/api/v1/spool/${spool.id}`)).json.used_weight, sp.used_weight);

  // a cancelled print
  await hook('print_event', { printer_id: 'BambuP1S_001', status: 'running', gcode_file_name: 'cube.3mf' });
  await hook('print_event', { printer_id: 'BambuP1S_001', status: 'cancelled' });
  const cube = await waitFor(async () => (await jobsOf(pid)).find((j) => j.name === 'cube' && j.status !== 'printing'), 10000, 'cube ended');
  assert.equal(cube.status, 'cancelled');
});

test('a Home Assistant printer takes no commands and no link settings, but a name', async () => {
  const p = await byHa('BambuP1S_001');
  let r = await daemon.req('POST', `/api/v1/printers/${p.id}/commands`, { command: 'pause' });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.error.message, /Home Assistant/);
  r = await daemon.req('PATCH', `/api/v1/printers/${p.id}`, { host: '192.168.1.9' });
  assert.equal(r.status, 422, r.text);
  r = await daemon.req('PATCH', `/api/v1/printers/${p.id}`, { name: 'Garage P1S' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.name, 'Garage P1S');
  assert.equal(r.json.source, 'homeassistant');
  assert.equal((await daemon.printer(ids[P1S])).source, 'mqtt');
  // one followed through Home Assistant's API needs that API configured: said by the field
  r = await daemon.req('POST', '/api/v1/printers', { name: 'HA X1C', serial: '00M09A350100999', source: 'homeassistant', ha_device: 'bambu_lab_x1c' });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error.field, 'source');
  assert.match(r.json.error.message, /^source: Home Assistant's API is not configured here/);
});

test('merged into the MQTT printer of its serial: its jobs move, its webhooks are then ignored', async () => {
  // a printer_id that is a serial may only become that printer
  let r = await hook('print_event', { printer_id: '01P00A451299999', status: 'idle' });
  assert.equal(r.status, 201, r.text);
  r = await daemon.req('POST', `/api/v1/printers/${r.json.printer}/merge`, { into: ids[P1S] });
  assert.equal(r.status, 422, r.text);
  assert.match(r.json.error.message, /^into:/);
  // the MQTT printer's own serial as printer_id: it reports for itself
  r = await hook('print_event', { printer_id: P1S, status: 'printing', gcode_file_name: 'x.3mf' });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.ignored, r.text);

  const ha = await byHa('BambuP1S_001');
  const jobs = (await jobsOf(ha.id)).map((j) => j.id).sort();
  assert.ok(jobs.length >= 2);
  r = await daemon.req('POST', `/api/v1/printers/${ids[P1S]}/merge`, { into: ha.id });
  assert.equal(r.status, 400, r.text);
  r = await daemon.req('POST', `/api/v1/printers/${ha.id}/merge`, { into: P1S });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.id, ids[P1S]);
  assert.equal(r.json.ha_printer_id, 'BambuP1S_001');
  assert.equal((await daemon.get(`/api/v1/printers/${ha.id}`)).status, 404);
  assert.deepEqual((await jobsOf(ids[P1S])).map((j) => j.id).filter((id) => jobs.includes(id)).sort(), jobs);
  const usage = (await daemon.get(`/api/v1/usage?printer_id=${ids[P1S]}`)).json;
  assert.ok(usage.length >= 1, JSON.stringify(usage));
  r = await hook('print_event', { printer_id: 'BambuP1S_001', status: 'PRINTING', gcode_file_name: 'y.3mf' });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.ignored, r.text);
  assert.equal((await printers()).filter((p) => p.ha_printer_id === 'BambuP1S_001').length, 1);
});

test('a Home Assistant printer is removed like any other, and comes back with its next webhook', async () => {
  const p = await byHa('Ghost_2');
  assert.equal((await daemon.req('DELETE', `/api/v1/printers/${p.id}`)).status, 204);
  assert.equal(await byHa('Ghost_2'), undefined);
  const r = await hook('ams_update', { printer_id: 'Ghost_2', ams_unit_number: 2, slot_number: 4, color: '#00FF00', material: 'PETG' });
  assert.equal(r.status, 201, r.text);
});
