// Timelapses end to end: simulated P1S and A1 jobs with the simulator's port-6000 cameras, a
// frame per layer taken from the daemon's frame hub, the MP4 assembled in the worker pool and
// checked with ffprobe, attached to the job, listed, downloaded whole and by ranges, deleted;
// a camera that drops mid-job; retention by count and by size; the printer's own timelapses
// over FTPS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, createConnection } from 'node:net';
import { mkdirSync, writeFileSync, readdirSync } from 'node:fs';
import { Broker, Sim, Daemon, Ftps, HAVE_FTPS, TOKEN, freePorts, waitFor, tmpDir, assertCleanExit, join, run,
  existsSync } from './harness.mjs';

const P1S = '01P00A451200888', A1 = '03919C451200888';
const FPS = 10, LAYERS = 12;
let broker, sim, daemon, camPort, ftps, dir, proxy;
const ids = {};
const proxied = new Set();

before(async () => {
  dir = tmpDir('pd-timelapse-');
  broker = new Broker(join(dir, 'tls'), [P1S, A1]);
  await broker.start();
  camPort = await freePorts(2);
  if (HAVE_FTPS) {
    ftps = new Ftps(join(dir, 'tls'), [P1S, A1], join(dir, 'storage'));
    await ftps.start();
  }
  sim = new Sim(broker, ['P1S', 'A1']);
  await sim.start(['--camera-port', String(camPort), '--cert-dir', broker.dir, '--camera-fps', '5']);
  await waitFor(() => sim.log.text.includes(`camera ${A1} listening`), 10000, 'the simulated cameras');
  // the A1's camera through a relay the test can pull: a camera that drops mid-job
  proxy = createServer((c) => {
    const up = createConnection(camPort + 1);
    proxied.add(c).add(up);
    c.pipe(up).pipe(c);
    const end = () => { c.destroy(); up.destroy(); };
    c.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  daemon = new Daemon({ env: { PRINTDECK_TIMELAPSE_FPS: String(FPS), PRINTDECK_CAMERA_TIMEOUT_S: '3',
    PRINTDECK_CAMERA_IDLE_S: '2' } });
  await daemon.start();
  const ftp = (s) => (ftps ? { ftps_port: ftps.portOf(s) } : {});
  ids.p1s = (await daemon.addPrinter(broker, P1S, { camera_port: camPort, ...ftp(P1S) })).id;
  ids.a1 = (await daemon.addPrinter(broker, A1, { camera_port: proxy.address().port, ...ftp(A1) })).id;
  await waitFor(async () => (await daemon.printer(ids.p1s))?.online && (await daemon.printer(ids.a1))?.online,
    20000, 'the printers online');
});

after(async () => {
  const r = daemon && await daemon.stop();
  proxied.forEach((s) => s.destroy());
  proxy?.close();
  await sim?.stop();
  await ftps?.stop();
  await broker?.stop();
  if (r) assertCleanExit(assert, r);
});

const jobs = async (id) => (await daemon.get(`/api/v1/jobs?printer_id=${id}`)).json;
/** Runs a job of `layers` layers on `serial` to its end; returns the job once its timelapse is
 * attached (or, with none expected, once it ended). `during` runs once the job prints. */
async function printJob(serial, pid, name, { layers = LAYERS, seconds = 10, during, expect = true } = {}) {
  await sim.control(serial, { action: 'start_job', name, layers, minutes: seconds / 60, prepare_s: 1 });
  const open = await waitFor(async () => (await jobs(pid))?.find((j) => j.name === name), 15000, `job ${name} open`);
  if (during) await during(open);
  return waitFor(async () => {
    const j = (await daemon.get(`/api/v1/jobs/${open.id}`)).json;
    return j?.ended_at && (!expect || j.timelapse) ? j : null;
  }, 60000, `job ${name} ended${expect ? ' with its timelapse' : ''}`)
    .catch((e) => { throw new Error(`${e.message}\n--- printdeck ---\n${daemon.log.text.slice(-3000)}`); });
}

async function probe(buf) {
  const f = join(dir, `probe-${Date.now()}.mp4`);
  writeFileSync(f, buf);
  const { stdout } = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries',
    'stream=codec_name,width,height,nb_read_frames,avg_frame_rate:format=duration,format_name', '-of', 'json', f]);
  return JSON.parse(stdout);
}

