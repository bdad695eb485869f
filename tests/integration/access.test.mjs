// Access rules and Spoolman's websocket notifications end to end: trusted networks, tokens on
// handshakes, the Origin and Host guards, CORS, and the change hub's sockets (no printers
// needed). The daemons run on loopback, which is trusted by default.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Daemon, WS, TOKEN, run, tmpDir, join, waitFor, assertCleanExit, BIN } from './harness.mjs';

const CONFIG = `[server]
cors_origins = http://ui.lan:3000
allowed_hosts = printdeck.example.com
`;
let daemon;

before(async () => {
  daemon = new Daemon({ config: CONFIG });
  await daemon.start();
});

after(async () => {
  const r = daemon && await daemon.stop();
  if (r) assertCleanExit(assert, r);
});

/** Opens a websocket and expects the handshake to be accepted. */
async function accepted(d, path, headers) {
  const ws = new WS(d, path, headers);
  const res = await ws.open();
  assert.equal(res.status, 101, `${path}: ${res.status} ${res.body}`);
  return ws;
}

/** One raw HTTP/1.1 request, for headers fetch will not send (Host). */
function rawGet(d, path, headers) {
  return new Promise((resolve, reject) => {
    const s = connect(d.port, '127.0.0.1');
    let buf = '';
    s.on('data', (x) => { buf += x; });
    s.on('error', reject);
    s.on('end', () => resolve({ status: Number(buf.split(' ')[1]),
      body: buf.slice(buf.indexOf('\r\n\r\n') + 4) }));
    const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    s.write(`GET ${path} HTTP/1.1\r\n${lines}Connection: close\r\n\r\n`);
  });
}

test('a spool socket from a trusted network needs no token; it answers messages and pings', async () => {
  const ws = await accepted(daemon, '/api/v1/spool');
  ws.send('hello');
  assert.deepEqual(JSON.parse(await ws.waitFor(() => true)), { status: 'healthy' });
  ws.ping('beat');
  await waitFor(() => ws.pongs.length, 5000, 'pong');
  assert.deepEqual(ws.pongs, ['beat']);
  ws.close();
  assert.equal(await waitFor(() => ws.closeCode, 5000, 'close frame'), 1000);
  ws.destroy();
});

test('every notification path of Spoolman has a socket', async () => {
  for (const p of ['/api/v1/', '/api/v1', '/api/v1/vendor', '/api/v1/vendor/3', '/api/v1/filament',
    '/api/v1/filament/1', '/api/v1/spool/12', '/api/v1/setting', '/api/v1/setting/currency']) {
    const ws = await accepted(daemon, p);
    ws.send('x');
    await ws.waitFor((m) => m === '{"status":"healthy"}', 5000, `health reply on ${p}`);
    ws.destroy();
  }
});

test('a handshake the hub cannot serve is refused in Spoolman shapes', async () => {
  let r = await new WS(daemon, '/api/v1/setting/nope').open();
  assert.equal(r.status, 403, 'as a client of Spoolman sees its close before accepting');
  assert.deepEqual(r.json, { message: 'Setting nope does not exist.' });
  r = await new WS(daemon, '/api/v1/spool/abc').open();
  assert.equal(r.status, 422);
  assert.deepEqual(r.json.detail[0].loc, ['path', 'id']);
  r = await new WS(daemon, '/api/v1/printers').open();  // an HTTP route, no socket
  assert.equal(r.status, 404);
});

test('a changed vendor reaches the root, collection and item sockets', async (t) => {
  const probe = await daemon.req('POST', '/api/v1/vendor', { name: 'probe' });
  if (probe.status !== 200) return t.skip(`inventory API not available (${probe.status})`);
  const root = await accepted(daemon, '/api/v1/');
  const coll = await accepted(daemon, '/api/v1/vendor');
  const item = await accepted(daemon, `/api/v1/vendor/${probe.json.id}`);
  const other = await accepted(daemon, '/api/v1/spool');
  const r = await daemon.req('PATCH', `/api/v1/vendor/${probe.json.id}`, { name: 'Prusament' });
  assert.equal(r.status, 200);
  for (const ws of [root, coll, item]) {
    const m = JSON.parse(await ws.waitFor((x) => x.includes('"updated"')));
    assert.equal(m.type, 'updated');
    assert.equal(m.resource, 'vendor');
    assert.match(m.date, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.equal(m.payload.name, 'Prusament');
    assert.equal(m.payload.id, probe.json.id);
  }
  other.send('x');
  await other.waitFor(() => true);
  assert.deepEqual(other.messages, ['{"status":"healthy"}'], 'a spool socket hears no vendor change');
  for (const ws of [root, coll, item, other]) ws.destroy();
});

test('a foreign Origin cannot open a socket or write; a listed one gets CORS', async () => {
  let r = await new WS(daemon, '/api/v1/spool', { Origin: 'http://evil.example' }).open();
  assert.equal(r.status, 403);
  assert.match(r.json.message, /^Request refused: origin http:\/\/evil\.example is not allowed/);
  (await accepted(daemon, '/api/v1/spool', { Origin: 'http://ui.lan:3000' })).destroy();
  (await accepted(daemon, '/api/v1/spool', { Origin: `http://127.0.0.1:${daemon.port}` })).destroy();

  r = await daemon.req('POST', '/api/v1/printers', {}, { Origin: 'http://evil.example' });
  assert.equal(r.status, 403);
  assert.equal(r.json.error.code, 'forbidden');
  r = await daemon.get('/api/v1/printers', { Origin: 'http://ui.lan:3000' });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), 'http://ui.lan:3000');
  assert.equal(r.headers.get('access-control-expose-headers'), 'X-Total-Count');
  r = await daemon.get('/api/v1/printers', { Origin: 'http://other.lan' });
  assert.equal(r.headers.get('access-control-allow-origin'), null);

  const pre = await fetch(daemon.url('/api/v1/printers'), { method: 'OPTIONS', headers: {
    Origin: 'http://ui.lan:3000', 'Access-Control-Request-Method': 'POST',
    'Access-Control-Request-Headers': 'authorization, content-type' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), 'http://ui.lan:3000');
  assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
  assert.equal(pre.headers.get('access-control-allow-headers'), 'authorization, content-type');
});

