// The job recorder end to end (docs/jobs.md): real broker over TLS, the simulator playing the
// printers, the daemon recording. Every print here is started on the simulator's control topic:
// printdeck never sends anything to start it, as with a print from Bambu Studio or the screen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Daemon, SSE, waitFor, sleep, assertCleanExit, databaseOf, join, simFleet, stopSimFleet } from './harness.mjs';

const X1C = '00M09A350100311', P1S = '01P00A451200312', A1 = '03919C461900313', P1S2 = '01P00A451200314';
const CONFIG = `[mqtt]
silence_s = 5
reconnect_min_ms = 200
reconnect_max_ms = 2000
[jobs]
offline_timeout_s = 12
[server]
heartbeat_s = 1
`;
let broker, sim, daemon, sse, ids = {};

const fleet = {};
before(async () => {
  ({ broker, sim, daemon, sse, ids } = await simFleet(fleet, { prefix: 'pd-jobs-', serials: [X1C, P1S, A1, P1S2],
    models: ['X1C', 'P1S', 'A1', 'P1S'], simArgs: ['--speedup', '4'], config: CONFIG }));
});

after(() => stopSimFleet(assert, fleet));

const jobsOf = async (s) => (await daemon.get(`/api/v1/jobs?printer_id=${ids[s]}&sort=id:asc`)).json;
const openJob = (s, name) => waitFor(async () => (await jobsOf(s)).find((j) => j.name === name && !j.ended_at),
  15000, `${name} open on ${s}`);
const job = async (id) => (await daemon.get(`/api/v1/jobs/${id}`)).json;
const until = (id, pred, what, ms = 20000) => waitFor(async () => { const j = await job(id); return pred(j) ? j : null; }, ms, what);
const command = (s, body) => daemon.req('POST', `/api/v1/printers/${ids[s]}/commands`, body);

test('start → finish: one completed job with the task, progress, snapshot and environment', async () => {
  await sim.control(A1, { action: 'start_job', name: 'benchy', layers: 20, minutes: 1 });
  const j = await openJob(A1, 'benchy');
  assert.equal(j.status, 'printing');
  assert.equal(j.origin, 'printer');
  assert.match(j.file, /benchy/);
  assert.equal(j.ended_at, null);
  assert.deepEqual(j.filament, []);
  assert.equal(j.cost, null);
  await until(j.id, (x) => x.layer >= 3, 'layers move');
  await sim.control(A1, { action: 'finish' });
  const done = await until(j.id, (x) => x.status === 'completed', 'completed');
  assert.ok(done.ended_at && done.duration_s >= 0);
  assert.ok(done.progress > 0 && done.layer >= 3, 'last progress and layer kept');
  assert.equal(done.total_layers, 20);
  assert.ok(done.snapshot.length >= 1, 'trays snapshotted at start');
  assert.ok(done.trays.length >= 1, 'tray_now logged');
  assert.ok(done.environment && 'ams' in done.environment);
  assert.equal((await jobsOf(A1)).filter((x) => x.name === 'benchy').length, 1, 'exactly one job');
  await sse.waitFor((e) => e.event === 'job.started' && e.json?.id === j.id, 5000, 'job.started on SSE');
  await sse.waitFor((e) => e.event === 'job.ended' && e.json?.id === j.id && e.json.status === 'completed', 5000, 'job.ended');
});

test('failed at 40 %: failed with the decoded print_error, progress kept', async () => {
  await sim.control(P1S, { action: 'start_job', name: 'bracket', layers: 50, minutes: 1 });
  const j = await openJob(P1S, 'bracket');
  await until(j.id, (x) => x.progress >= 40, 'progress 40 %');
  await sim.control(P1S, { action: 'fail', error: 0x0500C010 });
  const f = await until(j.id, (x) => x.status === 'failed', 'failed');
  assert.equal(f.error_code, '0500_C010');
  assert.match(f.reason, /^0500_C010: /);
  assert.ok(f.progress >= 40, `progress ${f.progress} kept`);
});

