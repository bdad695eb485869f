// Integration harness: a real mosquitto broker over TLS, the printdeck simulator and the
// daemon, each a child process on loopback ports; HTTP and SSE over real sockets.
import assert from 'node:assert/strict';
import { spawn, execFile, execFileSync, fork } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, '../..');
export const BIN = process.env.PD_BIN || join(ROOT, 'build/printdeck');
// ASan's allocator keeps freed memory for itself: RSS that should come back is measured on
// builds without it
export const SANITIZED = readFileSync(BIN).includes('__asan_init');
export const SIM = process.env.PD_SIM || join(ROOT, 'build/printdeck-sim');
export const TOKEN = 'test-token-0123456789';
export const ACCESS_CODE = '12345678';
export const SIM_USER = 'sim';
export const SIM_PASSWORD = 'printdeck-sim';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Ports for the children's listeners come from below the kernel's ephemeral range: a port that
// listen(0) hands out is one the kernel also gives to outgoing connections as their local port,
// so between closing it here and the child binding it any connect() on the machine may take it.
// Another process can still bind one in that gap; the starters below retry on EADDRINUSE.
const EPHEMERAL_LOW = (() => {
  try { return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]); }
  catch { return 32768; }
})();

function listenOn(port) {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(null));
    s.listen(port, '127.0.0.1', () => res(s));
  });
}

/** The value of the sample of metric `name` in Prometheus text whose labels include every
 * pair of `labels`. Throws when there is none: a renamed metric or label must fail the test,
 * not read as 0. */
export function metric(text, name, labels = {}) {
  for (const line of text.split('\n')) {
    const m = line.match(/^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === String(v))) return Number(m[3]);
  }
  throw new Error(`no sample ${name}${JSON.stringify(labels)} in the metrics:\n${text.slice(0, 2000)}`);
}

/** The first of n consecutive loopback ports that were all free just now. */
export async function freePorts(n = 1) {
  const lo = 10000, hi = (EPHEMERAL_LOW > lo + 1000 ? EPHEMERAL_LOW : 65536) - n;
  for (let tries = 0; tries < 200; tries++) {
    const base = lo + Math.floor(Math.random() * (hi - lo));
    const held = [];
    for (let i = 0; i < n; i++) {
      const s = await listenOn(base + i);
      if (!s) break;
      held.push(s);
    }
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    if (held.length === n) return base;
  }
  throw new Error(`no ${n} consecutive free ports in ${lo}-${hi + n - 1}`);
}
export const freePort = () => freePorts(1);

/** Polls fn until it returns a truthy value; throws with the last value after timeoutMs. */
export async function waitFor(fn, timeoutMs = 10000, what = 'condition', stepMs = 100) {
  const until = Date.now() + timeoutMs;
  let last;
  while (Date.now() < until) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    await sleep(stepMs);
  }
  throw new Error(`timed out waiting for ${what}; last: ${last instanceof Error ? last.stack : JSON.stringify(last)}`);
}

function collect(child, name) {
  const out = { text: '' };
  const add = (d) => { out.text += d.toString(); if (out.text.length > 4e6) out.text = out.text.slice(-2e6); };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  child.on('exit', (code, sig) => { out.exit = { code, sig }; });
  out.name = name;
  return out;
}

const START_TIMEOUT_MS = 60000;
const STARTS = 4;

/**
 * Waits for a child's own readiness signal (ready() truthy) while the child runs. Fails at once
 * when it exits and after START_TIMEOUT_MS otherwise (a first run may be slow: certificates made
 * by openssl, a busy machine), with its exit status, what it printed and more() (e.g. its log
 * file). The error's inUse says that a port was taken, which a retry on new ports cures.
 */
async function started(proc, out, ready, more = () => '') {
  const t0 = Date.now();
  let failure;
  for (;;) {
    if (out.exit) { failure = `exited (${JSON.stringify(out.exit)})`; break; }
    if (Date.now() - t0 > START_TIMEOUT_MS) { failure = `still not ready, still running (pid ${proc.pid})`; break; }
    try { if (await ready()) return; } catch { /* not yet */ }
    await sleep(50);
  }
  const extra = more();
  const text = `${out.text}\n${extra}`;
  const e = new Error(`${out.name} did not start: ${failure} after ${((Date.now() - t0) / 1000).toFixed(1)} s\n` +
    `--- ${out.name} output ---\n${out.text.slice(-6000)}${extra ? `\n${extra.slice(-6000)}` : ''}`);
  e.inUse = /address already in use/i.test(text);
  if (!out.exit) await stopProc(proc, 'SIGKILL');
  throw e;
}

