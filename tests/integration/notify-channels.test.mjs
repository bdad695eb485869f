// The channel types besides the webhook and ntfy (docs/notify.md), each against a local double
// built from its service's documented API (Pushover https://pushover.net/api, Telegram
// https://core.telegram.org/bots/api#sendmessage, Discord
// https://discord.com/developers/docs/resources/webhook#execute-webhook, Slack
// https://api.slack.com/messaging/webhooks, Home Assistant
// https://developers.home-assistant.io/docs/api/rest/) that checks method, path, headers, auth
// and body, and e-mail against a real SMTP server (Debian's aiosmtpd, smtpd.py) with STARTTLS
// and with implicit TLS: a test message through each, a print finishing on the simulator
// through all of them with its camera's snapshot (attached as each service takes a picture:
// ntfy https://docs.ntfy.sh/publish/#attach-local-file, Telegram sendPhoto, Discord's file
// upload, Pushover's attachment, an inline part of the mail; a signed URL for the webhook,
// Slack and Home Assistant), refusals answered in words, fields refused by name.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';
import { waitFor, sleep, simFleet, stopSimFleet, freePort, tmpDir, run, ROOT, join, readFileSync, existsSync }
  from './harness.mjs';

const A1 = '03919C461900413';
const DASHBOARD = 'http://printdeck.example:8080';
const CONFIG = `[notify]
timeout_s = 3
attempts = 2
retry_base_ms = 200
min_interval_s = 0
dashboard_url = ${DASHBOARD}/
`;
const PUSHOVER_TOKEN = 'azGDORePK8gMaC0QOYAMyEEuzJnyUi', PUSHOVER_USER = 'uQiRzpo4DXghDmr9QzzfQu27cmVRsG';
const BOT = '123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11';
const HA_TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0In0.c2lnbmF0dXJl';
const SMTP_USER = 'farm', SMTP_PASSWORD = 'correct horse battery';

// --- the HTTP doubles: one server, a path prefix per service --------------------------------
const got = []; // {service, method, url, headers, body, fields, image, problems}
let base, doubles;
const isJpeg = (b) => Buffer.isBuffer(b) && b.length > 4 && b[0] === 0xff && b[1] === 0xd8 && b.at(-2) === 0xff &&
  b.at(-1) === 0xd9;

/** A multipart/form-data body as the services read it: {fields, files: {name: {filename, type, data}}}. */
async function formOf(h, raw) {
  const form = await new Request('http://double/', { method: 'POST', headers: { 'content-type': h['content-type'] },
    body: raw }).formData();
  const fields = {}, files = {};
  for (const [k, v] of form.entries()) {
    if (typeof v === 'string') fields[k] = v;
    else files[k] = { filename: v.name, type: v.type, data: Buffer.from(await v.arrayBuffer()) };
  }
  return { fields, files };
}

/** RFC 2047 encoded-words, as ntfy decodes its headers. */
const unwords = (v = '') => v.replace(/=\?UTF-8\?B\?([^?]*)\?=\s*/gi, (_, b) => Buffer.from(b, 'base64').toString('latin1'))
  .replace(/[\x80-\xff]+/g, (m) => Buffer.from(m, 'latin1').toString('utf8'));

