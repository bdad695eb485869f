// Accounts end to end (docs/accounts.md): first-start setup, sessions (cookie flags, CSRF,
// cross-site writes refused), roles on every route, printer limits in the API and the event
// stream, tokens with roles exchanged for sessions and revoked, passwords changed and reset,
// the last admin kept, and the sign-in rate limit per address and per account; event streams
// ending with their session (expired, password changed elsewhere), and password hashing in a
// bounded pool of its own that a burst of sign-ins cannot take from file analyses.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { Broker, Sim, Daemon, WS, TOKEN, waitFor, tmpDir, assertCleanExit, metric } from './harness.mjs';

const X1C = '00M09A350100321', P1S = '01P00A451200002';
const CONFIG = `[server]
heartbeat_s = 1
cors_origins = http://ui.lan:3000
[auth]
login_attempts = 4
[alerts]
humidity_pct = 40
humidity_margin_pct = 5
humidity_sustain_s = 1
`;
let broker, sim, daemon, x1, p1;

before(async () => {
  broker = new Broker(tmpDir('pd-acc-broker-'), [X1C, P1S]);
  await broker.start();
  sim = new Sim(broker, ['X1C', 'P1S']);
  await sim.start();
  daemon = new Daemon({ config: CONFIG });
  await daemon.start();
  x1 = await daemon.addPrinter(broker, X1C, { name: 'X1C' });
  p1 = await daemon.addPrinter(broker, P1S, { name: 'P1S' });
  await waitFor(async () => (await daemon.printer(x1.id))?.online && (await daemon.printer(p1.id))?.online, 20000, 'printers online');
});

after(async () => {
  const r = daemon && await daemon.stop();
  await sim?.stop();
  await broker?.stop();
  if (r) assertCleanExit(assert, r);
});

/** One request without the harness's token: {status, json, headers}. opts: cookie, csrf,
 * token, origin, type (Content-Type of a body, JSON by default; a string body goes as it is),
 * from (local address, to be another client). */
function call(method, path, body, opts = {}) {
  const d = opts.daemon ?? daemon;
  const headers = { Host: `127.0.0.1:${d.port}` };
  if (opts.cookie) headers.Cookie = opts.cookie;
  if (opts.csrf) headers['X-CSRF-Token'] = opts.csrf;
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.origin) headers.Origin = opts.origin;
  const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  if (data) headers['Content-Type'] = opts.type ?? 'application/json';
  return new Promise((resolve, reject) => {
    const rq = httpRequest({ host: '127.0.0.1', port: d.port, method, path, headers, localAddress: opts.from },
      (res) => {
        let text = '';
        res.on('data', (c) => { text += c; });
        res.on('end', () => {
          let json;
          try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
          resolve({ status: res.statusCode, json, text, headers: res.headers });
        });
      });
    rq.on('error', reject);
    rq.end(data);
  });
}

/** The pd_session=… pair of a reply's Set-Cookie, and its attributes. */
function cookieOf(r) {
  const sc = [].concat(r.headers['set-cookie'] || []).find((c) => c.startsWith('pd_session='));
  assert.ok(sc, `no session cookie in ${JSON.stringify(r.headers)}`);
  return { pair: sc.split(';')[0], attrs: sc };
}

async function signIn(name, password, from, d) {
  const r = await call('POST', '/api/v1/login', { name, password }, { from, daemon: d });
  assert.equal(r.status, 200, r.text);
  return { cookie: cookieOf(r).pair, csrf: r.json.csrf, me: r.json };
}

const as = (s, extra = {}) => ({ cookie: s.cookie, csrf: s.csrf, ...extra });

/** GET /api/v1/events with a session's cookie, read in the background: {status, text(),
 * ended (resolves with the ms it lasted when the daemon closes it), close()}. */
async function stream(s, d = daemon) {
  const ctrl = new AbortController();
  const t0 = Date.now();
  const res = await fetch(d.url('/api/v1/events'), { headers: { Cookie: s.cookie }, signal: ctrl.signal });
  let text = '';
  const ended = (async () => {
    if (!res.body) return Date.now() - t0;
    const dec = new TextDecoder();
    try { for await (const c of res.body) text += dec.decode(c, { stream: true }); } catch { return null; /* aborted here */ }
    return Date.now() - t0;
  })();
  return { status: res.status, text: () => text, ended, close: () => ctrl.abort() };
}