/**
 * Starts a child with launch() on ports from pick() until it is ready: a taken port (the child
 * says EADDRINUSE) means new ports and another try. pick is null when the ports are fixed (a
 * restart: clients already know them); then it tries again on the same ports a little later.
 */
async function startOnFreePorts(pick, launch) {
  for (let attempt = 1; ; attempt++) {
    if (pick) await pick();
    try {
      return await launch();
    } catch (e) {
      if (attempt > 1) e.message = `start ${attempt} of ${STARTS}: ${e.message}`;
      if (!e.inUse || attempt === STARTS) throw e;
      console.error(`harness: port taken, start again (attempt ${attempt + 1} of ${STARTS})\n${e.message.split('\n')[0]}`);
      if (!pick) await sleep(500 * attempt);
    }
  }
}

// With PD_TEST_PG (a PostgreSQL server's base URL, from scripts/pg.sh) every daemon gets a
// database of its own. It belongs to the daemon's data dir, not to its process: a test that
// restarts a daemon finds its data again. They are dropped when this test file's process exits.
export const PG_BASE = process.env.PD_TEST_PG || '';
const databases = new Map(); // data dir → database URL
function psql(sql) {
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', PG_BASE, ...sql.flatMap((c) => ['-c', c])],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20000 });
}
// Created without blocking this process: a daemon already running is being watched from it
// (adversarial.test.mjs times /healthz), and CREATE DATABASE takes hundreds of ms.
async function databaseFor(dataDir) {
  if (!databases.has(dataDir)) {
    const name = `pd_int_${process.pid}_${databases.size + 1}`;
    const url = new URL(PG_BASE);
    url.pathname = `/${name}`;
    databases.set(dataDir, url.href);
    await new Promise((res, rej) => execFile('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', PG_BASE,
      '-c', `CREATE DATABASE ${name}`], { timeout: 20000 }, (err, _out, stderr) =>
      err ? rej(new Error(`CREATE DATABASE ${name}: ${stderr || err.message}`)) : res()));
  }
  return databases.get(dataDir);
}
process.on('exit', () => {
  // FORCE: a daemon left running by a failed test still holds a connection
  const names = [...databases.values()].map((u) => new URL(u).pathname.slice(1));
  if (names.length) psql(names.map((n) => `DROP DATABASE IF EXISTS ${n} WITH (FORCE)`));
});

/** The PostgreSQL database a daemon runs on ('' on SQLite), for SQL a test writes itself. */
export const databaseOf = (daemon) => databases.get(join(daemon.dir, 'data')) || '';

export function run(cmd, args, opts = {}) {
  // printdeck run by hand on a daemon's data dir (e.g. `token create`) must use its database
  const d = cmd === BIN ? args.indexOf('--data-dir') : -1;
  const db = d >= 0 && databases.get(args[d + 1]);
  if (db) opts = { ...opts, env: { ...(opts.env || process.env), PRINTDECK_DATABASE_URL: db } };
  return new Promise((res, rej) => execFile(cmd, args, { timeout: 20000, ...opts }, (err, stdout, stderr) =>
    err ? rej(Object.assign(err, { stdout, stderr })) : res({ stdout, stderr })));
}

