// A job's timelapse in the dashboard (docs/web.md, Jobs): the simulator's P1S prints a short job
// with its port-6000 camera, printdeck makes the video at the end (docs/camera.md, Timelapses),
// and the job page shows a player on it that fetches by ranges with the page's own session,
// and a download link. Screenshots at desktop and phone sizes, axe-core on each.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../integration/harness.mjs';
import { startFleet, stopFleet, openPage, axe, shot, PHONE, DESKTOP } from './fixture.mjs';

const X1C = '00M09A350100655', P1S = '01P00A451200655';
let f;

before(async () => {
  f = await startFleet({ serials: [X1C, P1S], camera: true, simArgs: ['--camera-fps', '4'] });
});

after(() => stopFleet(f));

test('a finished print\'s timelapse is on its job page, playable by ranges and downloadable', async () => {
  await f.sim.control(P1S, { action: 'start_job', name: 'Timelapse e2e', layers: 8, minutes: 0.4, prepare_s: 0 });
  let job;
  await waitFor(async () => {
    const jobs = (await f.daemon.get(`/api/v1/jobs?printer_id=${f.p1.id}`)).json ?? [];
    job = jobs.find((j) => j.name === 'Timelapse e2e' && j.timelapse);
    return !!job;
  }, 90000, 'the timelapse made');
  for (const [viewport, name] of [[DESKTOP, 'desktop'], [PHONE, 'phone']]) {
    const p = await openPage(f, viewport, `/jobs/${job.id}`);
    const video = p.locator('.job-timelapse video');
    await video.waitFor({ timeout: 15000 });
    assert.equal(await video.getAttribute('src'), job.timelapse.url);
    // what a player asks for: the first bytes, with the page's own session
    const got = await p.evaluate(async (url) => {
      const r = await fetch(url, { headers: { Range: 'bytes=0-99' } });
      const b = new Uint8Array(await r.arrayBuffer());
      return { status: r.status, type: r.headers.get('content-type'), box: String.fromCharCode(...b.slice(4, 8)) };
    }, job.timelapse.url);
    assert.deepEqual(got, { status: 206, type: 'video/mp4', box: 'ftyp' });
    assert.ok(await p.getByRole('link', { name: 'Download' }).isVisible());
    await video.scrollIntoViewIfNeeded();
    await shot(p, `job-timelapse-${name}`);
    await axe(p, `a job with its timelapse (${name})`);
    assert.deepEqual(p.errors, []);
    await p.context().close();
  }
});