const within = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms))]);
let admin; // the admin's session

test('first start: setup creates the admin once and signs them in', async () => {
  assert.deepEqual((await call('GET', '/api/v1/setup')).json, { required: true });
  // another site's page (a form, or a no-cors fetch) cannot make the first admin, nor sign in
  const form = JSON.stringify({ name: 'mallory', password: 'a long password' });
  let x = await call('POST', '/api/v1/setup', form, { type: 'text/plain', origin: 'http://evil.example' });
  assert.equal(x.status, 403);
  x = await call('POST', '/api/v1/setup', form, { type: 'text/plain' });
  assert.equal(x.status, 403, 'a form post without an Origin');
  x = await call('POST', '/api/v1/setup', { name: 'mallory', password: 'a long password' }, { origin: 'http://ui.lan:3000' });
  assert.equal(x.status, 403, 'a listed CORS origin is not this site');
  x = await call('POST', '/api/v1/login', form, { type: 'application/x-www-form-urlencoded' });
  assert.equal(x.status, 403);
  assert.match(x.json.error.message, /application\/json/);
  assert.deepEqual((await call('GET', '/api/v1/setup')).json, { required: true });
  assert.equal((await call('GET', '/api/v1/me')).status, 401);
  let r = await call('POST', '/api/v1/setup', { name: 'root', password: 'short' });
  assert.equal(r.status, 422);
  assert.equal(r.json.error.field, 'password');
  r = await call('POST', '/api/v1/setup', { name: '  ', password: 'a long password' });
  assert.equal(r.status, 422);
  r = await call('POST', '/api/v1/setup', { name: 'Root', password: 'correct horse battery' });
  assert.equal(r.status, 201, r.text);
  const c = cookieOf(r);
  assert.match(c.attrs, /HttpOnly/);
  assert.match(c.attrs, /SameSite=Strict/);
  assert.doesNotMatch(c.attrs, /Secure/); // plain HTTP here
  assert.equal(r.json.role, 'admin');
  assert.equal(r.json.kind, 'session');
  assert.equal(r.json.setup_required, false);
  admin = { cookie: c.pair, csrf: r.json.csrf };
  r = await call('POST', '/api/v1/setup', { name: 'other', password: 'another password' });
  assert.equal(r.status, 409);
  r = await call('GET', '/api/v1/me', undefined, as(admin));
  assert.equal(r.json.name, 'Root');
  assert.equal(r.json.csrf, admin.csrf);
  // the existing admin token (PRINTDECK_TOKEN) keeps working beside accounts
  assert.equal((await daemon.get('/api/v1/me')).json.role, 'admin');
});

test('a session cookie writes only from this site with the CSRF token', async () => {
  const body = { name: 'csrf-check', role: 'viewer' };
  let r = await call('POST', '/api/v1/tokens', body, { cookie: admin.cookie });
  assert.equal(r.status, 403, 'no CSRF token');
  r = await call('POST', '/api/v1/tokens', body, { cookie: admin.cookie, csrf: 'forged' });
  assert.equal(r.status, 403, 'wrong CSRF token');
  // cross-site, even from an origin cors_origins lists: the cookie is refused
  r = await call('POST', '/api/v1/tokens', body, as(admin, { origin: 'http://ui.lan:3000' }));
  assert.equal(r.status, 403, 'cross-site write with a cookie');
  assert.match(r.json.error.message, /session cookie/);
  r = await call('POST', '/api/v1/tokens', body, as(admin, { origin: 'http://evil.example' }));
  assert.equal(r.status, 403);
  // that origin with a token is an API client, and allowed
  r = await call('POST', '/api/v1/tokens', body, { token: TOKEN, origin: 'http://ui.lan:3000' });
  assert.equal(r.status, 201, r.text);
  r = await call('POST', '/api/v1/tokens', { name: 'same-site', role: 'viewer' },
    as(admin, { origin: `http://127.0.0.1:${daemon.port}` }));
  assert.equal(r.status, 201, r.text);
});