/** What each service's documentation says a request must be; its answer. */
async function serve(req, raw) {
  const h = req.headers, problems = [], body = raw.toString('utf8');
  const need = (ok, what) => { if (!ok) problems.push(what); };
  const json = (text = body) => { try { return JSON.parse(text); } catch { problems.push('body is not JSON'); return {}; } };
  const multipart = /^multipart\/form-data; ?boundary=/.test(h['content-type'] || '');
  let service = '', status = 200, answer = '', fields = {}, image;
  need(req.method === 'POST', `method ${req.method}`);
  if (req.url.startsWith('/pushover/')) {
    service = 'pushover';
    need(req.url === '/pushover/1/messages.json', `path ${req.url}`);
    // https://pushover.net/api#attachments: the same fields, multipart with the picture
    if (multipart) {
      const f = await formOf(h, raw);
      fields = f.fields;
      image = f.files.attachment?.data;
      need(f.files.attachment?.type === 'image/jpeg', 'attachment image/jpeg');
    } else {
      need(h['content-type'] === 'application/x-www-form-urlencoded', 'form-encoded');
      fields = Object.fromEntries(new URLSearchParams(body));
    }
    need(fields.user === PUSHOVER_USER, 'user key');
    need(fields.message && fields.title, 'message and title');
    const p = Number(fields.priority);
    need(p >= -2 && p <= 2, 'priority -2…2');
    need(p < 2 || (Number(fields.retry) >= 30 && Number(fields.expire) <= 10800), 'emergency: retry and expire');
    if (fields.token !== PUSHOVER_TOKEN) {
      status = 400;
      answer = JSON.stringify({ token: 'invalid', errors: ['application token is invalid'], status: 0 });
    } else answer = JSON.stringify({ status: 1, request: 'a1b2' });
  } else if (req.url.startsWith('/telegram/')) {
    service = 'telegram';
    const m = req.url.match(/^\/telegram\/bot([^/]+)\/(sendMessage|sendPhoto)$/);
    need(m, `path ${req.url}`);
    let text;
    if (m?.[2] === 'sendPhoto') {
      // https://core.telegram.org/bots/api#sendphoto: multipart, the photo a file, the text its caption
      need(multipart, 'sendPhoto as multipart/form-data');
      const f = await formOf(h, raw);
      fields = f.fields;
      image = f.files.photo?.data;
      text = fields.caption;
      need(typeof text === 'string' && [...text.replace(/<\/?b>/g, '').replace(/&(lt|gt|amp|quot);/g, 'x')].length <= 1024,
        'a caption of at most 1024 characters');
    } else {
      need(h['content-type'] === 'application/json', 'JSON');
      fields = json();
      text = fields.text;
    }
    need(fields.parse_mode === 'HTML' && typeof text === 'string' && fields.chat_id !== undefined, 'chat_id, text, HTML');
    fields.text = text;
    // Telegram refuses HTML it cannot parse: only <b> tags here, every other < escaped
    need(!/<(?!\/?b>)/.test(text), 'text escaped');
    if (!m || m[1] !== BOT) { status = 401; answer = JSON.stringify({ ok: false, error_code: 401, description: 'Unauthorized' }); }
    else answer = JSON.stringify({ ok: true, result: { message_id: 1 } });
  } else if (req.url.startsWith('/discord/')) {
    service = 'discord';
    if (req.url !== '/discord/api/webhooks/1/tok') {
      got.push({ service, url: req.url, headers: h, body, problems: [] });
      return { status: 404, answer: JSON.stringify({ message: 'Unknown Webhook', code: 10015 }) };
    }
    if (multipart) {
      // https://discord.com/developers/docs/reference#uploading-files: payload_json and files[n]
      const f = await formOf(h, raw);
      fields = json(f.fields.payload_json);
      const file = f.files['files[0]'];
      image = file?.data;
      need(file?.filename === 'snapshot.jpg', 'files[0] named snapshot.jpg');
      need(fields.embeds?.[0]?.image?.url === 'attachment://snapshot.jpg', 'the embed shows the attachment');
      need(fields.attachments?.[0]?.filename === 'snapshot.jpg', 'the attachment listed');
    } else {
      need(h['content-type'] === 'application/json', 'JSON');
      fields = json();
    }
    const e = fields.embeds?.[0] || {};
    need(e.title && e.description && Number.isInteger(e.color) && !Number.isNaN(Date.parse(e.timestamp)), 'an embed');
    status = 204;
  } else if (req.url.startsWith('/slack/')) {
    service = 'slack';
    if (req.url !== '/slack/services/T0/B0/x') {
      got.push({ service, url: req.url, headers: h, body, problems: [] });
      return { status: 404, answer: 'no_service' };
    }
    need(h['content-type'] === 'application/json', 'JSON');
    fields = json();
    need(typeof fields.text === 'string' && Array.isArray(fields.blocks) && fields.blocks[0]?.type === 'header', 'text and blocks');
    answer = 'ok';
  } else if (req.url.startsWith('/ha/')) {
    service = 'homeassistant';
    need(req.url === '/ha/api/services/notify/mobile_app_pixel', `path ${req.url}`);
    need(h['content-type'] === 'application/json', 'JSON');
    fields = json();
    need(fields.title && fields.message && typeof fields.data === 'object', 'title, message, data');
    if (h.authorization !== `Bearer ${HA_TOKEN}`) { status = 401; answer = '401: Unauthorized'; }
    else answer = '[]';
  } else if (req.url.startsWith('/ntfy/')) {
    service = 'ntfy';
    need(h.authorization === 'Bearer tk_ntfy', 'the token as a bearer');
    if (h.filename) {
      // https://docs.ntfy.sh/publish/#attach-local-file: the picture is the body, the rest headers
      need(req.url === '/ntfy/farm_cams', `path ${req.url}`);
      need(h.filename === 'snapshot.jpg', 'Filename');
      image = raw;
      fields = { title: unwords(h['x-title']), message: unwords(h['x-message']), priority: Number(h['x-priority']),
        tags: unwords(h['x-tags']) };
    } else {
      need(req.url === '/ntfy/', `path ${req.url}`);
      fields = json();
    }
    need(fields.title && fields.message && fields.priority >= 1 && fields.priority <= 5, 'title, message, priority');
  } else if (req.url.startsWith('/webhook/')) {
    service = 'webhook';
    fields = json();
    need(fields.version === 1 && fields.event, 'a version 1 body');
    need(/^sha256=[0-9a-f]{64}$/.test(h['x-printdeck-signature'] || ''), 'signed');
  }
  got.push({ service, url: req.url, headers: h, body, fields, image, problems });
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
    const parts = [];
    req.on('data', (c) => { parts.push(c); });
    req.on('end', async () => { const { status, answer } = await serve(req, Buffer.concat(parts)); res.writeHead(status).end(answer); });
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
    simArgs: ['--speedup', '4', '--camera-fps', '2'], config: CONFIG, camera: true }));
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
  ntfy: { type: 'ntfy', name: 'ntfy', server: `${base}/ntfy`, topic: 'farm_cams', token: 'tk_ntfy' },
  webhook: { type: 'webhook', name: 'hook', url: `${base}/webhook/in`, secret: 'a secret long enough to sign' },
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
  for (const s of ['pushover', 'telegram', 'discord', 'slack', 'homeassistant', 'ntfy', 'webhook']) {
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
  const services = ['pushover', 'telegram', 'discord', 'slack', 'homeassistant', 'ntfy', 'webhook'];
  await waitFor(() => services.every((s) => got.slice(before).some((x) => x.service === s)) &&
    smtp.starttls.mails().length > mails0 && smtp.tls.mails().length > mailsTls0, 30000, 'every channel delivered');
  await sleep(1000);
  const mine = got.slice(before), one = (s) => mine.find((x) => x.service === s);
  for (const s of services) {
    const r = mine.filter((x) => x.service === s);
    assert.equal(r.length, 1, `${s}: ${r.length} requests`);
    assert.deepEqual(r[0].problems, [], `${s}: ${r[0].problems}`);
  }
  assert.match(one('pushover').fields.message, /benchy <v2> & co/);
  assert.match(one('telegram').fields.text, /benchy &lt;v2&gt; &amp; co/);
  assert.match(one('discord').fields.embeds[0].title, /print finished/);
  assert.match(one('slack').fields.text, /benchy &lt;v2&gt; &amp; co/);
  assert.match(one('ntfy').fields.message, /benchy <v2> & co/);
  const ha = one('homeassistant').fields;
  assert.equal(ha.data.tag, `printdeck-job_completed-${fleet.ids[A1]}`);
  // the printer has a camera: a picture where the channel shows one
  for (const s of ['pushover', 'telegram', 'discord', 'ntfy'])
    assert.ok(isJpeg(one(s).image), `${s}: no JPEG attached`);
  assert.match(one('telegram').url, /\/sendPhoto$/);
  // and a signed snapshot URL on the dashboard's address where the receiver fetches it
  const signed = new RegExp(`^${DASHBOARD}/api/v1/printers/${fleet.ids[A1]}/snapshot\\?exp=\\d+&sig=[\\w-]+$`);
  const urls = [ha.data.image, one('webhook').fields.snapshot_url,
    one('slack').fields.blocks.find((b) => b.type === 'image')?.image_url];
  for (const u of urls) assert.match(u ?? 'none', signed);
  const snap = await fetch(daemon.url(urls[0].slice(DASHBOARD.length)));
  assert.equal(snap.status, 200);
  assert.ok(isJpeg(Buffer.from(await snap.arrayBuffer())), 'the signed URL gives the picture');
  const mails = smtp.starttls.mails().slice(mails0);
  assert.equal(mails.length, 1);
  checkMail(mails[0], { to: ['me@example.com', 'you@example.org'], title: /print finished/ });
  assert.match(mails[0].data, /benchy &lt;v2&gt; &amp; co/);
  // the picture as an inline image part of the mail
  const part = /Content-Type: image\/jpeg\r\n(?:[^\r\n]+\r\n)*\r\n([A-Za-z0-9+/=\r\n]+?)\r\n--/.exec(mails[0].data);
  assert.ok(part, 'an image part');
  assert.match(mails[0].data, /Content-Disposition: inline; filename="snapshot.jpg"/);
  assert.ok(isJpeg(Buffer.from(part[1].replace(/\r\n/g, ''), 'base64')), 'the mail\'s picture is a JPEG');
  for (const id of ids) await remove(id);
});
