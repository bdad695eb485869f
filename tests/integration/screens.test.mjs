// What the dashboard's screens need of the daemon: the printers' recent history (GET
// /api/v1/printers/{id}/history), the event stream's Last-Event-ID resume and the connection
// test of a printer (POST /api/v1/printers/test), against the real broker, simulator and daemon.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Broker, Sim, Daemon, SSE, waitFor, sleep, tmpDir, assertCleanExit, freePort, ACCESS_CODE } from './harness.mjs';

const X1C = '00M09A350100411', P1S = '01P00A451200412';
const CONFIG = `[mqtt]
reconnect_min_ms = 200
reconnect_max_ms = 2000
[history]
interval_s = 1
ams_interval_s = 2
keep_s = 60
[server]
heartbeat_s = 1
`;
let broker, sim, daemon, ids = {};

before(async () => {
  broker = new Broker(tmpDir('pd-broker-'), [X1C, P1S]);
  await broker.start();
  sim = new Sim(broker, ['X1C', 'P1S']);
  await sim.start(['--speedup', '4']);
  daemon = new Daemon({ config: CONFIG });
  await daemon.start();
  for (const s of [X1C, P1S]) ids[s] = (await daemon.addPrinter(broker, s)).id;
  for (const s of [X1C, P1S])
    await waitFor(async () => (await daemon.printer(ids[s]))?.state === 'IDLE', 15000, `${s} idle`);
});

after(async () => {
  const r = daemon && await daemon.stop();
  await sim?.stop();
  await broker?.stop();
  if (r) assertCleanExit(assert, r);
});

test('history: columns of one length, real temperatures, since, a chart\'s width, AMS units, errors', async () => {
  await sim.control(X1C, { action: 'start_job', name: 'hist', layers: 20, minutes: 1 });
  const h = await waitFor(async () => {
    const r = (await daemon.get(`/api/v1/printers/${ids[X1C]}/history`)).json;
    return r.t.length >= 4 && r.ams.t.length >= 1 ? r : null;
  }, 15000, 'four samples');
  assert.equal(h.interval_s, 1);
  assert.equal(h.keep_s, 60);
  for (const k of ['nozzle', 'nozzle_target', 'bed', 'bed_target', 'chamber', 'fan_part', 'fan_aux', 'fan_chamber', 'fan_heatbreak'])
    assert.equal(h[k].length, h.t.length, k);
  assert.ok(h.t.every((t, i) => i === 0 || t > h.t[i - 1]), 'timestamps ascend');
  assert.ok(Math.abs(h.t.at(-1) - Date.now()) < 10000, 'wall clock ms');
  assert.ok(h.nozzle.some((v) => typeof v === 'number' && v > 15), 'nozzle temperatures');
  assert.ok(h.ams.units.length >= 1);
  for (const u of h.ams.units) {
    assert.equal(u.humidity.length, h.ams.t.length);
    assert.equal(u.temp.length, h.ams.t.length);
  }
  const since = h.t.at(-2);
  const tail = (await daemon.get(`/api/v1/printers/${ids[X1C]}/history?since=${since}`)).json;
  assert.ok(tail.t.length >= 1 && tail.t.every((t) => t > since));
  assert.equal((await daemon.get(`/api/v1/printers/${X1C}/history`)).status, 200, 'by serial');
  assert.equal((await daemon.get('/api/v1/printers/999/history')).status, 404);
  const bad = await daemon.get(`/api/v1/printers/${ids[X1C]}/history?since=yesterday`);
  assert.equal(bad.status, 422);
  // a chart's width: at most that many rows, every column alike (the peaks: test_history.c)
  const full = (await daemon.get(`/api/v1/printers/${ids[X1C]}/history`)).json;
  const small = (await daemon.get(`/api/v1/printers/${ids[X1C]}/history?points=2`)).json;
  assert.ok(full.t.length > 2, `${full.t.length} samples`);
  assert.equal(small.t.length, 2);
  for (const k of ['nozzle', 'bed', 'fan_part'])
    assert.equal(small[k].length, 2, k);
  assert.ok(small.t[0] <= full.t[1] && small.t[0] < small.t[1], 'the oldest kept and the newest');
  assert.equal((await daemon.get(`/api/v1/printers/${ids[X1C]}/history?max=2`)).json.t.length, 2, 'max, its other name');
  for (const q of ['points=1', 'points=x', 'points=99999'])
    assert.equal((await daemon.get(`/api/v1/printers/${ids[X1C]}/history?${q}`)).status, 422, q);
  await sim.control(X1C, { action: 'finish' });
});

