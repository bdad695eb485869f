// Home Assistant, outbound (docs/homeassistant.md): a real mosquitto as the user's own broker,
// mosquitto_sub as Home Assistant's side of it. MQTT discovery configs in the shape HA reads
// (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery), states as a simulated print
// runs, a deleted spool's entities cleared, HA's birth message, the mqtt notification channel,
// a broker restart, and the last will once the daemon is killed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor, sleep, simFleet, stopSimFleet, freePort, loadSpool, tmpDir, run } from './harness.mjs';

const A1 = '03919C461900413';
const NODE = `printdeck_${A1}`;

/** The user's broker: plain MQTT on loopback, anonymous, nothing kept across a restart (every
 * retained message comes back only because printdeck publishes it again). */
class UserBroker {
  constructor(dir, port) { this.dir = dir; this.port = port; }
  async start() {
    const conf = join(this.dir, 'mosquitto.conf');
    writeFileSync(conf, `listener ${this.port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
    this.proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.out = '';
    this.proc.stderr.on('data', (c) => { this.out += c; });
    await waitFor(() => / running/.test(this.out), 10000, 'mosquitto running');
  }
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    const gone = new Promise((ok) => this.proc.once('exit', ok));
    this.proc.kill('SIGTERM');
    await Promise.race([gone, sleep(5000)]);
  }
}

/** Home Assistant's side: every message on the broker, retained ones included, in order. */
class Subscriber {
  constructor(port) { this.port = port; this.msgs = []; this.buf = ''; }
  async start() {
    this.proc = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(this.port), '-t', '#', '-q', '1',
      '-F', '%j'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (c) => {
      this.buf += c;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        if (line) { const m = JSON.parse(line); m.payload ??= ''; this.msgs.push(m); }
      }
    });
    await sleep(300);
  }
  /** The last payload on topic, or undefined */
  last(topic) {
    for (let i = this.msgs.length - 1; i >= 0; i--) if (this.msgs[i].topic === topic) return this.msgs[i].payload;
    return undefined;
  }
  json(topic) { const p = this.last(topic); return p ? JSON.parse(p) : undefined; }
  count(topic) { return this.msgs.filter((m) => m.topic === topic).length; }
  wait(topic, pred = () => true, what = topic, ms = 15000) {
    // wrapped: an empty payload (a cleared config) is falsy to waitFor
    return waitFor(() => { const p = this.last(topic); return p !== undefined && pred(p) ? { p } : null; }, ms, what)
      .then((x) => x.p);
  }
  waitJson(topic, pred = () => true, what = topic, ms = 15000) {
    return waitFor(() => { const j = this.json(topic); return j && pred(j) ? j : null; }, ms, what);
  }
  stop() { this.proc?.kill('SIGTERM'); }
}

const fleet = {};
let daemon, sim, ub, sub, filament;
before(async () => {
  const dir = tmpDir('pd-ha-');
  ub = new UserBroker(dir, await freePort());
  await ub.start();
  sub = new Subscriber(ub.port);
  await sub.start();
  ({ daemon, sim } = await simFleet(fleet, { prefix: 'pd-ha-fleet-', serials: [A1], models: ['A1'],
    simArgs: ['--speedup', '4'], config: `[homeassistant]\nurl = mqtt://127.0.0.1:${ub.port}\n` +
      'min_interval_ms = 0\n[notify]\nmin_interval_s = 0\n[mqtt]\nreconnect_min_ms = 200\nreconnect_max_ms = 1000\n' }));
  const v = await daemon.req('POST', '/api/v1/vendor', { name: 'Acme' });
  filament = (await daemon.req('POST', '/api/v1/filament', { name: 'Matte Red', vendor_id: v.json.id,
    material: 'PLA', density: 1.24, diameter: 1.75, weight: 1000, color_hex: 'FF0000' })).json;
});

after(async () => {
  sub?.stop();
  await stopSimFleet(assert, fleet);
  await ub?.stop();
});

