// Printers declared in the configuration file: they connect at start; SIGHUP adds, changes and
// removes them; a section that breaks a rule of the printer record stops the start and, on
// SIGHUP, leaves the running configuration, with an error naming file:line, section and key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { Broker, Sim, Daemon, waitFor, tmpDir, assertCleanExit, run, readFileSync, join, BIN, ACCESS_CODE, PG_BASE } from './harness.mjs';

const P1S = '01P00A451200201', X1C = '00M09A350100202', A1 = '03919C461900203';
const MQTT = '[mqtt]\nreconnect_min_ms = 200\nreconnect_max_ms = 2000\n';
let broker, sim, daemon;

const section = (name, serial, { port = broker.portOf(serial.toUpperCase()), extra = '' } = {}) =>
  `[printer ${name}]\nserial = ${serial}\nhost = 127.0.0.1\nport = ${port}\naccess_code = ${ACCESS_CODE}\n` +
  `ca_file = ${broker.ca}\n${extra}`;
// the three ways a section broke through before the printer record had one table
const BAD = [
  { text: `[printer Bad]\nserial = 01P00A45120#\n`, key: 'serial', rule: /must be 8-31 letters and digits/ },
  { text: `[printer Bad]\nmodel = banana\n`, key: 'model', rule: /must be a known model/ },
  { text: `[printer Bad]\nhost = 256.256.256.256\n`, key: 'host', rule: /must be an IPv4 address/ },
];

const online = (serial, what = `${serial} online`) =>
  waitFor(async () => { const p = await daemon.printer(serial); return p?.online ? p : null; }, 15000, what);
const serials = async () => (await daemon.get('/api/v1/printers')).json.map((p) => p.serial).sort();
const brokerLog = () => readFileSync(join(broker.dir, 'mosquitto.log'), 'utf8');
const iniPath = () => join(daemon.dir, 'printdeck.ini');

async function reload(text) {
  const mark = daemon.log.text.length;
  writeFileSync(iniPath(), text);
  daemon.proc.kill('SIGHUP');
  await waitFor(() => daemon.log.text.slice(mark).includes('SIGHUP: reloading'), 5000, 'SIGHUP seen');
  return mark;
}

before(async () => {
  broker = new Broker(tmpDir('pd-broker-'), [P1S, X1C, A1]);
  await broker.start();
  sim = new Sim(broker, ['P1S', 'X1C', 'A1']);
  await sim.start();
  // the P1S serial in lower case: the record keeps it upper-cased, one printer either way
  daemon = new Daemon({ config: MQTT + section('Shelf', P1S.toLowerCase()) + section('Bench', X1C) });
  await daemon.start();
});

after(async () => {
  const r = daemon && await daemon.stop();
  await sim?.stop();
  await broker?.stop();
  if (r) assertCleanExit(assert, r);
});

test('printers of the configuration file connect at start', async () => {
  const p = await online(P1S), x = await online(X1C);
  assert.equal(p.name, 'Shelf');
  assert.equal(p.serial, P1S);
  assert.equal(x.name, 'Bench');
  assert.deepEqual(await serials(), [X1C, P1S].sort());
  assert.equal((await daemon.printer(P1S.toLowerCase()))?.id, p.id, 'a serial is found in any case');
});

test('SIGHUP adds a new section, applies a changed one and removes a deleted one', async () => {
  const shelf = await online(P1S);
  await online(X1C);
  const brokerMark = brokerLog().length;
  await reload(MQTT + section('Shelf P1S', P1S) + section('Corner A1', A1));
  const a = await online(A1, 'the added A1 online');
  assert.equal(a.name, 'Corner A1');
  await waitFor(async () => (await daemon.printer(P1S))?.name === 'Shelf P1S', 5000, 'P1S renamed');
  assert.equal((await daemon.printer(P1S)).id, shelf.id, 'a changed section keeps its record');
  await waitFor(async () => (await daemon.get(`/api/v1/printers/${X1C}`)).status === 404, 5000, 'X1C removed');
  assert.deepEqual(await serials(), [A1, P1S].sort());
  // its link is closed at the broker, not merely forgotten
  await waitFor(() => new RegExp(`Client printdeck_${X1C}_\\S+ (disconnected|closed its connection)`)
    .test(brokerLog().slice(brokerMark)), 10000, 'the removed printer disconnected from the broker');
  assert.match(daemon.log.text, new RegExp(`\\[printer Bench\\] \\(${X1C}\\) left .*printdeck\\.ini: removed`));
});

