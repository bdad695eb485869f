import { describe, expect, it } from 'vitest';
import { parseError } from './api';
import { placeErrors, validate } from './components/form';
import { Channel, channelBody, channelDefs, channelValues, checkRules, eventsText, logQuery, outcomeText, rulesBody, rulesDraft, TYPES } from './notify';

const channel = (x: Partial<Channel>): Channel => ({
  id: 4, type: 'webhook', name: 'hook', enabled: true, events: ['job_completed', 'job_failed'], owner_id: null,
  created_at: '2025-01-01T00:00:00Z', last_ok_at: null, last_error: null, last_error_at: null, ...x,
});

describe('the channel types table', () => {
  it('has every type of docs/notify.md, each field once, a hint for each secret', () => {
    expect(TYPES.map((t) => t.type).sort()).toEqual(
      ['discord', 'email', 'homeassistant', 'mqtt', 'ntfy', 'pushover', 'slack', 'telegram', 'webhook', 'webpush'].sort());
    for (const t of TYPES) {
      const names = t.fields.map((f) => f.name);
      expect(new Set(names).size).toBe(names.length);
      for (const f of t.fields.filter((x) => x.secret)) expect(f.hint, `${t.type}.${f.name}`).toBeTruthy();
    }
    const tg = TYPES.find((t) => t.type === 'telegram')!.fields.find((f) => f.name === 'token')!;
    expect(tg.hint).toMatch(/@BotFather/);
    expect(TYPES.find((t) => t.type === 'homeassistant')!.fields.find((f) => f.name === 'token')!.hint).toMatch(/long-lived access token/);
  });

  it('makes the form: the name first, required fields checked before sending', () => {
    const defs = channelDefs('webhook');
    expect(defs.map((d) => d.name)).toEqual(['name', 'url', 'secret']);
    expect(validate(defs, { name: '', url: 'http://h', secret: '' })).toEqual({ name: 'required', secret: 'required' });
    expect(validate(channelDefs('email'), { name: 'm', host: 'h', from: 'a@b', to: 'c@d', port: '99999' })).toEqual({ port: 'must be 65535 or less' });
  });

  it('a new channel sends its type and the fields given, lists and numbers as such', () => {
    expect(channelBody('webhook', { name: 'Hook', url: ' http://127.0.0.1/x ', secret: 'sixteen-chars-or-more' })).toEqual({
      type: 'webhook', name: 'Hook', url: 'http://127.0.0.1/x', secret: 'sixteen-chars-or-more' });
    expect(channelBody('email', { name: 'Mail', host: 'smtp.example.org', port: '465', security: 'tls', from: 'p@example.org', to: 'a@x.org, b@x.org\nc@x.org', username: '', password: '', ca: '' }))
      .toEqual({ type: 'email', name: 'Mail', host: 'smtp.example.org', port: 465, security: 'tls', from: 'p@example.org', to: ['a@x.org', 'b@x.org', 'c@x.org'] });
    expect(channelBody('telegram', { name: 'T', token: '1:x', chat_id: '-100123' }).chat_id).toBe(-100123);
    expect(channelBody('telegram', { name: 'T', token: '1:x', chat_id: '@mychannel' }).chat_id).toBe('@mychannel');
  });

  it('an edit shows no secret, keeps one left empty, sends what changed and clears what was emptied', () => {
    const c = channel({ type: 'ntfy', topic: 'shop', server: 'https://ntfy.example', token_set: true, click: 'https://x' });
    const v = channelValues('ntfy', c);
    expect(v).toEqual({ name: 'hook', topic: 'shop', server: 'https://ntfy.example', token: '', click: 'https://x' });
    expect(channelDefs('ntfy', c).find((d) => d.name === 'token')!.required).toBeFalsy();
    expect(channelBody('ntfy', v, c)).toEqual({});
    expect(channelBody('ntfy', { ...v, topic: 'farm', click: '', token: 'tk_new' }, c)).toEqual({ topic: 'farm', click: null, token: 'tk_new' });
    const w = channel({ url: 'http://h/x', secret_set: true });
    expect(channelDefs('webhook', w).find((d) => d.name === 'secret')!.required).toBe(false);
    expect(channelValues('email', channel({ type: 'email', to: ['a@x', 'b@x'], port: 587 }))).toMatchObject({ to: 'a@x, b@x', port: '587', security: 'starttls' });
  });
});