async function video(url, headers = {}) {
  const r = await fetch(daemon.url(url), { headers: { Authorization: `Bearer ${TOKEN}`, ...headers } });
  return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
}

let first;
test('a P1S job with a camera: a frame per layer, an H.264 MP4 attached to the job, valid per ffprobe', async () => {
  const j = await printJob(P1S, ids.p1s, 'benchy-tl');
  const t = j.timelapse;
  assert.match(t.url, /^\/api\/v1\/timelapses\/\d+\/video$/);
  // a frame per layer change; the first layer may come before the camera's first frame
  assert.ok(t.frames >= LAYERS - 2 && t.frames <= LAYERS, `frames ${t.frames} for ${LAYERS} layers`);
  assert.equal(t.codec, 'h264');
  assert.ok(Math.abs(t.duration_s - t.frames / FPS) < 0.01, JSON.stringify(t));
  const v = await video(t.url);
  assert.equal(v.status, 200, v.body.toString());
  assert.equal(v.headers.get('content-type'), 'video/mp4');
  assert.equal(v.headers.get('accept-ranges'), 'bytes');
  assert.equal(v.headers.get('content-encoding'), null, 'a video is never gzipped');
  assert.equal(v.body.length, t.size);
  const p = await probe(v.body);
  assert.match(p.format.format_name, /mp4/);
  assert.equal(p.streams[0].codec_name, 'h264');
  assert.equal(Number(p.streams[0].nb_read_frames), t.frames);
  assert.equal(p.streams[0].avg_frame_rate, `${FPS}/1`);
  assert.ok(Math.abs(Number(p.format.duration) - t.frames / FPS) < 0.15, `duration ${p.format.duration}`);
  assert.equal(p.streams[0].width, 1280);
  // the job's own route gives the same video
  const byJob = await video(`/api/v1/jobs/${j.id}/timelapse`);
  assert.ok(byJob.body.equals(v.body));
  // the spool of frames is gone once assembled
  assert.deepEqual(readdirSync(join(daemon.dir, 'data', 'timelapse', 'spool')), []);
  first = { job: j, t, body: v.body };
});

test('the video downloads by byte ranges, as a <video> element seeks', async () => {
  const { t, body } = first;
  const r = await video(t.url, { Range: 'bytes=100-199' });
  assert.equal(r.status, 206);
  assert.equal(r.headers.get('content-range'), `bytes 100-199/${t.size}`);
  assert.ok(r.body.equals(body.subarray(100, 200)));
  const tail = await video(t.url, { Range: 'bytes=-50' });
  assert.equal(tail.status, 206);
  assert.ok(tail.body.equals(body.subarray(body.length - 50)));
  const open = await video(t.url, { Range: 'bytes=10-' });
  assert.equal(open.status, 206);
  assert.ok(open.body.equals(body.subarray(10, 10 + open.body.length)) && open.body.length > 0);
  const past = await video(t.url, { Range: `bytes=${t.size}-` });
  assert.equal(past.status, 416);
  assert.equal(past.headers.get('content-range'), `bytes */${t.size}`);
  const two = await video(t.url, { Range: 'bytes=0-1,5-6' });  // several ranges: the whole file
  assert.equal(two.status, 200);
  assert.equal(two.body.length, t.size);
});