test('users: an admin creates them; roles and printer limits hold in the API and the stream', async () => {
  let r = await call('POST', '/api/v1/users', { name: 'vera', password: 'viewer password', role: 'viewer' }, as(admin));
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(r.json.printers, []);
  r = await call('POST', '/api/v1/users', { name: 'VERA', password: 'viewer password', role: 'viewer' }, as(admin));
  assert.equal(r.status, 422, 'names are unique without case');
  r = await call('POST', '/api/v1/users', { name: 'otto', password: 'operator pw', role: 'boss' }, as(admin));
  assert.equal(r.status, 422);
  assert.equal(r.json.error.field, 'role');
  r = await call('POST', '/api/v1/users', { name: 'otto', password: 'operator pw', role: 'operator', printers: [999999] }, as(admin));
  assert.equal(r.status, 422);
  assert.equal(r.json.error.field, 'printers');
  r = await call('POST', '/api/v1/users', { name: 'otto', password: 'operator pw', role: 'operator', printers: [x1.id] }, as(admin));
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(r.json.printers, [x1.id]);
  const ottoId = r.json.id;

  // a viewer reads but cannot pause, and cannot manage users
  const vera = await signIn('vera', 'viewer password');
  assert.equal(vera.me.role, 'viewer');
  r = await call('GET', '/api/v1/printers', undefined, as(vera));
  assert.equal(r.json.length, 2);
  r = await call('POST', `/api/v1/printers/${x1.id}/commands`, { command: 'pause' }, as(vera));
  assert.equal(r.status, 403);
  assert.match(r.json.error.message, /operator/);
  assert.equal((await call('GET', '/api/v1/users', undefined, as(vera))).status, 403);
  assert.equal((await call('PATCH', '/api/v1/spool/1', { comment: 'x' }, as(vera))).status, 403);

  // an operator limited to the X1C sees and controls only it
  const otto = await signIn('OTTO', 'operator pw');
  assert.deepEqual(otto.me.printers, [x1.id]);
  r = await call('GET', '/api/v1/printers', undefined, as(otto));
  assert.deepEqual(r.json.map((p) => p.serial), [X1C]);
  assert.equal((await call('GET', `/api/v1/printers/${p1.id}`, undefined, as(otto))).status, 404);
  assert.equal((await call('GET', `/api/v1/printers/${P1S}`, undefined, as(otto))).status, 404);
  assert.equal((await call('POST', `/api/v1/printers/${p1.id}/commands`, { command: 'pause' }, as(otto))).status, 404);
  assert.equal((await call('GET', `/api/v1/printers/${p1.id}/ams`, undefined, as(otto))).status, 404);
  r = await call('GET', '/api/v1/ams', undefined, as(otto));
  assert.ok(r.json.every((s) => s.printer_id === x1.id), 'slot map limited');
  assert.equal((await call('GET', `/api/v1/events?printer=${p1.id}`, undefined, as(otto))).status, 404);
  r = await call('GET', `/api/v1/jobs?printer=${p1.id}`, undefined, as(otto));
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, []);
  assert.equal((await call('POST', '/api/v1/printers', { name: 'n' }, as(otto))).status, 403, 'admins add printers');

  // the event stream, over the cookie: the X1C's events only
  const ctrl = new AbortController();
  const res = await fetch(daemon.url('/api/v1/events'), { headers: { Cookie: otto.cookie }, signal: ctrl.signal });
  assert.equal(res.status, 200);
  let text = '';
  const reading = (async () => {
    const dec = new TextDecoder();
    try { for await (const c of res.body) text += dec.decode(c, { stream: true }); } catch { /* aborted */ }
  })();
  await sim.control(P1S, { action: 'start_job', name: 'hidden job', layers: 10, minutes: 1, prepare_s: 0 });
  await sim.control(X1C, { action: 'start_job', name: 'visible job', layers: 10, minutes: 1, prepare_s: 0 });
  await waitFor(() => text.includes('visible job'), 15000, 'X1C events');
  await waitFor(async () => /hidden job/.test((await daemon.get(`/api/v1/printers/${p1.id}`)).text), 15000, 'P1S printing');
  await new Promise((r2) => setTimeout(r2, 1500));
  assert.ok(!text.includes(P1S), 'no P1S event reached the limited stream');
  // widening the limit closes the stream: it comes back as who the user is now
  r = await call('PATCH', `/api/v1/users/${ottoId}`, { printers: [] }, as(admin));
  assert.equal(r.status, 200, r.text);
  await Promise.race([reading, new Promise((_, rej) => setTimeout(() => rej(new Error('stream not closed')), 5000))]);
  ctrl.abort();
  r = await call('GET', '/api/v1/printers', undefined, as(otto));
  assert.equal(r.json.length, 2);
  await sim.control(P1S, { action: 'finish' }).catch(() => {});
  await sim.control(X1C, { action: 'finish' }).catch(() => {});
});