describe('422s placed on their field', () => {
  it('a channel field by its name, anything else above the buttons', () => {
    const e = parseError(422, { error: { code: 'invalid_field', message: 'secret: 16 to 256 characters expected', field: 'secret' } });
    expect(placeErrors(e, ['name', 'url', 'secret'])).toEqual({ fields: { secret: '16 to 256 characters expected' }, general: null });
    const body = parseError(422, { error: { code: 'invalid_field', message: 'body: x: not a field of this channel type', field: 'body' } });
    expect(placeErrors(body, ['name', 'url'])).toEqual({ fields: {}, general: 'body: x: not a field of this channel type' });
  });

  it('a rule by its dotted name', () => {
    const e = parseError(422, { error: { message: 'templates.hms.text: unknown placeholder {nope}', field: 'templates.hms.text' } });
    expect(placeErrors(e, ['templates.hms.text']).fields).toEqual({ 'templates.hms.text': 'unknown placeholder {nope}' });
  });
});

describe('rules ↔ the form', () => {
  it('round-trips what the API gives, keeping what the form does not edit', () => {
    const rules = {
      printers: [3, 1], printer_events: { '1': ['hms'] }, quiet_hours: { start: '22:30', end: '06:00', days: ['fri', 'sat'], critical: false },
      min_interval_s: 300, digest_hour: 8, templates: { hms: { text: '{printer}: {hms_text}' }, '*': { title: '{printer}' } },
    };
    const d = rulesDraft(channel({}), rules);
    expect(d).toMatchObject({ printers: [3, 1], quiet: true, start: '22:30', days: ['fri', 'sat'], critical: false, interval: '300', digest: '8' });
    expect(d.templates.hms).toEqual({ title: '', text: '{printer}: {hms_text}' });
    expect(rulesBody(d)).toEqual({ ...rules, printers: [1, 3] });
  });

  it('empty rules stay empty: the daemon defaults apply', () => {
    const d = rulesDraft(channel({}), {});
    expect(d).toMatchObject({ quiet: false, interval: '', digest: '', printers: [], events: ['job_completed', 'job_failed'] });
    expect(rulesBody(d)).toEqual({});
    expect(rulesBody({ ...d, templates: { hms: { title: ' ', text: '' } } })).toEqual({});
  });

  it('quiet hours on every day send no days; midnight is a digest hour', () => {
    const d = { ...rulesDraft(channel({}), {}), quiet: true, days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], digest: '0' };
    expect(rulesBody(d)).toEqual({ quiet_hours: { start: '22:00', end: '07:00', critical: true }, digest_hour: 0 });
    expect(rulesBody({ ...d, days: ['sun', 'mon'] }).quiet_hours!.days).toEqual(['mon', 'sun']);
  });

  it('checks times and the interval with the API’s field names', () => {
    const d = { ...rulesDraft(channel({}), {}), quiet: true, start: '25:00', interval: '1.5' };
    expect(checkRules(d)).toEqual({ 'quiet_hours.start': 'a time HH:MM expected', min_interval_s: 'whole seconds from 0 to 86,400' });
    expect(checkRules({ ...d, start: '07:00', interval: '0' })).toEqual({});
  });
});

describe('words and queries', () => {
  it('what a channel hears, short', () => {
    expect(eventsText(['job_failed', 'job_completed'])).toBe('Print finished, Print failed');
    expect(eventsText(['job_completed', 'job_failed', 'hms', 'low_stock', 'slot_prompt'])).toBe('Print finished, Print failed, HMS error and 2 more');
    expect(eventsText([])).toBe('nothing');
  });

  it('the log query and outcomes', () => {
    expect(logQuery({ channel: '4', event: '', printer: '2' }, 2, 25)).toBe('/api/v1/notifications/log?channel_id=4&printer_id=2&limit=25&offset=50');
    const row = { id: 1, channel_id: 4, event: 'test', printer_id: null, title: 't', attempt: 1, ok: true, status: 200, error: null, at: '' };
    expect(outcomeText(row)).toBe('delivered (200)');
    expect(outcomeText({ ...row, ok: false, status: 400 })).toBe('failed (400)');
    expect(outcomeText({ ...row, ok: false, status: null, attempt: 0 })).toBe('held');
  });
});