test('timelapses are listed with filters and paging like the other lists', async () => {
  const all = await daemon.get('/api/v1/timelapses');
  assert.equal(all.status, 200);
  assert.equal(all.headers.get('x-total-count'), String(all.json.length));
  const mine = all.json.find((x) => x.id === first.t.id);
  assert.equal(mine.job_id, first.job.id);
  assert.equal(mine.printer_id, ids.p1s);
  assert.equal(mine.frames, first.t.frames);
  assert.equal(mine.url, first.t.url);
  const byJob = await daemon.get(`/api/v1/timelapses?job_id=${first.job.id}`);
  assert.deepEqual(byJob.json.map((x) => x.id), [first.t.id]);
  const none = await daemon.get(`/api/v1/timelapses?printer_id=${ids.a1}`);
  assert.deepEqual(none.json, []);
  const one = await daemon.get(`/api/v1/timelapses/${first.t.id}`);
  assert.equal(one.json.size, first.t.size);
  assert.equal((await daemon.get('/api/v1/timelapses?limit=x')).status, 422);
  assert.equal((await daemon.get('/api/v1/timelapses/999999')).status, 404);
  assert.equal((await daemon.get('/api/v1/timelapses/999999/video')).status, 404);
});

test('a camera that drops mid-job still yields a timelapse of what was captured', async () => {
  let cut = 0;
  const j = await printJob(A1, ids.a1, 'drop-tl', {
    layers: 16, seconds: 12,
    during: async (open) => {
      await waitFor(async () => (await daemon.get(`/api/v1/jobs/${open.id}`)).json?.layer >= 5, 15000, 'layer 5');
      proxy.close();
      proxied.forEach((s) => s.destroy());
      cut = (await daemon.get(`/api/v1/jobs/${open.id}`)).json.layer;
    },
  });
  // frames stop once the last one is older than the camera's timeout (3 s, ~4 layers here)
  assert.ok(j.timelapse.frames >= 2 && j.timelapse.frames <= cut + 5 && j.timelapse.frames < 14,
    `frames ${j.timelapse.frames}, cut at layer ${cut}`);
  const p = await probe((await video(j.timelapse.url)).body);
  assert.equal(Number(p.streams[0].nb_read_frames), j.timelapse.frames);
  assert.match(daemon.log.text, /timelapse frames skipped/);
});

test('a timelapse is deleted with its file; its job shows none', async () => {
  const j = await printJob(P1S, ids.p1s, 'delete-me', { layers: 4, seconds: 5 });
  const file = readdirSync(join(daemon.dir, 'data', 'timelapse')).filter((f) => f.endsWith('.mp4'));
  const del = await daemon.req('DELETE', `/api/v1/timelapses/${j.timelapse.id}`);
  assert.equal(del.status, 204);
  assert.equal((await daemon.get(`/api/v1/timelapses/${j.timelapse.id}`)).status, 404);
  assert.equal((await daemon.get(`/api/v1/jobs/${j.id}`)).json.timelapse, null);
  assert.equal((await daemon.get(`/api/v1/jobs/${j.id}/timelapse`)).status, 404);
  await waitFor(() => readdirSync(join(daemon.dir, 'data', 'timelapse')).filter((f) => f.endsWith('.mp4')).length
    === file.length - 1, 5000, 'the file deleted');
  assert.equal((await daemon.req('DELETE', `/api/v1/timelapses/${j.timelapse.id}`)).status, 404);
});

test('a restart mid-print resumes the capture: one timelapse of the frames from before and after', async () => {
  const spool = (id) => join(daemon.dir, 'data', 'timelapse', 'spool', String(id));
  let before = 0;
  const j = await printJob(P1S, ids.p1s, 'restart-tl', {
    layers: 24, seconds: 16,
    during: async (open) => {
      await waitFor(() => existsSync(spool(open.id)) && readdirSync(spool(open.id)).length >= 4, 15000, 'frames spooled');
      assertCleanExit(assert, await daemon.stop());
      before = readdirSync(spool(open.id)).length;
      await daemon.launch();
    },
  });
  assert.match(daemon.log.text, new RegExp(`job ${j.id}: timelapse resumed`));
  assert.ok(j.timelapse.frames > before, `${j.timelapse.frames} frames, ${before} before the restart`);
  const p = await probe((await video(j.timelapse.url)).body);
  assert.equal(Number(p.streams[0].nb_read_frames), j.timelapse.frames);
  assert.ok(!existsSync(spool(j.id)), 'the spool is gone');
});

