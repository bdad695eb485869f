// Printer link end to end: broker over TLS + simulator + daemon, checked over HTTP and SSE.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync, chmodSync } from 'node:fs';
import { Broker, Sim, Daemon, SSE, waitFor, sleep, tmpDir, assertCleanExit, run, metric, join, BIN, TOKEN, SIM_USER, SIM_PASSWORD } from './harness.mjs';

const X1C = '00M09A350100123', P1S = '01P00A451200456', A1 = '03919C461900789', LOST = '01P00A451200999';
const PUSHALL_RETRY_S = 3;
const CONFIG = `[mqtt]
silence_s = 5
pushall_retry_s = ${PUSHALL_RETRY_S}
command_timeout_ms = 1500
reconnect_min_ms = 200
reconnect_max_ms = 3000
[server]
heartbeat_s = 1
`;
let broker, sim, daemon, ids = {};

before(async () => {
  broker = new Broker(tmpDir('pd-broker-'), [X1C, P1S, A1, LOST]);
  await broker.start();
  sim = new Sim(broker, ['X1C', 'P1S', 'A1']);
  await sim.start();
  daemon = new Daemon({ config: CONFIG });
  await daemon.start();
  for (const s of [X1C, P1S, A1]) ids[s] = (await daemon.addPrinter(broker, s)).id;
});

after(async () => {
  const r = daemon && await daemon.stop();
  await sim?.stop();
  await broker?.stop();
  if (r) assertCleanExit(assert, r);
});

// get_version may answer after the first report, so "ready" includes the firmware
const online = (s) => waitFor(async () => { const p = await daemon.printer(ids[s]); return p?.online && p.state && p.firmware ? p : null; },
  10000, `${s} online with state and firmware`);