test('a user limited to one printer: prompts, alerts, statistics and tests of the other stay hidden', async () => {
  let r = await call('POST', '/api/v1/users', { name: 'lina', password: 'limited pw', role: 'operator', printers: [x1.id] }, as(admin));
  assert.equal(r.status, 201, r.text);
  const lina = await signIn('lina', 'limited pw');
  // a prompt on the P1S (a spool without a tag) and a humidity alert on it
  await sim.control(P1S, { action: 'swap_spool', ams: 0, slot: 3, type: 'PLA', color: 'E52222FF', rfid: false });
  // the prompt first: the humidity held below replaces the simulator's whole AMS block for a
  // minute, so a tray change it has not reported yet would wait behind it
  const prompt = await waitFor(async () => (await daemon.get(`/api/v1/prompts?printer=${p1.id}`)).json
    .find((p) => p.unit === 0 && p.slot === 3), 15000, 'P1S prompt');
  const wet = { print: { ams: { ams: [{ id: '0', humidity: '1', humidity_raw: '72', temp: '25.0' }] } }, hold_s: 60 };
  await sim.control(P1S, { action: 'set', ...wet });
  const alert = await waitFor(async () => (await daemon.get(`/api/v1/alerts?printer_id=${p1.id}&state=open`)).json
    .find((a) => a.kind === 'ams_humidity'), 15000, 'P1S humidity alert');

  r = await call('GET', '/api/v1/prompts?all=true', undefined, as(lina));
  assert.equal(r.status, 200);
  assert.ok(r.json.every((p) => p.printer_id === x1.id), JSON.stringify(r.json));
  assert.equal(r.headers['x-total-count'], String(r.json.length));
  assert.equal((await call('GET', `/api/v1/prompts?printer=${p1.id}`, undefined, as(lina))).status, 404);
  assert.equal((await call('GET', `/api/v1/prompts/${prompt.id}`, undefined, as(lina))).status, 404);
  assert.equal((await call('POST', `/api/v1/prompts/${prompt.id}/assign`, { spool_id: 1 }, as(lina))).status, 404);
  assert.equal((await call('POST', `/api/v1/prompts/${prompt.id}/dismiss`, undefined, as(lina))).status, 404);
  assert.equal((await daemon.get(`/api/v1/prompts/${prompt.id}`)).json.status, 'open', 'still open');

  r = await call('GET', '/api/v1/alerts', undefined, as(lina));
  assert.equal(r.status, 200);
  assert.ok(r.json.every((a) => a.printer_id === x1.id), JSON.stringify(r.json));
  r = await call('GET', `/api/v1/alerts?printer_id=${p1.id}`, undefined, as(lina));
  assert.deepEqual(r.json, []);
  assert.equal((await call('POST', `/api/v1/alerts/${alert.id}/ack`, undefined, as(lina))).status, 404);
  assert.equal((await daemon.get(`/api/v1/alerts?printer_id=${p1.id}&state=open`)).json
    .find((a) => a.id === alert.id).acked, false);

  r = await call('GET', '/api/v1/stats', undefined, as(lina));
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.by_printer.every((p) => p.printer_id === x1.id), JSON.stringify(r.json.by_printer));
  r = await call('GET', `/api/v1/stats?printer_id=${p1.id}`, undefined, as(lina));
  assert.equal(r.status, 200, 'none of theirs asked for: empty, not an error');
  assert.deepEqual(r.json.by_printer, []);
  assert.equal((await call('GET', '/api/v1/stats/low-stock', undefined, as(lina))).status, 200);

  // testing a connection is an admin's; an admin's test of another host needs the access code
  assert.equal((await call('POST', `/api/v1/printers/test?printer=${p1.id}`, {}, as(lina))).status, 403);
  r = await daemon.req('POST', `/api/v1/printers/test?printer=${p1.id}`, { host: '192.0.2.1' });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error.field, 'access_code');

  // admins are never limited: a limit is refused for one, and goes when a user becomes one
  r = await call('POST', '/api/v1/users', { name: 'ada', password: 'admin password', role: 'admin', printers: [x1.id] }, as(admin));
  assert.equal(r.status, 422);
  assert.equal(r.json.error.field, 'printers');
  r = await call('PATCH', `/api/v1/users/${lina.me.user_id}`, { role: 'admin' }, as(admin));
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.printers, []);
  r = await call('PATCH', `/api/v1/users/${lina.me.user_id}`, { printers: [x1.id] }, as(admin));
  assert.equal(r.status, 422);
  r = await call('PATCH', `/api/v1/users/${lina.me.user_id}`, { role: 'operator', printers: [x1.id] }, as(admin));
  assert.equal(r.status, 200, r.text);

  await sim.control(P1S, { action: 'set', print: { ams: { ams: [{ id: '0', humidity: '5', humidity_raw: '20' }] } }, hold_s: 1 });
  await daemon.req('POST', `/api/v1/prompts/${prompt.id}/dismiss`);
});

