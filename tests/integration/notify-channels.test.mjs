// The channel types besides the webhook and ntfy (docs/notify.md), each against a local double
// built from its service's documented API (Pushover https://pushover.net/api, Telegram
// https://core.telegram.org/bots/api#sendmessage, Discord
// https://discord.com/developers/docs/resources/webhook#execute-webhook, Slack
// https://api.slack.com/messaging/webhooks, Home Assistant
// https://developers.home-assistant.io/docs/api/rest/) that checks method, path, headers, auth
// and body, and e-mail against a real SMTP server (Debian's aiosmtpd, smtpd.py) with STARTTLS
// and with implicit TLS: a test message through each, a print finishing on the simulator
// through all of them, refusals answered in words, fields refused by name.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';
import { waitFor, sleep, simFleet, stopSimFleet, freePort, tmpDir, run, ROOT, join, readFileSync, existsSync }
  from './harness.mjs';

const A1 = '03919C461900413';
const CONFIG = `[notify]
timeout_s = 3
attempts = 2
retry_base_ms = 200
min_interval_s = 0
`;
const PUSHOVER_TOKEN = 'azGDORePK8gMaC0QOYAMyEEuzJnyUi', PUSHOVER_USER = 'uQiRzpo4DXghDmr9QzzfQu27cmVRsG';
const BOT = '123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11';
const HA_TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0In0.c2lnbmF0dXJl';
const SMTP_USER = 'farm', SMTP_PASSWORD = 'correct horse battery';

// --- the HTTP doubles: one server, a path prefix per service --------------------------------
const got = []; // {service, method, url, headers, body, problems}
let base, doubles;

/** What each service's documentation says a request must be; its answer. */
function serve(req, body) {
  const h = req.headers, problems = [];
  const need = (ok, what) => { if (!ok) problems.push(what); };
  const json = () => { try { return JSON.parse(body); } catch { problems.push('body is not JSON'); return {}; } };
  let service = '', status = 200, answer = '';
  need(req.method === 'POST', `method ${req.method}`);
  if (req.url.startsWith('/pushover/')) {
    service = 'pushover';
    need(req.url === '/pushover/1/messages.json', `path ${req.url}`);
    need(h['content-type'] === 'application/x-www-form-urlencoded', 'form-encoded');
    const f = new URLSearchParams(body);
    need(f.get('user') === PUSHOVER_USER, 'user key');
    need(f.get('message') && f.get('title'), 'message and title');
    const p = Number(f.get('priority'));
    need(p >= -2 && p <= 2, 'priority -2…2');
    need(p < 2 || (Number(f.get('retry')) >= 30 && Number(f.get('expire')) <= 10800), 'emergency: retry and expire');
    if (f.get('token') !== PUSHOVER_TOKEN) {
      status = 400;
      answer = JSON.stringify({ token: 'invalid', errors: ['application token is invalid'], status: 0 });
    } else answer = JSON.stringify({ status: 1, request: 'a1b2' });
  } else if (req.url.startsWith('/telegram/')) {
    service = 'telegram';
    const m = req.url.match(/^\/telegram\/bot([^/]+)\/sendMessage$/);
    need(m, `path ${req.url}`);
    need(h['content-type'] === 'application/json', 'JSON');
    const b = json();
    need(b.parse_mode === 'HTML' && typeof b.text === 'string' && b.chat_id !== undefined, 'chat_id, text, HTML');
    // Telegram refuses HTML it cannot parse: only <b> tags here, every other < escaped
    need(!/<(?!\/?b>)/.test(b.text), 'text escaped');
    if (!m || m[1] !== BOT) { status = 401; answer = JSON.stringify({ ok: false, error_code: 401, description: 'Unauthorized' }); }
    else answer = JSON.stringify({ ok: true, result: { message_id: 1 } });
  } else if (req.url.startsWith('/discord/')) {
    service = 'discord';
    if (req.url !== '/discord/api/webhooks/1/tok') {
      got.push({ service, url: req.url, headers: h, body, problems: [] });
      return { status: 404, answer: JSON.stringify({ message: 'Unknown Webhook', code: 10015 }) };
    }
    need(h['content-type'] === 'application/json', 'JSON');
    const e = json().embeds?.[0] || {};
    need(e.title && e.description && Number.isInteger(e.color) && !Number.isNaN(Date.parse(e.timestamp)), 'an embed');
    status = 204;
  } else if (req.url.startsWith('/slack/')) {
    service = 'slack';
    if (req.url !== '/slack/services/T0/B0/x') {
      got.push({ service, url: req.url, headers: h, body, problems: [] });
      return { status: 404, answer: 'no_service' };
    }
    need(h['content-type'] === 'application/json', 'JSON');
    const b = json();
    need(typeof b.text === 'string' && Array.isArray(b.blocks) && b.blocks[0]?.type === 'header', 'text and blocks');
    answer = 'ok';
  } else if (req.url.startsWith('/ha/')) {
    service = 'homeassistant';
    need(req.url === '/ha/api/services/notify/mobile_app_pixel', `path ${req.url}`);
    need(h['content-type'] === 'application/json', 'JSON');
    const b = json();
    need(b.title && b.message && typeof b.data === 'object', 'title, message, data');
    if (h.authorization !== `Bearer ${HA_TOKEN}`) { status = 401; answer = '401: Unauthorized'; }
    else answer = '[]';
  }
  got.push({ service, url: req.url, headers: h, body, problems });
  return { status, answer };
}

