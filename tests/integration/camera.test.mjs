// The cameras end to end: the simulator's port-6000 cameras (TLS, the auth packet, 16-byte
// headers, libjpeg-turbo frames, one connection fed per camera), the daemon's frame hub and
// its MJPEG, snapshot and status routes, with tokens and signed URLs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { createServer as tlsServer } from 'node:tls';
import { readFileSync } from 'node:fs';
import { Broker, Sim, Daemon, TOKEN, freePorts, waitFor, sleep, tmpDir, assertCleanExit, join } from './harness.mjs';
import { isJpeg, jpegSize, mjpegViewer } from './mjpeg.mjs';

const P1S = '01P00A451200777', X1C = '00M09A350100777', WRONG = '01P00A451209999';
const IDLE_S = 2, STALL_S = 2, TTL_S = 10;
let broker, sim, daemon, camPort;
const ids = {};

before(async () => {
  const dir = tmpDir('pd-camera-');
  broker = new Broker(join(dir, 'tls'), [P1S, X1C]);
  await broker.start();
  camPort = await freePorts(2);
  sim = new Sim(broker, ['P1S', 'X1C']);
  await sim.start(['--camera-port', String(camPort), '--cert-dir', broker.dir, '--camera-fps', '5']);
  await waitFor(() => sim.log.text.includes(`camera ${P1S} listening`), 10000, 'the simulated camera');
  daemon = new Daemon({ env: { PRINTDECK_CAMERA_IDLE_S: String(IDLE_S), PRINTDECK_CAMERA_STALL_S: String(STALL_S),
    PRINTDECK_CAMERA_MAX_FPS: '10', PRINTDECK_CAMERA_URL_TTL_S: String(TTL_S), PRINTDECK_CAMERA_TIMEOUT_S: '3' } });
  await daemon.start();
  ids.p1s = (await daemon.addPrinter(broker, P1S, { camera_port: camPort })).id;
  ids.x1c = (await daemon.addPrinter(broker, X1C)).id;
});

after(async () => {
  const r = daemon && await daemon.stop();
  await sim?.stop();
  await broker?.stop();
  if (r) assertCleanExit(assert, r);
});

const status = async (id) => (await daemon.get(`/api/v1/printers/${id}/camera/status`)).json;
// the most connections the simulated camera ever had at once
const peak = () => Math.max(0, ...[...sim.log.text.matchAll(new RegExp(`camera ${P1S}: viewer connected \\(\\d+ open, peak (\\d+)\\)`, 'g'))]
  .map((m) => Number(m[1])));
const within = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms))]);

/** An MJPEG viewer of a camera route. */
function viewer(path, headers = { Authorization: `Bearer ${TOKEN}` }) {
  return mjpegViewer(daemon.url(path), headers);
}

test('twenty viewers share one connection to the printer, each gets whole JPEG frames', async () => {
  const vs = Array.from({ length: 20 }, () => viewer(`/api/v1/printers/${ids.p1s}/camera`));
  await waitFor(() => vs.every((v) => v.frames.length >= 3), 30000, 'three frames for every viewer');
  for (const v of vs) {
    assert.equal(v.status, 200);
    assert.match(v.headers['content-type'], /^multipart\/x-mixed-replace;\s*boundary=pdframe$/);
    assert.equal(v.bad, 0);
  }
  const st = await status(ids.p1s);
  assert.equal(st.type, 'jpeg6000');
  assert.equal(st.connected, true);
  assert.equal(st.viewers, 20);
  assert.equal(st.connects, 1);
  assert.ok(st.fps_in > 0, JSON.stringify(st));
  assert.equal(peak(), 1, sim.log.text.slice(-3000));
  const sizes = vs[0].frames.map((f) => f.length);
  console.log(`frames of ${Math.min(...sizes)}-${Math.max(...sizes)} bytes`);
  await Promise.all(vs.map((v) => v.close()));
  // nobody watching: the upstream goes after idle_s
  await waitFor(async () => (await status(ids.p1s)).state === 'idle', (IDLE_S + 5) * 1000, 'idle close');
  await waitFor(() => sim.log.text.includes(`camera ${P1S}: viewer gone (0 open)`), 5000, 'the camera connection closed');
});

