// The loop while a timelapse is assembled (issue 14): a simulated P1S prints LAYERS layers with
// its port-6000 camera, the daemon takes a frame per layer, and at the job's end assembles
// them into an MP4 in the worker pool. Meanwhile /healthz is polled every 20 ms and the
// loop's longest turn read from /metrics. Prints one line of JSON; the numbers go to
// bench/RESULTS.md. A measurement, not a test: nothing here passes or fails.
//   PD_BIN=build/printdeck PD_SIM=build/printdeck-sim node bench/timelapse.mjs [LAYERS]
import { Broker, Sim, Daemon, freePorts, waitFor, sleep, tmpDir, join, metric } from '../tests/integration/harness.mjs';

const P1S = '01P00A451200999', LAYERS = Number(process.argv[2] || 300);
const dir = tmpDir('pd-bench-tl-');
const broker = new Broker(join(dir, 'tls'), [P1S]);
await broker.start();
const camPort = await freePorts(1);
const sim = new Sim(broker, ['P1S']);
await sim.start(['--camera-port', String(camPort), '--cert-dir', broker.dir, '--camera-fps', '5']);
const daemon = new Daemon();
try {
  await daemon.start();
  const id = (await daemon.addPrinter(broker, P1S, { camera_port: camPort })).id;
  await waitFor(async () => (await daemon.printer(id))?.online, 20000, 'online');
  await sim.control(P1S, { action: 'start_job', name: 'bench', layers: LAYERS, minutes: LAYERS / 5 / 60, prepare_s: 1 });
  const job = await waitFor(async () => (await daemon.get(`/api/v1/jobs?printer_id=${id}`)).json?.[0], 15000, 'job');
  await waitFor(async () => (await daemon.get(`/api/v1/jobs/${job.id}`)).json?.ended_at, LAYERS * 1000, 'job end');
  // the loop's longest turn and p99 over the last minute, in ms
  const turn = async () => {
    const m = (await daemon.get('/metrics')).text;
    return [metric(m, 'printdeck_loop_turn_max_seconds'), metric(m, 'printdeck_loop_turn_seconds', { quantile: '0.99' })]
      .map((v) => Math.round(v * 1e4) / 10);
  };
  const before = await turn();
  const t0 = Date.now();
  const lat = [];
  let done = null;
  while (!done && Date.now() - t0 < 600000) {
    const s = performance.now();
    await daemon.get('/healthz');
    lat.push(performance.now() - s);
    done = (await daemon.get(`/api/v1/jobs/${job.id}`)).json?.timelapse;
    await sleep(20);
  }
  lat.sort((a, b) => a - b);
  const q = (p) => Math.round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] * 10) / 10;
  console.log(JSON.stringify({ layers: LAYERS, frames: done?.frames, bytes: done?.size, codec: done?.codec,
    assembly_ms: Date.now() - t0, polls: lat.length, healthz_p50_ms: q(0.5), healthz_p99_ms: q(0.99),
    healthz_max_ms: q(1), loop_turn_max_p99_ms_before: before, loop_turn_max_p99_ms_after: await turn() }));
} finally {
  await daemon.stop();
  await sim.stop();
  await broker.stop();
}