test('cancelled by print.stop: cancelled, not failed, and the progress before the reset kept', async () => {
  await sim.control(X1C, { action: 'start_job', name: 'vase', layers: 80, minutes: 2 });
  const j = await openJob(X1C, 'vase');
  await until(j.id, (x) => x.progress >= 5, 'some progress');
  const r = await command(X1C, { command: 'stop' });
  assert.equal(r.status, 200, r.text);
  const c = await until(j.id, (x) => x.ended_at, 'ended');
  assert.equal(c.status, 'cancelled');
  assert.equal(c.error_code, '0300_400C');
  assert.ok(c.progress >= 5);
});

test('paused and resumed: the pause and its reason recorded', async () => {
  await sim.control(P1S2, { action: 'start_job', name: 'gear', layers: 60, minutes: 2 });
  const j = await openJob(P1S2, 'gear');
  await until(j.id, (x) => x.progress >= 2, 'printing');
  assert.equal((await command(P1S2, { command: 'pause' })).status, 200);
  const p = await until(j.id, (x) => x.status === 'paused', 'paused');
  assert.equal(p.pauses.length, 1);
  assert.equal(p.pauses[0].kind, 'pause');
  assert.equal(p.pauses[0].reason, 'paused by the user');
  assert.equal(p.pauses[0].ended_at, null);
  assert.equal((await command(P1S2, { command: 'resume' })).status, 200);
  const r = await until(j.id, (x) => x.status === 'printing', 'resumed');
  assert.ok(r.pauses[0].ended_at, 'pause closed');
  await sim.control(P1S2, { action: 'finish' });
  await until(j.id, (x) => x.status === 'completed', 'completed');
});

test('two printers printing at once: a job each, not mixed up', async () => {
  await sim.control(A1, { action: 'start_job', name: 'left', layers: 30, minutes: 2 });
  await sim.control(P1S, { action: 'start_job', name: 'right', layers: 30, minutes: 2 });
  const a = await openJob(A1, 'left'), b = await openJob(P1S, 'right');
  assert.notEqual(a.id, b.id);
  assert.equal(a.printer_id, ids[A1]);
  assert.equal(b.printer_id, ids[P1S]);
  await sim.control(A1, { action: 'finish' });
  await until(a.id, (x) => x.status === 'completed', 'left completed');
  assert.equal((await job(b.id)).status, 'printing', 'the other one still prints');
  await sim.control(P1S, { action: 'finish' });
  await until(b.id, (x) => x.status === 'completed', 'right completed');
});

test('printdeck restarted mid-print: the same job resumes, the gap is recorded, no second job', async () => {
  await sim.control(X1C, { action: 'start_job', name: 'restart-me', layers: 40, minutes: 2 });
  const j = await openJob(X1C, 'restart-me');
  await until(j.id, (x) => x.layer >= 2, 'first layers');
  const before = await job(j.id);
  const r = await daemon.stop();
  assertCleanExit(assert, r);
  await sleep(1500);
  await daemon.start();
  await waitFor(async () => (await daemon.printer(ids[X1C]))?.online, 15000, 'X1C back');
  const again = await until(j.id, (x) => x.layer > before.layer && x.pauses.some((p) => p.kind === 'offline' && p.ended_at), 'resumed');
  assert.equal(again.status, 'printing');
  assert.match(again.pauses.find((p) => p.kind === 'offline').reason, /printdeck was not running/);
  assert.ok(again.progress >= before.progress, 'first half kept');
  assert.equal((await jobsOf(X1C)).filter((x) => x.name === 'restart-me').length, 1, 'one job, not two');
  await sim.control(X1C, { action: 'finish' });
  await until(j.id, (x) => x.status === 'completed', 'completed');
});

