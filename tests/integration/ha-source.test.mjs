// Home Assistant as a printer source (docs/homeassistant.md, Source): printdeck follows a
// printer's ha-bambulab entities over Home Assistant's WebSocket API (a local double built from
// its documented API, hass.mjs) and feeds them through the webhooks' parsers to the same job
// recorder, accounting and slot map; refused tokens, restarts, unknown states, oversized
// messages, TLS with its own CA, a Home Assistant that stops answering pings, printers of the
// configuration file on SIGHUP, and merging into an MQTT printer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { Daemon, SSE, freePort, waitFor, sleep, assertCleanExit, run, tmpDir, join, ROOT, SANITIZED } from './harness.mjs';
import { Hass } from './hass.mjs';

const TOKEN = 'ha-long-lived-token-0123456789abcdef';
const DEV = 'bambu_lab_p1s';
const SERIAL = '01P00A451200321';
const MAX = 65536;
// the heartbeat: a ping every second, its pong within 2 s
const PING_S = 1, PONG_S = 2;
const GLOBAL_SECRET = 'global-webhook-secret-0123456789';
let hass, daemon, pid;

const S = (k, dev = DEV) => `sensor.${dev}_${k}`;
const TRAY = (u, t, dev = DEV) => `sensor.${dev}_ams_${u}_tray_${t}`;

const configOf = (url, extra = '') =>
  `[mqtt]\nreconnect_min_ms = 300\nreconnect_max_ms = 2000\n[homeassistant]\napi_url = ${url}\n` +
  `api_max_message = ${MAX}\napi_ping_s = ${PING_S}\napi_pong_timeout_s = ${PONG_S}\n` +
  `webhook_secret = ${GLOBAL_SECRET}\n${extra}`;

async function startDaemon(token, url = `http://127.0.0.1:${hass.port}`, extra = '') {
  const d = new Daemon({ config: configOf(url, extra), env: { PRINTDECK_HOMEASSISTANT_TOKEN: token } });
  await d.start();
  return d;
}

/** Home Assistant's present states of a P1S: idle, one PLA spool at 80 %. */
function idlePrinter(h, dev = DEV, material = 'PLA') {
  h.set(S('print_status', dev), 'idle');
  h.set(S('print_progress', dev), '0');
  h.set(S('active_tray_index', dev), 'unknown');
  h.set(TRAY(1, 1, dev), `Bambu ${material} Basic`, { type: material, color: '#FF0000FF', remain: 80, empty: false });
  h.set(TRAY(1, 2, dev), 'Empty', { type: '', color: '#00000000', remain: 0, empty: true });
}

before(async () => {
  hass = new Hass(TOKEN);
  await hass.start(await freePort());
  // the printer as Home Assistant knows it before printdeck looks
  idlePrinter(hass);
  daemon = await startDaemon(TOKEN);
});

after(async () => {
  const r = await daemon?.stop();
  await hass?.stop();
  if (r) assertCleanExit(assert, r);
});

const printer = async () => daemon.printer(pid);
const jobsOf = async () => (await daemon.get(`/api/v1/jobs?printer_id=${pid}`)).json;

test('a printer with source homeassistant is checked like every other field', async () => {
  let r = await daemon.req('POST', '/api/v1/printers', { name: 'HA P1S', serial: SERIAL, source: 'homeassistant' });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.error.message, /ha_device: required/);
  r = await daemon.req('POST', '/api/v1/printers', { name: 'HA P1S', serial: SERIAL, source: 'homeassistant', ha_device: 'Bambu P1S' });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.error.message, /^ha_device: must be/);
  r = await daemon.req('POST', '/api/v1/printers', { name: 'HA P1S', serial: SERIAL, source: 'homeassistant', ha_device: DEV,
    ha_ams_tray: 'sensor.x_ams_tray' });
  assert.match(r.json.error.message, /^ha_ams_tray: must be .*\{unit\}/);
  r = await daemon.req('POST', '/api/v1/printers', { name: 'M', serial: '01P00A451200322', host: '10.0.0.9',
    access_code: '12345678', ha_device: DEV });
  assert.match(r.json.error.message, /^ha_device: only for a printer with source homeassistant/);
  r = await daemon.req('POST', '/api/v1/printers', { name: 'HA P1S', serial: SERIAL, source: 'homeassistant', ha_device: DEV });
  assert.equal(r.status, 201, r.text);
  pid = r.json.id;
  assert.equal(r.json.source, 'homeassistant');
  assert.equal(r.json.ha_device, DEV);
  assert.equal(r.json.ha_print_status, null);
  r = await daemon.req('PATCH', `/api/v1/printers/${pid}`, { source: 'mqtt' });
  assert.equal(r.status, 422, r.text);
  r = await daemon.req('PATCH', `/api/v1/printers/${pid}`, { host: '10.0.0.1' });
  assert.equal(r.status, 422, r.text);
});