test('a limit of more than 32 printers lists what every one of them has', async () => {
  const extra = [];
  for (let i = 0; i < 40; i++) {
    const r = await daemon.req('POST', '/api/v1/printers', { name: `far ${i}`, serial: `FAR${String(i).padStart(12, '0')}`,
      host: '192.0.2.1', port: 8883, access_code: '12345678' });
    assert.equal(r.status, 201, r.text);
    extra.push(r.json.id);
  }
  try {
    // the X1C last: a filter kept to 32 ids would leave it out
    let r = await call('POST', '/api/v1/users', { name: 'many', password: 'many printers', role: 'viewer', printers: [...extra, x1.id] }, as(admin));
    assert.equal(r.status, 201, r.text);
    const many = await signIn('many', 'many printers');
    r = await call('GET', '/api/v1/jobs', undefined, as(many));
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.some((j) => j.printer_id === x1.id), 'the X1C\'s jobs are listed');
    assert.ok(r.json.every((j) => j.printer_id === x1.id));
    r = await call('GET', '/api/v1/stats', undefined, as(many));
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.by_printer.some((p) => p.printer_id === x1.id));
    r = await call('GET', '/api/v1/alerts', undefined, as(many));
    assert.equal(r.status, 200, r.text);
  } finally {
    for (const id of extra) await daemon.req('DELETE', `/api/v1/printers/${id}`);
  }
});

test('tokens: created with a role and shown once, exchanged for a session, revoked', async () => {
  let r = await call('POST', '/api/v1/tokens', { name: 'wall', role: 'viewer' }, as(admin));
  assert.equal(r.status, 201, r.text);
  const { token, id } = r.json;
  assert.match(token, /^pdk_/);
  assert.equal(r.json.hint, token.slice(0, 8));
  r = await call('GET', '/api/v1/tokens', undefined, as(admin));
  const row = r.json.find((t) => t.id === id);
  assert.equal(row.role, 'viewer');
  assert.equal(row.token, undefined, 'never shown again');
  assert.ok(!r.text.includes(token));
  // the token reads, as a viewer
  assert.equal((await call('GET', '/api/v1/printers', undefined, { token })).status, 200);
  assert.equal((await call('POST', `/api/v1/printers/${x1.id}/commands`, { command: 'pause' }, { token })).status, 403);
  // exchanged for a session (a wall display's /?token=)
  r = await call('POST', '/api/v1/login', { token });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.role, 'viewer');
  const wall = { cookie: cookieOf(r).pair };
  assert.equal((await call('GET', '/api/v1/me', undefined, wall)).json.name, 'wall');
  assert.equal((await call('POST', '/api/v1/login', { token: 'pdk_nope' })).status, 401);
  // the env token is exchanged too (make run's demo, automation before any account)
  r = await call('POST', '/api/v1/login', { token: TOKEN });
  assert.equal(r.json.role, 'admin');
  // revoked: the token and its sessions end
  assert.equal((await call('DELETE', `/api/v1/tokens/${id}`, undefined, as(admin))).status, 204);
  assert.equal((await call('GET', '/api/v1/printers', undefined, { token })).status, 401);
  r = await call('GET', '/api/v1/me', undefined, wall);
  assert.equal(r.status, 401);
  assert.match(r.json.error.message, /sign in again/);
  assert.equal((await call('DELETE', `/api/v1/tokens/${id}`, undefined, as(admin))).status, 404);
  assert.equal((await call('GET', '/api/v1/tokens', undefined, { token: TOKEN })).status, 200);
});