test('printer offline mid-print: the gap recorded, the job resumed on return', async () => {
  await sim.control(A1, { action: 'start_job', name: 'wifi-drop', layers: 40, minutes: 2 });
  const j = await openJob(A1, 'wifi-drop');
  await until(j.id, (x) => x.progress >= 2, 'printing');
  await sim.control(A1, { action: 'silence', seconds: 8 });
  await waitFor(async () => !(await daemon.printer(ids[A1]))?.online, 15000, 'A1 offline');
  const back = await until(j.id, (x) => x.pauses.some((p) => p.kind === 'offline' && p.ended_at), 'gap closed', 25000);
  assert.equal(back.status, 'printing');
  assert.match(back.pauses.find((p) => p.kind === 'offline').reason, /offline/);
  await sim.control(A1, { action: 'finish' });
  await until(j.id, (x) => x.status === 'completed', 'completed');
  assert.equal((await jobsOf(A1)).filter((x) => x.name === 'wifi-drop').length, 1);
});

test('printer away past the timeout: unknown, then the same job again when it returns printing it', async () => {
  await sim.control(P1S2, { action: 'start_job', name: 'long-gone', layers: 40, minutes: 3 });
  const j = await openJob(P1S2, 'long-gone');
  await until(j.id, (x) => x.progress >= 1, 'printing');
  await sim.control(P1S2, { action: 'silence', seconds: 24 });
  const u = await until(j.id, (x) => x.status === 'unknown', 'unknown after the timeout', 30000);
  assert.match(u.reason, /offline_timeout_s/);
  const back = await until(j.id, (x) => x.status === 'printing', 'reopened', 30000);
  assert.equal(back.ended_at, null);
  assert.equal((await jobsOf(P1S2)).filter((x) => x.name === 'long-gone').length, 1, 'still one job');
  await sim.control(P1S2, { action: 'finish' });
  await until(j.id, (x) => x.status === 'completed', 'completed');
});

