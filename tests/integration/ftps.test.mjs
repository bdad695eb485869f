// The printers' storage over implicit FTPS, end to end: real vsftpd servers (scripts/ftps.sh)
// as each simulated printer's storage, the simulator writing a real .gcode.3mf for its job, and
// the daemon listing and downloading through /api/v1/printers/{id}/files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Broker, Sim, Daemon, Ftps, HAVE_FTPS, waitFor, tmpDir, assertCleanExit, join, run } from './harness.mjs';

const P1S = '01P00A451200456', X1C = '00M09A350100123', NOCERT = '01P00A451299999';
const skip = HAVE_FTPS ? false : 'needs root and vsftpd (scripts/setup.sh)';
let broker, ftps, sim, daemon, stall, ids = {};
const held = [];
const RATE = 200000, HANDLER_S = 2;

before(async () => {
  if (skip) return;
  const dir = tmpDir('pd-ftps-');
  broker = new Broker(join(dir, 'tls'), [P1S, X1C]);
  await broker.start();
  // at a printer's pace, so a download outlasts the handler timeout below
  ftps = new Ftps(join(dir, 'tls'), [P1S, X1C], join(dir, 'storage'), { maxRate: RATE });
  await ftps.start();
  sim = new Sim(broker, ['P1S', 'X1C']);
  await sim.start(['--storage-dir', join(dir, 'storage')]);
  // a server that takes the connection and then says nothing, as a printer that hangs
  stall = createServer((s) => { held.push(s); s.on('error', () => {}); });
  await new Promise((r) => stall.listen(0, '127.0.0.1', r));
  daemon = new Daemon({ env: { PRINTDECK_FTPS_MAX_FILE_KB: '1024', PRINTDECK_FTPS_CONNECT_TIMEOUT_S: '3',
    PRINTDECK_FTPS_STALL_S: '3', PRINTDECK_SERVER_HANDLER_TIMEOUT_S: String(HANDLER_S) } });
  await daemon.start();
  ids.p1s = (await daemon.addPrinter(broker, P1S, { ftps_port: ftps.portOf(P1S) })).id;
  ids.x1c = (await daemon.addPrinter(broker, X1C, { ftps_port: ftps.portOf(X1C) })).id;
});

after(async () => {
  if (skip) return;
  const r = daemon && await daemon.stop();
  held.forEach((s) => s.destroy());
  stall?.close();
  await sim?.stop();
  await ftps?.stop();
  await broker?.stop();
  if (r) assertCleanExit(assert, r);
});

const files = (id, path) => daemon.get(`/api/v1/printers/${id}/files?path=${encodeURIComponent(path)}`);
const download = (id, path) => daemon.get(`/api/v1/printers/${id}/files/download?path=${encodeURIComponent(path)}`);