export class Broker {
  constructor(dir, serials) { this.dir = dir; this.serials = serials; }
  async start() {
    const n = this.serials.length;
    // the printers' listeners on base…base+n-1, the simulator's right after them
    const pick = this.basePort ? null : async () => { this.basePort = await freePorts(n + 1); this.simPort = this.basePort + n; };
    await startOnFreePorts(pick, () => this.launch());
  }
  async launch() {
    const args = ['--dir', this.dir, '--serials', this.serials.join(','), '--base-port', String(this.basePort),
      '--sim-port', String(this.simPort), '--access-code', ACCESS_CODE];
    // mosquitto appends to its log file: read only what this start writes
    const file = join(this.dir, 'mosquitto.log');
    const from = existsSync(file) ? statSync(file).size : 0;
    const log = () => { try { return readFileSync(file).subarray(from).toString(); } catch { return ''; } };
    this.proc = spawn(join(ROOT, 'scripts/broker.sh'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.log = collect(this.proc, 'broker');
    // mosquitto logs "Opening … listen socket on port N." before it binds each listener and
    // "mosquitto version V running" once all are bound; a failed bind logs "Error: …" and exits
    const ports = [this.simPort, ...this.serials.map((_, i) => this.basePort + i)];
    await started(this.proc, this.log, () => {
      const t = log();
      return /mosquitto version \S+ running/.test(t) && ports.every((p) => t.includes(`listen socket on port ${p}.`));
    }, () => `--- ${file} (this start) ---\n${log()}`);
  }
  portOf(serial) { return this.basePort + this.serials.indexOf(serial); }
  get ca() { return join(this.dir, 'ca.crt'); }
  async stop() { await stopProc(this.proc, 'SIGTERM'); }
}

// vsftpd logs users in through PAM as root: without root (or vsftpd) the FTPS tests skip
export const HAVE_FTPS = process.getuid?.() === 0 && existsSync('/usr/sbin/vsftpd');

/** One real vsftpd per printer (scripts/ftps.sh), implicit TLS with the broker's CA when it
 * shares the broker's dir, serving `storage`/<serial>/ (printdeck-sim --storage-dir). */
export class Ftps {
  // maxRate: bytes/s per transfer (0 unlimited), a printer's pace
  constructor(dir, serials, storage, { maxRate = 0 } = {}) {
    this.dir = dir; this.serials = serials; this.storage = storage; this.maxRate = maxRate;
  }
  async start() {
    const n = this.serials.length;
    await startOnFreePorts(async () => { this.basePort = await freePorts(n); this.pasvPort = await freePorts(10 * n); },
      async () => {
        try {
          await run(join(ROOT, 'scripts/ftps.sh'), ['--dir', this.dir, '--root', this.storage, '--serials',
            this.serials.join(','), '--base-port', String(this.basePort), '--pasv-base', String(this.pasvPort),
            '--access-code', ACCESS_CODE, '--max-rate', String(this.maxRate), '--daemon'], { timeout: 90000 });
        } catch (e) {
          throw Object.assign(new Error(`ftps.sh did not start: ${e.stderr || e.message}`),
            { inUse: /address already in use/i.test(e.stderr || '') });
        }
      });
  }
  portOf(serial) { return this.basePort + this.serials.indexOf(serial); }
  dirOf(serial) { return join(this.storage, serial); }
  get ca() { return join(this.dir, 'ca.crt'); }
  async stop() { await run(join(ROOT, 'scripts/ftps.sh'), ['--dir', this.dir, '--stop']).catch(() => {}); }
}

// --- filament accounting scenarios: spools in slots, the simulator's ground truth ---------------

/** A new spool of `filament` in (unit, slot) of printer `serial` (printdeck's `id`): the simulator
 * loads it (RFID, `remain` %), the inventory gets a spool of that weight left and the slot keeps
 * it. Returns the inventory spool's id. */
export async function loadSpool(daemon, sim, serial, id, filament, unit, slot,
  { remain = 100, color = 'FF0000FF', type = 'PLA' } = {}) {
  await sim.control(serial, { action: 'swap_spool', ams: unit, slot, type, color, remain });
  const r = await daemon.req('POST', '/api/v1/spool', { filament_id: filament, initial_weight: 1000,
    used_weight: 1000 * (100 - remain) / 100 });
  if (r.status !== 200) throw new Error(`spool: ${r.status} ${r.text}`);
  await waitFor(async () => {
    const t = (await daemon.printer(id))?.ams?.find((u) => u.id === unit)?.trays?.find((x) => x.id === slot);
    return t && t.remain === remain;
  }, 10000, `tray ${unit}/${slot} of ${serial} reported`).catch(() => {});
  // the tray's own report of the new spool may come after the assignment and undo it (another
  // material or colour: a swap): assign until the slot keeps it
  await waitFor(async () => {
    const a = await daemon.req('POST', `/api/v1/printers/${id}/ams/${unit}/${slot}/assign`, { spool_id: r.json.id });
    if (a.status !== 200) throw new Error(`assign: ${a.status} ${a.text}`);
    await sleep(1000);
    const slots = (await daemon.get(`/api/v1/printers/${id}/ams`)).json;
    return (Array.isArray(slots) ? slots : slots?.slots ?? [])
      .some((x) => x.unit === unit && x.slot === slot && x.spool_id === r.json.id);
  }, 15000, `spool kept in ${unit}/${slot}`, 200);
  return r.json.id;
}

/** What a job really took, once it ended (printdeck-sim's <storage>/<serial>/<job>.truth.json):
 * `trays` one entry per spool of each tray, `tray` the global tray id (254 the external holder). */
export const readTruth = (storage, serial, name) => waitFor(() => {
  const p = join(storage, serial, `${name}.truth.json`);
  if (!existsSync(p)) return null;
  const t = JSON.parse(readFileSync(p, 'utf8'));
  return { name: t.job, trays: t.trays.map((x) => ({ ...x, tray: x.unit === 255 ? 254 : x.unit * 4 + x.slot })) };
}, 10000, `truth of ${name}`);

/** Grams of a truth from a tray (every spool it held), or from one spool when `spool` is given. */
export const truthGrams = (t, tray, spool) => t.trays.filter((x) => x.tray === tray && (spool === undefined ||
  x.spool === spool)).reduce((a, x) => a + x.grams, 0);

/** The accuracy rows of bench/RESULTS.md: each check records its scenario and asserts the grams. */
export class Accuracy {
  constructor() { this.rows = []; }
  check(assert, what, got, want, tol) {
    this.rows.push({ scenario: what, got: +got.toFixed(2), truth: +want.toFixed(2),
      error_pct: want ? +(100 * Math.abs(got - want) / want).toFixed(2) : 0 });
    assert.ok(Math.abs(got - want) <= tol, `${what}: ${got.toFixed(2)} g vs truth ${want.toFixed(2)} g (±${tol.toFixed(2)})`);
  }
  print() { if (this.rows.length) console.log(`accuracy ${JSON.stringify(this.rows)}`); }
}

async function stopProc(p, sig = 'SIGTERM', timeoutMs = 10000) {
  if (!p || p.exitCode !== null || p.signalCode) return { code: p?.exitCode, sig: p?.signalCode };
  const done = new Promise((r) => p.once('exit', (code, s) => r({ code, sig: s })));
  p.kill(sig);
  const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  const r = await done;
  clearTimeout(t);
  return r;
}

export class Sim {
  constructor(broker, models) { this.broker = broker; this.models = models; }
  async start(extra = []) {
    const args = ['--host', '127.0.0.1', '--port', String(this.broker.simPort), '--user', SIM_USER,
      '--password', SIM_PASSWORD, '--serials', this.broker.serials.join(','), '--models', this.models.join(','),
      '--interval-ms', '300', '--no-auto-jobs', ...extra];
    this.proc = spawn(SIM, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.log = collect(this.proc, 'sim');
    await sleep(300);
  }
  /** Sends a scripted scenario action to one simulated printer (or the whole sim). */
  async control(serial, action) {
    const topic = serial ? `printdeck-sim/${serial}/control` : 'printdeck-sim/control';
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(this.broker.simPort), '-u', SIM_USER,
      '-P', SIM_PASSWORD, '-q', '1', '-t', topic, '-m', JSON.stringify(action)]);
  }
  async stop() { return stopProc(this.proc, 'SIGTERM'); }
}

export class Daemon {
  constructor(opts = {}) {
    this.dir = opts.dir || mkdtempSync(join(tmpdir(), 'pd-int-'));
    this.config = opts.config || '';
    this.env = opts.env || {};
    this.bin = opts.bin || BIN; // a wrapper that execs BIN (same pid), e.g. in a mount namespace
  }
  async start() {
    await startOnFreePorts(this.port ? null : async () => { this.port = await freePort(); }, () => this.launch());
  }
  async launch() {
    const cfg = join(this.dir, 'printdeck.ini');
    writeFileSync(cfg, this.config);
    const data = join(this.dir, 'data');
    const db = PG_BASE ? { PRINTDECK_DATABASE_URL: await databaseFor(data) } : {};
    this.proc = spawn(this.bin, ['--config', cfg, '--data-dir', data, '--listen', `127.0.0.1:${this.port}`],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PRINTDECK_TOKEN: TOKEN, ...db,
        ASAN_OPTIONS: 'detect_leaks=1:exitcode=23:abort_on_error=0',
        UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1', ...this.env } });
    this.log = collect(this.proc, 'printdeck');
    // its own "listening" line (log level info, the default) first: /healthz alone could be
    // answered by another process that took the port while this one still migrates its database
    const listening = `listening on http://127.0.0.1:${this.port} `;
    await started(this.proc, this.log, async () => this.log.text.includes(listening) &&
      (await this.get('/healthz')).status === 200);
  }
  url(path) { return `http://127.0.0.1:${this.port}${path}`; }
  async req(method, path, body, headers = {}) {
    const h = { Authorization: `Bearer ${TOKEN}`, ...headers };
    let payload;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['Content-Type'] = 'application/json';
    }
    const r = await fetch(this.url(path), { method, headers: h, body: payload, signal: AbortSignal.timeout(15000) });
    const text = await r.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    return { status: r.status, json, text, headers: r.headers };
  }
  get(path, headers) { return this.req('GET', path, undefined, headers); }
  async addPrinter(broker, serial, extra = {}) {
    const r = await this.req('POST', '/api/v1/printers', { name: `p-${serial.slice(-4)}`, serial, host: '127.0.0.1',
      port: broker.portOf(serial), access_code: ACCESS_CODE, ca_file: broker.ca, ...extra });
    if (r.status !== 201) throw new Error(`add printer: ${r.status} ${r.text}`);
    return r.json;
  }
  async printer(id) { const r = await this.get(`/api/v1/printers/${id}`); return r.json; }
  /** Stops the daemon; null if it never started (a failed `before` must not keep the broker
   * and simulator, and with them this test process, alive). */
  async stop(sig = 'SIGTERM') {
    if (!this.proc) return null;
    const r = await stopProc(this.proc, sig, 15000);
    return { ...r, log: this.log.text };
  }
}

export function assertCleanExit(assert, r) {
  assert.ok(!/AddressSanitizer|LeakSanitizer|runtime error:/.test(r.log), `sanitizer report:\n${r.log.slice(-4000)}`);
  assert.equal(r.code, 0, `daemon exit ${JSON.stringify(r)}\n${r.log.slice(-3000)}`);
}

/** Requests as a Spoolman client makes them, without a token (loopback is a trusted network by
 * default), to the daemon `daemon()` gives when they are made: `open` answers as it comes, `ok`
 * asserts a 200 and gives the JSON. */
export function spoolmanClient(daemon, assert) {
  const open = (method, path, body, headers = {}) => daemon().req(method, path, body, { Authorization: '', ...headers });
  const ok = async (method, path, body) => {
    const r = await open(method, path, body);
    assert.equal(r.status, 200, `${method} ${path}: ${r.status} ${r.text}`);
    return r.json;
  };
  return { open, ok };
}

/** A Server-Sent Events reader over fetch; events are collected as {event, data, id}. */
export class SSE {
  constructor(daemon, path = '/api/v1/events', headers = {}) { this.daemon = daemon; this.path = path; this.headers = headers; this.events = []; }
  async open() {
    this.ctrl = new AbortController();
    const r = await fetch(this.daemon.url(this.path), { headers: { Authorization: `Bearer ${TOKEN}`, ...this.headers }, signal: this.ctrl.signal });
    this.status = r.status;
    this.contentType = r.headers.get('content-type');
    if (r.status !== 200) return this;
    this.reading = (async () => {
      const dec = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of r.body) {
          buf += dec.decode(chunk, { stream: true });
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i); buf = buf.slice(i + 2);
            const ev = { event: 'message', data: '', comment: '' };
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) ev.comment += line.slice(1);
              else if (line.startsWith('event:')) ev.event = line.slice(6).trim();
              else if (line.startsWith('data:')) ev.data += line.slice(5).trim();
              else if (line.startsWith('id:')) ev.id = line.slice(3).trim();
            }
            ev.at = performance.now();
            try { ev.json = ev.data ? JSON.parse(ev.data) : undefined; } catch { /* keep raw */ }
            this.events.push(ev);
            if (this.events.length > 20000) this.events.splice(0, 10000);
          }
        }
      } catch { /* aborted */ }
    })();
    return this;
  }
  find(pred) { return this.events.find(pred); }
  async waitFor(pred, timeoutMs = 10000, what = 'SSE event') { return waitFor(() => this.find(pred), timeoutMs, what); }
  close() { this.ctrl?.abort(); }
}

