// POST /api/v1/files/analyze over real HTTP: 3MFs built here the way Bambu Studio lays them out,
// raw and as a browser's multipart form, the spools to load from the inventory and a simulated
// printer's trays, hostile files with their reasons, and a 50 MB file analysed while the loop
// keeps answering.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateRawSync } from 'node:zlib';
import { Broker, Sim, Daemon, TOKEN, tmpDir, waitFor, assertCleanExit } from './harness.mjs';

const X1C = '00M09A350100321';
let broker, sim, daemon, printerId;

/** A zip of [name, Buffer|string] entries; `stored` skips deflate. */
function zip(entries, { stored = false } = {}) {
  const locals = [], centrals = [];
  let off = 0;
  for (const [name, data0] of entries) {
    const data = Buffer.isBuffer(data0) ? data0 : Buffer.from(data0);
    const body = stored ? data : deflateRawSync(data, { level: 1 });
    const nm = Buffer.from(name);
    const crc = crc32(data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt16LE(stored ? 0 : 8, 8);
    lh.writeUInt32LE(crc, 14); lh.writeUInt32LE(body.length, 18); lh.writeUInt32LE(data.length, 22);
    lh.writeUInt16LE(nm.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE(20, 4); ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(stored ? 0 : 8, 10); ch.writeUInt32LE(crc, 16); ch.writeUInt32LE(body.length, 20);
    ch.writeUInt32LE(data.length, 24); ch.writeUInt16LE(nm.length, 28); ch.writeUInt32LE(off, 42);
    locals.push(lh, nm, body);
    centrals.push(ch, nm);
    off += 30 + nm.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(entries.length, 8); end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(off, 16);
  return Buffer.concat([...locals, cd, end]);
}

const SLICE = `<?xml version="1.0" encoding="UTF-8"?>
<config><plate>
  <metadata key="index" value="1"/><metadata key="prediction" value="1200"/><metadata key="weight" value="30.00"/>
  <filament id="1" type="PLA" color="#FF0000" used_m="6.5" used_g="20.00"/>
  <filament id="2" type="PETG" color="#00FF00" used_m="3.2" used_g="10.00"/>
</plate></config>`;
const GCODE = ['; HEADER_BLOCK_START', '; BambuStudio 02.08.02.61', '; total layer number: 4', '; HEADER_BLOCK_END',
  'M83', 'M620 S0A', 'T0', 'G1 X1 E10',
  ...[1, 2, 3, 4].flatMap((l) => ['; CHANGE_LAYER', `M73 L${l}`, 'M620 S0A', 'T0', 'G1 X2 E500',
    'M620 S1A', 'T1', 'G1 X3 E250'])].join('\n') + '\n';
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
const threeMF = () => zip([['Metadata/slice_info.config', SLICE], ['Metadata/plate_1.gcode', GCODE],
  ['Metadata/plate_1.png', PNG]]);

async function upload(body, { query = '', headers = {}, daemon: d = daemon } = {}) {
  const r = await fetch(d.url(`/api/v1/files/analyze${query}`), { method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, ...headers }, body, signal: AbortSignal.timeout(120000) });
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, json, text, headers: r.headers };
}

before(async () => {
  broker = new Broker(tmpDir('pd-files-broker-'), [X1C]);
  await broker.start();
  sim = new Sim(broker, ['X1C']);
  await sim.start();
  daemon = new Daemon({ config: '[files]\nworkers = 1\nqueue = 2\n' });
  await daemon.start();
  printerId = (await daemon.addPrinter(broker, X1C)).id;
});

after(async () => {
  const r = daemon && await daemon.stop();
  await sim?.stop();
  await broker?.stop();
  if (r) assertCleanExit(assert, r);
});

test('a 3MF uploaded raw: plates, filaments, curve, thumbnail', async () => {
  const r = await upload(threeMF());
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.kind, '3mf');
  assert.equal(r.json.slicer, 'BambuStudio 02.08.02.61');
  const [p] = r.json.plates;
  assert.equal(p.index, 1);
  assert.equal(p.prediction_s, 1200);
  assert.equal(p.layers, 4);
  assert.deepEqual(p.filaments.map((f) => [f.id, f.type, f.color, f.grams, f.grams_source]),
    [[1, 'PLA', '#FF0000', 20, 'slicer'], [2, 'PETG', '#00FF00', 10, 'slicer']]);
  // the curve: cumulative grams per filament, the last point the slicer's figures
  assert.deepEqual(p.curve.layers.at(-1), 4);
  const last = p.curve.grams.at(-1);
  assert.ok(Math.abs(last[0] - 20) < 1e-6 && Math.abs(last[1] - 10) < 1e-6, JSON.stringify(last));
  const l2 = p.curve.grams[p.curve.layers.indexOf(2)];
  assert.ok(Math.abs(l2[0] - 20 * 1010 / 2010) < 1e-3, `layer 2: ${l2}`);
  assert.equal(p.thumbnail, `data:image/png;base64,${PNG.toString('base64')}`);
  const none = await upload(threeMF(), { query: '?thumbnails=false' });
  assert.equal(none.json.plates[0].thumbnail, null);
});