test('every simulated printer comes online with typed state and a detected model', async () => {
  const x = await online(X1C), p = await online(P1S), a = await online(A1);
  assert.equal(x.model, 'X1C');
  assert.equal(p.model, 'P1S');
  assert.equal(a.model, 'A1');
  for (const pr of [x, p, a]) {
    assert.equal(pr.connection.state, 'connected');
    assert.equal(typeof pr.nozzle_temp, 'number');
    assert.equal(typeof pr.bed_temp, 'number');
    assert.ok(pr.fans && 'part' in pr.fans);
    assert.ok(Array.isArray(pr.hms));
    assert.ok(!('access_code' in pr), 'access code must never be served');
  }
  assert.ok(x.ams.length >= 1 && x.ams[0].trays.length === 4, 'X1C has an AMS with 4 trays');
  const tray = x.ams[0].trays.find((t) => t.present);
  assert.match(tray.color, /^#[0-9A-F]{8}$/);
  assert.equal(typeof tray.remain, 'number');
  assert.ok(x.firmware, 'firmware from get_version');
  const list = await daemon.get('/api/v1/printers');
  assert.equal(list.status, 200);
  assert.equal(list.json.length, 3);
  const raw = await daemon.get(`/api/v1/printers/${X1C}/raw`);
  assert.equal(raw.status, 200);
  assert.equal(typeof raw.json.print.gcode_state, 'string');
  assert.ok(raw.json.info.module, 'get_version kept in the raw report');
});

test('a partial report is merged and pushed over SSE', async () => {
  await online(P1S);
  const sse = await new SSE(daemon, `/api/v1/events?printer=${P1S}`).open();
  assert.equal(sse.status, 200);
  assert.match(sse.contentType, /text\/event-stream/);
  await sse.waitFor((e) => e.event === 'printer', 5000, 'snapshot');
  await sim.control(P1S, { action: 'set', print: { nozzle_target_temper: 211, nozzle_temper: 123.5 } });
  const ev = await sse.waitFor((e) => e.event === 'printer' && e.json?.nozzle_temp === 123.5, 5000, 'merged partial');
  assert.equal(ev.json.nozzle_target, 211);
  assert.equal(ev.json.serial, P1S);
  const p = await daemon.printer(P1S);
  assert.equal(p.nozzle_temp, 123.5);
  assert.ok(p.ams.length >= 1, 'AMS kept across a partial report');
  await sse.waitFor((e) => e.comment.includes('heartbeat'), 4000, 'heartbeat');
  sse.close();
});

test('HMS codes are raised and cleared with English text and a wiki link', async () => {
  await online(X1C);
  const sse = await new SSE(daemon).open();
  await sim.control(X1C, { action: 'hms_raise', attr: 0x0C000300, code: 0x00030007 });
  const p = await waitFor(async () => { const q = await daemon.printer(X1C); return q.hms.length ? q : null; }, 5000, 'hms');
  assert.equal(p.hms[0].code, 'HMS_0C00_0300_0003_0007');
  assert.match(p.hms[0].text, /first layer/i);
  assert.match(p.hms[0].url, /^https:\/\/wiki\.bambulab\.com\/.*0C00_0300_0003_0007/);
  await sse.waitFor((e) => e.event === 'hms_raised' && e.json.serial === X1C, 5000, 'hms_raised event');
  await sim.control(X1C, { action: 'hms_clear' });
  await waitFor(async () => (await daemon.printer(X1C)).hms.length === 0, 5000, 'hms cleared');
  await sse.waitFor((e) => e.event === 'hms_cleared', 5000, 'hms_cleared event');
  sse.close();
});

test('job lifecycle: phases, layers and progress arrive as events', async () => {
  await online(A1);
  const sse = await new SSE(daemon, `/api/v1/events?printer=${A1}`).open();
  await sim.control(A1, { action: 'start_job', name: 'benchy', layers: 20, minutes: 1 });
  await sse.waitFor((e) => e.event === 'job' && e.json.to === 'RUNNING', 10000, 'RUNNING');
  await sse.waitFor((e) => e.event === 'layer' && e.json.layer > 0, 10000, 'layer event');
  const p = await daemon.printer(A1);
  assert.equal(p.subtask, 'benchy');
  assert.equal(p.total_layers, 20);
  await sim.control(A1, { action: 'finish' });
  await sse.waitFor((e) => e.event === 'job' && e.json.to === 'FINISH', 10000, 'FINISH');
  sse.close();
});

test('commands are acknowledged, refused, timed out and signed-firmware is reported', async () => {
  await online(P1S);
  await sim.control(P1S, { action: 'start_job', name: 'cmdtest', layers: 100, minutes: 30 });
  await waitFor(async () => (await daemon.printer(P1S)).state === 'RUNNING', 10000, 'running');
  let r = await daemon.req('POST', `/api/v1/printers/${P1S}/commands`, { command: 'pause' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.ok, true);
  await waitFor(async () => (await daemon.printer(P1S)).state === 'PAUSE', 5000, 'paused');
  r = await daemon.req('POST', `/api/v1/printers/${P1S}/commands`, { command: 'resume' });
  assert.equal(r.status, 200, r.text);
  r = await daemon.req('POST', `/api/v1/printers/${P1S}/commands`, { command: 'light', on: false });
  assert.equal(r.status, 200, r.text);
  await waitFor(async () => (await daemon.printer(P1S)).light === 'off', 5000, 'light off');
  r = await daemon.req('POST', `/api/v1/printers/${P1S}/commands`, { command: 'speed', level: 3 });
  assert.equal(r.status, 200, r.text);
  await waitFor(async () => (await daemon.printer(P1S)).speed_level === 3, 5000, 'sport speed');
  r = await daemon.req('POST', `/api/v1/printers/${P1S}/commands`, { command: 'gcode', gcode: 'M105' });
  assert.equal(r.status, 200, r.text);
  r = await daemon.req('POST', `/api/v1/printers/${P1S}/commands`, { command: 'speed', level: 9 });
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /level/);
  r = await daemon.req('POST', `/api/v1/printers/${P1S}/commands`, { command: 'explode' });
  assert.equal(r.status, 400);

  await sim.control(P1S, { action: 'ack_mode', mode: 'fail' });
  r = await daemon.req('POST', `/api/v1/printers/${P1S}/commands`, { command: 'pause' });
  assert.equal(r.status, 502, r.text);
  assert.equal(r.json.error.code, 'printer_refused');
  await sim.control(P1S, { action: 'ack_mode', mode: 'signed' });
  r = await daemon.req('POST', `/api/v1/printers/${P1S}/commands`, { command: 'pause' });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.json.error.code, 'signature_required');
  assert.match(r.json.error.message, /Developer Mode/);
  await sim.control(P1S, { action: 'ack_mode', mode: 'drop' });
  r = await daemon.req('POST', `/api/v1/printers/${P1S}/commands`, { command: 'pause' });
  assert.equal(r.status, 504, r.text);
  assert.equal(r.json.error.code, 'printer_timeout');
  await sim.control(P1S, { action: 'ack_mode', mode: 'normal' });
  r = await daemon.req('POST', `/api/v1/printers/${P1S}/commands`, { command: 'stop' });
  assert.equal(r.status, 200, r.text);
  r = await daemon.req('POST', `/api/v1/printers/${P1S}/commands`, { command: 'pushall' });
  assert.equal(r.status, 200, r.text);
  // 10 of the 12 went out (2 were refused before sending); the printer refused 2 and let 1
  // time out; none still waits
  const m = (await daemon.get('/metrics')).text;
  assert.equal(metric(m, 'printdeck_printer_commands_total', { serial: P1S }), 10);
  assert.equal(metric(m, 'printdeck_printer_command_failures_total', { serial: P1S }), 3);
  assert.equal(metric(m, 'printdeck_printer_commands_pending', { serial: P1S }), 0);
});