/** What most scenario files stand on, filled into `f` as it starts (so `stopSimFleet` stops
 * what did start when a step fails): a broker for `serials`, one vsftpd per printer when
 * `ftps` (their storage in `f.storage`, also given to the simulator when `storage`), the
 * simulator playing `models`, a daemon with every printer added (`f.ids[serial]`), an event
 * stream (`f.sse`, unless `sse` is false), and every printer IDLE (unless `idle` is false). */
export async function simFleet(f, { prefix = 'pd-fleet-', serials, models, simArgs = [], config = '',
  storage = false, ftps = false, sse = true, idle = true, camera = false }) {
  f.ids = {};
  const dir = tmpDir(prefix);
  f.broker = new Broker(join(dir, 'tls'), serials);
  await f.broker.start();
  if (storage || ftps) mkdirSync(f.storage = join(dir, 'storage'), { recursive: true });
  if (ftps) {
    f.ftps = new Ftps(join(dir, 'tls'), serials, f.storage);
    await f.ftps.start();
  }
  f.sim = new Sim(f.broker, models);
  // camera: the simulator's port-6000 cameras, printer i's on camPort + i
  if (camera) f.camPort = await freePorts(serials.length);
  await f.sim.start([...(f.storage ? ['--storage-dir', f.storage] : []),
    ...(camera ? ['--camera-port', String(f.camPort), '--cert-dir', f.broker.dir] : []), ...simArgs]);
  f.daemon = new Daemon({ config });
  await f.daemon.start();
  for (const [i, s] of serials.entries())
    f.ids[s] = (await f.daemon.addPrinter(f.broker, s, { ...(f.ftps ? { ftps_port: f.ftps.portOf(s) } : {}),
      ...(camera ? { camera_port: f.camPort + i } : {}) })).id;
  if (sse) f.sse = await new SSE(f.daemon).open();
  if (idle)
    for (const s of serials)
      await waitFor(async () => (await f.daemon.printer(f.ids[s]))?.state === 'IDLE', 15000, `${s} idle`);
  return f;
}