test('snapshots: one wait shared while the camera opens, then fresh frames from the hub', async () => {
  const before = (await status(ids.p1s)).connects;
  const shots = await Promise.all(Array.from({ length: 5 }, () =>
    fetch(daemon.url(`/api/v1/printers/${ids.p1s}/snapshot`), { headers: { Authorization: `Bearer ${TOKEN}` } })));
  for (const r of shots) {
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'image/jpeg');
    assert.ok(isJpeg(Buffer.from(await r.arrayBuffer())));
  }
  let st = await status(ids.p1s);
  assert.equal(st.connects, before + 1);
  assert.ok(st.frame_age_ms !== null && st.frame_age_ms < 2000, JSON.stringify(st));
  // within idle_s the upstream is still there: the next snapshot opens nothing
  const r = await fetch(daemon.url(`/api/v1/printers/${ids.p1s}/snapshot`), { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200);
  st = await status(ids.p1s);
  assert.equal(st.connects, before + 1);
  assert.equal(peak(), 1);
});

test('smaller snapshots: ?width= as the stream takes it, twenty thumbnails of one frame made once', async () => {
  const snap = (q) => fetch(daemon.url(`/api/v1/printers/${ids.p1s}/snapshot${q}`), { headers: { Authorization: `Bearer ${TOKEN}` } });
  const shots = await Promise.all(Array.from({ length: 20 }, () => snap('?width=320')));
  const bodies = [];
  for (const r of shots) {
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'image/jpeg');
    bodies.push(Buffer.from(await r.arrayBuffer()));
  }
  for (const b of bodies) {
    assert.ok(isJpeg(b));
    assert.deepEqual(jpegSize(b), { w: 320, h: 180 });
  }
  // one frame scaled once, shared by all twenty
  assert.ok(bodies.every((b) => b.equals(bodies[0])), 'the same JPEG');
  // taken down to one of the set, as the stream's
  assert.deepEqual(jpegSize(Buffer.from(await (await snap('?width=500')).arrayBuffer())), { w: 480, h: 270 });
  for (const q of ['?width=100', '?width=wide', '?width=']) {
    const r = await snap(q);
    assert.equal(r.status, 400, q);
    assert.match((await r.json()).error.message, /^width: a number of pixels, at least 320/);
  }
  assert.equal(peak(), 1);
});

