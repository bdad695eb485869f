// The notification benchmark's receiver and its report (bench/notify.sh).
//
//   node bench/notify-recv.mjs serve --port P --out FILE [--secret S]
//     an HTTP receiver on 127.0.0.1:P answering every POST 200; per request one line to FILE:
//     `<wall ms> <serial> <client port> <id> <event> <verified>`. The serial is the one in the job's name
//     (`nb-<serial>`, what notify.sh starts on each printer) found in the body, which a webhook's
//     data and an ntfy message both carry; id is the webhook's message id (`-` for ntfy).
//     With --secret each request's X-Printdeck-Signature is checked as docs/notify.md tells
//     receivers to (HMAC-SHA256 over `<timestamp>.<body>`, compared in constant time). The
//     client port tells how many connections the daemon used (HTTP keep-alive).
//   node bench/notify-recv.mjs report --sent FILE --got FILE [--seen FILE]
//     sent: `<serial> <wall ns>` per finish command (pdbench control); prints delivered,
//     duplicates, missing, bad signatures and the latency from the finish command to delivery;
//     seen: `<serial> <wall s.ns>` when the printer's FINISH report reached the broker's
//     subscribers (the daemon's event), and the latency from that to delivery.
//
// Clocks: every time is the machine's wall clock, read by each process (pdbench's
// CLOCK_REALTIME, mosquitto_sub's %U, here Date.now()). Not performance.timeOrigin +
// performance.now(): a monotonic offset from a wall time taken once drifted half a second
// from CLOCK_REALTIME within one run here.
import { createServer } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';

const [mode, ...rest] = process.argv.slice(2);
const opt = (name, def) => { const i = rest.indexOf(name); return i >= 0 ? rest[i + 1] : def; };

function verified(secret, headers, body) {
  const ts = headers['x-printdeck-timestamp'] || '', sig = headers['x-printdeck-signature'] || '';
  if (!/^\d+$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  const want = 'sha256=' + createHmac('sha256', secret).update(`${ts}.`).update(body).digest('hex');
  return sig.length === want.length && timingSafeEqual(Buffer.from(sig), Buffer.from(want));
}

function serve() {
  const out = opt('--out'), secret = opt('--secret');
  writeFileSync(out, '');
  let lines = [];
  // batched: one write per 100 ms, not one per request, so the receiver stays quick
  setInterval(() => { if (lines.length) { appendFileSync(out, lines.join('')); lines = []; } }, 100).unref();
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const body = Buffer.concat(chunks);
      const text = body.toString();
      const serial = (text.match(/nb-([0-9A-Za-z]+)/) || [])[1] || '-';
      let id = '-', event = '-';
      try {
        const j = JSON.parse(text);
        id = j.id || '-';
        event = j.event || (j.title || '-').replace(/\s+/g, '_');
      } catch { /* counted as received all the same: the report says whose it was */ }
      const ok = secret ? verified(secret, req.headers, body) : true;
      lines.push(`${at} ${serial} ${req.socket.remotePort} ${id} ${event} ${ok ? 1 : 0}\n`);
      res.writeHead(ok ? 200 : 401).end();
    });
  });
  server.keepAliveTimeout = 60000;
  server.listen(Number(opt('--port')), '127.0.0.1');
  const stop = () => { if (lines.length) appendFileSync(out, lines.join('')); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function report() {
  const sent = new Map(), seen = new Map();
  for (const l of readFileSync(opt('--sent'), 'utf8').split('\n')) {
    const [serial, ns] = l.split(' ');
    if (serial && ns) sent.set(serial, Number(BigInt(ns) / 1000n) / 1000);
  }
  for (const l of opt('--seen') ? readFileSync(opt('--seen'), 'utf8').split('\n') : []) {
    const [serial, s] = l.split(' ');
    if (serial && s && !seen.has(serial)) seen.set(serial, Number(s) * 1000);
  }
  const first = new Map(), lat = [], own = [];
  let dup = 0, bad = 0, stray = 0, total = 0;
  const ports = new Set();
  for (const l of readFileSync(opt('--got'), 'utf8').split('\n')) {
    const [at, serial, port, , , ok] = l.split(' ');
    if (!at) continue;
    total++;
    ports.add(port);
    if (ok !== '1') bad++;
    if (!sent.has(serial)) { stray++; continue; }
    if (first.has(serial)) { dup++; continue; }
    first.set(serial, Number(at));
    lat.push(Number(at) - sent.get(serial));
    if (seen.has(serial)) own.push(Number(at) - seen.get(serial));
  }
  const q = (a) => {
    a.sort((x, y) => x - y);
    const at = (p) => a.length ? a[Math.min(a.length - 1, Math.floor(a.length * p))].toFixed(1) : '-';
    return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`;
  };
  const missing = [...sent.keys()].filter((s) => !first.has(s));
  console.log(`${sent.size} finished, ${total} requests: ${first.size} delivered, ${dup} duplicates, ` +
    `${missing.length} missing, ${stray} of no finished job, ${bad} failed the signature check; ` +
    `over ${ports.size} connection${ports.size === 1 ? '' : 's'}`);
  console.log(`finish command → delivered: ${q(lat)}`);
  if (seen.size) console.log(`FINISH report at the broker → delivered (${own.length} seen): ${q(own)}`);
  if (missing.length) console.log(`missing: ${missing.slice(0, 10).join(' ')}${missing.length > 10 ? ' …' : ''}`);
}

if (mode === 'serve') serve();
else if (mode === 'report') report();
else { console.error('usage: notify-recv.mjs serve|report (see the top of the file)'); process.exit(2); }
