// Notification channels and their rules as the dashboard edits them (docs/notify.md, docs/api.md
// "Notifications"): ONE table of each channel type's fields makes the form, its checks and the
// body sent; a channel's rules become a draft of form values and back. Pure, tested in
// notify.test.ts.
import type { FieldDef, Values } from './components/form';

export const NOTIFY_API = '/api/v1/notifications';

export interface Channel {
  id: number;
  type: string;
  name: string;
  enabled: boolean;
  events: string[];
  owner_id: number | null;
  created_at: string;
  last_ok_at: string | null;
  last_error: string | null;
  last_error_at: string | null;
  [field: string]: unknown;
}

export interface Rules {
  printers?: number[] | null;
  printer_events?: Record<string, string[]>;
  quiet_hours?: { start: string; end: string; days?: string[]; critical?: boolean };
  min_interval_s?: number;
  digest_hour?: number;
  templates?: Record<string, { title?: string; text?: string }>;
}

export interface LogRow {
  id: number;
  channel_id: number;
  event: string;
  printer_id: number | null;
  title: string;
  attempt: number;
  ok: boolean;
  status: number | null;
  error: string | null;
  at: string;
}

/** The event kinds a channel hears, in the order people think of a print, with their words. */
export const KINDS: { kind: string; label: string }[] = [
  { kind: 'job_started', label: 'Print started' },
  { kind: 'first_layer', label: 'First layer done' },
  { kind: 'job_completed', label: 'Print finished' },
  { kind: 'job_failed', label: 'Print failed' },
  { kind: 'job_cancelled', label: 'Print cancelled' },
  { kind: 'print_stalled', label: 'Print stalled' },
  { kind: 'printer_offline', label: 'Printer offline mid-print' },
  { kind: 'hms', label: 'HMS error' },
  { kind: 'insufficient_filament', label: 'Not enough filament' },
  { kind: 'low_stock', label: 'Spool running low' },
  { kind: 'slot_prompt', label: 'Spool needs confirming' },
  { kind: 'ams_humidity', label: 'AMS too humid' },
  { kind: 'drying_due', label: 'Drying due' },
];

/** What a log row or a template may be about besides the kinds: the test and the digest. */
const OTHER: Record<string, string> = { test: 'Test message', digest: 'Daily digest', '*': 'Every message' };

export const kindLabel = (k: string) => KINDS.find((x) => x.kind === k)?.label ?? OTHER[k] ?? k;

/** The placeholders a template may use (docs/notify.md, "Facts and templates"). */
export const PLACEHOLDERS = [
  'printer', 'job', 'progress', 'layer', 'duration', 'eta', 'finish_time', 'filament', 'spool', 'shortfall_g',
  'hms_code', 'hms_text', 'hms_url', 'reason', 'url',
];

/** A field of a channel type: the form's field, and how its text becomes the API's value. */
export interface ChannelField extends FieldDef {
  /** written, never shown: the channel says `<name>_set` */
  secret?: boolean;
  /** comma- or line-separated text → an array */
  list?: boolean;
  /** digits → a number, anything else stays text (Telegram's chat id) */
  intOrText?: boolean;
}

export interface ChannelType {
  type: string;
  label: string;
  /** two letters on the channel's badge */
  abbr: string;
  about: string;
  fields: ChannelField[];
}

const url = (name: string, label: string, required: boolean, hint: string, extra: Partial<ChannelField> = {}): ChannelField => ({
  name, label, required, hint, placeholder: 'https://…', wide: true, ...extra,
});