test('a viewer that stops reading is dropped while the others go on', async () => {
  const good = viewer(`/api/v1/printers/${ids.p1s}/camera`);
  // a client that asks and then never reads
  const stuck = connect(Number(new URL(daemon.url('/')).port), '127.0.0.1');
  stuck.on('error', () => {});
  stuck.write(`GET /api/v1/printers/${ids.p1s}/camera HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
  stuck.pause();
  await waitFor(async () => (await status(ids.p1s)).viewers === 2, 10000, 'two viewers');
  await waitFor(() => daemon.log.text.includes('took no frame for'), 90000, 'the stuck viewer dropped');
  await waitFor(async () => (await status(ids.p1s)).viewers === 1, 10000, 'one viewer left');
  const n = good.frames.length;
  await waitFor(() => good.frames.length >= n + 3, 10000, 'frames still coming to the good viewer');
  assert.equal(good.bad, 0);
  stuck.destroy();
  await good.close();
});

test('signed URLs: no token needed until they expire; tampered ones refused', async () => {
  const st = await status(ids.p1s);
  assert.match(st.signed.camera, /^\/api\/v1\/printers\/\d+\/camera\?exp=\d+&sig=[\w-]+$/);
  const snap = await fetch(daemon.url(st.signed.snapshot));
  assert.equal(snap.status, 200);
  assert.ok(isJpeg(Buffer.from(await snap.arrayBuffer())));
  const v = viewer(st.signed.camera, {});
  await waitFor(() => v.frames.length >= 2, 15000, 'frames over a signed URL');
  assert.equal((await fetch(daemon.url(`/api/v1/printers/${ids.p1s}/snapshot`))).status, 401);
  const bad = st.signed.snapshot.replace(/sig=./, (m) => m.endsWith('A') ? 'sig=B' : 'sig=A');
  assert.equal((await fetch(daemon.url(bad))).status, 401);
  // another printer's URL with this signature
  assert.equal((await fetch(daemon.url(st.signed.snapshot.replace(`/printers/${ids.p1s}/`, `/printers/${ids.x1c}/`)))).status, 401);
  // the stream opened with the URL ends with it
  await within(v.done, Math.max(0, st.signed.expires_at * 1000 - Date.now()) + 3000, 'the signed stream ended at expiry');
  assert.ok(Date.now() >= st.signed.expires_at * 1000 - 1000, 'not before the expiry');
  await sleep(Math.max(0, st.signed.expires_at * 1000 - Date.now()) + 1500);
  assert.equal((await fetch(daemon.url(st.signed.snapshot))).status, 401);
});

test('a viewer opened with a session ends when the session is signed out', async () => {
  const login = await fetch(daemon.url('/api/v1/login'), { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token: TOKEN }) });
  assert.equal(login.status, 200);
  const cookie = login.headers.getSetCookie().find((c) => c.startsWith('pd_session=')).split(';')[0];
  const { csrf } = await login.json();
  const v = viewer(`/api/v1/printers/${ids.p1s}/camera`, { Cookie: cookie });
  const other = viewer(`/api/v1/printers/${ids.p1s}/camera`);
  await waitFor(() => v.frames.length >= 1 && other.frames.length >= 1, 15000, 'frames over the session');
  const out = await fetch(daemon.url('/api/v1/logout'), { method: 'POST', headers: { Cookie: cookie, 'X-CSRF-Token': csrf } });
  assert.equal(out.status, 204);
  await within(v.done, 5000, 'the session\'s stream closed at sign-out');
  const n = other.frames.length;
  await waitFor(() => other.frames.length > n, 10000, 'the token\'s viewer goes on');
  await other.close();
  const again = await fetch(daemon.url(`/api/v1/printers/${ids.p1s}/camera`), { method: 'HEAD', headers: { Cookie: cookie } });
  assert.equal(again.status, 401, 'and it cannot open again');
});

test('a wrong access code is reported in words', async () => {
  const p = (await daemon.req('POST', '/api/v1/printers', { name: 'wrong', serial: WRONG, model: 'P1S', host: '127.0.0.1',
    port: broker.portOf(P1S), access_code: '87654321', tls_verify: false, camera_port: camPort })).json;
  const r = await daemon.get(`/api/v1/printers/${p.id}/snapshot`);
  assert.equal(r.status, 502);
  assert.match(r.json.error.message, /wrong access code/);
  assert.match((await status(p.id)).error, /wrong access code/);
  assert.equal(p.camera.port, camPort);
  assert.equal(p.camera.type, 'jpeg6000');
});

test('X1C: liveview switched off is said exactly (camera-rtsp.test.mjs relays it)', async () => {
  let st = await status(ids.x1c);
  assert.equal(st.type, 'rtsps');
  assert.equal(st.error, null);
  await sim.control(X1C, { action: 'set', print: { ipcam: { rtsp_url: 'disable' } }, hold_s: 60 });
  await waitFor(async () => /LAN Mode Liveview/.test((st = await status(ids.x1c)).error), 10000, 'liveview off');
  const r = await daemon.get(`/api/v1/printers/${ids.x1c}/snapshot`);
  assert.equal(r.status, 409);
  assert.match(r.json.error.message, /switch on "LAN Mode Liveview"/);
});

/** A printer whose camera is at port: P1S model, so the port-6000 source is used. */
async function cameraPrinter(serial, port, extra = {}) {
  const r = await daemon.req('POST', '/api/v1/printers', { name: `cam-${serial.slice(-4)}`, serial, model: 'P1S',
    host: '127.0.0.1', port: broker.portOf(P1S), access_code: '12345678', camera_port: port, ...extra });
  assert.equal(r.status, 201, r.text);
  return r.json.id;
}

/** A TLS server with the simulated P1S's certificate that does what `serve` says after the auth packet. */
async function fakeCamera(serve) {
  const srv = tlsServer({ cert: readFileSync(join(broker.dir, `${P1S}.crt`)), key: readFileSync(join(broker.dir, `${P1S}.key`)) }, (s) => {
    s.on('error', () => {});
    let got = Buffer.alloc(0);
    s.on('data', (d) => { got = Buffer.concat([got, d]); if (got.length === 80) serve(s); });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return srv;
}

test('bad cameras are said in words and never stop the others', async () => {
  const watching = viewer(`/api/v1/printers/${ids.p1s}/camera`);
  // nothing listens: refused, as a printer that boots, and tried again with backoff
  const closed = await freePorts(1);
  const refused = await cameraPrinter('01P00A451201111', closed, { tls_verify: false });
  const v = viewer(`/api/v1/printers/${refused}/camera`);
  await waitFor(async () => (await status(refused)).connects >= 2, 10000, 'a second attempt');
  let st = await status(refused);
  assert.match(st.error, /connection refused/);
  assert.ok(['backoff', 'opening'].includes(st.state), JSON.stringify(st));
  // a snapshot while it backs off: its error at once, not after snapshot_wait_s (10 s)
  await waitFor(async () => (await status(refused)).state === 'backoff', 10000, 'backing off');
  const t0 = performance.now();
  const sr = await daemon.get(`/api/v1/printers/${refused}/snapshot`);
  assert.equal(sr.status, 502);
  assert.match(sr.json.error.message, /connection refused/);
  assert.ok(performance.now() - t0 < 5000, 'answered before the wait for a frame ends');
  await v.close();
  // a certificate for another name (the simulated P1S's camera, checked against this serial)
  const other = await cameraPrinter('01P00A451202222', camPort, { ca_file: broker.ca });
  let r = await daemon.get(`/api/v1/printers/${other}/snapshot`);
  assert.equal(r.status, 502);
  assert.match(r.json.error.message, /certificate did not verify: .*expected name 01P00A451202222/);
  // garbage instead of a JPEG
  const garbage = await fakeCamera((s) => { const h = Buffer.alloc(16); h.writeUInt32LE(100); s.write(Buffer.concat([h, Buffer.alloc(100, 7)])); });
  const g = await cameraPrinter('01P00A451203333', garbage.address().port, { tls_verify: false });
  r = await daemon.get(`/api/v1/printers/${g}/snapshot`);
  assert.equal(r.status, 502);
  assert.match(r.json.error.message, /frame of 100 bytes that is not a JPEG picture/);
  // a header announcing more than any picture
  const huge = await fakeCamera((s) => { const h = Buffer.alloc(16); h.writeUInt32LE(0x7fffffff); s.write(h); });
  const hg = await cameraPrinter('01P00A451204444', huge.address().port, { tls_verify: false });
  r = await daemon.get(`/api/v1/printers/${hg}/snapshot`);
  assert.equal(r.status, 502);
  assert.match(r.json.error.message, /announced a frame of 2147483647 bytes/);
  // half a frame, then nothing: given up after timeout_s
  const stall = await fakeCamera((s) => { const h = Buffer.alloc(16); h.writeUInt32LE(200000); s.write(Buffer.concat([h, Buffer.from([0xff, 0xd8])])); });
  const sg = await cameraPrinter('01P00A451205555', stall.address().port, { tls_verify: false });
  r = await daemon.get(`/api/v1/printers/${sg}/snapshot`);
  assert.equal(r.status, 504);
  assert.match(r.json.error.message, /no frame within 3 s of connecting/);
  // all the while the simulated P1S went on
  const n = watching.frames.length;
  await waitFor(() => watching.frames.length >= n + 2, 10000, 'frames still coming');
  assert.equal(watching.bad, 0);
  await watching.close();
  for (const srv of [garbage, huge, stall]) srv.close();
  // HEAD: the headers, no stream
  const head = await fetch(daemon.url(`/api/v1/printers/${ids.p1s}/camera`), { method: 'HEAD', headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(head.status, 200);
  assert.match(head.headers.get('content-type'), /^multipart\/x-mixed-replace/);
  // switched off: refused before any connection
  await daemon.req('PATCH', `/api/v1/printers/${g}`, { camera_enabled: false });
  r = await daemon.get(`/api/v1/printers/${g}/camera`);
  assert.equal(r.status, 409);
  assert.match(r.json.error.message, /switched off/);
});

test('smaller sizes made once per width; metrics; switched off or removed ends the viewers at once', async () => {
  const cam = `/api/v1/printers/${ids.p1s}/camera`;
  const full = viewer(cam), small = [viewer(`${cam}?width=640`), viewer(`${cam}?width=700`)];
  await waitFor(() => full.frames.length >= 3 && small.every((v) => v.frames.length >= 3), 30000, 'three frames for each');
  for (const v of small) {
    assert.equal(v.bad, 0);
    for (const f of v.frames) assert.deepEqual(jpegSize(f), { w: 640, h: 360 });
  }
  // relayed untouched: the printer's own 1280x720
  assert.deepEqual(jpegSize(full.frames.at(-1)), { w: 1280, h: 720 });
  assert.equal((await daemon.get(`${cam}?width=100`)).status, 400);
  assert.equal((await daemon.get(`${cam}?width=wide`)).status, 400);
  const m = await (await fetch(daemon.url('/metrics'))).text();
  assert.match(m, /^printdeck_camera_connected 1$/m);
  assert.match(m, /^printdeck_camera_viewers 3$/m);
  for (const k of ['frames_in', 'frames_out', 'bytes_out']) assert.match(m, new RegExp(`^printdeck_camera_${k}_total [1-9]\\d*$`, 'm'));
  assert.match(m, /^printdeck_camera_decode_dropped_total \d+$/m);
  assert.equal(peak(), 1);
  // switched off while three watch: every stream ends now, not at the next reconnect
  const t0 = Date.now();
  await daemon.req('PATCH', `/api/v1/printers/${ids.p1s}`, { camera_enabled: false });
  await Promise.all([full.done, ...small.map((v) => v.done)]);
  assert.ok(Date.now() - t0 < 3000, `${Date.now() - t0} ms`);
  let st = await status(ids.p1s);
  assert.equal(st.viewers, 0);
  assert.equal(st.state, 'idle');
  assert.match(st.error, /switched off/);
  await waitFor(() => sim.log.text.includes(`camera ${P1S}: viewer gone (0 open)`), 5000, 'the camera connection closed');
  // a printer removed while watched: its viewer ends and its camera is freed
  const gone = await cameraPrinter('01P00A451206666', camPort, { tls_verify: false });
  const v = viewer(`/api/v1/printers/${gone}/camera`);
  await waitFor(() => v.frames.length >= 1, 15000, 'a frame of the printer to remove');
  assert.equal((await daemon.req('DELETE', `/api/v1/printers/${gone}`)).status, 204);
  await v.done;
  await waitFor(() => daemon.log.text.includes(`printer ${gone}: removed, its camera closed`), 5000, 'the camera freed');
  await daemon.req('PATCH', `/api/v1/printers/${ids.p1s}`, { camera_enabled: true });
});