test('manual job: start, notes and rating, end; list filters, X-Total-Count, CSV', async () => {
  let r = await daemon.req('POST', '/api/v1/jobs', { name: 'Prusa =cmd part', printer_name: 'garage Prusa', estimated_s: 3600 });
  assert.equal(r.status, 201, r.text);
  const m = r.json;
  assert.equal(m.origin, 'manual');
  assert.equal(m.status, 'printing');
  assert.equal(m.printer_id, null);
  r = await daemon.req('PATCH', `/api/v1/jobs/${m.id}`, { rating: 4, notes: 'nice' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.rating, 4);
  assert.equal((await daemon.req('PATCH', `/api/v1/jobs/${m.id}`, { rating: 6 })).status, 422);
  assert.equal((await daemon.req('PATCH', `/api/v1/jobs/${m.id}`, { colour: 'x' })).status, 422);
  r = await daemon.req('POST', `/api/v1/jobs/${m.id}/end`, { status: 'failed', reason: 'spaghetti' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, 'failed');
  assert.ok(r.json.ended_at);
  assert.equal((await daemon.req('POST', `/api/v1/jobs/${m.id}/end`, {})).status, 400, 'ended once');
  const printerJob = (await daemon.get('/api/v1/jobs?origin=printer&limit=1')).json[0];
  assert.equal((await daemon.req('POST', `/api/v1/jobs/${printerJob.id}/end`, {})).status, 400, 'printer jobs end themselves');
  assert.equal((await daemon.get('/api/v1/jobs/999999')).status, 404);

  r = await daemon.get('/api/v1/jobs?status=completed&limit=1&offset=0');
  assert.equal(r.status, 200);
  assert.equal(r.json.length, 1);
  assert.ok(Number(r.headers.get('x-total-count')) >= 1);
  assert.ok(r.json.every((j) => j.status === 'completed'));
  r = await daemon.get('/api/v1/jobs?text=spaghetti');
  assert.deepEqual(r.json.map((j) => j.id), [m.id]);
  r = await daemon.get(`/api/v1/jobs?printer_id=${ids[P1S]}&sort=started_at:asc`);
  assert.ok(r.json.every((j) => j.printer_id === ids[P1S]));
  assert.deepEqual(r.json.map((j) => j.started_at), r.json.map((j) => j.started_at).sort());
  assert.equal((await daemon.get('/api/v1/jobs?sort=bogus')).status, 400);
  assert.equal((await daemon.get('/api/v1/jobs?started_at=yesterday|')).status, 400);
  const csv = await daemon.get('/api/v1/jobs/export?fmt=csv&origin=manual');
  assert.equal(csv.status, 200);
  assert.match(csv.headers.get('content-type'), /text\/csv/);
  const lines = csv.text.trim().split('\r\n');
  assert.match(lines[0], /^id,printer_id,printer_name,name,/);
  assert.equal(lines.length, 2);
  assert.match(lines[1], /"'=cmd part"|"'Prusa|Prusa =cmd part/);
});

// A write the database refuses (a trigger that raises, standing for a full disk or a lock held
// past the wait): the step is rolled back in memory too, so nothing is written under a job id
// the rollback gave back (SQLite hands it to the next insert: here a manual job), and the next
// report makes the step again.
const sqlOn = (sql) => {
  const pg = databaseOf(daemon);
  if (pg) execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', pg, '-c', sql]);
  else execFileSync('sqlite3', ['-cmd', '.timeout 5000', join(daemon.dir, 'data', 'printdeck.db'), sql]);
};
const FAIL_ON = (table) => databaseOf(daemon)
  ? `CREATE OR REPLACE FUNCTION pd_test_fail() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql;
     CREATE TRIGGER pd_test_fail BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION pd_test_fail();`
  : `CREATE TRIGGER pd_test_fail BEFORE INSERT ON ${table} BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;`;
const FAIL_OFF = (table) => databaseOf(daemon) ? `DROP TRIGGER pd_test_fail ON ${table};` : 'DROP TRIGGER pd_test_fail;';

test('a refused write: rolled back in memory too, no write into a reused id, retried by the next report', async () => {
  sqlOn(FAIL_ON('job_snapshot'));
  let m;
  try {
    await sim.control(A1, { action: 'start_job', name: 'refused', layers: 30, minutes: 1 });
    await waitFor(() => daemon.log.text.includes('cannot record the job (retried'), 15000, 'the open refused');
    // the id the rolled-back insert had is free again on SQLite: a manual job takes it now
    const r = await daemon.req('POST', '/api/v1/jobs', { name: 'bystander' });
    assert.equal(r.status, 201, r.text);
    m = r.json;
    await sleep(3000);  // reports keep coming while the write is refused
    assert.equal((await jobsOf(A1)).filter((x) => x.name === 'refused').length, 0, 'nothing half written');
  } finally {
    sqlOn(FAIL_OFF('job_snapshot'));
  }
  const j = await openJob(A1, 'refused');
  assert.notEqual(j.id, m.id);
  assert.ok((await job(j.id)).snapshot.length >= 1, 'opened whole on the retry');
  await until(j.id, (x) => x.layer >= 2, 'progress recorded');
  const still = await job(m.id);
  assert.deepEqual([still.name, still.origin, still.printer_id, still.progress, still.layer, still.materials],
    ['bystander', 'manual', null, 0, 0, ''], 'the manual job untouched');
  assert.equal(still.snapshot.length, 0);
  assert.equal(still.trays.length, 0);
  // a pause refused, then recorded late rather than lost
  sqlOn(FAIL_ON('job_pause'));
  try {
    assert.equal((await command(A1, { command: 'pause' })).status, 200);
    await waitFor(async () => (await daemon.printer(ids[A1]))?.state === 'PAUSE', 10000, 'paused');
    await sleep(2000);
    assert.equal((await job(j.id)).pauses.length, 0);
  } finally {
    sqlOn(FAIL_OFF('job_pause'));
  }
  const p = await until(j.id, (x) => x.status === 'paused' && x.pauses.length === 1, 'the pause recorded on a later report');
  assert.equal(p.interruptions, 1);
  assert.equal((await command(A1, { command: 'resume' })).status, 200);
  await sim.control(A1, { action: 'finish' });
  await until(j.id, (x) => x.status === 'completed', 'completed');
});