// --- the SMTP servers: STARTTLS and implicit TLS ---------------------------------------------
const smtp = {};
async function startSmtp(mode, dir) {
  const port = await freePort(), out = join(dir, `${mode}.jsonl`);
  const proc = spawn('/usr/bin/python3', [join(ROOT, 'tests/integration/smtpd.py'), '--port', String(port), '--mode', mode,
    '--cert', join(dir, 'localhost.crt'), '--key', join(dir, 'localhost.key'), '--user', SMTP_USER,
    '--password', SMTP_PASSWORD, '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  proc.stdout.on('data', (d) => { text += d; });
  proc.stderr.on('data', (d) => { text += d; });
  await waitFor(() => text.includes('ready') || proc.exitCode !== null, 15000, `smtpd ${mode}`);
  assert.ok(text.includes('ready'), `smtpd ${mode}: ${text}`);
  const mails = () => (existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
  return { port, proc, mails };
}

const fleet = {};
let daemon, sim, ca;
before(async () => {
  doubles = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { const { status, answer } = serve(req, body); res.writeHead(status).end(answer); });
  });
  await new Promise((ok) => doubles.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${doubles.address().port}`;
  const tls = tmpDir('pd-notify-smtp-');
  await run(join(ROOT, 'scripts/gen-certs.sh'), [tls, 'localhost'], { timeout: 60000 });
  ca = readFileSync(join(tls, 'ca.crt'), 'utf8');
  smtp.starttls = await startSmtp('starttls', tls);
  smtp.tls = await startSmtp('tls', tls);
  smtp.plain = await startSmtp('plain', tls);
  ({ daemon, sim } = await simFleet(fleet, { prefix: 'pd-notify-ch-', serials: [A1], models: ['A1'],
    simArgs: ['--speedup', '4'], config: CONFIG }));
});

after(async () => {
  doubles?.close();
  for (const s of Object.values(smtp)) s.proc.kill('SIGTERM');
  await stopSimFleet(assert, fleet);
});

const create = (body) => daemon.req('POST', '/api/v1/notifications/channels', body);
const testOf = async (id) => (await daemon.req('POST', `/api/v1/notifications/channels/${id}/test`)).json;
const remove = (id) => daemon.req('DELETE', `/api/v1/notifications/channels/${id}`);

const CHANNELS = () => ({
  pushover: { type: 'pushover', name: 'pushover', server: `${base}/pushover`, token: PUSHOVER_TOKEN, user: PUSHOVER_USER,
    sound: 'siren' },
  telegram: { type: 'telegram', name: 'telegram', server: `${base}/telegram/`, token: BOT, chat_id: -1001234567 },
  discord: { type: 'discord', name: 'discord', url: `${base}/discord/api/webhooks/1/tok` },
  slack: { type: 'slack', name: 'slack', url: `${base}/slack/services/T0/B0/x` },
  homeassistant: { type: 'homeassistant', name: 'ha', url: `${base}/ha`, token: HA_TOKEN, service: 'mobile_app_pixel' },
  starttls: { type: 'email', name: 'mail', host: 'localhost', port: smtp.starttls.port, security: 'starttls',
    username: SMTP_USER, password: SMTP_PASSWORD, from: 'farm@example.com', to: ['me@example.com', 'you@example.org'], ca },
  tls: { type: 'email', name: 'mail tls', host: 'localhost', port: smtp.tls.port, security: 'tls',
    username: SMTP_USER, password: SMTP_PASSWORD, from: 'farm@example.com', to: ['me@example.com'], ca },
});
const SECRETS = [PUSHOVER_TOKEN, PUSHOVER_USER, BOT, HA_TOKEN, SMTP_PASSWORD, '/discord/api', '/slack/services'];

/** An e-mail as the SMTP server received it, checked: headers, both parts, the envelope. */
function checkMail(m, { to, title }) {
  assert.equal(m.mail_from, 'farm@example.com');
  assert.deepEqual(m.rcpt_tos, to);
  assert.equal(m.auth, SMTP_USER);
  assert.equal(m.tls, true);
  const [head, ...rest] = m.data.split('\r\n\r\n');
  const hdr = Object.fromEntries(head.replace(/\r\n[ \t]+/g, ' ').split('\r\n').map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  assert.match(hdr.date, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
  assert.ok(!Number.isNaN(Date.parse(hdr.date)));
  assert.equal(hdr.from, 'printdeck <farm@example.com>');
  assert.equal(hdr.to, to.join(', '));
  assert.match(hdr.subject, title);
  assert.match(hdr['message-id'], /^<[^@<>\s]+@example\.com>$/);
  assert.match(hdr['mime-version'] || '', /1\.0/);
  assert.match(hdr['content-type'], /^multipart\/mixed; boundary=/);
  const body = rest.join('\r\n\r\n');
  assert.match(body, /Content-Type: multipart\/alternative; boundary=/);
  const plain = body.indexOf('Content-Type: text/plain; charset=utf-8'), html = body.indexOf('Content-Type: text/html; charset=utf-8');
  assert.ok(plain > 0 && html > plain, 'plain text first, then HTML');
  assert.match(body, /<h2>/);
}

test('fields are refused by name; secrets are never shown', async () => {
  const c = CHANNELS();
  for (const [body, field] of [
    [{ ...c.pushover, token: 'short' }, 'token'],
    [{ ...c.pushover, user: undefined }, 'user'],
    [{ ...c.pushover, device: 'a b' }, 'device'],
    [{ ...c.telegram, chat_id: 'not a chat' }, 'chat_id'],
    [{ ...c.telegram, token: 'nope' }, 'token'],
    [{ ...c.telegram, server: 'ftp://x' }, 'server'],
    [{ ...c.discord, url: 'discord' }, 'url'],
    [{ ...c.slack, channel: '#x' }, 'body'],
    [{ ...c.homeassistant, service: 'notify.phone' }, 'service'],
    [{ ...c.homeassistant, token: undefined }, 'token'],
    [{ ...c.starttls, host: 'mail.example.com', security: 'none' }, 'security'],
    [{ ...c.starttls, security: 'ssl' }, 'security'],
    [{ ...c.starttls, to: [] }, 'to'],
    [{ ...c.starttls, to: ['x'] }, 'to'],
    [{ ...c.starttls, from: 'Farm <farm@example.com>' }, 'from'],
    [{ ...c.starttls, port: 0 }, 'port'],
    [{ ...c.starttls, password: undefined }, 'password'],
    [{ ...c.starttls, ca: 'not a certificate' }, 'ca'],
  ]) {
    const r = await create(JSON.parse(JSON.stringify(body)));
    assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.json.error.field, field, r.text);
    assert.ok(r.json.error.message, r.text);
  }
  // plain SMTP only to this machine
  const local = await create({ ...c.starttls, security: 'none', port: 25 });
  assert.equal(local.status, 201, local.text);
  await remove(local.json.id);
  const ids = [];
  for (const body of Object.values(c)) {
    const r = await create(body);
    assert.equal(r.status, 201, r.text);
    ids.push(r.json.id);
  }
  const list = (await daemon.get('/api/v1/notifications/channels')).text;
  for (const s of SECRETS) assert.ok(!list.includes(s), `${s} shown`);
  const shown = JSON.parse(list);
  assert.equal(shown.find((x) => x.type === 'pushover').token_set, true);
  assert.equal(shown.find((x) => x.type === 'discord').url_set, true);
  assert.equal(shown.find((x) => x.type === 'email').password_set, true);
  assert.deepEqual(shown.find((x) => x.type === 'email').to, ['me@example.com', 'you@example.org']);
  for (const id of ids) await remove(id);
});

test('a test message through each type reaches its service as documented', async () => {
  const c = CHANNELS();
  for (const [key, body] of Object.entries(c)) {
    const ch = (await create(body)).json;
    const r = await testOf(ch.id);
    assert.equal(r.ok, true, `${key}: ${JSON.stringify(r)}`);
    assert.match(r.message, key === 'starttls' || key === 'tls' ? /delivered \(SMTP 250\)/ : /delivered \(HTTP 20\d\)/);
    await remove(ch.id);
  }
  for (const s of ['pushover', 'telegram', 'discord', 'slack', 'homeassistant']) {
    const r = got.find((x) => x.service === s);
    assert.ok(r, `${s} got nothing`);
    assert.deepEqual(r.problems, [], `${s}: ${r.problems}`);
  }
  assert.equal(new URLSearchParams(got.find((x) => x.service === 'pushover').body).get('sound'), 'siren');
  const tg = JSON.parse(got.find((x) => x.service === 'telegram').body);
  assert.equal(tg.chat_id, -1001234567);
  assert.match(tg.text, /^<b>printdeck: test message<\/b>\n/);
  checkMail(smtp.starttls.mails()[0], { to: ['me@example.com', 'you@example.org'], title: /test message/ });
  checkMail(smtp.tls.mails()[0], { to: ['me@example.com'], title: /test message/ });
});

test('a refusal is reported in words', async () => {
  const c = CHANNELS();
  for (const [body, words] of [
    [{ ...c.telegram, token: '654321:WRONG-DEF1234ghIkl-zyx57W2v1u123ew' }, /HTTP 401: Unauthorized \(check the token or secret\)/],
    [{ ...c.pushover, token: 'WRONGgMaC0QOYAMyEEuzJnyUiazGDO' }, /HTTP 400: application token is invalid$/],
    [{ ...c.homeassistant, token: 'eyJ.wrong.token-of-enough-length' }, /HTTP 401: 401: Unauthorized/],
    [{ ...c.discord, url: `${base}/discord/api/webhooks/2/gone` }, /HTTP 404: Unknown Webhook$/],
    [{ ...c.slack, url: `${base}/slack/services/T0/B0/gone` }, /HTTP 404: no_service$/],
    [{ ...c.starttls, password: 'wrong' }, /the server refused the user name or password/],
  ]) {
    const ch = (await create(body)).json;
    const r = await testOf(ch.id);
    assert.equal(r.ok, false, JSON.stringify(r));
    assert.match(r.message, words);
    const listed = (await daemon.get('/api/v1/notifications/channels')).json.find((x) => x.id === ch.id);
    assert.match(listed.last_error, words);
    await remove(ch.id);
  }
  // STARTTLS is required: a server that does not offer it is never given the mail in the clear
  const ch = (await create({ ...c.starttls, port: smtp.plain.port })).json;
  const r = await testOf(ch.id);
  assert.equal(r.ok, false, JSON.stringify(r));
  assert.match(r.message, /STARTTLS|SSL|TLS/i);
  assert.equal(smtp.plain.mails().length, 0);
  await remove(ch.id);
});

test('a print finishing on the simulator reaches every type once', async () => {
  const before = got.length, mails0 = smtp.starttls.mails().length, mailsTls0 = smtp.tls.mails().length;
  const ids = [];
  for (const body of Object.values(CHANNELS())) ids.push((await create({ ...body, events: ['job_completed'] })).json.id);
  await sim.control(A1, { action: 'start_job', name: 'benchy <v2> & co', layers: 5, minutes: 1 });
  await sleep(3000);
  await sim.control(A1, { action: 'finish' });
  const services = ['pushover', 'telegram', 'discord', 'slack', 'homeassistant'];
  await waitFor(() => services.every((s) => got.slice(before).some((x) => x.service === s)) &&
    smtp.starttls.mails().length > mails0 && smtp.tls.mails().length > mailsTls0, 30000, 'every channel delivered');
  await sleep(1000);
  const mine = got.slice(before);
  for (const s of services) {
    const r = mine.filter((x) => x.service === s);
    assert.equal(r.length, 1, `${s}: ${r.length} requests`);
    assert.deepEqual(r[0].problems, [], `${s}: ${r[0].problems}`);
  }
  assert.match(new URLSearchParams(mine.find((x) => x.service === 'pushover').body).get('message'), /benchy <v2> & co/);
  assert.match(JSON.parse(mine.find((x) => x.service === 'telegram').body).text, /benchy &lt;v2&gt; &amp; co/);
  assert.match(JSON.parse(mine.find((x) => x.service === 'discord').body).embeds[0].title, /print finished/);
  assert.match(JSON.parse(mine.find((x) => x.service === 'slack').body).text, /benchy &lt;v2&gt; &amp; co/);
  const ha = JSON.parse(mine.find((x) => x.service === 'homeassistant').body);
  assert.equal(ha.data.tag, `printdeck-job_completed-${fleet.ids[A1]}`);
  const mails = smtp.starttls.mails().slice(mails0);
  assert.equal(mails.length, 1);
  checkMail(mails[0], { to: ['me@example.com', 'you@example.org'], title: /print finished/ });
  assert.match(mails[0].data, /benchy &lt;v2&gt; &amp; co/);
  for (const id of ids) await remove(id);
});