test('discovery: a device per printer, its sensors in the shape Home Assistant reads', async () => {
  assert.equal(await sub.wait('printdeck/status'), 'online');
  const cfg = await sub.waitJson(`homeassistant/sensor/${NODE}/progress/config`);
  assert.equal(cfg.unique_id, `${NODE}_progress`);
  assert.equal(cfg.name, 'Progress');
  assert.equal(cfg.state_topic, `printdeck/printer/${A1}`);
  assert.equal(cfg.value_template, '{{ value_json.progress }}');
  assert.equal(cfg.unit_of_measurement, '%');
  assert.deepEqual(cfg.availability, [{ topic: 'printdeck/status' }]);
  assert.deepEqual(cfg.device.identifiers, [NODE]);
  assert.equal(cfg.device.name, `p-${A1.slice(-4)}`);
  assert.equal(cfg.device.manufacturer, 'Bambu Lab');
  assert.ok(cfg.device.model);
  for (const [comp, obj, cls] of [['sensor', 'finish', 'timestamp'], ['sensor', 'nozzle_temp', 'temperature'],
    ['sensor', 'time_left', 'duration'], ['binary_sensor', 'online', 'connectivity'],
    ['binary_sensor', 'prompt', 'problem'], ['sensor', 'state', undefined], ['sensor', 'job', undefined],
    ['sensor', 'stage', undefined], ['sensor', 'bed_temp', 'temperature']]) {
    const c = await sub.waitJson(`homeassistant/${comp}/${NODE}/${obj}/config`);
    assert.equal(c.device_class, cls, obj);
    assert.equal(c.state_topic, `printdeck/printer/${A1}`);
  }
  const st = await sub.waitJson(`printdeck/printer/${A1}`, (j) => j.online === 'ON' && j.state === 'idle');
  assert.equal(st.prompt, 'OFF');
  assert.equal(st.finish, null);
  assert.equal(typeof st.nozzle_temp, 'number');
});

let spool;
test('an AMS slot and a spool: the assigned spool, its weight and its low stock', async () => {
  spool = await loadSpool(daemon, sim, A1, fleet.ids[A1], filament.id, 0, 1, { remain: 50 });
  const c = await sub.waitJson(`homeassistant/sensor/${NODE}/ams0_1/config`);
  assert.equal(c.name, 'AMS 1 slot 2');
  assert.equal(c.json_attributes_topic, `printdeck/printer/${A1}/ams0_1`);
  assert.deepEqual(c.device.identifiers, [NODE]);
  const s = await sub.waitJson(`printdeck/printer/${A1}/ams0_1`, (j) => j.spool_id === spool, 'slot state', 40000);
  assert.equal(s.spool, `Acme Matte Red #${spool}`);
  assert.equal(s.material, 'PLA');
  assert.equal(s.color, '#FF0000');
  assert.equal(s.remaining_g, 500);

  const w = await sub.waitJson(`homeassistant/sensor/printdeck_inventory/spool${spool}/config`);
  assert.equal(w.unique_id, `printdeck_inventory_spool${spool}`);
  assert.equal(w.device_class, 'weight');
  assert.equal(w.unit_of_measurement, 'g');
  assert.deepEqual(w.device.identifiers, ['printdeck_inventory']);
  const low = await sub.waitJson(`homeassistant/binary_sensor/printdeck_inventory/spool${spool}_low/config`);
  assert.equal(low.state_topic, `printdeck/spool/${spool}`);
  assert.equal(low.value_template, '{{ value_json.low }}');
  assert.equal((await sub.waitJson(`printdeck/spool/${spool}`)).low, 'OFF');
  // the spool's own threshold above what is left: low
  const r = await daemon.req('PATCH', `/api/v1/spool/${spool}`, { low_stock_weight: 600 });
  assert.equal(r.status, 200, r.text);
  const st = await sub.waitJson(`printdeck/spool/${spool}`, (j) => j.low === 'ON', 'low stock');
  assert.equal(st.threshold_g, 600);
  assert.equal(st.remaining_g, 500);
});