test('a browser form (multipart/form-data) and plain G-code', async () => {
  const form = new FormData();
  form.append('note', 'hello');
  form.append('file', new Blob([threeMF()]), 'cube.gcode.3mf');
  const r = await upload(form);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.name, 'cube.gcode.3mf');
  assert.equal(r.json.plates[0].filaments.length, 2);

  const g = await upload('; generated by PrusaSlicer 2.6.0 on x\nM83\n;LAYER_CHANGE\nG1 X1 E1000\n' +
    '; filament used [g] = 2.98\n; filament_type = PETG\n', { query: '?name=part.gcode' });
  assert.equal(g.status, 200, g.text);
  assert.equal(g.json.kind, 'gcode');
  assert.equal(g.json.name, 'part.gcode');
  assert.equal(g.json.plates[0].filaments[0].type, 'PETG');
  assert.equal(g.json.plates[0].filaments[0].grams, 2.98);
});

test('which spools to load: inventory matches and the printer as loaded now', async () => {
  const ok = async (path, body) => {
    const r = await daemon.req('POST', path, body);
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  const red = await ok('/api/v1/filament', { name: 'Red PLA', material: 'PLA', density: 1.24, diameter: 1.75,
    weight: 1000, color_hex: 'F01010' });
  const blue = await ok('/api/v1/filament', { name: 'Blue PLA', material: 'PLA', density: 1.24, diameter: 1.75,
    weight: 1000, color_hex: '0000FF' });
  const cf = await ok('/api/v1/filament', { name: 'Red PLA-CF', material: 'PLA-CF', density: 1.22,
    diameter: 1.75, weight: 1000, color_hex: 'FF0000' });
  const full = await ok('/api/v1/spool', { filament_id: red.id, remaining_weight: 800 });
  const low = await ok('/api/v1/spool', { filament_id: red.id, remaining_weight: 5 });
  await ok('/api/v1/spool', { filament_id: blue.id, remaining_weight: 900 });
  await ok('/api/v1/spool', { filament_id: cf.id, remaining_weight: 900 });
  const r = await upload(threeMF());
  assert.equal(r.status, 200, r.text);
  const spools = r.json.plates[0].filaments[0].spools;
  assert.deepEqual(spools.map((s) => [s.spool_id, s.enough]), [[full.id, true], [low.id, false]],
    'the red PLA spools only (not blue, not PLA-CF), the one with enough first');
  assert.ok(spools[0].color_distance < 20);
  assert.equal(r.json.plates[0].filaments[1].spools.length, 0, 'no PETG in the inventory');

  // the simulated X1C's trays: each filament maps to a tray or says it has none
  await waitFor(async () => (await daemon.printer(printerId))?.ams?.length > 0, 15000, 'AMS state');
  const withPrinter = await upload(threeMF(), { query: `?printer_id=${printerId}` });
  assert.equal(withPrinter.status, 200, withPrinter.text);
  const pr = withPrinter.json.plates[0].printer;
  assert.equal(pr.printer_id, printerId);
  assert.equal(pr.mapping.length, 2);
  for (const m of pr.mapping) {
    assert.ok(m.tray === null ? m.short_g === m.needed_g : typeof m.short_g === 'number', JSON.stringify(m));
  }
  assert.equal(typeof pr.runs_out, 'boolean');
  const unknown = await upload(threeMF(), { query: '?printer_id=999999' });
  assert.equal(unknown.status, 404);
});

test('hostile and broken files get a reason, never a crash', async () => {
  const good = threeMF();
  const cut = await upload(good.subarray(0, good.length - 30));
  assert.equal(cut.status, 400, cut.text);
  assert.match(cut.json.error.message, /not a readable 3MF/);

  const bomb = await upload(zip([['Metadata/slice_info.config', SLICE],
    ['Metadata/plate_1.gcode', Buffer.alloc(30 << 20)]]));
  assert.equal(bomb.status, 413, bomb.text);
  assert.match(bomb.json.error.message, /zip bomb/);

  const xml = await upload(zip([['Metadata/slice_info.config', '<config><plate>'], ['Metadata/plate_1.gcode', GCODE]]));
  assert.equal(xml.status, 400);
  assert.match(xml.json.error.message, /slice_info.config is not well-formed XML/);

  const trav = await upload(zip([['../../evil', 'x'], ['Metadata/plate_1.gcode', GCODE]]));
  assert.equal(trav.status, 200, trav.text);
  assert.ok(trav.json.warnings.some((w) => /leaves the archive/.test(w)), JSON.stringify(trav.json.warnings));

  const bin = await upload(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0, 1]));
  assert.equal(bin.status, 400);
  assert.match(bin.json.error.message, /not G-code/);

  const empty = await upload('');
  assert.equal(empty.status, 400);

  const badForm = await upload('--x\r\nno headers end', { headers: { 'Content-Type': 'multipart/form-data; boundary=x' } });
  assert.equal(badForm.status, 400);
  assert.match(badForm.json.error.message, /multipart/);
  // the daemon is still well
  assert.equal((await daemon.get('/healthz')).status, 200);
});

