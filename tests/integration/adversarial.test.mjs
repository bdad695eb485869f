// The daemon under hostile clients, slow networks and locked databases: each row of the
// robustness table (docs/testing.md) replayed on loopback, bounded in time. Throughout, a
// watcher polls /healthz: the loop must never stall past 100 ms, and memory must come back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn, execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { statSync, chmodSync, writeFileSync } from 'node:fs';
import { Broker, Sim, Daemon, metric, SANITIZED, assertCleanExit, sleep, readFileSync, waitFor, TOKEN, run, join, PG_BASE, databaseOf,
  BIN, tmpDir, freePort, watchHealth, assertResponsive } from './harness.mjs';

let daemon, watch;
before(async () => {
  daemon = new Daemon();
  await daemon.start();
  watch = watchHealth(daemon);
});

after(async () => {
  const w = watch && await watch.stop();
  const r = daemon && await daemon.stop();
  if (w) assertResponsive(w, 'the shared daemon, over the whole file');
  if (r) assertCleanExit(assert, r);
});

// Row 1: a printer whose ca_file is a FIFO
test('row 1: a ca_file that is a FIFO neither hangs the loop nor the next start', async () => {
  const d = new Daemon();
  let w;
  try {
    await d.start();
    const fifo = join(d.dir, 'ca.fifo');
    execFileSync('mkfifo', [fifo]);
    w = watchHealth(d);
    const r = await d.req('POST', '/api/v1/printers', { name: 'fifo', serial: '01P00A451200101', host: '127.0.0.1',
      port: 1, access_code: '12345678', ca_file: fifo });
    assert.equal(r.status, 201, r.text);
    const refused = (p) => p.connection.state === 'tls_failed' &&
      p.connection.error === `cannot load ca_file ${fifo}: not a regular file`;
    await waitFor(async () => refused(await d.printer(r.json.id)), 5000, 'the ca_file refused');
    const m = (await d.get('/metrics')).text;
    const p99 = metric(m, 'printdeck_loop_turn_seconds', { quantile: '0.99' });
    const max = metric(m, 'printdeck_loop_turn_max_seconds');
    assert.ok(max > 0 && p99 > 0 && p99 <= max && max < 1, `loop turns: p99 ${p99} s, max ${max} s`);
    assertResponsive(await w.stop(), 'row 1: a printer added with a FIFO as ca_file');
    assertCleanExit(assert, await d.stop());
    // the printer is in the database: the next start meets the FIFO again
    await d.start();
    w = watchHealth(d);
    await waitFor(async () => refused(await d.printer(r.json.id)), 5000, 'the ca_file refused after a restart');
    assertResponsive(await w.stop(), 'row 1: a restart with that printer stored');
    w = null;
    assertCleanExit(assert, await d.stop());
  } finally {
    await w?.stop();
    await d.stop();
  }
});

// Row 2: a printer host whose resolver does not answer
test('row 2: a host name that does not resolve never stalls the loop', async (t) => {
  // glibc reads /etc/resolv.conf only: the daemon runs in a mount namespace of its own where
  // that file names 127.0.0.2, where a UDP socket takes the queries and never answers
  try { execFileSync('unshare', ['-m', 'true'], { stdio: 'ignore' }); } catch {
    return t.skip('unshare -m is not permitted here (needs root or user namespaces)');
  }
  const dns = createSocket('udp4');
  let queries = 0;
  dns.on('message', () => { queries++; });
  try { await new Promise((res, rej) => { dns.once('error', rej); dns.bind(53, '127.0.0.2', res); }); } catch (e) {
    return t.skip(`cannot listen on 127.0.0.2:53: ${e.code}`);
  }
  const dir = tmpDir('pd-row2-');
  const resolv = join(dir, 'resolv.conf'), wrap = join(dir, 'printdeck-ns');
  writeFileSync(resolv, 'nameserver 127.0.0.2\noptions timeout:2 attempts:1\n');
  writeFileSync(wrap, `#!/bin/sh\nexec unshare -m sh -c 'mount --make-rprivate / && mount --bind "$0" /etc/resolv.conf && exec "$@"' ${resolv} ${BIN} "$@"\n`);
  chmodSync(wrap, 0o755);
  const d = new Daemon({ bin: wrap, config: '[mqtt]\nreconnect_min_ms = 100\nreconnect_max_ms = 1000\n' });
  let w;
  try {
    await d.start();
    w = watchHealth(d);
    const t0 = performance.now();
    const r = await d.req('POST', '/api/v1/printers', { name: 'lan', serial: '01P00A451200102', host: 'p1s-row2.lan',
      port: 8883, access_code: '12345678' });
    assert.equal(r.status, 201, r.text);
    assert.ok(performance.now() - t0 < 500, `the POST took ${(performance.now() - t0).toFixed(0)} ms`);
    await waitFor(async () => /^cannot resolve p1s-row2\.lan: /.test((await d.printer(r.json.id)).connection.error),
      8000, 'the resolution failure');
    await sleep(2500); // a reconnect, resolving again
    assertResponsive(await w.stop(), 'row 2: a printer whose resolver does not answer');
    w = null;
    assert.ok(queries >= 2, `the resolver was asked ${queries} times`);
  } finally {
    await w?.stop();
    dns.close();
    const s = await d.stop();
    if (s) assertCleanExit(assert, s);
  }
});