test('events: Last-Event-ID resumes with the missed events, an unknown id gets the snapshot', async () => {
  const a = await new SSE(daemon).open();
  await a.waitFor((e) => e.event === 'printer' && e.json?.id === ids[P1S], 10000, 'snapshot');
  assert.ok(a.events.filter((e) => e.event === 'printer').every((e) => e.id === undefined || a.events.indexOf(e) > 1),
    'snapshot frames carry no id');
  const live = await a.waitFor((e) => e.id, 15000, 'a live event with an id');
  a.close();
  const lastId = a.events.filter((e) => e.id).at(-1).id;
  await sim.control(P1S, { action: 'start_job', name: 'missed', layers: 10, minutes: 1 });
  await waitFor(async () => (await daemon.printer(ids[P1S]))?.state === 'RUNNING', 15000, 'printing');
  await sleep(500);

  const b = await new SSE(daemon, '/api/v1/events', { 'Last-Event-ID': lastId }).open();
  const phase = await b.waitFor((e) => e.event === 'job' && e.json?.printer_id === ids[P1S] && e.json?.to === 'RUNNING',
    10000, 'the missed job event replayed');
  assert.ok(Number(phase.id) > Number(lastId));
  const firstId = b.events.find((e) => e.id).id;
  assert.equal(Number(firstId), Number(lastId) + 1, 'replay starts right after the last event seen');
  const ids2 = b.events.filter((e) => e.id).map((e) => Number(e.id));
  assert.ok(ids2.every((x, i) => i === 0 || x > ids2[i - 1]), 'in order, no duplicates');
  assert.ok(b.events.every((e) => e.id !== undefined || e.comment), 'no snapshot: every event is a replayed or live one');
  b.close();
  assert.ok(live);

  const c = await new SSE(daemon, '/api/v1/events', { 'Last-Event-ID': '12' }).open();
  await c.waitFor((e) => e.event === 'printer' && e.id === undefined, 10000, 'a fresh snapshot for an unknown id');
  c.close();
  await sim.control(P1S, { action: 'finish' });
});

/** A printer.patch applied as the dashboard does: objects member by member, null a value. */
function applyPatch(target, patch) {
  const out = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    const obj = (x) => x && typeof x === 'object' && !Array.isArray(x);
    out[k] = obj(v) && obj(out[k]) ? applyPatch(out[k], v) : v;
  }
  return out;
}

/** Plays a ?patch=1 stream's printer events from i on into `state`; for every live one whose
 * id the whole stream also carried, the object rebuilt must be that whole object. */
function replay(events, state, whole, from = 0) {
  let compared = 0, patchBytes = 0, wholeBytes = 0;
  for (const e of events.slice(from)) {
    if (e.event === 'printer') state.set(e.json.id, e.json);
    else if (e.event === 'printer.patch' && state.has(e.json.id)) state.set(e.json.id, applyPatch(state.get(e.json.id), e.json));
    else continue;
    const w = e.id && whole.get(e.id);
    if (!w) continue;
    assert.deepEqual(state.get(e.json.id), w.json, `event ${e.id} (${e.event}) rebuilds the whole object`);
    compared++;
    if (e.event === 'printer.patch') { patchBytes += e.data.length; wholeBytes += w.data.length; }
  }
  return { compared, patchBytes, wholeBytes };
}