test('the present states are read once connected: the slots, no job while idle', async () => {
  const p = await waitFor(async () => { const x = await printer(); return x.connection?.state === 'connected' && x; },
    15000, 'connected to Home Assistant');
  assert.equal(p.connection.error ?? null, null);
  const slot = await waitFor(async () => (await daemon.get(`/api/v1/printers/${pid}/ams`)).json
    .find((s) => s.unit === 0 && s.slot === 0 && s.live?.material === 'PLA'), 10000, 'slot 1 PLA');
  assert.match(slot.live.color, /^#?FF0000/i);
  assert.deepEqual(hass.errors, []);
  assert.equal(hass.auths.ok, 1);
  const sub = hass.received.find((m) => m.type === 'subscribe_entities');
  assert.ok(sub.entity_ids.includes(S('print_status')) && sub.entity_ids.includes(TRAY(4, 4)), JSON.stringify(sub));
  assert.equal((await jobsOf()).length, 0);
});

test('a print followed through entity changes is one job, its grams from remain', async () => {
  // a spool for the slot: its prompt answered
  const prompt = await waitFor(async () => (await daemon.get('/api/v1/prompts')).json
    .find((x) => x.printer_id === pid && x.unit === 0 && x.slot === 0), 10000, 'slot prompt');
  const vendor = (await daemon.req('POST', '/api/v1/vendor', { name: 'HA Source' })).json;
  const fil = (await daemon.req('POST', '/api/v1/filament', { name: 'Red', vendor_id: vendor.id, material: 'PLA',
    density: 1.24, diameter: 1.75, weight: 1000, color_hex: 'FF0000' })).json;
  const spool = (await daemon.req('POST', '/api/v1/spool', { filament_id: fil.id, initial_weight: 1000 })).json;
  assert.equal((await daemon.req('POST', `/api/v1/prompts/${prompt.id}/assign`, { spool_id: spool.id })).status, 200);

  hass.set(S('task_name'), 'benchy');
  hass.set(S('active_tray_index'), '1');
  hass.set(S('print_status'), 'prepare');
  hass.set(S('print_status'), 'running');
  const job = await waitFor(async () => (await jobsOf()).find((j) => j.status === 'printing'), 10000, 'job open');
  assert.equal(job.name, 'benchy');
  for (const [pc, layer] of [['10', '5'], ['50', '25'], ['90', '45']]) {
    hass.set(S('print_progress'), pc);
    hass.set(S('current_layer'), layer);
  }
  hass.set(S('total_layer_count'), '50');
  await waitFor(async () => (await printer()).progress === 90, 10000, 'progress 90');
  // unknown and unavailable say nothing: the print goes on
  hass.set(S('print_status'), 'unavailable');
  hass.set(S('print_status'), 'unknown');
  hass.set(S('print_progress'), 'unavailable');
  hass.set(TRAY(1, 1), 'unavailable');
  await sleep(500);
  let p = await printer();
  assert.equal(p.state, 'RUNNING');
  assert.equal(p.progress, 90);
  assert.equal(p.layer, 45);
  assert.equal((await jobsOf()).length, 1);
  hass.set(TRAY(1, 1), 'Bambu PLA Basic', { remain: 70 });
  hass.set(S('print_status'), 'finish');
  const done = await waitFor(async () => {
    const j = (await daemon.get(`/api/v1/jobs/${job.id}`)).json;
    return j.status === 'completed' && j.filament?.length ? j : null;
  }, 15000, 'job completed and accounted');
  const use = done.filament.find((u) => u.spool_id === spool.id);
  assert.ok(use, JSON.stringify(done.filament));
  assert.equal(use.source, 'remain');
  assert.ok(Math.abs(use.grams - 100) < 0.5, `grams ${use.grams}`);
  assert.equal((await jobsOf()).length, 1);
});

test('Home Assistant restarting: reconnected, the states read again, no second job', async () => {
  hass.set(S('task_name'), 'cube');
  hass.set(S('print_status'), 'running');
  const job = await waitFor(async () => (await jobsOf()).find((j) => j.name === 'cube' && j.status === 'printing'), 10000, 'cube');
  const subs = hass.received.filter((m) => m.type === 'subscribe_entities').length;
  hass.drop();
  await waitFor(async () => (await printer()).connection.state !== 'connected', 5000, 'seen the drop');
  await waitFor(async () => (await printer()).connection.state === 'connected', 15000, 'reconnected');
  assert.equal(hass.received.filter((m) => m.type === 'subscribe_entities').length, subs + 1);
  await sleep(500);
  const jobs = await jobsOf();
  assert.equal(jobs.filter((j) => j.name === 'cube').length, 1, JSON.stringify(jobs));
  assert.equal((await daemon.get(`/api/v1/jobs/${job.id}`)).json.status, 'printing');
  hass.set(S('print_status'), 'failed');
  await waitFor(async () => (await daemon.get(`/api/v1/jobs/${job.id}`)).json.status === 'failed', 10000, 'cube failed');
  assert.deepEqual(hass.errors, []);
});

test('an oversized message is refused without growing memory, and the connection comes back', async () => {
  const rss = () => Number(readFileSync(`/proc/${daemon.proc.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
  const before = rss();
  const connects = hass.connects;
  for (let i = 0; i < 3; i++) {
    await waitFor(async () => hass.live() > 0, 15000, 'subscribed');
    hass.sendHuge(8 * 1024 * 1024);
    const p = await waitFor(async () => { const x = await printer(); return /more than 65536 bytes/.test(x.connection.error || '') && x; },
      10000, 'the oversized message refused');
    assert.notEqual(p.connection.state, 'connected');
  }
  await waitFor(async () => (await printer()).connection.state === 'connected', 15000, 'reconnected');
  assert.ok(hass.connects >= connects + 3);
  // 24 MB were sent; only the bound may have been held at a time
  if (!SANITIZED) assert.ok(rss() - before < 8 * 1024, `RSS grew by ${rss() - before} kB`);
  assert.equal((await printer()).state, 'FAILED');
});

test('a subscription longer than api_max_message is refused in words, never sent', async () => {
  // the same bound holds what printdeck sends: eight followed printers name more than 4 KiB of entities
  const d = new Daemon({ env: { PRINTDECK_HOMEASSISTANT_TOKEN: TOKEN },
    config: `[mqtt]\nreconnect_min_ms = 300\nreconnect_max_ms = 2000\n[homeassistant]\n` +
      `api_url = http://127.0.0.1:${hass.port}\napi_max_message = 4096\n` });
  try {
    await d.start();
    let id;
    for (let i = 0; i < 8; i++) {
      const r = await d.req('POST', '/api/v1/printers', { name: `HA ${i}`, serial: `01P00A4512004${i}0`,
        source: 'homeassistant', ha_device: `${DEV}_farm_${i}` });
      assert.equal(r.status, 201, r.text);
      id = r.json.id;
    }
    const p = await waitFor(async () => {
      const x = await d.printer(id);
      return /message to Home Assistant would be \d+ bytes, more than \[homeassistant\] api_max_message/
        .test(x.connection.error || '') && x;
    }, 15000, 'the subscription refused in words');
    assert.notEqual(p.connection.state, 'connected');
  } finally {
    const r = await d.stop();
    if (r) assertCleanExit(assert, r);
  }
});

test('a refused token is said in words and tried again with backoff', async () => {
  const wrong = await startDaemon('not-the-token');
  try {
    const r = await wrong.req('POST', '/api/v1/printers', { name: 'HA', serial: SERIAL, source: 'homeassistant', ha_device: DEV });
    assert.equal(r.status, 201, r.text);
    const p = await waitFor(async () => { const x = await wrong.printer(r.json.id); return x.connection.state === 'auth_failed' && x; },
      15000, 'auth_failed');
    assert.match(p.connection.error, /the token was refused/);
    const first = hass.auths.invalid;
    await sleep(3000);
    const tries = hass.auths.invalid - first;
    // 300 ms doubling up to 2 s, ±25 %: a few in 3 s, not one per loop turn
    assert.ok(tries >= 1 && tries <= 6, `tries ${tries}`);
    assert.equal((await wrong.get(`/api/v1/jobs?printer_id=${r.json.id}`)).json.length, 0);
  } finally {
    assertCleanExit(assert, await wrong.stop());
  }
});

test('over TLS: followed with api_ca_file; a wrong CA or none is tls_failed in words, tried again with backoff', async () => {
  // Home Assistant with a certificate of its own CA (made as the broker's), and another CA
  const good = tmpDir('pd-hass-tls-'), other = tmpDir('pd-hass-other-');
  await run(join(ROOT, 'scripts/gen-certs.sh'), [good, 'localhost'], { timeout: 60000 });
  await run(join(ROOT, 'scripts/gen-certs.sh'), [other, 'localhost'], { timeout: 60000 });
  const tlsHass = new Hass(TOKEN, { tls: { key: readFileSync(join(good, 'localhost.key')),
    cert: readFileSync(join(good, 'localhost.crt')) } });
  await tlsHass.start(await freePort());
  idlePrinter(tlsHass);
  const url = `https://localhost:${tlsHass.port}`;
  const add = async (d) => {
    const r = await d.req('POST', '/api/v1/printers', { name: 'HA TLS', serial: SERIAL, source: 'homeassistant', ha_device: DEV });
    assert.equal(r.status, 201, r.text);
    return r.json.id;
  };
  try {
    const trusted = await startDaemon(TOKEN, url, `api_ca_file = ${join(good, 'ca.crt')}\n`);
    try {
      const id = await add(trusted);
      await waitFor(async () => (await trusted.printer(id)).connection?.state === 'connected', 15000, 'connected over TLS');
      await waitFor(async () => (await trusted.get(`/api/v1/printers/${id}/ams`)).json
        .find((x) => x.unit === 0 && x.slot === 0 && x.live?.material === 'PLA'), 10000, 'slot 1 PLA over TLS');
      assert.equal(tlsHass.tlsErrors, 0);
      assert.deepEqual(tlsHass.errors, []);
    } finally {
      assertCleanExit(assert, await trusted.stop());
    }
    // another CA's certificate, and none (the system's CAs against a certificate of our own)
    for (const extra of [`api_ca_file = ${join(other, 'ca.crt')}\n`, '']) {
      const d = await startDaemon(TOKEN, url, extra);
      try {
        const id = await add(d);
        const p = await waitFor(async () => { const x = await d.printer(id); return x.connection.state === 'tls_failed' && x; },
          15000, `tls_failed with ${extra || 'no api_ca_file'}`);
        assert.match(p.connection.error, /the certificate did not verify/);
        const first = tlsHass.tlsErrors, auths = tlsHass.auths.ok;
        // the loop stays free while it fails: every request answered at once
        let slowest = 0;
        for (const until = Date.now() + 3000; Date.now() < until;) {
          const t0 = Date.now();
          assert.equal((await d.get('/healthz')).status, 200);
          slowest = Math.max(slowest, Date.now() - t0);
          await sleep(50);
        }
        const tries = tlsHass.tlsErrors - first;
        // 300 ms doubling up to 2 s, ±25 %: a few in 3 s, not one per loop turn
        assert.ok(tries >= 1 && tries <= 6, `tries ${tries}`);
        assert.ok(slowest < 1000, `a request took ${slowest} ms while the TLS handshakes failed`);
        assert.equal(tlsHass.auths.ok, auths, 'no token sent to a server that did not verify');
      } finally {
        assertCleanExit(assert, await d.stop());
      }
    }
  } finally {
    await tlsHass.stop();
  }
});

test('Home Assistant that stops answering pings is stale in words within the heartbeat, and reconnected', async () => {
  await waitFor(async () => (await printer()).connection.state === 'connected' && hass.live() > 0, 15000, 'connected');
  await waitFor(() => hass.received.some((m) => m.type === 'ping'), 5000, 'a ping every second');
  const sse = await new SSE(daemon).open();
  try {
    const connects = hass.connects;
    const t0 = Date.now();
    hass.mute();
    const p = await waitFor(async () => { const x = await printer(); return /stopped answering/.test(x.connection.error || '') && x; },
      15000, 'stale', 50);
    const took = Date.now() - t0;
    // a ping at most api_ping_s after the last pong, then api_pong_timeout_s, each seen on a 1 s tick
    assert.ok(took <= (PING_S + PONG_S + 2) * 1000 + 500, `stale after ${took} ms`);
    assert.match(p.connection.error, /no pong in 2 s/);
    await sse.waitFor((e) => e.event === 'printer' && e.json?.id === pid && e.json.connection?.state === 'stale', 5000,
      'the printer event saying stale');
    await waitFor(async () => (await printer()).connection.state === 'connected', 15000, 'reconnected');
    assert.ok(hass.connects > connects);
    assert.equal(hass.live(), 1);
    // the ping left unanswered on the hung connection is not waited for on the new one: it pings
    // again and stays connected past a whole heartbeat
    const pings = hass.received.filter((m) => m.type === 'ping').length;
    await waitFor(() => hass.received.filter((m) => m.type === 'ping').length > pings + 1, 10000, 'pings on the new connection');
    const until = Date.now() + (PING_S + PONG_S + 1) * 1000;
    while (Date.now() < until) {
      assert.equal((await printer()).connection.state, 'connected');
      await sleep(200);
    }
    assert.deepEqual(hass.errors, []);
  } finally {
    sse.close();
  }
});

test('a printer of source homeassistant in the configuration file follows SIGHUP: added, changed, removed', async () => {
  const X1C = '00M09A350100777';
  idlePrinter(hass, 'bambu_lab_x1c', 'PETG');
  idlePrinter(hass, 'bambu_lab_x1c_2', 'ABS');
  const ini = join(daemon.dir, 'printdeck.ini');
  const base = readFileSync(ini, 'utf8');
  const reload = async (text) => {
    const mark = daemon.log.text.length, subs = hass.received.filter((m) => m.type === 'subscribe_entities').length;
    writeFileSync(ini, text);
    daemon.proc.kill('SIGHUP');
    await waitFor(() => daemon.log.text.slice(mark).includes('SIGHUP: reloading'), 5000, 'SIGHUP seen');
    // the new set of entities is subscribed on a new connection
    return waitFor(() => hass.live() && hass.received.filter((m) => m.type === 'subscribe_entities').slice(subs).at(-1),
      15000, 'subscribed again');
  };
  const section = (dev) => `[printer Shelf X1C]\nserial = ${X1C}\nsource = homeassistant\nha_device = ${dev}\n`;
  const slotMaterial = async (id) => (await daemon.get(`/api/v1/printers/${id}/ams`)).json
    .find((x) => x.unit === 0 && x.slot === 0)?.live?.material;

  let sub = await reload(base + section('bambu_lab_x1c'));
  assert.ok(sub.entity_ids.includes(S('print_status', 'bambu_lab_x1c')), JSON.stringify(sub));
  assert.ok(sub.entity_ids.includes(S('print_status')), 'the other printer still followed');
  const x = await waitFor(async () => (await daemon.printer(X1C))?.connection?.state === 'connected' && daemon.printer(X1C),
    10000, 'the file\'s printer connected');
  assert.equal(x.source, 'homeassistant');
  assert.equal(x.ha_device, 'bambu_lab_x1c');
  await waitFor(async () => await slotMaterial(x.id) === 'PETG', 10000, 'its slot from Home Assistant');
  // the file makes it again at every SIGHUP: it is not merged away
  const m = await daemon.req('POST', `/api/v1/printers/${x.id}/merge`, { into: 1 });
  assert.equal(m.status, 409, m.text);
  assert.match(m.json.error.message, /declared in the configuration file \(\[printer Shelf X1C\]\)/);

  sub = await reload(base + section('bambu_lab_x1c_2'));
  assert.ok(sub.entity_ids.includes(S('print_status', 'bambu_lab_x1c_2')), JSON.stringify(sub));
  assert.ok(!sub.entity_ids.includes(S('print_status', 'bambu_lab_x1c')), JSON.stringify(sub));
  assert.equal((await daemon.printer(X1C)).id, x.id, 'the same printer, its device changed');
  assert.equal((await daemon.printer(X1C)).ha_device, 'bambu_lab_x1c_2');
  await waitFor(async () => await slotMaterial(x.id) === 'ABS', 10000, 'its slot from the new device');

  sub = await reload(base);
  assert.ok(!sub.entity_ids.some((e) => e.includes('bambu_lab_x1c')), JSON.stringify(sub));
  assert.equal((await daemon.get(`/api/v1/printers/${X1C}`)).status, 404);
  await waitFor(async () => (await printer()).connection.state === 'connected', 10000, 'the other printer followed');
  assert.deepEqual(hass.errors, []);
});

test('merged into an MQTT printer: the webhook secret comes along, a followed printer stops being followed', async () => {
  const hook = (secret, body) => daemon.req('POST', '/webhook/homeassistant/print_event', body,
    { 'X-Printdeck-Secret': secret, Authorization: '' });
  // the followed printer holds the serial: changed, so the printer's own link can have it
  let r = await daemon.req('PATCH', `/api/v1/printers/${pid}`, { serial: 'HA0P1S0000001' });
  assert.equal(r.status, 200, r.text);
  const mqtt = await daemon.req('POST', '/api/v1/printers', { name: 'P1S', serial: SERIAL, host: '127.0.0.1',
    port: await freePort(), access_code: '12345678' });
  assert.equal(mqtt.status, 201, mqtt.text);
  const into = mqtt.json.id;
  assert.equal(mqtt.json.webhook_secret_set, false);

  // a webhook printer with a secret of its own, merged into it: its automations go on with that secret
  const OWN = 'garage-own-secret-0123456789';
  r = await hook(GLOBAL_SECRET, { printer_id: 'Garage_P1S', status: 'idle' });
  assert.equal(r.status, 201, r.text);
  const hookId = r.json.printer;
  r = await daemon.req('PATCH', `/api/v1/printers/${hookId}`, { webhook_secret: OWN });
  assert.equal(r.status, 200, r.text);
  r = await daemon.req('POST', `/api/v1/printers/${hookId}/merge`, { into });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.webhook_secret_set, true);
  assert.equal(r.json.ha_printer_id, 'Garage_P1S');
  r = await hook(OWN, { printer_id: 'Garage_P1S', status: 'printing', gcode_file_name: 'z.3mf' });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.ignored, r.text);
  assert.equal((await hook(GLOBAL_SECRET, { printer_id: 'Garage_P1S', status: 'idle' })).status, 401);

  // the printer followed through the WebSocket API: its jobs move, it is no longer followed
  const jobs = (await jobsOf()).map((j) => j.id).sort();
  assert.ok(jobs.length >= 2, JSON.stringify(jobs));
  const connects = hass.connects;
  r = await daemon.req('POST', `/api/v1/printers/${pid}/merge`, { into: SERIAL });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.id, into);
  assert.equal(r.json.source, 'mqtt');
  assert.equal(r.json.ha_printer_id, 'Garage_P1S', 'the printer_id of the first merge is kept');
  assert.equal(r.json.webhook_secret_set, true);
  assert.equal(r.json.ha_device ?? null, null);
  assert.equal((await daemon.get(`/api/v1/printers/${pid}`)).status, 404);
  const moved = (await daemon.get(`/api/v1/jobs?printer_id=${into}`)).json.map((j) => j.id);
  assert.deepEqual(jobs.filter((id) => moved.includes(id)), jobs);
  // nothing left to follow: the connection is closed and not made again
  await waitFor(() => hass.sockets.size === 0, 5000, 'the connection to Home Assistant closed');
  hass.set(S('task_name'), 'after');
  hass.set(S('print_status'), 'running');
  await sleep(2500);
  assert.equal(hass.connects, connects);
  assert.ok(!(await daemon.get(`/api/v1/jobs?printer_id=${into}`)).json.some((j) => j.name === 'after'));
  assert.deepEqual(hass.errors, []);
});