test('passwords: changed by the user, reset by an admin; sessions follow', async () => {
  const a = await signIn('vera', 'viewer password');
  const b = await signIn('vera', 'viewer password');
  let r = await call('POST', '/api/v1/me/password', { current: 'wrong one!', password: 'new viewer pw' }, as(a));
  assert.equal(r.status, 422);
  assert.equal(r.json.error.field, 'current');
  const sa = await stream(a), sb = await stream(b);
  assert.equal(sb.status, 200);
  r = await call('POST', '/api/v1/me/password', { current: 'viewer password', password: 'new viewer pw' }, as(a));
  assert.equal(r.status, 204, r.text);
  assert.equal((await call('GET', '/api/v1/me', undefined, as(a))).status, 200, 'this session stays');
  assert.equal((await call('GET', '/api/v1/me', undefined, as(b))).status, 401, 'the others end');
  await within(sb.ended, 3000, 'the other session\'s stream closed');
  assert.equal((await stream(b)).status, 401, 'and it cannot open again');
  await new Promise((res) => setTimeout(res, 2500));  // heartbeats arrive every second
  const beats = sa.text().length;
  await waitFor(() => sa.text().length > beats, 5000, 'this session\'s stream still open');
  sa.close();
  assert.equal((await call('POST', '/api/v1/login', { name: 'vera', password: 'viewer password' })).status, 401);
  const veraId = a.me.user_id;
  r = await call('POST', `/api/v1/users/${veraId}/password`, { password: 'reset by admin' }, as(admin));
  assert.equal(r.status, 204, r.text);
  assert.equal((await call('GET', '/api/v1/me', undefined, as(a))).status, 401);
  await signIn('vera', 'reset by admin');
  // sign out: a Spoolman websocket opened with the session ends with it, as its event stream does
  const c = await signIn('vera', 'reset by admin');
  const ws = new WS(daemon, '/api/v1/spool', { Cookie: c.cookie });
  assert.equal((await ws.open()).status, 101);
  const st = await stream(c);
  r = await call('POST', '/api/v1/logout', undefined, as(c));
  assert.equal(r.status, 204);
  await within(st.ended, 5000, 'the event stream closed at sign-out');
  await waitFor(() => ws.closeCode !== undefined || ws.ended, 5000, 'the websocket closed at sign-out');
  assert.match([].concat(r.headers['set-cookie'])[0], /Max-Age=0/);
  assert.equal((await call('GET', '/api/v1/me', undefined, as(c))).status, 401);
});

test('the last admin cannot be demoted or deleted', async () => {
  const rootId = (await call('GET', '/api/v1/me', undefined, as(admin))).json.user_id;
  let r = await call('PATCH', `/api/v1/users/${rootId}`, { role: 'viewer' }, as(admin));
  assert.equal(r.status, 422);
  r = await call('DELETE', `/api/v1/users/${rootId}`, undefined, as(admin));
  assert.equal(r.status, 409);
  r = await call('PATCH', `/api/v1/users/${rootId}`, { password: 'x' }, as(admin));
  assert.equal(r.status, 422, 'the password has its own route');
  r = await call('GET', '/api/v1/users', undefined, as(admin));
  const vera = r.json.find((u) => u.name === 'vera');
  assert.ok(vera.last_login_at);
  assert.equal((await call('DELETE', `/api/v1/users/${vera.id}`, undefined, as(admin))).status, 204);
  assert.equal((await call('POST', '/api/v1/login', { name: 'vera', password: 'reset by admin' })).status, 401);
});

test('sign-in attempts are limited per address and per account', async () => {
  await call('POST', '/api/v1/users', { name: 'lim', password: 'the right one', role: 'viewer' }, as(admin));
  // from an address of its own: the earlier tests' attempts from 127.0.0.1 do not count here
  const from = '127.0.0.3';
  for (let i = 0; i < 4; i++)
    assert.equal((await call('POST', '/api/v1/login', { name: 'lim', password: `wrong ${i}` }, { from })).status, 401);
  let r = await call('POST', '/api/v1/login', { name: 'lim', password: 'the right one' }, { from });
  assert.equal(r.status, 429);
  assert.ok(Number(r.headers['retry-after']) > 0);
  assert.match(r.json.error.message, /too many sign-in attempts/);
  // the account is limited from another address too; another account from there is not
  r = await call('POST', '/api/v1/login', { name: 'lim', password: 'the right one' }, { from: '127.0.0.2' });
  assert.equal(r.status, 429);
  r = await call('POST', '/api/v1/login', { name: 'otto', password: 'operator pw' }, { from: '127.0.0.2' });
  assert.equal(r.status, 200);
  // the address is limited for every account
  r = await call('POST', '/api/v1/login', { name: 'otto', password: 'operator pw' }, { from });
  assert.equal(r.status, 429);
  // and tokens keep working: the limit is on guessing, not on the API
  assert.equal((await daemon.get('/api/v1/printers')).status, 200);
});

