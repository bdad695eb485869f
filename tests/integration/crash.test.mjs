// Crash safety, measured (docs/storage.md#crash-safety). The daemon is killed with SIGKILL at
// random points of a burst of inventory writes and AMS slot changes, round after round: every
// write answered with a 2xx must be there after the restart with the value it was answered with
// (the one write each client had in flight may or may not be), and the database must open clean.
// Then `printdeck backup` is killed at random points: a backup is whole or absent.
// Runs on SQLite, and on PostgreSQL when PD_TEST_PG is set. The kill points come from a seeded
// generator: the seed is printed, PD_CRASH_SEED=N replays them (the clients' interleaving depends
// on timing). PD_CRASH_SECONDS bounds the rounds of the first test (default 60).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Daemon, run, tmpDir, join, sleep, freePort, assertCleanExit, PG_BASE, BIN, ACCESS_CODE } from './harness.mjs';

const SEED = process.env.PD_CRASH_SEED ? Number(process.env.PD_CRASH_SEED) : Math.floor(Math.random() * 2 ** 31);
const REPLAY = `seed ${SEED}: PD_CRASH_SEED=${SEED} replays it`;
const BUDGET_MS = Number(process.env.PD_CRASH_SECONDS || 60) * 1000;
const ROUNDS = 25;
const CLIENTS = 3; // client c owns AMS unit c and what it creates: no two clients touch one row