test('retention: by count at start, by total size after each new one', async () => {
  const mp4s = () => readdirSync(join(daemon.dir, 'data', 'timelapse')).filter((f) => f.endsWith('.mp4'));
  const before = (await daemon.get('/api/v1/timelapses')).json;
  assert.ok(before.length >= 2, `${before.length} timelapses`);
  // by count, applied at start
  assertCleanExit(assert, await daemon.stop());
  daemon.env = { ...daemon.env, PRINTDECK_TIMELAPSE_KEEP_COUNT: '1' };
  await daemon.launch();
  const kept = (await daemon.get('/api/v1/timelapses')).json;
  assert.deepEqual(kept.map((x) => x.id), [before[0].id], 'the newest kept');
  await waitFor(() => mp4s().length === 1, 5000, 'the older files deleted');
  // by size, after a new one: the two together pass 1 MB (the simulator's noisy 720p frames
  // take ~45 KB each), so the older goes
  assertCleanExit(assert, await daemon.stop());
  daemon.env = { ...daemon.env, PRINTDECK_TIMELAPSE_KEEP_COUNT: '0', PRINTDECK_TIMELAPSE_KEEP_MB: '1' };
  await daemon.launch();
  assert.equal((await daemon.get('/api/v1/timelapses')).json.length, 1, 'within 1 MB at start');
  await waitFor(async () => (await daemon.printer(ids.p1s))?.online, 20000, 'P1S online again');
  const j = await printJob(P1S, ids.p1s, 'retention-tl', { layers: 20, seconds: 12 });
  assert.ok(kept[0].size + j.timelapse.size > 1 << 20, `${kept[0].size} + ${j.timelapse.size} bytes`);
  const left = await waitFor(async () => {
    const l = (await daemon.get('/api/v1/timelapses')).json;
    return l.length === 1 ? l : null;
  }, 5000, 'the older one deleted');
  assert.equal(left[0].id, j.timelapse.id, 'the new one kept');
  await waitFor(() => mp4s().length === 1, 5000, 'its file deleted');
});

test("a printer's own timelapse settings: one switched off gets none, one in interval mode", async () => {
  // refused in words, the value kept
  for (const [body, said] of [[{ timelapse_mode: 'hourly' }, /^timelapse_mode: must be layer or interval/],
    [{ timelapse_interval_s: 0 }, /^timelapse_interval_s: must be a whole number of seconds from 1 to 3600/],
    [{ timelapse_enabled: 'no' }, /^timelapse_enabled: must be true or false/]]) {
    const r = await daemon.req('PATCH', `/api/v1/printers/${ids.a1}`, body);
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error.message, said);
  }
  assert.deepEqual((await daemon.printer(ids.a1)).timelapse, { enabled: null, mode: null, interval_s: null, fps: null });
  let r = await daemon.req('PATCH', `/api/v1/printers/${ids.a1}`, { timelapse_enabled: false });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.timelapse.enabled, false);
  r = await daemon.req('PATCH', `/api/v1/printers/${ids.p1s}`, { timelapse_mode: 'interval', timelapse_interval_s: 1 });
  assert.deepEqual(r.json.timelapse, { enabled: null, mode: 'interval', interval_s: 1, fps: null });
  // the global mode is per layer: two layers would take two frames, a frame a second takes more
  const [a1, p1s] = await Promise.all([
    printJob(A1, ids.a1, 'own-off-tl', { layers: 6, seconds: 6, expect: false }),
    printJob(P1S, ids.p1s, 'own-interval-tl', { layers: 2, seconds: 8 }),
  ]);
  assert.ok(p1s.timelapse.frames >= 5 && p1s.timelapse.frames <= 12, `${p1s.timelapse.frames} frames`);
  // the A1's job ended with no timelapse, and none comes later
  await new Promise((res) => setTimeout(res, 1000));
  assert.equal((await daemon.get(`/api/v1/jobs/${a1.id}`)).json.timelapse, null);
  assert.equal((await daemon.get(`/api/v1/timelapses?job_id=${a1.id}`)).json.length, 0);
  assert.match(daemon.log.text, new RegExp(`job ${p1s.id}: timelapse started \\(a frame per interval\\)`));
  // null: the global settings again
  for (const id of [ids.a1, ids.p1s]) {
    r = await daemon.req('PATCH', `/api/v1/printers/${id}`, { timelapse_enabled: null, timelapse_mode: null,
      timelapse_interval_s: null });
    assert.deepEqual(r.json.timelapse, { enabled: null, mode: null, interval_s: null, fps: null });
  }
});