/* A daemon of its own: sessions of 10 s (the least the configuration takes), one password worker with two waiting, one file
 * analysis at once and none waiting (so a sign-in in the files pool would take its place). */
test('a session\'s stream closes when it expires; sign-ins wait in a bounded pool of their own', async () => {
  const d = new Daemon({ config: `[server]
heartbeat_s = 1
[auth]
session_max_s = 10
login_attempts = 1000
password_workers = 1
password_queue = 2
[files]
workers = 1
queue = 0
` });
  await d.start();
  try {
    let r = await call('POST', '/api/v1/setup', { name: 'root', password: 'correct horse battery' }, { daemon: d });
    assert.equal(r.status, 201, r.text);
    const t0 = Date.now();
    const s = { cookie: cookieOf(r).pair, csrf: r.json.csrf };
    const st = await stream(s, d);
    assert.equal(st.status, 200);
    const ws = new WS(d, '/api/v1/', { Cookie: s.cookie });
    assert.equal((await ws.open()).status, 101);
    await waitFor(() => st.text().includes('heartbeat'), 5000, 'a heartbeat');
    const lasted = await within(st.ended, 15000, 'the stream closed at the session\'s end');
    await waitFor(() => ws.closeCode !== undefined || ws.ended, 2000, 'the websocket closed at the session\'s end too');
    const at = Date.now() - t0;
    assert.ok(at >= 9000 && at <= 13000, `closed ${at} ms after sign-in (the stream lasted ${lasted} ms)`);
    // the session's end is a whole second: a request in the same second as the close may
    // still be served, the next one not
    await waitFor(async () => (r = await call('GET', '/api/v1/me', undefined, { ...as(s), daemon: d })).status === 401,
      3000, 'the session refused after its end');
    assert.match(r.json.error.message, /sign in again/);
    assert.equal((await stream(s, d)).status, 401, 'a new stream is refused');

    // twelve sign-ins at once: one hashes, two wait, the rest are told to come back
    const analyse = () => fetch(d.url('/api/v1/files/analyze?name=part.gcode'), { method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}` }, body: '; generated by PrusaSlicer 2.6.0\nM83\n;LAYER_CHANGE\nG1 X1 E100\n' });
    let peak = 0;
    const watching = (async () => {
      for (let i = 0; i < 20; i++) {
        const m = (await d.get('/metrics')).text;
        peak = Math.max(peak, metric(m, 'printdeck_password_checks_running'));
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    const logins = Array.from({ length: 12 }, (_, i) =>
      call('POST', '/api/v1/login', { name: i % 2 ? 'root' : `nobody${i}`, password: 'a wrong password' }, { daemon: d }));
    const during = analyse();
    const replies = await Promise.all(logins);
    const busy = replies.filter((x) => x.status === 503), done = replies.filter((x) => x.status === 401);
    assert.equal(busy.length + done.length, 12, replies.map((x) => x.status).join());
    assert.ok(busy.length >= 1, `${busy.length} refused`);
    assert.ok(done.length >= 3, `${done.length} checked`);
    for (const b of busy) {
      assert.equal(b.headers['retry-after'], '1');
      assert.match(b.json.error.message, /too many passwords are being checked/);
    }
    // the file analysis did not wait behind them, nor was it refused for them
    assert.equal((await during).status, 200);
    await watching;
    assert.ok(peak <= 1, `at most one password worker ran (${peak})`);
    r = await call('POST', '/api/v1/login', { name: 'root', password: 'correct horse battery' }, { daemon: d });
    assert.equal(r.status, 200, 'the pool is free again');
  } finally {
    const r = await d.stop();
    if (r) assertCleanExit(assert, r);
  }
});