test('a wrong access code becomes a reported state, not a retry storm', async () => {
  const p = await daemon.addPrinter(broker, LOST, { access_code: 'wrong999' });
  const got = await waitFor(async () => { const q = await daemon.printer(p.id); return q.connection.state === 'auth_failed' ? q : null; },
    10000, 'auth_failed');
  assert.match(got.connection.error, /access code/);
  assert.equal(got.online, false);
  const before = await daemon.get('/metrics');
  await sleep(2500);
  const after = await daemon.get('/metrics');
  const count = (t) => metric(t, 'printdeck_printer_reconnects_total', { serial: LOST });
  assert.ok(count(after.text) - count(before.text) <= 1, 'no fast retries after CONNACK 5');
  const c = await daemon.req('POST', `/api/v1/printers/${p.id}/commands`, { command: 'pause' });
  assert.equal(c.status, 409);
  assert.equal(c.json.error.code, 'printer_offline');
  assert.equal((await daemon.req('DELETE', `/api/v1/printers/${p.id}`)).status, 204);
});

test('a printer that sends only deltas is asked for a full report again after pushall_retry_s, never sooner', async () => {
  // the simulator's LOST goes quiet, so the daemon's pushalls go unanswered; deltas come in
  // from the test itself
  await sim.control(LOST, { action: 'silence', seconds: 30 });
  const mqtt = ['-h', '127.0.0.1', '-p', String(broker.simPort), '-u', SIM_USER, '-P', SIM_PASSWORD];
  const sub = spawn('mosquitto_sub', [...mqtt, '-t', `device/${LOST}/request`], { stdio: ['ignore', 'pipe', 'ignore'] });
  const pushalls = []; // when each request for a full report was seen
  let requests = '';
  sub.stdout.on('data', (d) => {
    requests += d;
    const n = (requests.match(/"pushall"/g) || []).length;
    while (pushalls.length < n) pushalls.push(Date.now());
  });
  let seq = 0;
  const burst = async () => {
    const messages = async () => metric((await daemon.get('/metrics')).text, 'printdeck_printer_messages_total', { serial: LOST });
    const before = await messages();
    const pub = spawn('mosquitto_pub', [...mqtt, '-t', `device/${LOST}/report`, '-l'], { stdio: ['pipe', 'ignore', 'ignore'] });
    for (let i = 0; i < 20; i++, seq++)
      pub.stdin.write(`{"print":{"bed_temper":${30 + i},"command":"push_status","msg":1,"sequence_id":"${seq}"}}\n`);
    pub.stdin.end();
    await new Promise((res) => pub.once('exit', res));
    await waitFor(async () => await messages() >= before + 20, 5000, '20 deltas received');
    await sleep(300);
  };
  let p;
  try {
    await sleep(500); // subscribed
    p = await daemon.addPrinter(broker, LOST);
    await waitFor(() => pushalls.length >= 1, 10000, 'the pushall sent on connect');
    await burst();  // within the bound: not asked again (was: once every six deltas)
    await sleep(Math.max(0, pushalls.at(-1) + PUSHALL_RETRY_S * 1000 + 300 - Date.now()));
    const asked = pushalls.length;
    await burst();  // past the bound: asked again
    // by the deltas, not by silence (which would take silence_s and mark the link stale)
    await waitFor(() => pushalls.length > asked, 1000, 'a pushall once the bound has passed');
    assert.equal((await daemon.printer(p.id)).connection.state, 'connected');
    await burst();  // the bound starts again
    for (let i = 1; i < pushalls.length; i++)
      assert.ok(pushalls[i] - pushalls[i - 1] >= PUSHALL_RETRY_S * 1000 - 300,
        `pushalls ${pushalls[i] - pushalls[i - 1]} ms apart; requests:\n${requests}`);
  } finally {
    sub.kill();
  }
  assert.equal((await daemon.req('DELETE', `/api/v1/printers/${p.id}`)).status, 204);
});

