// Integration harness: a real mosquitto broker over TLS, the printdeck simulator and the
// daemon, each a child process on loopback ports; HTTP and SSE over real sockets.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, '../..');
export const BIN = process.env.PD_BIN || join(ROOT, 'build/printdeck');
export const SIM = process.env.PD_SIM || join(ROOT, 'build/printdeck-sim');
export const TOKEN = 'test-token-0123456789';
export const ACCESS_CODE = '12345678';
export const SIM_USER = 'sim';
export const SIM_PASSWORD = 'printdeck-sim';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
  });
}

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

export function run(cmd, args, opts = {}) {
  return new Promise((res, rej) => execFile(cmd, args, { timeout: 20000, ...opts }, (err, stdout, stderr) =>
    err ? rej(Object.assign(err, { stdout, stderr })) : res({ stdout, stderr })));
}

export class Broker {
  constructor(dir, serials) { this.dir = dir; this.serials = serials; }
  async start() {
    if (!this.basePort) {
      this.basePort = await freePort();
      // the sim port must not fall inside the per-serial listener range
      do { this.simPort = await freePort(); }
      while (this.simPort >= this.basePort && this.simPort < this.basePort + this.serials.length);
    }
    const args = ['--dir', this.dir, '--serials', this.serials.join(','), '--base-port', String(this.basePort),
      '--sim-port', String(this.simPort), '--access-code', ACCESS_CODE];
    this.proc = spawn(join(ROOT, 'scripts/broker.sh'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.log = collect(this.proc, 'broker');
    await waitFor(() => this.log.text.includes('listen') || portOpen(this.simPort), 10000, 'broker up');
    await waitFor(() => portOpen(this.simPort), 10000, 'broker sim port');
  }
  portOf(serial) { return this.basePort + this.serials.indexOf(serial); }
  get ca() { return join(this.dir, 'ca.crt'); }
  async stop() { await stopProc(this.proc, 'SIGTERM'); }
}

export function portOpen(port) {
  return new Promise((res) => {
    import('node:net').then(({ connect }) => {
      const s = connect(port, '127.0.0.1');
      s.on('connect', () => { s.destroy(); res(true); });
      s.on('error', () => res(false));
    });
  });
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
  }
  async start() {
    if (!this.port) this.port = await freePort();
    const cfg = join(this.dir, 'printdeck.ini');
    writeFileSync(cfg, this.config);
    this.proc = spawn(BIN, ['--config', cfg, '--data-dir', join(this.dir, 'data'), '--listen', `127.0.0.1:${this.port}`],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PRINTDECK_TOKEN: TOKEN,
        ASAN_OPTIONS: 'detect_leaks=1:exitcode=23:abort_on_error=0',
        UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1', ...this.env } });
    this.log = collect(this.proc, 'printdeck');
    await waitFor(() => this.get('/healthz').then((r) => r.status === 200), 15000, 'daemon /healthz');
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
  /** Stops the daemon and asserts a clean exit: status 0 and no sanitizer report. */
  async stop(sig = 'SIGTERM') {
    const r = await stopProc(this.proc, sig, 15000);
    return { ...r, log: this.log.text };
  }
}

export function assertCleanExit(assert, r) {
  assert.ok(!/AddressSanitizer|LeakSanitizer|runtime error:/.test(r.log), `sanitizer report:\n${r.log.slice(-4000)}`);
  assert.equal(r.code, 0, `daemon exit ${JSON.stringify(r)}\n${r.log.slice(-3000)}`);
}

/** A Server-Sent Events reader over fetch; events are collected as {event, data, id}. */
export class SSE {
  constructor(daemon, path = '/api/v1/events') { this.daemon = daemon; this.path = path; this.events = []; }
  async open() {
    this.ctrl = new AbortController();
    const r = await fetch(this.daemon.url(this.path), { headers: { Authorization: `Bearer ${TOKEN}` }, signal: this.ctrl.signal });
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

export function tmpDir(prefix = 'pd-') { return mkdtempSync(join(tmpdir(), prefix)); }
export { readFileSync, existsSync, join };