function mulberry32(a) {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
// two streams: the kill points replay exactly whatever the requests' timing did to the other
const killRand = mulberry32(SEED), opRand = mulberry32(SEED ^ 0x5bd1e995);
const between = (rand, lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = (xs) => xs[Math.floor(opRand() * xs.length)];

const SQLITE3 = (() => { try { execFileSync('sqlite3', ['-version']); return true; } catch { return false; } })();
const sqlite = (file, sql) => execFileSync('sqlite3', ['-batch', '-readonly', file, sql], { encoding: 'utf8', timeout: 60000 }).trim();

/** One client's acknowledged view of its rows; `pending` is the request it had in flight. */
class Client {
  constructor(c) {
    this.c = c;
    this.state = { vendor: {}, filament: {}, spool: {}, slot: {} };
    this.pending = null;
    this.n = 0;
    this.acked = 0;
    this.error = null;
  }

  // A request and what its success does to the state: apply(state, answer). A create that is
  // only maybe done (answer undefined) changes no row the client knows.
  next(round) {
    const s = this.state, tag = `r${round}c${this.c}n${++this.n}`;
    const vendors = Object.keys(s.vendor), filaments = Object.keys(s.filament), spools = Object.keys(s.spool);
    const r = opRand();
    if (!vendors.length || r < 0.05) {
      return { method: 'POST', path: '/api/v1/vendor', body: { name: `v-${tag}`, comment: tag },
        apply: (st, a) => { if (a) st.vendor[a.id] = { name: `v-${tag}`, comment: tag }; } };
    }
    if (r < 0.1) {
      const id = pick(vendors);
      return { method: 'PATCH', path: `/api/v1/vendor/${id}`, body: { comment: tag }, apply: (st) => { st.vendor[id].comment = tag; } };
    }
    if (!filaments.length || r < 0.18) {
      const v = Number(pick(vendors)), price = between(opRand, 1, 99);
      return { method: 'POST', path: '/api/v1/filament',
        body: { name: `f-${tag}`, vendor_id: v, density: 1.24, diameter: 1.75, weight: 1000, price },
        apply: (st, a) => { if (a) st.filament[a.id] = { name: `f-${tag}`, vendor_id: v, price }; } };
    }
    if (r < 0.26) {
      const id = pick(filaments), price = between(opRand, 1, 99);
      return { method: 'PATCH', path: `/api/v1/filament/${id}`, body: { name: `f-${tag}`, price },
        apply: (st) => { Object.assign(st.filament[id], { name: `f-${tag}`, price }); } };
    }
    if (!spools.length || r < 0.42) {
      const f = Number(pick(filaments)), location = `L${this.c}`;
      return { method: 'POST', path: '/api/v1/spool', body: { filament_id: f, initial_weight: 1000, comment: tag, location },
        apply: (st, a) => { if (a) st.spool[a.id] = { filament_id: f, used: 0, comment: tag, location }; } };
    }
    if (r < 0.56) {
      const id = pick(spools), location = `L${between(opRand, 0, 9)}`;
      return { method: 'PATCH', path: `/api/v1/spool/${id}`, body: { comment: tag, location },
        apply: (st) => { Object.assign(st.spool[id], { comment: tag, location }); } };
    }
    if (r < 0.8) {
      const id = pick(spools), g = between(opRand, 1, 5);
      return { method: 'PUT', path: `/api/v1/spool/${id}/use`, body: { use_weight: g },
        apply: (st, a) => {
          st.spool[id].used += g;
          if (a) assert.equal(a.used_weight, st.spool[id].used, `use answered ${a.used_weight}, expected ${st.spool[id].used}`);
        } };
    }
    const slot = between(opRand, 0, 3), at = `/api/v1/printers/${this.printer}/ams/${this.c}/${slot}`;
    if (r < 0.93) {
      const id = Number(pick(spools));
      // a spool assigned elsewhere leaves its old slot first (docs/inventory.md)
      return { method: 'POST', path: `${at}/assign`, body: { spool_id: id },
        apply: (st) => { for (const k in st.slot) if (st.slot[k] === id) delete st.slot[k]; st.slot[slot] = id; } };
    }
    return { method: 'POST', path: `${at}/unassign`, body: {}, apply: (st) => { delete st.slot[slot]; } };
  }

  /** Writes until the daemon dies under it; the request it had in flight stays pending. */
  async run(daemon, round) {
    for (;;) {
      const op = this.next(round);
      this.pending = op;
      let r;
      try { r = await daemon.req(op.method, op.path, op.body); } catch { return; }
      const what = `${op.method} ${op.path} ${JSON.stringify(op.body)}`;
      if (r.status < 200 || r.status > 299) {
        this.error = `${what}: ${r.status} ${r.text}`;
        return;
      }
      try { op.apply(this.state, r.json); } catch (e) { this.error = `${what}: ${e.message}`; return; }
      this.pending = null;
      this.acked++;
    }
  }

  /** The client's rows as the daemon serves them, in the shape of `state`. */
  served(all) {
    const s = this.state, out = { vendor: {}, filament: {}, spool: {}, slot: {} };
    for (const id in s.vendor) {
      const v = all.vendor.get(Number(id));
      out.vendor[id] = v ? { name: v.name, comment: v.comment ?? null } : 'missing';
    }
    for (const id in s.filament) {
      const f = all.filament.get(Number(id));
      out.filament[id] = f ? { name: f.name, vendor_id: f.vendor?.id ?? null, price: f.price ?? null } : 'missing';
    }
    for (const id in s.spool) {
      const x = all.spool.get(Number(id));
      out.spool[id] = x ? { filament_id: x.filament.id, used: x.used_weight, comment: x.comment ?? null,
        location: x.location ?? null } : 'missing';
    }
    for (const x of all.slots) if (x.unit === this.c && x.spool_id) out.slot[x.slot] = x.spool_id;
    return out;
  }

  /** Checks what the daemon serves against the acknowledged state, with or without the pending
   * request done, and adopts what it found. Whether the pending request landed: true, false, or
   * null when nothing tells (a create, or no request pending). */
  verify(all, round) {
    const served = this.served(all), got = JSON.stringify(served);
    const before = JSON.parse(JSON.stringify(this.state));
    const candidates = [before];
    if (this.pending) {
      const after = JSON.parse(JSON.stringify(this.state));
      this.pending.apply(after, undefined);
      candidates.push(after);
    }
    const match = candidates.findIndex((c) => JSON.stringify(c) === got);
    assert.ok(match >= 0, `round ${round}, client ${this.c}: an acknowledged write was lost or changed (${REPLAY})\n` +
      `in flight at the kill: ${this.pending ? `${this.pending.method} ${this.pending.path} ${JSON.stringify(this.pending.body)}` : 'nothing'}\n` +
      Object.keys(before).flatMap((kind) => [...new Set([...Object.keys(before[kind]), ...Object.keys(served[kind])])]
        .filter((id) => JSON.stringify(before[kind][id]) !== JSON.stringify(served[kind][id]))
        .map((id) => `${kind} ${id}: acknowledged ${JSON.stringify(before[kind][id])}, served ${JSON.stringify(served[kind][id])}`))
        .join('\n'));
    const landed = candidates.length === 2 && JSON.stringify(candidates[1]) !== JSON.stringify(before) ? match === 1 : null;
    this.state = candidates[match];
    this.pending = null;
    return landed;
  }
}

async function fetchAll(daemon, printer) {
  const list = async (path) => {
    const r = await daemon.get(path);
    assert.equal(r.status, 200, `${path}: ${r.status} ${r.text}`);
    return r.json;
  };
  const byId = (xs) => new Map(xs.map((x) => [x.id, x]));
  return { vendor: byId(await list('/api/v1/vendor')), filament: byId(await list('/api/v1/filament')),
    spool: byId(await list('/api/v1/spool?allow_archived=true')), slots: await list(`/api/v1/printers/${printer}/ams`) };
}

function checkSqliteFile(file, what) {
  assert.equal(sqlite(file, 'PRAGMA integrity_check'), 'ok', `${what}: integrity_check (${REPLAY})`);
  assert.equal(sqlite(file, 'PRAGMA foreign_key_check'), '', `${what}: foreign_key_check (${REPLAY})`);
}

test('kill -9 during a burst of writes: every acknowledged write survives', { timeout: BUDGET_MS + 180000 }, async (t) => {
  t.diagnostic(`${REPLAY}; ${PG_BASE ? 'PostgreSQL' : 'SQLite'}${!PG_BASE && !SQLITE3 ? ' (no sqlite3 CLI: no integrity_check)' : ''}`);
  const daemon = new Daemon();
  t.after(() => daemon.stop('SIGKILL')); // a failed round must not leave it running
  await daemon.start();
  // a printer record for the slots; nothing listens on its port, which the slot API does not need
  const p = await daemon.req('POST', '/api/v1/printers', { name: 'crash', serial: '00M09A350100321', host: '127.0.0.1',
    port: await freePort(), access_code: ACCESS_CODE });
  assert.equal(p.status, 201, p.text);
  const clients = Array.from({ length: CLIENTS }, (_, c) => Object.assign(new Client(c), { printer: p.json.id }));
  const file = join(daemon.dir, 'data', 'printdeck.db');
  const t0 = Date.now();
  let rounds = 0;
  const inFlight = { true: 0, false: 0, null: 0 };
  for (; rounds < ROUNDS && Date.now() - t0 < BUDGET_MS; rounds++) {
    const runs = clients.map((c) => c.run(daemon, rounds));
    // a quarter of the kills among the first writes, the rest anywhere in a longer burst
    await sleep(killRand() < 0.25 ? between(killRand, 0, 30) : between(killRand, 30, 600));
    const k = await daemon.stop('SIGKILL');
    await Promise.all(runs);
    assert.equal(k.sig, 'SIGKILL', `round ${rounds}: the daemon was dead before the kill (${REPLAY})\n${k.log.slice(-4000)}`);
    for (const c of clients) assert.equal(c.error, null, `round ${rounds}, client ${c.c}: ${c.error} (${REPLAY})`);
    if (!PG_BASE && SQLITE3) checkSqliteFile(file, `round ${rounds}, right after the kill`);
    await daemon.start();
    const all = await fetchAll(daemon, p.json.id);
    for (const c of clients) inFlight[c.verify(all, rounds)]++;
  }
  const acked = clients.reduce((n, c) => n + c.acked, 0);
  t.diagnostic(`${rounds} kills in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${acked} acknowledged writes all kept; ` +
    `of the writes in flight at a kill ${inFlight.true} landed, ${inFlight.false} did not, ${inFlight.null} unknown (creates)`);
  assert.ok(rounds >= 3 && acked > 0, `only ${rounds} rounds, ${acked} acknowledged writes in the time budget`);
  assertCleanExit(assert, await daemon.stop());
});

test('kill -9 during printdeck backup: a backup file is whole or absent', { timeout: 240000 }, async (t) => {
  const dir = tmpDir('pd-crash-backup-'), data = join(dir, 'data'), backups = join(data, 'backups');
  if (PG_BASE) {
    // backups are SQLite's; on PostgreSQL the command refuses and writes nothing
    const d = new Daemon({ dir });
    t.after(() => d.stop('SIGKILL'));
    await d.start();
    assertCleanExit(assert, await d.stop());
    mkdirSync(data, { recursive: true }); // on PostgreSQL nothing else makes it
    const e = await run(BIN, ['--data-dir', data, 'backup']).then(() => null, (x) => x);
    assert.equal(e?.code, 1, 'backup on PostgreSQL must fail');
    assert.match(e.stderr, /pg_dump/);
    assert.deepEqual(readdirSync(backups, { withFileTypes: true }).filter((f) => f.isFile()).map((f) => f.name), []);
    return;
  }
  t.diagnostic(REPLAY);
  // a few MB, so that a backup takes long enough to be killed in the middle
  const N = 5000, rows = [];
  for (let i = 1; i <= N; i++) {
    rows.push({ id: i, 'filament.id': (i % 20) + 1, 'filament.name': `F${i % 20}`, 'filament.density': 1.24,
      'filament.diameter': 1.75, 'filament.vendor.id': 1, 'filament.vendor.name': 'V', initial_weight: 1000,
      used_weight: i % 900, comment: `${i} ${'x'.repeat(990)}` });
  }
  const inventory = join(dir, 'inventory.json');
  writeFileSync(inventory, JSON.stringify(rows));
  await run(BIN, ['--data-dir', data, '--log-level', 'warn', 'import', inventory], { timeout: 180000 });

  const whole = async (file, what) => {
    if (SQLITE3) {
      checkSqliteFile(file, what);
      assert.equal(sqlite(file, 'SELECT count(*) FROM spool'), String(N), `${what}: spools (${REPLAY})`);
      return;
    }
    const d = new Daemon({ env: { PRINTDECK_DATABASE_URL: `sqlite:${file}` } });
    t.after(() => d.stop('SIGKILL'));
    await d.start();
    const r = await d.get('/api/v1/spool?limit=1');
    assertCleanExit(assert, await d.stop());
    assert.equal(r.headers.get('x-total-count'), String(N), `${what}: spools served (${REPLAY})`);
  };
  const FINAL = /^printdeck\.db$/;  // a killed one may leave printdeck.db.pending[.tmp], never this
  const t0 = Date.now();
  const { stdout } = await run(BIN, ['--data-dir', data, '--log-level', 'warn', 'backup'], { timeout: 120000 });
  const took = Date.now() - t0;
  await whole(stdout.trim(), 'an uninterrupted backup');

  let kills = 0, complete = 0, absent = 0, tmps = 0;
  for (const start = Date.now(); kills < 20 && Date.now() - start < 40000; kills++) {
    rmSync(backups, { recursive: true, force: true });
    mkdirSync(backups, { mode: 0o700 });
    const child = spawn(BIN, ['--data-dir', data, '--log-level', 'warn', 'backup'], { stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', (code, sig) => r({ code, sig })));
    await sleep(between(killRand, 0, Math.ceil(took * 1.3)));
    child.kill('SIGKILL');
    const x = await exited;
    const files = readdirSync(backups);
    const finals = files.filter((f) => FINAL.test(f));
    tmps += files.some((f) => f.endsWith('.tmp')) ? 1 : 0;
    if (x.code === 0) assert.equal(finals.length, 1, `a finished backup left ${JSON.stringify(files)}`);
    for (const f of finals) await whole(join(backups, f), `kill ${kills} (${JSON.stringify(x)}): ${f}`);
    complete += finals.length ? 1 : 0;
    absent += finals.length ? 0 : 1;
  }
  t.diagnostic(`backup takes ${took} ms; ${kills} kills: ${complete} whole backups, ${absent} absent ` +
    `(${tmps} left a .tmp)`);
  if (SQLITE3) checkSqliteFile(join(data, 'printdeck.db'), 'the database after the killed backups');
});