test('events: ?patch=1 rebuilds the very objects the whole events carry, across a resume and a reconnect of the printer', async () => {
  await sim.control(X1C, { action: 'start_job', name: 'patched', layers: 30, minutes: 1 });
  const whole = await new SSE(daemon).open();
  const pat = await new SSE(daemon, '/api/v1/events?patch=1').open();
  await pat.waitFor((e) => e.event === 'printer' && e.json?.id === ids[P1S] && !e.id, 10000, 'the snapshot, whole');
  await waitFor(() => pat.events.filter((e) => e.event === 'printer.patch').length >= 20, 20000, 'twenty patches');
  // another dashboard stays: patches are made only while a patch client is connected, and the
  // frames missed below are to be resumed as patches
  const other = await new SSE(daemon, '/api/v1/events?patch=1').open();
  pat.close();
  const lastId = pat.events.filter((e) => e.id).at(-1).id;
  // missed while away: a printer's connection dropped and back (its object changes without a report)
  await daemon.req('PATCH', `/api/v1/printers/${ids[P1S]}`, { port: 1 });
  await waitFor(async () => (await daemon.printer(ids[P1S]))?.connection?.state !== 'connected', 10000, 'P1S link down');
  await daemon.req('PATCH', `/api/v1/printers/${ids[P1S]}`, { port: broker.portOf(P1S) });
  const back = await new SSE(daemon, '/api/v1/events?patch=1&batch=1', { 'Last-Event-ID': lastId }).open();
  await waitFor(async () => (await daemon.printer(ids[P1S]))?.connection?.state === 'connected', 15000, 'P1S back');
  // twenty patches, and a dozen events more than a second into the live stream (the batching
  // checked below): what was missed comes first, at once
  const liveAfter = () => { const first = back.events.find((x) => x.id); return first ? back.events.filter((e) => e.id && e.at > first.at + 1000) : []; };
  await waitFor(() => back.events.filter((e) => e.event === 'printer.patch').length >= 20 && liveAfter().length >= 12, 20000,
    'twenty more patches and a dozen live events');
  back.close();
  other.close();
  await sleep(300);
  whole.close();
  const byId = new Map(whole.events.filter((e) => e.id && e.event === 'printer').map((e) => [e.id, e]));
  const state = new Map();
  const a = replay(pat.events, state, byId);
  assert.equal(back.events.find((e) => e.id)?.id, String(Number(lastId) + 1), 'resumed right after the last event, no snapshot');
  const b = replay(back.events, state, byId);
  assert.ok(a.compared >= 20 && b.compared >= 20, `${a.compared} + ${b.compared} compared`);
  assert.ok(back.events.some((e) => e.event === 'printer.patch' && e.json.connection), 'the connection change as a patch');
  // batched: once live, events arrive in bursts at least ~250 ms apart
  const live = liveAfter();
  const bursts = live.filter((e, i) => i === 0 || e.at - live[i - 1].at > 100);
  assert.ok(live.length >= 10 && bursts.length < live.length / 2, `${live.length} events in ${bursts.length} bursts`);
  assert.ok(bursts.every((e, i) => i === 0 || e.at - bursts[i - 1].at > 150), 'bursts a batch apart');
  const ratio = (a.patchBytes + b.patchBytes) / (a.wholeBytes + b.wholeBytes);
  assert.ok(ratio < 0.3, `patches are ${(ratio * 100).toFixed(0)} % of the whole objects`);
  await sim.control(X1C, { action: 'finish' });
});

test('connection test: ok, access code, certificate name, refused port, Developer Mode, in words', async () => {
  const base = { serial: X1C, host: '127.0.0.1', port: broker.portOf(X1C), access_code: ACCESS_CODE, ca_file: broker.ca };
  const probe = async (body, q = '') => {
    const r = await daemon.req('POST', `/api/v1/printers/test${q}`, body);
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  let r = await probe(base);
  assert.equal(r.ok, true, r.message);
  assert.equal(r.step, 'ok');
  assert.ok(r.elapsed_ms >= 0 && r.elapsed_ms < 10000);

  r = await probe({ ...base, access_code: '87654321' });
  assert.deepEqual([r.ok, r.step], [false, 'access_code']);
  assert.match(r.message, /access code/);
  assert.doesNotMatch(r.message, /87654321/, 'the secret is never echoed');

  r = await probe({ ...base, serial: '01P00A999999999' });
  assert.deepEqual([r.ok, r.step], [false, 'tls']);
  assert.match(r.message, /certificate did not verify.*01P00A999999999/);

  r = await probe({ ...base, ca_file: undefined });   /* the broker's CA is not Bambu's */
  assert.equal(r.step, 'tls');

  r = await probe({ ...base, port: await freePort() });
  assert.deepEqual([r.ok, r.step], [false, 'connect']);
  assert.match(r.message, /refused/);

  r = await probe({ ...base, host: 'no-such-printer.invalid' });
  assert.equal(r.step, 'address');

  r = await probe({}, `?printer=${ids[P1S]}`);   /* a P1S firmware without the fun bits */
  assert.deepEqual([r.ok, r.step], [true, 'ok']);
  await sim.control(X1C, { action: 'ack_mode', mode: 'signed' });
  r = await probe({}, `?printer=${ids[X1C]}`);   /* an edit: the stored record, access code kept */
  assert.deepEqual([r.ok, r.step], [false, 'developer_mode']);
  assert.match(r.message, /Developer Mode/);
  await sim.control(X1C, { action: 'ack_mode', mode: 'normal' });

  assert.equal((await daemon.req('POST', '/api/v1/printers/test', { serial: 'x' })).status, 400);
  assert.equal((await daemon.req('POST', '/api/v1/printers/test?printer=999', {})).status, 404);
});