test('a public Host nobody configured is refused (DNS rebinding)', async () => {
  let r = await rawGet(daemon, '/healthz', { Host: 'evil.example.com' });
  assert.equal(r.status, 400);
  assert.match(JSON.parse(r.body).error.message, /host evil\.example\.com is not allowed/);
  r = await rawGet(daemon, '/healthz', { Host: 'printdeck.example.com:8080' });
  assert.equal(r.status, 200);
  r = await rawGet(daemon, '/healthz', { Host: 'printdeck.local' });
  assert.equal(r.status, 200);
  const ws = await new WS(daemon, '/api/v1/spool', { Host: 'rebind.attacker.net' }).open();
  assert.equal(ws.status, 403, 'a handshake is refused with 403, as Spoolman does');
});

test('outside the trusted networks a socket needs a token', async () => {
  const d = new Daemon({ env: { PRINTDECK_AUTH_TRUSTED_NETWORKS: '10.0.0.0/8' } });
  await d.start();
  try {
    const r = await new WS(d, '/api/v1/spool').open();
    assert.equal(r.status, 401);
    assert.match(r.json.message, /token is required/);
    (await accepted(d, '/api/v1/spool', { Authorization: `Bearer ${TOKEN}` })).destroy();
    (await accepted(d, '/api/v1/', { 'X-Api-Key': TOKEN })).destroy();
    // printdeck's own routes never go without a token, trusted or not
    assert.equal((await d.get('/api/v1/printers', { Authorization: '' })).status, 401);
  } finally {
    assertCleanExit(assert, await d.stop());
  }
});

test('an invalid trusted network stops the start, naming the entry', async () => {
  const dir = tmpDir('pd-access-');
  const err = await run(BIN, ['--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0'], {
    env: { ...process.env, PRINTDECK_AUTH_TRUSTED_NETWORKS: '127.0.0.0/8, 10.0.0.0/33' },
  }).then(() => null, (e) => e);
  assert.ok(err, 'the daemon must not start');
  assert.match(err.stderr, /trusted_networks: '10\.0\.0\.0\/33'/);
  assert.doesNotMatch(err.stderr, /AddressSanitizer|LeakSanitizer|runtime error:/);
});

test('JSON replies and the event stream are gzipped for a client that accepts it, and only then', async () => {
  const { request } = await import('node:http');
  const { gunzipSync, createGunzip } = await import('node:zlib');
  const get = (path, headers) => new Promise((resolve, reject) => {
    const req = request(daemon.url(path), { headers: { Authorization: `Bearer ${TOKEN}`, ...headers } }, resolve);
    req.on('error', reject);
    req.end();
  });
  const body = async (res) => { const parts = []; for await (const c of res) parts.push(c); return Buffer.concat(parts); };
  // enough vendors for a list past the 1 KiB below which replies go as they are
  for (let i = 0; i < 20; i++)
    assert.equal((await daemon.req('POST', '/api/v1/vendor', { name: `Gzip vendor ${i}`, comment: 'x'.repeat(40) })).status, 200);
  const plain = await get('/api/v1/vendor', {});
  assert.equal(plain.headers['content-encoding'], undefined);
  const text = await body(plain);
  const gz = await get('/api/v1/vendor', { 'Accept-Encoding': 'br;q=1, gzip;q=0.8' });
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.match(gz.headers.vary ?? '', /Accept-Encoding/i);
  const packed = await body(gz);
  assert.ok(packed.length < text.length / 3, `${packed.length} of ${text.length} bytes`);
  assert.deepEqual(JSON.parse(gunzipSync(packed)), JSON.parse(text));
  assert.equal((await get('/api/v1/vendor', { 'Accept-Encoding': 'gzip;q=0' })).headers['content-encoding'], undefined);
  // the event stream: each event decodes as it comes, not when the stream ends
  const ev = await get('/api/v1/events', { 'Accept-Encoding': 'gzip' });
  assert.equal(ev.headers['content-encoding'], 'gzip');
  const unzip = ev.pipe(createGunzip());
  let seen = '';
  const got = new Promise((resolve) => unzip.on('data', (c) => { seen += c; if (seen.includes('Gzip printer')) resolve(); }));
  unzip.on('error', () => {}); // the stream is cut below, mid-member
  const added = await daemon.req('POST', '/api/v1/printers', { name: 'Gzip printer', serial: '01P00A451209999',
    host: '127.0.0.1', port: 1, access_code: '12345678' });
  assert.equal(added.status, 201, added.text);
  await Promise.race([got, new Promise((_, reject) => setTimeout(() => reject(new Error(`no event in ${seen.length} bytes`)), 10000))]);
  assert.equal((await daemon.req('DELETE', `/api/v1/printers/${added.json.id}`)).status, 204);
  ev.destroy();
});