// Row 3: the database locked by another writer
test('row 3: SQLite lock contention never blocks the loop', { skip: PG_BASE ? 'SQLite locks only' : false },
  async () => {
    // a daemon of its own: its printer, its TLS handshake and its writes stay out of the others' rows
    const d = new Daemon();
    const data = join(d.dir, 'data');
    // a printer whose slot reports the daemon records by itself: those must wait, not be lost
    const serial = '00M09A350100303';
    const broker = new Broker(tmpDir('pd-row3-broker-'), [serial]);
    const sim = new Sim(broker, ['X1C']);
    let locker, w;
    try {
      await d.start();
      await broker.start();
      await sim.start();
      const printer = await d.addPrinter(broker, serial);
      const slot = async () => (await d.get(`/api/v1/printers/${printer.id}/ams`)).json?.find((x) => x.unit === 0 && x.slot === 1);
      await waitFor(async () => (await slot())?.reported?.material, 10000, 'slot 0/1 reported');
      // another process takes the write lock and keeps it, as `printdeck import` does
      locker = spawn('sqlite3', [join(data, 'printdeck.db')], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      locker.stdout.on('data', (b) => { out += b; });
      locker.stdin.write("BEGIN IMMEDIATE;\nSELECT 'locked';\n");
      await waitFor(() => out.includes('locked'), 5000, 'the lock');
      w = watchHealth(d);
      const cli = run(BIN, ['--data-dir', data, 'token', 'create', 'row3']);
      await sim.control(serial, { action: 'swap_spool', ams: 0, slot: 1, type: 'PETG', color: '00FF00', rfid: false });
      const acked = [];
      const t0 = performance.now();
      for (let i = 0; performance.now() - t0 < 1500; i++) {
        const s = performance.now();
        const r = await d.req('POST', '/api/v1/vendor', { name: `row3-${i}` });
        assert.ok(performance.now() - s < 500, `a locked write took ${(performance.now() - s).toFixed(0)} ms`);
        if (r.status === 200) acked.push(r.json.name);
        else {
          assert.equal(r.status, 503, r.text);
          assert.equal(r.headers.get('retry-after'), '1');
          assert.match(r.json.message, /locked by another process/);
        }
      }
      const locked = await slot();
      assert.equal(locked.live?.material, 'PETG', 'the printer reported the swap');
      assert.notEqual(locked.reported.material, 'PETG', 'the swap was recorded through the lock?');
      locker.stdin.end('COMMIT;\n');
      await new Promise((res) => locker.on('exit', res));
      const r = await d.req('POST', '/api/v1/vendor', { name: 'row3-after' });
      assert.equal(r.status, 200, r.text);
      acked.push('row3-after');
      // the CLI waited for the lock, said so once, and then did its work
      const c = await cli;
      assert.match(c.stdout, /^\S{20,}\n$/);
      assert.equal(c.stderr.match(/waiting for the running daemon's lock/g)?.length, 1, c.stderr);
      await waitFor(async () => (await slot()).reported.material === 'PETG', 5000, 'the swap recorded once the lock was gone');
      const names = (await d.get('/api/v1/vendor')).json.map((v) => v.name).filter((n) => n.startsWith('row3-'));
      assert.deepEqual(names.sort(), acked.sort(), 'every acknowledged write, and only those, is stored');
      assertResponsive(await w.stop(), 'row 3: writes while another process holds the lock');
      w = null;
      assertCleanExit(assert, await d.stop());
    } finally {
      await w?.stop();
      if (locker && locker.exitCode === null) locker.kill();
      await d.stop();
      await sim.stop();
      await broker.stop();
    }
  });

// Row 4: one client holding many sockets, trickled bodies, idle websockets
/**
 * One exchange on a raw socket (framing node's clients will not send): writes `parts` (a
 * string or Buffer, or a list of them, `gapMs` apart), and resolves with the first response
 * ({status, headers, body, json}), whether the server closed the socket (`closed`) and
 * when (`ms`): once the response is complete (its Content-Length read), or with `untilClose`
 * (and for a 101) when the server closes, at most after `waitMs`.
 */
function raw(daemon, parts, { localAddress, gapMs = 0, waitMs = 3000, untilClose = false } = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const sock = net.connect({ port: daemon.port, host: '127.0.0.1', localAddress });
    let buf = Buffer.alloc(0), timer, iv;
    const done = (closed) => {
      clearTimeout(timer); clearInterval(iv); sock.destroy();
      const end = buf.indexOf('\r\n\r\n');
      const head = end < 0 ? '' : buf.subarray(0, end).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      const headers = Object.fromEntries(head.split('\r\n').slice(1).map((l) => {
        const i = l.indexOf(':');
        return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
      }));
      const body = end < 0 ? Buffer.alloc(0) : buf.subarray(end + 4);
      let json;
      try { json = JSON.parse(body.toString('utf8')); } catch { json = undefined; }
      resolve({ status: m ? Number(m[1]) : 0, headers, body, json, closed, ms: performance.now() - t0 });
    };
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n'), len = /\r\ncontent-length: *(\d+)/i.exec(buf.subarray(0, end));
      if (!untilClose && end >= 0 && len && buf.length >= end + 4 + Number(len[1])) done(false);
    });
    sock.on('error', () => {});
    sock.on('close', () => done(true));
    sock.on('connect', () => {
      const list = [].concat(parts);
      sock.write(list.shift());
      if (list.length) iv = setInterval(() => (list.length ? sock.write(list.shift()) : clearInterval(iv)), gapMs);
    });
    timer = setTimeout(() => done(false), waitMs);
  });
}