export const TYPES: ChannelType[] = [
  {
    type: 'webhook', label: 'Webhook', abbr: 'WH', about: 'A signed JSON POST to your own receiver.',
    fields: [
      url('url', 'URL', true, 'The receiver’s address; every message is a JSON POST signed with the secret.'),
      { name: 'secret', label: 'Secret', type: 'password', secret: true, required: true, hint: '16 to 256 characters: the receiver checks X-Printdeck-Signature with it.' },
    ],
  },
  {
    type: 'ntfy', label: 'ntfy', abbr: 'nt', about: 'Push to the ntfy app, from ntfy.sh or your own server.',
    fields: [
      { name: 'topic', label: 'Topic', required: true, hint: 'Letters, digits, - and _. Subscribe to the same topic in the ntfy app.' },
      url('server', 'Server', false, 'Your own ntfy server; empty for https://ntfy.sh.'),
      { name: 'token', label: 'Access token', type: 'password', secret: true, hint: 'Only for a protected topic: ntfy’s web app → Account → Access tokens.' },
      url('click', 'Link when tapped', false, 'Opened when the notification is tapped.'),
    ],
  },
  {
    type: 'telegram', label: 'Telegram', abbr: 'TG', about: 'A message from your own Telegram bot.',
    fields: [
      { name: 'token', label: 'Bot token', type: 'password', secret: true, required: true, wide: true, hint: 'The token @BotFather gives when you create the bot (/newbot).' },
      { name: 'chat_id', label: 'Chat id', required: true, intOrText: true, hint: 'A number (write to your bot, then read it from getUpdates) or @channelusername.' },
      url('server', 'Bot API server', false, 'Only for a local Bot API server; empty for https://api.telegram.org.'),
    ],
  },
  {
    type: 'pushover', label: 'Pushover', abbr: 'PO', about: 'Pushover’s app on phones and desktops.',
    fields: [
      { name: 'user', label: 'User key', type: 'password', secret: true, required: true, hint: 'Your user (or group) key: at the top of pushover.net once signed in.' },
      { name: 'token', label: 'Application token', type: 'password', secret: true, required: true, hint: 'Create an application at pushover.net/apps/build and copy its API token.' },
      { name: 'device', label: 'Device', hint: 'Only this device of yours; empty for all.' },
      { name: 'sound', label: 'Sound', hint: 'One of Pushover’s sound names, e.g. pushover, siren.' },
      url('url', 'Link', false, 'A link shown with each message.'),
      url('server', 'Server', false, 'Empty for https://api.pushover.net.'),
    ],
  },
  {
    type: 'discord', label: 'Discord', abbr: 'DC', about: 'A message in a Discord channel through its webhook.',
    fields: [
      url('url', 'Webhook URL', true, 'Channel settings → Integrations → Webhooks → New Webhook → Copy Webhook URL. It holds its token: kept secret.', { secret: true, type: 'password' }),
      { name: 'username', label: 'Posted as', hint: 'The name shown on the messages; empty for printdeck.' },
    ],
  },
  {
    type: 'slack', label: 'Slack', abbr: 'SL', about: 'A message in a Slack channel through an incoming webhook.',
    fields: [
      url('url', 'Incoming webhook URL', true, 'Your Slack app → Incoming Webhooks → Add New Webhook to Workspace → Copy. Kept secret.', { secret: true, type: 'password' }),
    ],
  },
  {
    type: 'homeassistant', label: 'Home Assistant', abbr: 'HA', about: 'Home Assistant’s notify service, e.g. its companion app on your phone.',
    fields: [
      url('url', 'Home Assistant URL', true, 'Its address as printdeck reaches it, e.g. http://homeassistant.local:8123.', { placeholder: 'http://homeassistant.local:8123' }),
      { name: 'token', label: 'Access token', type: 'password', secret: true, required: true, wide: true, hint: 'A long-lived access token from your profile (Security tab → Long-lived access tokens → Create token).' },
      { name: 'service', label: 'Notify service', required: true, placeholder: 'mobile_app_pixel_7', hint: 'The name after notify., as Developer tools → Actions lists it.' },
    ],
  },
  {
    type: 'email', label: 'E-mail', abbr: '@', about: 'Mail through your SMTP server, plain text and HTML.',
    fields: [
      { name: 'host', label: 'SMTP server', required: true, placeholder: 'smtp.example.org', hint: 'Your mail provider’s SMTP host name.' },
      { name: 'port', label: 'Port', type: 'number', step: '1', min: 1, max: 65535, hint: 'Empty: 587 (STARTTLS) or 465 (TLS).' },
      {
        name: 'security', label: 'Security', type: 'select', hint: '“None” only to a mail relay on this machine.',
        options: [
          { value: 'starttls', label: 'STARTTLS (port 587)' },
          { value: 'tls', label: 'TLS (port 465)' },
          { value: 'none', label: 'None (this machine only)' },
        ],
      },
      { name: 'username', label: 'User name', hint: 'With a password, or neither.' },
      { name: 'password', label: 'Password', type: 'password', secret: true, hint: 'An app password where your provider has them.' },
      { name: 'from', label: 'From', required: true, placeholder: 'printdeck@example.org', hint: 'An address your server may send as.' },
      { name: 'to', label: 'To', required: true, list: true, wide: true, placeholder: 'you@example.org, shop@example.org', hint: '1 to 10 addresses, separated by commas.' },
      { name: 'ca', label: 'CA certificates (PEM)', type: 'textarea', wide: true, hint: 'Only for a server with a certificate of its own: the CAs to trust instead of the system’s.' },
    ],
  },
  {
    type: 'mqtt', label: 'MQTT', abbr: 'MQ', about: 'Published on the broker of [homeassistant] url, for your own automations.',
    fields: [{ name: 'topic', label: 'Topic', placeholder: 'printdeck/notifications', hint: 'Empty for printdeck/notifications; no + or #.' }],
  },
  {
    type: 'webpush', label: 'Web Push', abbr: 'WP', about: 'The dashboard on the devices subscribed under “This device”.',
    fields: [{ name: 'subject', label: 'Contact', wide: true, placeholder: 'mailto:you@example.org', hint: 'mailto:you@example.org or an https:// address: push services (Apple’s) want one.' }],
  },
];

