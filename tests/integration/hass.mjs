// A Home Assistant on 127.0.0.1 for the tests, built from its documented WebSocket API
// (https://developers.home-assistant.io/docs/api/websocket) over node:http's upgrade: the auth
// handshake (auth_required -> auth -> auth_ok / auth_invalid), commands with ids that must
// increase, subscribe_entities (the present states first, then each change as "+" and "-"),
// ping/pong. The tests drive the entities' states and see what printdeck sent. Over TLS
// (node:https) when given a key and certificate, as Home Assistant with its own certificate.
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { createHash } from 'node:crypto';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export class Hass {
  /** tls: {key, cert} (PEM) to serve https/wss. */
  constructor(token, { tls } = {}) {
    this.token = token;
    this.tls = tls;
    this.tcp = 0;              // connections accepted, a TLS handshake refused included
    this.tlsErrors = 0;        // TLS handshakes that failed (the client did not trust us)
    this.states = new Map();   // entity id -> {s, a}
    this.sockets = new Set();
    this.conns = new Set();
    this.subs = [];            // {sock, id, ids:Set}
    this.auths = { ok: 0, invalid: 0 };
    this.connects = 0;
    this.received = [];        // every command after auth
    this.errors = [];          // protocol faults printdeck made
  }

  async start(port) {
    const notFound = (req, res) => { res.writeHead(404); res.end(); };
    this.server = this.tls ? createTlsServer(this.tls, notFound) : createServer(notFound);
    this.server.on('connection', () => { this.tcp++; });
    this.server.on('tlsClientError', (e, sock) => { this.tlsErrors++; sock.destroy(); });
    this.server.on('upgrade', (req, sock) => this.upgrade(req, sock));
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', resolve);
    });
    this.port = port;
  }

  upgrade(req, sock) {
    if (req.url !== '/api/websocket' || req.headers.upgrade?.toLowerCase() !== 'websocket') {
      sock.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(req.headers['sec-websocket-key'] + GUID).digest('base64');
    sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    this.connects++;
    this.sockets.add(sock);
    const conn = { sock, rx: Buffer.alloc(0), authed: false, lastId: 0, mute: false };
    this.conns.add(conn);
    sock.on('data', (d) => { if (!conn.mute) { conn.rx = Buffer.concat([conn.rx, d]); this.parse(conn); } });
    sock.on('error', () => {});
    sock.on('end', () => sock.end());  // the upgraded socket is half-open: the client's close ends it
    sock.on('close', () => { this.sockets.delete(sock); this.conns.delete(conn); this.subs = this.subs.filter((s) => s.sock !== sock); });
    this.send(sock, { type: 'auth_required', ha_version: '2025.1.0' });
  }

  parse(conn) {
    for (;;) {
      const b = conn.rx;
      if (b.length < 2) return;
      if (!(b[1] & 0x80)) { this.errors.push('unmasked client frame'); conn.sock.destroy(); return; }
      let len = b[1] & 0x7f, off = 2;
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); off = 10; }
      if (b.length < off + 4 + len) return;
      const mask = b.subarray(off, off + 4);
      const payload = Buffer.from(b.subarray(off + 4, off + 4 + len).map((x, i) => x ^ mask[i % 4]));
      conn.rx = b.subarray(off + 4 + len);
      const op = b[0] & 0x0f;
      if (op === 1) this.onText(conn, payload.toString());
      else if (op === 8) conn.sock.end();
      else if (op === 9) this.frame(conn.sock, 10, payload);
    }
  }

  onText(conn, text) {
    let m;
    try { m = JSON.parse(text); } catch { this.errors.push(`not JSON: ${text.slice(0, 80)}`); return; }
    if (!conn.authed) {
      if (m.type !== 'auth') { this.errors.push(`${m.type} before auth`); return; }
      if (m.access_token === this.token) {
        conn.authed = true;
        this.auths.ok++;
        this.send(conn.sock, { type: 'auth_ok', ha_version: '2025.1.0' });
      } else {
        this.auths.invalid++;
        this.send(conn.sock, { type: 'auth_invalid', message: 'Invalid access token or password' });
        conn.sock.end();
      }
      return;
    }
    this.received.push(m);
    // "each message has to have a unique id, increasing with each message"
    if (!Number.isInteger(m.id) || m.id <= conn.lastId) this.errors.push(`id ${m.id} after ${conn.lastId}`);
    conn.lastId = m.id;
    if (m.type === 'ping') {
      this.send(conn.sock, { id: m.id, type: 'pong' });
    } else if (m.type === 'subscribe_entities') {
      const ids = new Set(m.entity_ids || []);
      this.subs.push({ sock: conn.sock, id: m.id, ids });
      this.send(conn.sock, { id: m.id, type: 'result', success: true, result: null });
      const a = {};
      for (const id of ids) if (this.states.has(id)) a[id] = { ...this.states.get(id), c: 'ctx', lc: Date.now() / 1000 };
      this.send(conn.sock, { id: m.id, type: 'event', event: { a } });
    } else {
      this.send(conn.sock, { id: m.id, type: 'result', success: false, error: { code: 'unknown_command', message: 'Unknown command.' } });
    }
  }

  /** Sets an entity's state and attributes (merged over the old ones) and tells the subscribers. */
  set(id, s, a = {}) {
    const old = this.states.get(id) || { s: 'unknown', a: {} };
    const next = { s, a: { ...old.a, ...a } };
    this.states.set(id, next);
    for (const sub of this.subs) {
      if (!sub.ids.has(id)) continue;
      this.send(sub.sock, { id: sub.id, type: 'event', event: { c: { [id]: { '+': { s, a, lc: Date.now() / 1000 } } } } });
    }
  }

  live() { return this.subs.length; }
  frame(sock, op, payload) {
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x80 | op, n])
      : n < 65536 ? Buffer.from([0x80 | op, 126, n >> 8, n & 0xff])
        : Buffer.concat([Buffer.from([0x80 | op, 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
    sock.write(Buffer.concat([head, payload]));
  }
  send(sock, obj) { this.frame(sock, 1, Buffer.from(JSON.stringify(obj))); }
  /** Sends every connection one text message of about `bytes` bytes. */
  sendHuge(bytes) {
    const text = JSON.stringify({ type: 'event', id: 1, event: { a: {} }, pad: 'x'.repeat(bytes) });
    for (const sock of this.sockets) this.frame(sock, 1, Buffer.from(text));
  }
  /** Home Assistant hanging: the connections open now stay open and read nothing, answer no
   * ping and send no event (the TCP connection alive, its peer gone quiet); new ones are served. */
  mute() {
    for (const conn of this.conns) conn.mute = true;
    this.subs = [];
  }
  /** Home Assistant restarting: every connection dropped. */
  drop() { for (const sock of this.sockets) sock.destroy(); this.subs = []; }
  async stop() {
    this.drop();
    await new Promise((r) => this.server.close(r));
  }
}