test('a directory is listed with names, sizes and times, and a file downloads byte for byte', { skip }, async () => {
  const root = ftps.dirOf(P1S);
  mkdirSync(join(root, 'cache'), { recursive: true, mode: 0o755 });
  const body = Buffer.from(Array.from({ length: 300000 }, (_, i) => (i * 7) & 0xff));
  writeFileSync(join(root, 'cache', 'Cube #2 100%.gcode.3mf'), body, { mode: 0o644 });
  const r = await files(ids.p1s, '/');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.path, '/');
  const cache = r.json.entries.find((e) => e.name === 'cache');
  assert.equal(cache?.type, 'dir');
  const c = await files(ids.p1s, '/cache');
  assert.equal(c.status, 200, c.text);
  const f = c.json.entries.find((e) => e.name === 'Cube #2 100%.gcode.3mf');
  assert.ok(f, c.text);
  assert.equal(f.type, 'file');
  assert.equal(f.size, body.length);
  assert.match(f.modified, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const d = await download(ids.p1s, '/cache/Cube #2 100%.gcode.3mf');
  assert.equal(d.status, 200);
  assert.match(d.headers.get('content-disposition'), /filename\*=UTF-8''Cube%20#2%20100%25\.gcode\.3mf/);
  const got = Buffer.from(await (await fetch(daemon.url(`/api/v1/printers/${P1S}/files/download?path=${encodeURIComponent('/cache/Cube #2 100%.gcode.3mf')}`),
    { headers: { Authorization: 'Bearer test-token-0123456789' } })).arrayBuffer());
  assert.ok(got.equals(body), 'the same bytes');
});

test('the simulator puts a real .gcode.3mf on the printer for the job it runs', { skip }, async () => {
  // the simulator takes scenario messages once it is connected: it reports by then
  await waitFor(async () => (await daemon.printer(ids.p1s))?.online, 20000, 'the simulated P1S online');
  await sim.control(P1S, { action: 'start_job', name: 'Benchy sim', layers: 50, minutes: 30, grams: 12.5, prepare_s: 30 });
  const entry = await waitFor(async () => (await files(ids.p1s, '/')).json?.entries.find((e) => e.name === 'Benchy sim.gcode.3mf'),
    15000, 'the job file on the printer').catch((e) => { throw new Error(`${e.message}\n--- sim ---\n${sim.log.text.slice(-3000)}`); });
  assert.ok(entry.size > 100);
  const d = await download(ids.p1s, '/Benchy sim.gcode.3mf');
  assert.equal(d.status, 200);
  const bin = Buffer.from(d.text, 'latin1');
  assert.equal(bin.subarray(0, 2).toString(), 'PK');
  for (const name of ['Metadata/slice_info.config', 'Metadata/plate_1.gcode', 'Metadata/plate_1.png', '3D/3dmodel.model'])
    assert.ok(d.text.includes(name), `${name} in the archive`);
});

test('a download slower than the handler timeout finishes: the FTPS bounds end it, not the server', { skip }, async () => {
  const body = Buffer.from(Array.from({ length: 800000 }, (_, i) => (i * 13 + 5) & 0xff));
  writeFileSync(join(ftps.dirOf(P1S), 'slow.gcode.3mf'), body, { mode: 0o644 });
  const t0 = Date.now();
  const res = await fetch(daemon.url(`/api/v1/printers/${ids.p1s}/files/download?path=${encodeURIComponent('/slow.gcode.3mf')}`),
    { headers: { Authorization: 'Bearer test-token-0123456789' } });
  assert.equal(res.status, 200);
  const got = Buffer.from(await res.arrayBuffer());
  const took = (Date.now() - t0) / 1000;
  assert.ok(took > HANDLER_S + 0.5, `took ${took} s: the file came slower than the handler timeout`);
  assert.ok(got.equals(body), 'the same bytes');
});

test('missing files and bad paths are refused clearly', { skip }, async () => {
  const nf = await download(ids.p1s, '/nope.gcode.3mf');
  assert.equal(nf.status, 404, nf.text);
  assert.match(nf.json.error.message, /not found/);
  const nd = await files(ids.p1s, '/no/such/dir');
  assert.equal(nd.status, 404, nd.text);
  const dots = await files(ids.p1s, '/cache/../..');
  assert.equal(dots.status, 422);
  const rel = await download(ids.p1s, 'cache/x.3mf');
  assert.equal(rel.status, 422);
  const none = await daemon.get(`/api/v1/printers/${ids.p1s}/files/download`);
  assert.equal(none.status, 422);
  // too long is refused, not taken for "no path" (which lists /)
  const long = await files(ids.p1s, '/' + 'a'.repeat(3000));
  assert.equal(long.status, 422, long.text);
  assert.match(long.json.error.message, /longer than 512/);
  const bin = await daemon.get(`/api/v1/printers/${ids.p1s}/files?path=%2F%FF%FE`);
  assert.equal(bin.status, 422, bin.text);
  assert.match(bin.json.error.message, /UTF-8/);
  const who = await files(999999, '/');
  assert.equal(who.status, 404);
});

test('a file over the size bound is refused, not stored', { skip }, async () => {
  writeFileSync(join(ftps.dirOf(P1S), 'huge.3mf'), Buffer.alloc(2 << 20, 1), { mode: 0o644 });
  const r = await download(ids.p1s, '/huge.3mf');
  assert.equal(r.status, 413, r.text);
  assert.match(r.json.error.message, /larger than 1048576 bytes/);
  const { stdout } = await run('ls', ['-A', join(daemon.dir, 'data', 'tmp')]);
  assert.equal(stdout.trim(), '', 'no temporary file left');
});

test('a wrong access code is said in words', { skip }, async () => {
  const r = await daemon.req('PATCH', `/api/v1/printers/${ids.x1c}`, { access_code: 'wrong-code' });
  assert.equal(r.status, 200, r.text);
  const l = await files(ids.x1c, '/');
  assert.equal(l.status, 502, l.text);
  assert.equal(l.json.error.code, 'printer_refused');
  assert.match(l.json.error.message, /login refused: wrong access code/);
});

test('a certificate that does not name the serial fails TLS verification', { skip }, async () => {
  // a printer whose serial the server's certificate does not name
  const p = await daemon.addPrinter(broker, P1S, { serial: NOCERT, name: 'nocert', ftps_port: ftps.portOf(P1S) });
  const l = await files(p.id, '/');
  assert.equal(l.status, 502, l.text);
  assert.equal(l.json.error.code, 'tls_error');
  assert.match(l.json.error.message, new RegExp(`TLS verification failed.*expected name ${NOCERT}`));
});

test('a server that hangs does not block the loop, and times out in words', { skip }, async () => {
  const p = (await daemon.req('POST', '/api/v1/printers', { name: 'stall', serial: '01P00A451288888', host: '127.0.0.1',
    port: broker.portOf(P1S), ftps_port: stall.address().port, access_code: '12345678', ca_file: broker.ca })).json;
  const t0 = Date.now();
  const pending = files(p.id, '/');
  for (let i = 0; i < 10; i++) {
    const h0 = Date.now();
    const h = await daemon.get('/healthz');
    assert.equal(h.status, 200);
    assert.ok(Date.now() - h0 < 1000, `/healthz answered in ${Date.now() - h0} ms while FTPS waits`);
    await new Promise((r) => setTimeout(r, 150));
  }
  const l = await pending;
  assert.equal(l.status, 504, l.text);
  assert.match(l.json.error.message, /timed out/);
  assert.ok(Date.now() - t0 < 12000);
  // removing the printer while a request waits on it ends the request
  const again = files(p.id, '/');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await daemon.req('DELETE', `/api/v1/printers/${p.id}`)).status, 204);
  const gone = await again;
  assert.equal(gone.status, 409, gone.text);
  assert.match(gone.json.error.message, /removed/);
});
