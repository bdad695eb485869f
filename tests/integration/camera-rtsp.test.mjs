// The RTSPS cameras end to end (X1, P2S, H2, X2D): the simulator's RTSP server (TLS with the
// printer's certificate, Digest auth, H.264 over interleaved RTP, one session at a time), the
// daemon's RTSPS source (TLS on the loop, RTSP, H.264 decoded into JPEG on a worker) and the
// frame hub's MJPEG, snapshot and status routes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Broker, Sim, Daemon, TOKEN, freePorts, waitFor, tmpDir, assertCleanExit, join } from './harness.mjs';
import { isJpeg, jpegSize, mjpegViewer } from './mjpeg.mjs';

const X1C = '00M09A350100888', H2D = '0948AD520100888';
const IDLE_S = 2;
let broker, sim, daemon, camPort;
const ids = {};

before(async () => {
  const dir = tmpDir('pd-camera-rtsp-');
  broker = new Broker(join(dir, 'tls'), [X1C, H2D]);
  await broker.start();
  camPort = await freePorts(2);
  sim = new Sim(broker, ['X1C', 'H2D']);
  await sim.start(['--camera-port', String(camPort), '--cert-dir', broker.dir, '--camera-fps', '5']);
  await waitFor(() => sim.log.text.includes(`camera ${X1C} listening`), 10000, 'the simulated camera');
  daemon = new Daemon({ env: { PRINTDECK_CAMERA_IDLE_S: String(IDLE_S), PRINTDECK_CAMERA_MAX_FPS: '10',
    PRINTDECK_CAMERA_TIMEOUT_S: '5', PRINTDECK_CAMERA_RTSP_FPS: '5', PRINTDECK_CAMERA_RTSP_WIDTH: '640' } });
  await daemon.start();
  ids.x1c = (await daemon.addPrinter(broker, X1C, { camera_port: camPort })).id;
  ids.h2d = (await daemon.addPrinter(broker, H2D, { camera_port: camPort + 1 })).id;
});

after(async () => {
  const r = daemon && await daemon.stop();
  await sim?.stop();
  await broker?.stop();
  if (r) assertCleanExit(assert, r);
});

const status = async (id) => (await daemon.get(`/api/v1/printers/${id}/camera/status`)).json;
const peak = (serial) => Math.max(0, ...[...sim.log.text.matchAll(new RegExp(`camera ${serial}: viewer connected \\(\\d+ open, peak (\\d+)\\)`, 'g'))]
  .map((m) => Number(m[1])));

/** An MJPEG viewer of a camera route. */
function viewer(path) {
  return mjpegViewer(daemon.url(path), { Authorization: `Bearer ${TOKEN}` });
}

test('ten viewers of an X1C share one RTSPS session; the H.264 becomes whole JPEG frames of the width asked', async () => {
  const vs = Array.from({ length: 10 }, () => viewer(`/api/v1/printers/${ids.x1c}/camera`));
  await waitFor(() => vs.every((v) => v.frames.length >= 3), 40000, 'three frames for every viewer');
  for (const v of vs) {
    assert.equal(v.status, 200);
    assert.equal(v.bad, 0);
    for (const f of v.frames) assert.deepEqual(jpegSize(f), { w: 640, h: 360 });
  }
  const st = await status(ids.x1c);
  assert.equal(st.type, 'rtsps');
  assert.equal(st.connected, true, JSON.stringify(st));
  assert.equal(st.viewers, 10);
  assert.equal(st.connects, 1);
  assert.ok(st.fps_in > 0, JSON.stringify(st));
  assert.equal(peak(X1C), 1, sim.log.text.slice(-3000));
  // frames change: the picture carries the simulator's frame number
  assert.ok(new Set(vs[0].frames.map((f) => f.toString('base64'))).size > 1);
  await Promise.all(vs.map((v) => v.close()));
  await waitFor(async () => (await status(ids.x1c)).state === 'idle', (IDLE_S + 5) * 1000, 'idle close');
  // TEARDOWN, then the connection ends: the printer's one session is free again
  await waitFor(() => sim.log.text.includes(`camera ${X1C}: viewer gone (0 open)`), 5000, 'the session ended');
});

test('a snapshot of an X1C is one JPEG', async () => {
  const r = await fetch(daemon.url(`/api/v1/printers/${ids.x1c}/snapshot`), { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'image/jpeg');
  const b = Buffer.from(await r.arrayBuffer());
  assert.ok(isJpeg(b));
  assert.deepEqual(jpegSize(b), { w: 640, h: 360 });
});

test('a wrong access code is said in words (401 after Digest)', async () => {
  const p = (await daemon.req('POST', '/api/v1/printers', { name: 'wrong-code', serial: '00M09A350109999', model: 'X1C',
    host: '127.0.0.1', port: broker.portOf(X1C), access_code: '87654321', tls_verify: false, camera_port: camPort })).json;
  const before = peak(X1C);
  const r = await daemon.get(`/api/v1/printers/${p.id}/snapshot`);
  assert.equal(r.status, 502);
  assert.match(r.json.error.message, /wrong access code/);
  assert.match((await status(p.id)).error, /\(401 after Digest auth\): wrong access code/);
  assert.equal(peak(X1C), before);
});

test('liveview switched off on the printer is said with what to switch on', async () => {
  await sim.control(H2D, { action: 'set', print: { ipcam: { rtsp_url: 'disable' } }, hold_s: 60 });
  let st;
  await waitFor(async () => /LAN Mode Liveview/.test((st = await status(ids.h2d)).error), 10000, 'liveview off');
  assert.equal(st.type, 'rtsps');
  const r = await daemon.get(`/api/v1/printers/${ids.h2d}/snapshot`);
  assert.equal(r.status, 409);
  assert.match(r.json.error.message, /switch on "LAN Mode Liveview"/);
});

test('a viewer asking for a smaller width gets JPEGs made that wide, beside one getting the stream as made', async () => {
  const full = viewer(`/api/v1/printers/${ids.x1c}/camera`), small = viewer(`/api/v1/printers/${ids.x1c}/camera?width=320`);
  await waitFor(() => full.frames.length >= 3 && small.frames.length >= 3, 40000, 'three frames for each');
  for (const f of small.frames) assert.deepEqual(jpegSize(f), { w: 320, h: 180 });
  assert.deepEqual(jpegSize(full.frames.at(-1)), { w: 640, h: 360 });
  assert.equal(small.bad, 0);
  const m = await (await fetch(daemon.url('/metrics'))).text();
  assert.match(m, /^printdeck_camera_viewers 2$/m);
  assert.match(m, /^printdeck_camera_connected 1$/m);
  await Promise.all([full.close(), small.close()]);
});