/** Whatever simFleet started, stopped; the daemon must have exited cleanly. */
export async function stopSimFleet(assert, f) {
  f.sse?.close();
  const r = f.daemon && await f.daemon.stop();
  await f.sim?.stop();
  await f.ftps?.stop();
  await f.broker?.stop();
  if (r) assertCleanExit(assert, r);
}

export function tmpDir(prefix = 'pd-') { return mkdtempSync(join(tmpdir(), prefix)); }
export { readFileSync, existsSync, join };

/**
 * A small WebSocket client over a plain socket. Node 20's WebSocket needs a flag and cannot set
 * Host or Origin, and the access tests must, and must see the status of a refused handshake.
 * open() resolves to {status, headers, body}; after a 101 the text messages collect in
 * `messages`, pong payloads in `pongs`, and the server's close code in `closeCode`.
 */
export class WS {
  constructor(daemon, path, headers = {}) {
    this.port = daemon.port; this.path = path; this.headers = headers;
    this.messages = []; this.pongs = []; this.closeCode = undefined; this.ended = false;
  }
  async open(timeoutMs = 5000) {
    const { connect } = await import('node:net');
    const { randomBytes, createHash } = await import('node:crypto');
    const key = randomBytes(16).toString('base64');
    const head = { Host: `127.0.0.1:${this.port}`, Upgrade: 'websocket', Connection: 'Upgrade',
      'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13', ...this.headers };
    const lines = Object.entries(head).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${v}`);
    this.sock = connect(this.port, '127.0.0.1');
    this.sock.on('error', () => {});
    this.sock.on('close', () => { this.ended = true; });
    this.sock.write(`GET ${this.path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
    let buf = Buffer.alloc(0);
    const res = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no handshake answer for ${this.path}`)), timeoutMs);
      const onData = (d) => {
        buf = Buffer.concat([buf, d]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const [status, ...hl] = buf.subarray(0, end).toString().split('\r\n');
        const headers = Object.fromEntries(hl.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
        const code = Number(status.split(' ')[1]);
        const want = code === 101 ? 0 : Number(headers['content-length'] || 0);
        if (buf.length < end + 4 + want) return;
        clearTimeout(t);
        this.sock.off('data', onData);
        const body = buf.subarray(end + 4, end + 4 + want).toString();
        buf = buf.subarray(end + 4 + want);
        resolve({ status: code, headers, body, json: body ? JSON.parse(body) : undefined });
      };
      this.sock.on('data', onData);
    });
    if (res.status === 101) {
      const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      if (res.headers['sec-websocket-accept'] !== accept) throw new Error('bad Sec-WebSocket-Accept');
      this.rx = buf;
      this.sock.on('data', (d) => { this.rx = Buffer.concat([this.rx, d]); this.parse(); });
      this.parse();
    }
    return res;
  }
  parse() {
    for (;;) {
      const b = this.rx;
      if (b.length < 2) return;
      let len = b[1] & 0x7f, off = 2;
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); off = 10; }
      if (b.length < off + len) return;
      const op = b[0] & 0x0f, payload = b.subarray(off, off + len);
      this.rx = b.subarray(off + len);
      if (op === 1) this.messages.push(payload.toString());
      else if (op === 10) this.pongs.push(payload.toString());
      else if (op === 8) this.closeCode = len >= 2 ? payload.readUInt16BE(0) : 1005;
    }
  }
  frame(op, payload) {
    const data = Buffer.from(payload), mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
    const ext = data.length < 126 ? Buffer.from([0x80 | data.length])
      : Buffer.from([0x80 | 126, data.length >> 8, data.length & 0xff]);
    const masked = Buffer.from(data.map((x, i) => x ^ mask[i % 4]));
    this.sock.write(Buffer.concat([Buffer.from([0x80 | op]), ext, mask, masked]));
  }
  send(text) { this.frame(1, text); }
  ping(text) { this.frame(9, text); }
  close(code = 1000) { const p = Buffer.alloc(2); p.writeUInt16BE(code); this.frame(8, p); }
  async waitFor(pred, timeoutMs = 5000, what = 'websocket message') {
    return waitFor(() => this.messages.find(pred), timeoutMs, what, 20);
  }
  destroy() { this.sock?.destroy(); }
}

/**
 * Polls GET /healthz every 20 ms and samples the daemon's RSS, from a process of its own
 * (healthwatch.mjs), until stop() returns {n, p99, max, rssMaxKb, rssEndKb}.
 */
export function watchHealth(daemon) {
  const child = fork(join(here, 'healthwatch.mjs'),
    [daemon.url('/healthz'), String(daemon.proc.pid)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const result = new Promise((res, rej) => {
    child.once('message', res);
    child.once('exit', (code) => rej(new Error(`healthwatch exited ${code} without a result`)));
  });
  let stopped;
  return {
    stop() {
      if (!stopped) {
        child.send('stop');
        stopped = result;
      }
      return stopped;
    },
  };
}

/**
 * Asserts what the watcher saw: the daemon's own loop never took a turn longer than `maxMs`
 * (a stall), and 99 % of /healthz answers came within it; the slowest answer is reported (on
 * two busy cores one can wait for the scheduler without the daemon stalling).
 */
export function assertResponsive(w, what, maxMs = 100) {
  const seen = `loop turns up to ${w.loopMaxMs.toFixed(1)} ms; /healthz p99 ${w.p99.toFixed(1)} ms, max ` +
    `${w.max.toFixed(1)} ms over ${w.n} polls`;
  assert.ok(w.n > 0, `${what}: /healthz was never polled`);
  assert.ok(w.loopMaxMs <= maxMs && w.p99 <= maxMs, `${what}: ${seen}`);
}