/** A WebSocket handshake to `path`, the request as text. */
const wsHandshake = (path, version = 13) => `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n` +
  `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: ${version}\r\n\r\n`;

test('row 4: connections are bounded per address and timed out', async () => {
  // 64 connections in all: one address may hold half; websockets silent for 2 s are closed
  const d = new Daemon({ config: '[server]\nmax_clients = 64\nidle_timeout_s = 2\n' });
  await d.start();
  const w = watchHealth(d);
  try {
    // one client opens more than all the server has, and holds them
    const held = [];
    let refused = 0;
    for (let i = 0; i < 80; i++) {
      const s = net.connect({ port: d.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
      s.on('error', () => {});
      s.on('close', () => refused++);
      held.push(s);
    }
    await waitFor(() => refused >= 48, 5000, 'connections past the per-address bound refused');
    const t0 = performance.now();
    const h = await fetch(d.url('/healthz'), { signal: AbortSignal.timeout(2000) });
    await h.text();
    assert.equal(h.status, 200);
    assert.ok(performance.now() - t0 < 100, `another client waited ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(refused, 48, 'one address holds half of max_clients');
    held.forEach((s) => s.destroy());

    // a body trickled a byte a second is cut off with 408 once it falls behind 16 KiB/s (10 s
    // of grace); a websocket without a token (a trusted network's Spoolman route) that never
    // answers the server's ping is closed
    const head = `POST /api/v1/vendor HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n` +
      'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n';
    const [slow, ws] = await Promise.all([
      raw(d, [head, ...Array(30).fill('{')], { gapMs: 1000, waitMs: 15000, untilClose: true }),
      raw(d, wsHandshake('/api/v1/spool'), { waitMs: 8000, untilClose: true }),
    ]);
    assert.equal(slow.status, 408, `trickled body: ${slow.status} ${slow.body}`);
    assert.equal(slow.json?.message ? 'message' : slow.json?.error?.code, 'message');
    assert.ok(slow.closed && slow.ms < 13000, `trickled body closed: ${slow.closed} after ${slow.ms.toFixed(0)} ms`);
    assert.equal(ws.status, 101);
    assert.ok(ws.closed && ws.ms < 6000, `idle websocket closed: ${ws.closed} after ${ws.ms.toFixed(0)} ms`);
    assert.ok(ws.body.includes(Buffer.from([0x89, 0x00])), 'the idle websocket was pinged first');
  } finally {
    const r = await w.stop();
    assertResponsive(r, 'row 4');
    assertCleanExit(assert, await d.stop());
  }
});

// Row 5: 100,000 spools listed and exported
// 100,000 spools as the bench seeds them: SQL while the daemon is stopped (the API would take
// minutes), 2 % archived; on PostgreSQL in a database of the test's own.
const SPOOLS_SQL = `INSERT INTO spool (registered, filament_id, used_weight, initial_weight, location, lot_nr, archived, comment)
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100000)
SELECT 1700000000 + i, 1 + i % 2, (i * 37) % 1000, 1000, 'Rack ' || (i % 100), 'L' || (i % 997),
       CASE WHEN i % 50 = 0 THEN 1 ELSE 0 END, 'n' || i || ', "q"' || char(10) || 'x' FROM c;`;
/** Reads up to `max` bytes of a reply, then hangs up (the body is not kept). */
async function drain(daemon, path, max) {
  const ac = new AbortController();
  const r = await fetch(daemon.url(path), { signal: ac.signal });
  let bytes = 0;
  try {
    for await (const chunk of r.body) {
      bytes += chunk.length;
      if (bytes >= max) break;
    }
  } finally { ac.abort(); }
  return { status: r.status, bytes, total: r.headers.get('x-total-count') };
}
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

test('row 5: big lists and exports are streamed with bounded memory', { timeout: 240000 }, async () => {
  // ASan keeps 256 MB of freed memory in quarantine and returns little to the system: RSS would
  // measure ASan, not the daemon
  const asan = 'detect_leaks=1:exitcode=23:abort_on_error=0:quarantine_size_mb=4:allocator_release_to_os_interval_ms=100';
  const d = new Daemon({ env: { ASAN_OPTIONS: asan } });
  let w;
  try {
    await d.start();
    const pgUrl = databaseOf(d);
    assert.equal((await d.req('POST', '/api/v1/vendor', { name: 'Polymaker' })).status, 200);
    for (const m of ['PLA', 'PETG'])
      assert.equal((await d.req('POST', '/api/v1/filament', { name: `Poly ${m}`, vendor_id: 1, material: m,
        density: 1.24, diameter: 1.75, weight: 1000 })).status, 200);
    assertCleanExit(assert, await d.stop());
    if (pgUrl) execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', pgUrl, '-c', SPOOLS_SQL.replace('char(10)', 'chr(10)')]);
    else await run('sqlite3', [join(d.dir, 'data', 'printdeck.db'), SPOOLS_SQL]);
    await d.start();
    await sleep(500);
    const idleKb = rssKb(d.proc.pid);
    w = watchHealth(d);
    // one export alone, read to its end: every unarchived spool once, the newline inside the
    // comment kept (counted as it comes: parsing 100 MB would stall this process's poller)
    const t0 = performance.now();
    const one = await fetch(d.url('/api/v1/export/spools?fmt=json'), { signal: AbortSignal.timeout(90000) });
    assert.equal(one.status, 200);
    let n = 0, head = '', tail = '', carry = '';
    for await (const chunk of one.body.pipeThrough(new TextDecoderStream())) {
      const text = carry + chunk;
      n += text.split('"comment":"n').length - 1;
      carry = text.slice(-11);  // one shorter than the pattern: no match counted twice
      if (head.length < 4096) head += chunk.slice(0, 4096);
      tail = (tail + chunk).slice(-4096);
    }
    assert.equal(n, 98000);
    assert.ok(head.startsWith('[{"archived":false,"comment":"n1, \\"q\\"\\nx"'), head.slice(0, 100));
    assert.ok(tail.endsWith('"used_weight":963.0}]'), tail.slice(-100));
    const oneKb = rssKb(d.proc.pid), oneMs = performance.now() - t0;
    // six at once, JSON and CSV, and the whole list (no token: loopback is trusted), each read
    // for up to 20 MB and then hung up on: the time it takes stays that of one whole export (ASan)
    const paths = ['/api/v1/export/spools?fmt=json', '/api/v1/export/spools?fmt=csv', '/api/v1/export/spools?fmt=json',
      '/api/v1/export/spools?fmt=csv&allow_archived=true', '/api/v1/export/spools?fmt=json', '/api/v1/export/spools?fmt=csv',
      '/api/v1/spool?allow_archived=true'];
    const got = await Promise.all(paths.map((p) => drain(d, p, 20e6)));
    for (const g of got) assert.ok(g.status === 200 && g.bytes > 15e6, JSON.stringify(g));  // a CSV is 19 MB
    assert.equal(got[6].total, '100000');
    if (!pgUrl) {
      // a backup of those 100,000 spools is written off the loop (the watcher goes on), one at a time
      const both = await Promise.all([d.req('POST', '/api/v1/backup'), d.req('POST', '/api/v1/backup')]);
      assert.deepEqual(both.map((b) => b.status).sort(), [200, 429], both.map((b) => b.text).join('\n'));
      const made = both.find((b) => b.status === 200).json;
      assert.equal(made.created, true);
      assert.ok(statSync(made.path).size > 10e6, 'the whole database copied');
      assert.match(both.find((b) => b.status === 429).text, /A backup is being written/);
    }
    const s = await w.stop();
    await sleep(6000);  // the reply pool lets its buffers go after 5 s without a big reply
    const endKb = rssKb(d.proc.pid);
    console.log(`row 5: RSS idle ${idleKb} kB, after one export ${oneKb} kB (${(oneMs / 1000).toFixed(1)} s), peak with 7 at once ${s.rssMaxKb} kB, ` +
      `after ${endKb} kB; /healthz p99 ${s.p99.toFixed(1)} ms, max ${s.max.toFixed(1)} ms (${s.n} polls)`);
    row5 = s;
    assert.ok(s.rssMaxKb - idleKb < 64 * 1024, `RSS grew by ${s.rssMaxKb - idleKb} kB`);
    if (!SANITIZED) assert.ok(endKb - idleKb < 16 * 1024, `RSS stayed ${endKb - idleKb} kB above idle`);
  } finally {
    await w?.stop();
    const r = await d.stop();
    if (r) assertCleanExit(assert, r);
  }
});

let row5;
test('row 5: /healthz answers within 100 ms while those lists and exports stream', () => {
  assert.ok(row5, 'row 5 did not get that far');
  assertResponsive(row5, 'one export, then six exports and a list at once');
});

// Row 6: POST with no Content-Length, chunked bodies, Content-Length -1
test('row 6: bodies framed every way RFC 9112 allows are answered', async () => {
  const auth = `Host: x\r\nAuthorization: Bearer ${TOKEN}\r\n`;
  // no Content-Length: no body (as `curl -X POST`), answered at once: the backup is made (on
  // PostgreSQL, Spoolman's failure answer: backups are pg_dump's there)
  const none = await raw(daemon, `POST /api/v1/backup HTTP/1.1\r\n${auth}\r\n`);
  assert.equal(none.status, PG_BASE ? 500 : 200, `no length: ${none.status} ${none.body}`);
  if (PG_BASE) assert.match(none.json.message, /Backup failed/);
  assert.ok(none.ms < 2000, `no length answered after ${none.ms.toFixed(0)} ms`);
  // chunked, in pieces, with an extension and a trailer
  const chunked = await raw(daemon, [`POST /api/v1/vendor HTTP/1.1\r\n${auth}Transfer-Encoding: chunked\r\n\r\n`,
    '4;x=1\r\n{"na\r\n', 'e\r\nme":"chunked"}\r\n', '0\r\nX-Trailer: 1\r\n\r\n'], { gapMs: 50 });
  assert.equal(chunked.status, 200, `chunked: ${chunked.status} ${chunked.body}`);
  assert.equal(chunked.json.name, 'chunked');
  // lengths that are not one number: 400 with its message, and the connection closed
  for (const cl of ['Content-Length: -1\r\n', 'Content-Length: 2\r\nContent-Length: 12\r\n',
    'Content-Length: 2\r\nTransfer-Encoding: chunked\r\n']) {
    const r = await raw(daemon, `POST /api/v1/vendor HTTP/1.1\r\n${auth}${cl}\r\n{}`, { untilClose: true });
    assert.equal(r.status, 400, `${JSON.stringify(cl)}: ${r.status} ${r.body}`);
    assert.match(r.json.error.message, /Content-Length/);
    assert.ok(r.closed && r.ms < 2000);
  }
});

// Row 7: error messages that echo long multi-byte UTF-8 input
test('row 7: an echoed input is cut at a UTF-8 boundary and the 4xx is sent', async () => {
  const long = 'a' + 'é'.repeat(300);  // an odd number of bytes before each cut
  const enc = encodeURIComponent(long);
  const cases = [
    ['a sort key', await daemon.get(`/api/v1/spool?sort=${enc}`), 400],
    ['a filter', await daemon.get(`/api/v1/filament?color_hex=${enc}`), 400],
    ['an unknown key', await daemon.req('POST', '/api/v1/printers', { [long]: 1 }), 400],
    ['a path', await daemon.get(`/api/v1/${enc}`), 404],
    ['a printer id', await daemon.get(`/api/v1/printers/${enc}`), 404],
  ];
  const host = await raw(daemon, Buffer.from(`GET /healthz HTTP/1.1\r\nHost: ${long.slice(0, 60)}.example.com\r\n\r\n`));
  cases.push(['a host', { status: host.status, json: host.json, text: host.body.toString() }, 400]);
  for (const [what, r, status] of cases) {
    assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
    const msg = r.json?.message ?? r.json?.error?.message ?? r.json?.detail?.[0]?.msg;
    assert.ok(msg && msg.includes('éé') && !msg.includes('\ufffd'), `${what}: ${r.text}`);
  }
});



/** printdeck run by hand: {code, stdout, stderr, ms}, whatever the exit status. */
async function cli(args, env = {}, timeout = 10000) {
  const t0 = performance.now();
  const r = await run(BIN, args, { env: { ...process.env, ...env }, timeout }).then(
    (o) => ({ code: 0, ...o }), (e) => ({ code: e.code ?? e.signal, stdout: e.stdout, stderr: e.stderr }));
  return { ...r, ms: performance.now() - t0 };
}

// Row 8: auth disabled on a non-loopback listen address
test('row 8: auth.enabled = false is refused on a non-loopback address', async () => {
  const data = join(tmpDir('pd-row8-'), 'data'), port = await freePort();
  const off = { PRINTDECK_AUTH_ENABLED: 'false' };
  const refused = await cli(['--data-dir', data, '--listen', `0.0.0.0:${port}`], off);
  assert.equal(refused.code, 1, `started without auth on 0.0.0.0: ${JSON.stringify(refused)}`);
  assert.match(refused.stderr, /auth\.enabled = false on 0\.0\.0\.0:\d+, which is not a loopback address.*\[auth\] allow_open_network = true/);
  // the second key lets it past the check, loudly; 192.0.2.1 (RFC 5737) is never local, so
  // nothing is opened to the network here: the bind fails next
  const allowed = await cli(['--data-dir', data, '--listen', `192.0.2.1:${port}`],
    { ...off, PRINTDECK_AUTH_ALLOW_OPEN_NETWORK: 'true' });
  assert.match(allowed.stderr, / warn  \[http\] auth\.enabled = false: every route is open without a token to whoever reaches http:\/\/192\.0\.2\.1:\d+ \(allow_open_network = true\)/);
  assert.match(allowed.stderr, /cannot listen on 192\.0\.2\.1/);
  // on loopback it starts, and says so
  const d = new Daemon({ env: off });
  await d.start();
  const r = await fetch(d.url('/api/v1/printers'));
  assert.equal(r.status, 200);
  const out = await d.stop();
  assertCleanExit(assert, out);
  assert.match(out.log, / warn  \[http\] auth\.enabled = false: every route is open without a token to whoever reaches http:\/\/127\.0\.0\.1:\d+ \(this machine's users and programs\)/);
});

// Row 9: file modes of the data directory, the database and backups
const modeOf = (path) => statSync(path).mode & 0o777;
test('row 9: the data dir is 0700, the database and backups 0600', { skip: PG_BASE ? 'SQLite files only' : false }, async () => {
  const data = join(daemon.dir, 'data');
  assert.equal(modeOf(data), 0o700);
  for (const f of ['printdeck.db', 'printdeck.db-wal', 'printdeck.db-shm'])
    assert.equal(modeOf(join(data, f)), 0o600, f);
  const b = await daemon.req('POST', '/api/v1/backup');
  assert.equal(b.status, 200, b.text);
  assert.equal(modeOf(b.json.path), 0o600, 'backup');
  assert.equal(modeOf(join(data, 'backups')), 0o700);
  // an older install's modes are tightened at start, and the log says so
  const d = new Daemon();
  await d.start();
  assertCleanExit(assert, await d.stop());
  const dd = join(d.dir, 'data');
  chmodSync(dd, 0o755);
  chmodSync(join(dd, 'printdeck.db'), 0o644);
  await d.start();
  const out = await d.stop();
  assertCleanExit(assert, out);
  assert.equal(modeOf(dd), 0o700);
  assert.equal(modeOf(join(dd, 'printdeck.db')), 0o600);
  assert.match(out.log, /warn  \[store\] \S+\/data could be read by other users \(mode 0755\); tightened to 0700/);
  assert.match(out.log, /warn  \[store\] \S+\/printdeck\.db could be read by other users \(mode 0644\); tightened to 0600/);
});

// Row 10: an imported Spoolman database with a recursive view
/** A Spoolman-like database at a new path, made by the sqlite3 CLI from `sql`. */
function spoolmanDb(name, sql) {
  const path = join(tmpDir('pd-spoolman-'), name);
  execFileSync('sqlite3', [path, sql], { timeout: 10000 });
  return path;
}
const SETTING = 'CREATE TABLE setting (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL, last_updated DATETIME NOT NULL);';
const inventory = async () => Promise.all(['vendor', 'filament', 'spool'].map(
  async (e) => (await daemon.get(`/api/v1/${e}`)).text));

test('row 10: a hostile Spoolman database is read from its tables only, in bounded time', async () => {
  const before = await inventory();
  const path = spoolmanDb('spoolman.db', `${SETTING}
    CREATE VIEW vendor AS WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n)
      SELECT x AS id, '2024-01-01 00:00:00' AS registered, printf('%.*c', 1000, 'v') AS name FROM n ORDER BY x DESC;`);
  const r = await cli(['--data-dir', join(daemon.dir, 'data'), 'import', path, '--format', 'spoolman-db']);
  assert.equal(r.code, 1, `import: ${JSON.stringify(r)}`);
  assert.ok(r.ms < 5000, `the import took ${r.ms} ms`);
  assert.match(r.stderr, /printdeck: nothing imported: not a Spoolman database: vendor is a view; only tables are read/);
  assert.deepEqual(await inventory(), before);
});

// Row 11: imported text with newlines and escape sequences, printed by the CLI
test('row 11: imported text is escaped wherever it is printed', async () => {
  const forged = "'x' || char(10) || '2030-01-01T00:00:00.000Z error [main] forged' || char(27) || '[31m'";
  const path = spoolmanDb('spoolman.db', `${SETTING}
    INSERT INTO setting VALUES (${forged}, '1', '2024-01-01 00:00:00');
    CREATE TABLE vendor (id INTEGER PRIMARY KEY, registered DATETIME NOT NULL, name VARCHAR(64) NOT NULL);
    INSERT INTO vendor VALUES (1, '2024-01-01 00:00:00', 'V');
    CREATE TABLE vendor_field (vendor_id INTEGER NOT NULL, key VARCHAR(64) NOT NULL, value TEXT NOT NULL);
    INSERT INTO vendor_field VALUES (1, ${forged}, '1');`);
  const r = await cli(['--data-dir', join(daemon.dir, 'data'), 'import', path, '--format', 'spoolman-db']);
  assert.equal(r.code, 1, `import: ${JSON.stringify(r)}`);
  const escaped = 'x\\n2030-01-01T00:00:00.000Z error [main] forged\\x1b[31m';
  // the log's warning (the setting is skipped) and the CLI's error (the extra key is refused)
  for (const want of [`warn  [inventory] import: Spoolman setting ${escaped} is not one printdeck keeps`,
    `printdeck: nothing imported: vendor 1: extra.${escaped}`])
    assert.ok(r.stderr.includes(want), `no '${want}' in:\n${r.stderr}`);
  for (const line of `${r.stdout}${r.stderr}`.split('\n').filter(Boolean))
    assert.match(line, /^(\d{4}-\d\d-\d\dT[\d:.]+Z (debug|info |warn |error) \[|printdeck: )/, 'a forged line');
  for (const text of [r.stdout, r.stderr, daemon.log.text])
    assert.ok(!text.includes('\x1b') && !/^2030-/m.test(text), `raw text from the file:\n${text.slice(-2000)}`);
});

// Row 12: HTTP edges (token whitespace and NUL, two Content-Lengths, 431, 414, websocket frames)
test('row 12: HTTP and websocket edges are answered as the RFCs say', async () => {
  const get = (headers, target = '/api/v1/printers') => raw(daemon, `GET ${target} HTTP/1.1\r\nHost: x\r\n${headers}\r\n`);
  // the token is its exact bytes, surrounding whitespace trimmed (RFC 9110 5.5), NUL refused
  assert.equal((await get(`Authorization: Bearer ${TOKEN} \t \r\n`)).status, 200);
  assert.equal((await get(`X-Api-Key:   ${TOKEN}  \r\n`)).status, 200);
  assert.equal((await get(`Authorization: Bearer ${TOKEN}\0junk\r\n`)).status, 401);
  assert.equal((await get(`X-Api-Key: ${TOKEN}\0\r\n`)).status, 401);
  // two different lengths
  const two = await raw(daemon, `POST /api/v1/vendor HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n` +
    'Content-Length: 13\r\nContent-Length: 2\r\n\r\n{"name":"ab"}');
  assert.equal(two.status, 400);
  // a header or a target over 8 KiB: 431 and 414 with the JSON error; 1,000 small headers fit
  const big = await get(`User-Agent: ${'u'.repeat(10000)}\r\n`, '/healthz');
  assert.equal(big.status, 431);
  assert.equal(big.json.error.code, 'headers_too_large');
  const uri = await get('', `/healthz?q=${'q'.repeat(10000)}`);
  assert.equal(uri.status, 414);
  assert.equal(uri.json.error.code, 'uri_too_long');
  const many = await get(Array.from({ length: 1000 }, (_, i) => `X-H${i}: v\r\n`).join(''), '/healthz');
  assert.equal(many.status, 200);
  // websockets: version 13 only (426 naming it), text frames must be UTF-8 (closed with 1007)
  const v8 = await raw(daemon, wsHandshake('/api/v1/spool', 8));
  assert.equal(v8.status, 426);
  assert.equal(v8.headers['sec-websocket-version'], '13');
  const bad = Buffer.from([0x68, 0xff, 0xfe]), mask = [1, 2, 3, 4];
  const frame = Buffer.from([0x81, 0x80 | bad.length, ...mask, ...bad.map((b, i) => b ^ mask[i % 4])]);
  const text = await raw(daemon, [wsHandshake('/api/v1/spool'), frame], { gapMs: 200, waitMs: 3000 });
  assert.equal(text.status, 101);
  const close = text.body.indexOf(0x88);
  assert.ok(close >= 0 && text.body.readUInt16BE(close + 2) === 1007, `close frame: ${text.body.toString('hex')}`);
});

// Row 13: printer identity (short or numeric serials, case, impossible hosts)
test('row 13: printer serials and hosts are what real printers have', async () => {
  const body = (o) => ({ name: 'row 13', serial: '01P00A451300013', host: '127.0.0.1', port: 1, access_code: '12345678', ...o });
  for (const [bad, field] of [[{ serial: '7' }, 'serial'], [{ serial: '123456789012' }, 'serial'],
    [{ host: '256.256.256.256' }, 'host'], [{ host: '10.0.0' }, 'host'], [{ serial: '01P00A4513/+#' }, 'serial']]) {
    const r = await daemon.req('POST', '/api/v1/printers', body(bad));
    assert.ok(r.status === 400 || r.status === 422, `${JSON.stringify(bad)}: ${r.status} ${r.text}`);
    assert.match(r.json.error.message, new RegExp(field), r.text);
  }
  const made = await daemon.req('POST', '/api/v1/printers', body({ serial: '01p00a451300013' }));
  assert.equal(made.status, 201, made.text);
  assert.equal(made.json.serial, '01P00A451300013');
  const again = await daemon.req('POST', '/api/v1/printers', body({ serial: '01P00A451300013' }));
  assert.equal(again.status, 409, again.text);
  for (const key of [made.json.id, '01p00a451300013', '01P00A451300013'])
    assert.equal((await daemon.get(`/api/v1/printers/${key}`)).json?.id, made.json.id, `GET /printers/${key}`);
  const patched = await daemon.req('PATCH', `/api/v1/printers/${made.json.id}`, { host: '999.1.1.1' });
  assert.ok(patched.status === 400 || patched.status === 422, patched.text);
  assert.equal((await daemon.req('DELETE', `/api/v1/printers/${made.json.id}`)).status, 204);
});