export const typeOf = (type: string): ChannelType =>
  TYPES.find((t) => t.type === type) ?? { type, label: type, abbr: type.slice(0, 2), about: '', fields: [] };

/** The name and the type's fields, as the form shows them: a secret already set is not
 * required again (empty keeps it). */
export function channelDefs(type: string, c?: Channel | null): ChannelField[] {
  const name: ChannelField = { name: 'name', label: 'Name', required: true, placeholder: 'e.g. Workshop phone', hint: 'How this page and the log name it.' };
  return [name, ...typeOf(type).fields.map((f) => (f.secret && c?.[`${f.name}_set`] ? { ...f, required: false } : f))];
}

/** A channel's fields as form text (secrets are never there: they stay empty). */
export function channelValues(type: string, c?: Channel | null): Values {
  const v: Values = { name: c?.name ?? '' };
  for (const f of typeOf(type).fields) {
    const x = f.secret ? undefined : c?.[f.name];
    v[f.name] = Array.isArray(x) ? x.join(', ') : x === undefined || x === null ? (f.type === 'select' ? f.options![0].value : '') : String(x);
  }
  return v;
}

function valueOf(f: ChannelField, x: string): unknown {
  if (f.list) return x.split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
  if (f.type === 'number') return Number(x);
  if (f.intOrText && /^-?\d+$/.test(x)) return Number(x);
  return x;
}

/** The body of POST (a new channel: its type and every field given) or PATCH (an edit: the
 * fields changed, an emptied one as null, a secret only when a new one is typed). */
export function channelBody(type: string, v: Values, c?: Channel | null): Record<string, unknown> {
  const edit = !!c;
  const initial = channelValues(type, c);
  const body: Record<string, unknown> = edit ? {} : { type };
  for (const f of channelDefs(type, c)) {
    const x = (v[f.name] ?? '').trim();
    if (f.secret) {
      if (x) body[f.name] = x;
      continue;
    }
    if (edit && x === (initial[f.name] ?? '').trim()) continue;
    if (x) body[f.name] = valueOf(f, x);
    else if (edit) body[f.name] = null;
  }
  return body;
}

/* --- rules ---------------------------------------------------------------------------------- */

export const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** A channel's events and rules as the rules form edits them. Error keys are the API's field
 * names (`quiet_hours.start`, `templates.hms.text`), so a 422 lands where it belongs. */