test('silence is detected, and the link recovers after a broker restart', async () => {
  await online(A1);
  await sim.control(A1, { action: 'silence', seconds: 7 });
  await waitFor(async () => (await daemon.printer(A1)).connection.state === 'stale', 12000, 'stale after silence');
  await online(A1);

  await broker.stop();
  await waitFor(async () => (await daemon.printer(X1C)).online === false, 10000, 'offline when the broker dies');
  const off = await daemon.printer(X1C);
  assert.ok(['backoff', 'connecting'].includes(off.connection.state), off.connection.state);
  assert.ok(off.connection.error);
  await broker.start();
  await sim.stop();
  await sim.start();
  for (const s of [X1C, P1S, A1]) await waitFor(async () => (await daemon.printer(s)).online, 15000, `${s} back online`);
});

test('TLS: the printer certificate is verified against the serial', async () => {
  // Default trust is the Bambu CA: the test CA's certificate must be refused, with a clear error.
  const lost = await daemon.addPrinter(broker, LOST, { ca_file: undefined, name: 'bambu-ca' });
  let seen;  // the last connection seen, for the failure's message
  const q = await waitFor(async () => {
    const x = await daemon.printer(lost.id);
    seen = x.connection;
    return x.connection.state === 'tls_failed' ? x : null;
  }, 10000, 'tls_failed').catch((e) => { throw new Error(`${e.message}; connection ${JSON.stringify(seen)}`); });
  assert.match(q.connection.error, /certificate/);
  // Turning verification off connects (and is reported as a warning in the log).
  const r = await daemon.req('PATCH', `/api/v1/printers/${lost.id}`, { tls_verify: false, access_code: '12345678' });
  assert.equal(r.status, 200, r.text);
  await waitFor(async () => (await daemon.printer(lost.id)).connection.state === 'connected', 10000, 'connected without verify');
  assert.equal((await daemon.req('DELETE', `/api/v1/printers/${lost.id}`)).status, 204);
  // A certificate from the trusted CA but for another serial is refused: the TLS context is
  // shared per CA, the serial is checked per connection.
  const other = await daemon.req('POST', '/api/v1/printers', { name: 'imposter', serial: '01P00A451200777',
    host: '127.0.0.1', port: broker.portOf(X1C), access_code: '12345678', ca_file: broker.ca });
  assert.equal(other.status, 201, other.text);
  const bad = await waitFor(async () => { const x = await daemon.printer(other.json.id); return x.connection.state === 'tls_failed' ? x : null; },
    10000, 'tls_failed for a certificate naming another serial');
  assert.match(bad.connection.error, /hostname|mismatch|name/i);
  assert.equal((await daemon.req('DELETE', `/api/v1/printers/${other.json.id}`)).status, 204);
});

test('printers past the descriptor limit wait with a clear error; the API keeps its own', async () => {
  // 80 descriptors, 8 HTTP clients and the reserve of 64 leave room for 2 connections of 3
  const dir = tmpDir('pd-fds-'), wrap = join(dir, 'printdeck-80');
  writeFileSync(wrap, `#!/bin/sh\nulimit -n 80 && exec ${BIN} "$@"\n`);
  chmodSync(wrap, 0o755);
  const d = new Daemon({ bin: wrap, config: '[server]\nmax_clients = 8\n[mqtt]\nreconnect_min_ms = 200\nreconnect_max_ms = 1000\n' });
  await d.start();
  try {
    const id = {};
    for (const s of [X1C, P1S, A1]) id[s] = (await d.addPrinter(broker, s)).id;
    const states = async () => Promise.all([X1C, P1S, A1].map(async (s) => (await d.printer(id[s])).connection));
    const c = await waitFor(async () => {
      const all = await states();
      return all.filter((x) => x.state === 'connected').length === 2 && all.find((x) => x.state === 'backoff') ? all : null;
    }, 15000, 'two printers connected and one waiting');
    assert.match(c.find((x) => x.state === 'backoff').error, /no descriptor left .*open-files limit/);
    assert.equal((await d.get('/healthz')).status, 200);
    // a connection given up frees its descriptors for the one that waits
    const first = [X1C, P1S, A1].find((s, i) => c[i].state === 'connected');
    assert.equal((await d.req('DELETE', `/api/v1/printers/${id[first]}`)).status, 204);
    await waitFor(async () => (await states()).filter((x, i) => [X1C, P1S, A1][i] !== first && x.state === 'connected').length === 2,
      15000, 'the waiting printer connected');
  } finally {
    assertCleanExit(assert, await d.stop());
  }
});