test('interval mode: a frame every interval_s, whatever the layers', async () => {
  assertCleanExit(assert, await daemon.stop());
  daemon.env = { ...daemon.env, PRINTDECK_TIMELAPSE_MODE: 'interval', PRINTDECK_TIMELAPSE_INTERVAL_S: '1' };
  await daemon.launch();
  await waitFor(async () => (await daemon.printer(ids.p1s))?.online, 20000, 'P1S online again');
  const j = await printJob(P1S, ids.p1s, 'interval-tl', { layers: 2, seconds: 8 });
  // ~8 s of printing (and its preparation) at one frame a second, for two layers
  assert.ok(j.timelapse.frames >= 5 && j.timelapse.frames <= 12, `${j.timelapse.frames} frames`);
});

test("the printer's own timelapses are listed and downloaded over FTPS", { skip: HAVE_FTPS ? false : 'needs root and vsftpd' }, async () => {
  const root = ftps.dirOf(P1S);
  mkdirSync(join(root, 'timelapse', 'thumbnail'), { recursive: true, mode: 0o755 });
  const body = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 11) & 0xff));
  writeFileSync(join(root, 'timelapse', 'video_2026-01-02_10-20-30.mp4'), body, { mode: 0o644 });
  const l = await daemon.get(`/api/v1/printers/${ids.p1s}/timelapses`);
  assert.equal(l.status, 200, l.text);
  assert.equal(l.json.path, '/timelapse/');
  const e = l.json.entries.find((x) => x.name === 'video_2026-01-02_10-20-30.mp4');
  assert.equal(e?.size, body.length);
  const d = await video(`/api/v1/printers/${ids.p1s}/files/download?path=${encodeURIComponent('/timelapse/video_2026-01-02_10-20-30.mp4')}`);
  assert.equal(d.status, 200);
  assert.ok(d.body.equals(body));
  assert.ok(existsSync(join(root, 'timelapse')));
});

test('a printer removed mid-print: what was captured becomes its job\'s timelapse, of no printer', async () => {
  await sim.control(P1S, { action: 'start_job', name: 'removed-tl', layers: 40, minutes: 0.5, prepare_s: 1 });
  const open = await waitFor(async () => (await jobs(ids.p1s))?.find((j) => j.name === 'removed-tl'), 15000, 'job open');
  const spool = join(daemon.dir, 'data', 'timelapse', 'spool', String(open.id));
  await waitFor(() => existsSync(spool) && readdirSync(spool).length >= 3, 15000, 'frames spooled');
  assert.equal((await daemon.req('DELETE', `/api/v1/printers/${ids.p1s}`)).status, 204);
  const [t] = await waitFor(async () => {
    const l = (await daemon.get(`/api/v1/timelapses?job_id=${open.id}`)).json;
    return l?.length ? l : null;
  }, 15000, 'its timelapse');
  assert.equal(t.printer_id, null);
  assert.ok(t.frames >= 3, `${t.frames} frames`);
});