export interface RulesDraft {
  events: string[];
  printers: number[]; // empty: every printer
  quiet: boolean;
  start: string;
  end: string;
  days: string[]; // empty: every day
  critical: boolean;
  interval: string; // empty: the daemon's [notify] min_interval_s
  digest: string; // empty: no digest
  templates: Record<string, { title: string; text: string }>;
  /** members this form does not edit (each printer's own kinds on the channel), kept as they are */
  printerEvents?: Record<string, string[]>;
}

export function rulesDraft(c: Channel, r: Rules = {}): RulesDraft {
  const q = r.quiet_hours;
  const templates: RulesDraft['templates'] = {};
  for (const [k, t] of Object.entries(r.templates ?? {})) templates[k] = { title: t.title ?? '', text: t.text ?? '' };
  return {
    events: [...c.events],
    printers: r.printers ?? [],
    quiet: !!q,
    start: q?.start ?? '22:00',
    end: q?.end ?? '07:00',
    days: q?.days ?? [],
    critical: q?.critical ?? true,
    interval: r.min_interval_s === undefined ? '' : String(r.min_interval_s),
    digest: r.digest_hour === undefined ? '' : String(r.digest_hour),
    templates,
    printerEvents: r.printer_events,
  };
}

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

/** Checks before sending; field → message, with the API's names. */
export function checkRules(d: RulesDraft): Record<string, string> {
  const errs: Record<string, string> = {};
  if (d.quiet) {
    if (!HHMM.test(d.start)) errs['quiet_hours.start'] = 'a time HH:MM expected';
    if (!HHMM.test(d.end)) errs['quiet_hours.end'] = 'a time HH:MM expected';
  }
  const n = Number(d.interval);
  if (d.interval.trim() && (!Number.isInteger(n) || n < 0 || n > 86400)) errs.min_interval_s = 'whole seconds from 0 to 86,400';
  return errs;
}

/** The rules to PUT for the channel: only what is set, so the daemon's defaults apply to the rest. */
export function rulesBody(d: RulesDraft): Rules {
  const r: Rules = {};
  if (d.printers.length) r.printers = [...d.printers].sort((a, b) => a - b);
  if (d.printerEvents && Object.keys(d.printerEvents).length) r.printer_events = d.printerEvents;
  if (d.quiet) {
    r.quiet_hours = { start: d.start, end: d.end, critical: d.critical };
    if (d.days.length && d.days.length < 7) r.quiet_hours.days = DAYS.filter((x) => d.days.includes(x));
  }
  if (d.interval.trim()) r.min_interval_s = Number(d.interval);
  if (d.digest !== '') r.digest_hour = Number(d.digest);
  const t: NonNullable<Rules['templates']> = {};
  for (const [k, x] of Object.entries(d.templates)) {
    const one: { title?: string; text?: string } = {};
    if (x.title.trim()) one.title = x.title;
    if (x.text.trim()) one.text = x.text;
    if (one.title !== undefined || one.text !== undefined) t[k] = one;
  }
  if (Object.keys(t).length) r.templates = t;
  return r;
}

/** "Print finished, Print failed and 3 more": the kinds a channel hears, short enough for a card. */
export function eventsText(events: string[], max = 3): string {
  if (!events.length) return 'nothing';
  const labels = KINDS.filter((k) => events.includes(k.kind)).map((k) => k.label);
  if (labels.length <= max) return labels.join(', ');
  return `${labels.slice(0, max).join(', ')} and ${labels.length - max} more`;
}

/** GET /api/v1/notifications/log's query for the filters and the page. */
export function logQuery(f: { channel: string; event: string; printer: string }, page: number, size: number): string {
  const q = new URLSearchParams();
  if (f.channel) q.set('channel_id', f.channel);
  if (f.event) q.set('event', f.event);
  if (f.printer) q.set('printer_id', f.printer);
  q.set('limit', String(size));
  q.set('offset', String(page * size));
  return `${NOTIFY_API}/log?${q}`;
}

/** A log row's outcome in a few words: the service's own refusal is its `error`. */
export function outcomeText(r: LogRow): string {
  if (r.ok) return r.status ? `delivered (${r.status})` : 'delivered';
  if (r.attempt === 0) return 'held';
  return r.status ? `failed (${r.status})` : 'failed';
}