test('SIGHUP: a changed port reconnects to the new address', async () => {
  await online(P1S);
  // the A1's listener presents the A1's certificate: proof the P1S really moved there
  await reload(MQTT + section('Shelf P1S', P1S, { port: broker.portOf(A1) }) + section('Corner A1', A1));
  const moved = await waitFor(async () => { const p = await daemon.printer(P1S); return p.connection.state === 'tls_failed' ? p : null; },
    10000, 'P1S connected to the new port');
  assert.match(moved.connection.error, /hostname|mismatch|name/i);
  await reload(MQTT + section('Shelf P1S', P1S) + section('Corner A1', A1));
  await online(P1S, 'P1S back on its own port');
});

test('SIGHUP with an invalid section keeps the running configuration and names file, line, section and key', async () => {
  const good = MQTT + section('Shelf P1S', P1S) + section('Corner A1', A1);
  const before = await serials();
  for (const bad of BAD) {
    // the bad section also declares the X1C, which must not come back
    const text = good + section('Bad', X1C) + bad.text.replace('[printer Bad]\n', '');
    const line = text.split('\n').findLastIndex((l) => l.startsWith(`${bad.key} =`)) + 1;
    const mark = await reload(text);
    const err = await waitFor(() => daemon.log.text.slice(mark).match(/.*the running configuration stays.*/)?.[0],
      5000, `reload refused for ${bad.key}`);
    assert.match(err, new RegExp(`printdeck\\.ini:${line}: \\[printer Bad\\] ${bad.key}: `));
    assert.match(err, bad.rule);
    assert.deepEqual(await serials(), before);
  }
  assert.equal((await daemon.get(`/api/v1/printers/${X1C}`)).status, 404);
  await online(P1S, 'P1S still online');
  await online(A1, 'A1 still online');
  // the good file applies again after the bad ones
  await reload(good.replace('Shelf P1S', 'Shelf'));
  await waitFor(async () => (await daemon.printer(P1S))?.name === 'Shelf', 5000, 'a good reload after bad ones');
});

test('an invalid section stops the start, naming file, line, section and key', async () => {
  const dir = tmpDir('pd-badcfg-');
  for (const bad of BAD) {
    const text = MQTT + section('Good', P1S) + section('Bad', X1C) + bad.text.replace('[printer Bad]\n', '');
    const line = text.split('\n').findLastIndex((l) => l.startsWith(`${bad.key} =`)) + 1;
    const cfg = join(dir, 'bad.ini');
    writeFileSync(cfg, text);
    const err = await run(BIN, ['--config', cfg, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:1'])
      .then(() => null, (e) => e);
    assert.ok(err, `start with a bad ${bad.key} must fail`);
    assert.equal(err.code, 2);
    assert.match(err.stderr, new RegExp(`bad\\.ini:${line}: \\[printer Bad\\] ${bad.key}: `));
    assert.match(err.stderr, bad.rule);
  }
});

// The SQL is the same on both backends; the rows are written with the sqlite3 shell.
test('stored rows go through the same rules at start', { skip: PG_BASE ? 'written with the sqlite3 shell' : false }, async () => {
  const stopped = await daemon.stop();
  assertCleanExit(assert, stopped);
  const row = (name, serial) => `INSERT INTO printer (name, serial, host, port, access_code, model, ca_file, tls_verify, created_at)
    VALUES ('${name}', '${serial}', '127.0.0.1', ${broker.portOf(X1C)}, '${ACCESS_CODE}', '', '${broker.ca}', 1, 1);`;
  // a wildcard serial from before the rules; the A1 again in lower case (the store's unique
  // index is case-sensitive); the X1C only in lower case, as an older version stored it
  await run('sqlite3', [join(daemon.dir, 'data', 'printdeck.db'),
    row('Evil', '01P00A4512#0209') + row('Twin', A1.toLowerCase()) + row('Old X1C', X1C.toLowerCase())]);
  daemon.config = MQTT + section('Shelf', P1S) + section('Corner A1', A1);
  await daemon.start();
  const x = await online(X1C, 'the lower-case row started as the upper-case serial');
  assert.equal(x.name, 'Old X1C');
  assert.deepEqual(await serials(), [A1, P1S, X1C].sort());
  assert.match(daemon.log.text, /database printer row id \d+ \(Evil\): serial: must be 8-31 letters and digits.*; not started/);
  assert.match(daemon.log.text, new RegExp(`database printer row id \\d+ \\(Twin\\): serial ${A1}: another row has it`));
  const stored = (await run('sqlite3', [join(daemon.dir, 'data', 'printdeck.db'), 'SELECT serial FROM printer ORDER BY id'])).stdout;
  assert.match(stored, new RegExp(`^${X1C}$`, 'm'), 'the normalised serial is written back');
  // nothing subscribed to a wildcard: the broker never saw a client for it
  assert.doesNotMatch(brokerLog(), /printdeck_01P00A4512#0209/i);
});