test('states follow the print; the mqtt channel publishes the finished job', async () => {
  const bad = await daemon.req('POST', '/api/v1/notifications/channels', { type: 'mqtt', name: 'x', topic: 'a/#' });
  assert.equal(bad.status, 422, bad.text);
  const ch = await daemon.req('POST', '/api/v1/notifications/channels', { type: 'mqtt', name: 'ha',
    topic: 'pd/notes', events: ['job_completed'] });
  assert.equal(ch.status, 201, ch.text);
  await sim.control(A1, { action: 'start_job', name: 'benchy', layers: 5, minutes: 2 });
  const run1 = await sub.waitJson(`printdeck/printer/${A1}`, (j) => j.state === 'running' && j.job, 'running');
  assert.match(run1.job, /benchy/);
  assert.match(run1.finish, /^\d{4}-\d\d-\d\dT\d\d:\d\d:00\+00:00$/);
  await sub.waitJson(`printdeck/printer/${A1}`, (j) => j.progress > run1.progress, 'progress moves', 20000);
  await sim.control(A1, { action: 'finish' });
  await sub.waitJson(`printdeck/printer/${A1}`, (j) => j.state === 'finish' && j.finish === null, 'finished');
  const note = JSON.parse(await sub.wait('pd/notes', () => true, 'notification', 20000));
  assert.equal(note.version, 1);
  assert.equal(note.event, 'job_completed');
  assert.equal(note.printer.id, fleet.ids[A1]);
  assert.match(note.message, /benchy/);
  const log = await waitFor(async () => {
    const l = (await daemon.get(`/api/v1/notifications/log?channel_id=${ch.json.id}`)).json;
    return l?.some((x) => x.ok) ? l : null;
  }, 10000, 'delivery logged');
  assert.ok(log.some((x) => x.ok));
});

test('a deleted spool clears its retained configs', async () => {
  const topic = `homeassistant/sensor/printdeck_inventory/spool${spool}/config`;
  const r = await daemon.req('DELETE', `/api/v1/spool/${spool}`);
  assert.equal(r.status, 200, r.text);
  await sub.wait(topic, (p) => p === '', 'config cleared');
  await sub.wait(`homeassistant/binary_sensor/printdeck_inventory/spool${spool}_low/config`, (p) => p === '');
  // the slot it sat in says so
  await sub.waitJson(`printdeck/printer/${A1}/ams0_1`, (j) => j.spool_id === null, 'slot without the spool', 40000);
});

test("Home Assistant's birth message brings every config again", async () => {
  const topic = `homeassistant/sensor/${NODE}/progress/config`;
  const n = sub.count(topic);
  await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(ub.port), '-t', 'homeassistant/status', '-m', 'online']);
  await waitFor(() => sub.count(topic) > n, 10000, 'configs again');
});

test('the broker restarts: printdeck reconnects and publishes everything again', async () => {
  sub.stop();
  await ub.stop();
  await sleep(500);
  await ub.start();
  sub = new Subscriber(ub.port);
  await sub.start();
  assert.equal(await sub.wait('printdeck/status', (p) => p === 'online', 'online again', 20000), 'online');
  await sub.waitJson(`homeassistant/sensor/${NODE}/progress/config`, () => true, 'config again', 20000);
  await sub.waitJson(`printdeck/printer/${A1}`, (j) => j.online === 'ON', 'state again', 20000);
});

test('killed, the daemon leaves its last will: offline', async () => {
  daemon.proc.kill('SIGKILL');
  await new Promise((ok) => (daemon.proc.exitCode !== null || daemon.proc.signalCode ? ok() : daemon.proc.once('exit', ok)));
  fleet.daemon = null; // no clean exit to check
  assert.equal(await sub.wait('printdeck/status', (p) => p === 'offline', 'will', 10000), 'offline');
});