test('a 50 MB 3MF is analysed off the loop: the loop keeps its pace', async () => {
  // 50 MB of varied G-code, stored (a 3MF of that size): layers, tool changes, retractions
  const lines = [];
  let size = 0, layer = 0;
  while (size < 50 << 20) {
    const chunk = [`; CHANGE_LAYER`, `M73 L${++layer}`, `M620 S${layer % 2}A`, `T${layer % 2}`];
    for (let i = 0; i < 2000; i++) chunk.push(`G1 X${(i * 7) % 250}.${i % 10} Y${(i * 13) % 250}.5 E0.0${i % 90 + 10}`);
    chunk.push('G1 E-0.8', 'G1 E0.8');
    const s = chunk.join('\n') + '\n';
    lines.push(s);
    size += s.length;
  }
  const big = zip([['Metadata/slice_info.config', SLICE], ['Metadata/plate_1.gcode', lines.join('')]], { stored: true });
  assert.ok(big.length > 50 << 20);
  // a daemon of its own: the loop's maximum covers a minute, and the shared one has printers
  // connecting and the tests above in it
  const own = new Daemon();
  await own.start();
  const child = fork(join(dirname(fileURLToPath(import.meta.url)), 'healthwatch.mjs'),
    [own.url('/healthz'), String(own.proc.pid)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const result = new Promise((res) => child.once('message', res));
  await new Promise((res) => setTimeout(res, 300));
  const t0 = performance.now();
  const r = await upload(big, { daemon: own });
  const ms = performance.now() - t0;
  child.send('stop');
  const w = await result;
  assertCleanExit(assert, await own.stop());
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.plates[0].layers, layer, 'no header: the layers counted');
  console.log(`# 50 MB 3MF: ${ms.toFixed(0)} ms; loop turns up to ${w.loopMaxMs.toFixed(1)} ms, ` +
    `/healthz p99 ${w.p99.toFixed(1)} ms over ${w.n} polls`);
  assert.ok(w.n > 0 && w.loopMaxMs <= 100, `loop turns up to ${w.loopMaxMs} ms`);
});

test('uploads past the analyses\' capacity are refused from the head, before the body is stored', async () => {
  // workers 1 + queue 2: three uploads may be in at once; these three send a head and a little
  // of a megabyte, then hold
  const { connect } = await import('node:net');
  const port = Number(new URL(daemon.url('/')).port);
  const held = await Promise.all([0, 1, 2].map(() => new Promise((res, rej) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`POST /api/v1/files/analyze HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${TOKEN}\r\n` +
        'Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n' + 'x'.repeat(1000));
      res(s);
    });
    s.on('error', rej);
  })));
  await new Promise((res) => setTimeout(res, 300));
  const t0 = performance.now();
  const r = await upload('M83\nG1 X1 E1\n');
  assert.equal(r.status, 503, r.text);
  assert.equal(r.json.error.code, 'overloaded');
  assert.equal(r.headers.get('retry-after'), '5');
  assert.ok(performance.now() - t0 < 3000, 'answered from the head');
  held.forEach((s) => s.destroy());
  // the slots come back with their connections
  await waitFor(async () => (await upload('M83\nG1 X1 E1\n')).status === 200, 5000, 'an upload taken again');
});
