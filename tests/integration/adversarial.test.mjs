// The daemon under hostile clients, slow networks and locked databases: each row of the
// robustness table (docs/testing.md) replayed on loopback, bounded in time. Throughout, a
// watcher polls /healthz: the loop must never stall past 100 ms, and memory must come back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, assertCleanExit, sleep, readFileSync } from './harness.mjs';

/**
 * Polls GET /healthz every 20 ms and samples the daemon's RSS, until stop() returns
 * {n, p99, max, rssMaxKb, rssEndKb}. Latency is measured from the request to the last byte of
 * the answer; a request that gets no answer within 2 s counts as 2,000 ms.
 */
export function watchHealth(daemon) {
  const lat = [];
  let rssMaxKb = 0, stopped = false;
  const rss = () => {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${daemon.proc.pid}/status`, 'utf8'));
      return m ? Number(m[1]) : 0;
    } catch { return 0; }
  };
  const loop = (async () => {
    while (!stopped) {
      const t0 = performance.now();
      try {
        const r = await fetch(daemon.url('/healthz'), { signal: AbortSignal.timeout(2000) });
        await r.text();
        lat.push(performance.now() - t0);
      } catch { lat.push(2000); }
      rssMaxKb = Math.max(rssMaxKb, rss());
      await sleep(20);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      const s = [...lat].sort((a, b) => a - b);
      return { n: s.length, p99: s[Math.floor(s.length * 0.99)] ?? 0, max: s.at(-1) ?? 0, rssMaxKb,
        rssEndKb: rss() };
    },
  };
}

/** Asserts what the watcher saw: no /healthz slower than `maxMs`. */
export function assertResponsive(w, what, maxMs = 100) {
  assert.ok(w.n > 0, `${what}: /healthz was never polled`);
  assert.ok(w.max <= maxMs, `${what}: /healthz took up to ${w.max.toFixed(1)} ms (p99 ${w.p99.toFixed(1)} ms, ${w.n} polls)`);
}

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
test.todo('row 1: a ca_file that is a FIFO neither hangs the loop nor the next start');

// Row 2: a printer host whose resolver does not answer
test.todo('row 2: a host name that does not resolve never stalls the loop');

// Row 3: the database locked by another writer
test.todo('row 3: SQLite lock contention never blocks the loop');

// Row 4: one client holding many sockets, trickled bodies, idle websockets
test.todo('row 4: connections are bounded per address and timed out');

// Row 5: 100,000 spools listed and exported
test.todo('row 5: big lists and exports are streamed with bounded memory');

// Row 6: POST with no Content-Length, chunked bodies, Content-Length -1
test.todo('row 6: bodies framed every way RFC 9112 allows are answered');

// Row 7: error messages that echo long multi-byte UTF-8 input
test.todo('row 7: an echoed input is cut at a UTF-8 boundary and the 4xx is sent');

// Rows 8-11 and 13 (safe defaults, hostile imports, printer identity) need these too; imports
// are hoisted, so they sit with the rows that use them.
import { BIN, PG_BASE, run, tmpDir, join, freePort } from './harness.mjs';
import { statSync, chmodSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

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
test.todo('row 12: HTTP and websocket edges are answered as the RFCs say');

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