test('bad input gets clear errors and loses nothing', async () => {
  let r = await daemon.req('POST', '/api/v1/printers', '{"name": "x", "serial": ');
  assert.equal(r.status, 400);
  assert.ok(r.json.error.code && r.json.error.message);
  r = await daemon.req('POST', '/api/v1/printers', { name: 'dup', serial: X1C, host: '127.0.0.1', access_code: 'x' });
  assert.equal(r.status, 409);
  r = await daemon.req('POST', '/api/v1/printers', { name: 'h', serial: 'ABC12345', host: 'bad host!', access_code: 'x' });
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /host/);
  r = await daemon.req('POST', '/api/v1/printers', { name: 'h', serial: 'ABC12345', host: '127.0.0.1', access_code: 'x', port: 'x' });
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /port/);
  r = await daemon.req('POST', '/api/v1/printers', { name: 'h', serial: 'ABC12345', host: '127.0.0.1', access_code: 'x', color: 1 });
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /color/);
  // the printer record's rules: a serial names MQTT topics and must not read as an id
  for (const [field, value] of [['serial', '01P00A45120000#'], ['serial', '01P00A/+1200002'], ['serial', '012345678901234'],
    ['host', '256.256.256.256'], ['model', 'banana']]) {
    r = await daemon.req('POST', '/api/v1/printers', { name: 'h', serial: 'ABC12345', host: '127.0.0.1', access_code: 'x', [field]: value });
    assert.equal(r.status, 400, `${field} ${value}`);
    assert.match(r.json.error.message, new RegExp(`^${field}: must be `));
  }
  r = await daemon.req('POST', '/api/v1/printers', { name: 'dup', serial: X1C.toLowerCase(), host: '127.0.0.1', access_code: 'x' });
  assert.equal(r.status, 409, 'serials that differ only in case are one printer');
  r = await daemon.req('POST', '/api/v1/printers', 'x'.repeat(2 * 1024 * 1024));
  assert.equal(r.status, 413);
  r = await daemon.get('/api/v1/printers/nope');
  assert.equal(r.status, 404);
  r = await daemon.get('/api/v1/printers', { Authorization: '' });
  assert.equal(r.status, 401);
  r = await daemon.get('/api/v1/printers', { Authorization: 'Bearer wrong' });
  assert.equal(r.status, 401);
  r = await daemon.get('/api/v1/printers', { Authorization: '', 'X-Api-Key': TOKEN });
  assert.equal(r.status, 200);
  // A garbage report from a "printer" is dropped and counted; the printer stays up.
  await sim.control(X1C, { action: 'raw', payload: '{"print": {"nozzle_temper": [1,2,{' });
  await sleep(500);
  const p = await daemon.printer(X1C);
  assert.equal(p.online, true);
  const m = await daemon.get('/metrics');
  assert.ok(metric(m.text, 'printdeck_printer_dropped_total', { serial: X1C }) >= 1);
  assert.equal((await daemon.get('/api/v1/printers')).json.length, 3);
});

test('tokens created on the command line are accepted; printers persist across a restart', async () => {
  const { stdout } = await run(BIN, ['--data-dir', `${daemon.dir}/data`, 'token', 'create', 'ci']);
  const tok = stdout.trim();
  assert.match(tok, /^pdk_/);
  let r = await daemon.get('/api/v1/printers', { Authorization: `Bearer ${tok}` });
  assert.equal(r.status, 200);
  const stopped = await daemon.stop();
  assertCleanExit(assert, stopped);
  await daemon.start();
  r = await daemon.get('/api/v1/printers', { Authorization: `Bearer ${tok}` });
  assert.equal(r.json.length, 3);
  for (const s of [X1C, P1S, A1]) await waitFor(async () => (await daemon.printer(s)).online, 15000, `${s} online after restart`);
  const hup = daemon.proc.kill('SIGHUP');
  assert.ok(hup);
  await sleep(300);
  assert.equal((await daemon.get('/healthz')).status, 200);
});
