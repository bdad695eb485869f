// Settings → Notifications: the channels (docs/notify.md). Each says what it hears and how its
// last delivery went; Test sends one message now and says the outcome in words; Rules opens the
// channel's events, printers, quiet hours, interval, digest and templates under it. The add and
// edit form is made from the one table of each type's fields (notify.ts). A user sees their own
// channels only: the API scopes the list.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { FormEnd, FormField, placeErrors, SecretKept, validate, Values } from '../components/form';
import { Confirm, Dialog, Empty, ErrorBox, Loading, Outcome } from '../components/ui';
import { timeAgo } from '../format';
import {
  Channel, channelBody, channelDefs, channelValues, checkRules, DAYS, eventsText, KINDS, kindLabel, NOTIFY_API, PLACEHOLDERS, Rules,
  RulesDraft, rulesBody, rulesDraft, TYPES, typeOf,
} from '../notify';
import { PrinterPicker } from './users';

export const CHANNELS = `${NOTIFY_API}/channels`;

function TypeBadge(props: { type: string }) {
  const t = typeOf(props.type);
  return (
    <span class={`type-badge t-${t.type}`} aria-hidden="true">
      {t.abbr}
    </span>
  );
}

function ChannelDialog(props: { c: Channel | null; onClose: () => void; onSaved: () => void }) {
  const { c } = props;
  const [type, setType] = useState<string | null>(c?.type ?? null);
  const [v, setV] = useState<Values>(() => channelValues(c?.type ?? '', c));
  const [replace, setReplace] = useState<Record<string, boolean>>({});
  const [errs, setErrs] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const pick = (t: string) => {
    setType(t);
    setV({ ...channelValues(t), name: v.name });
    setErrs({});
    setGeneral(null);
  };
  const defs = type ? channelDefs(type, c) : [];
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!type) return;
    const local = validate(defs, v);
    setErrs(local);
    setGeneral(null);
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      const body = channelBody(type, v, c);
      if (c) await api.patch(`${CHANNELS}/${c.id}`, body);
      else await api.post(CHANNELS, body);
      props.onSaved();
      props.onClose();
    } catch (ex) {
      const placed = placeErrors(ex, defs.map((d) => d.name));
      setErrs(placed.fields);
      setGeneral(placed.general);
      // a refused secret has to be typed again, so its input shows
      setReplace({ ...replace, ...Object.fromEntries(Object.keys(placed.fields).map((k) => [k, true])) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title={c ? `Edit ${c.name}` : 'Add a channel'} onClose={props.onClose} wide>
      <form class="form" onSubmit={submit} noValidate>
        {!c && (
          <fieldset class="choice">
            <legend>Where should messages go?</legend>
            <div class="type-choices">
              {TYPES.map((t) => (
                <button key={t.type} type="button" class="btn type-choice" aria-pressed={type === t.type} onClick={() => pick(t.type)}>
                  <TypeBadge type={t.type} />
                  {t.label}
                </button>
              ))}
            </div>
          </fieldset>
        )}
        {type && <p class="muted small">{typeOf(type).about}</p>}
        {type && (
          <div class="form-grid">
            {defs.map((d) => {
              const set = (x: string) => setV({ ...v, [d.name]: x });
              const kept = d.secret && c?.[`${d.name}_set`] && !replace[d.name];
              return (
                <FormField key={`${type}-${d.name}`} d={d} idPrefix="ch" value={v[d.name] ?? ''} err={errs[d.name]} set={set}>
                  {kept ? <SecretKept id={`ch-${d.name}`} label={d.label} onReplace={() => setReplace({ ...replace, [d.name]: true })} /> : undefined}
                </FormField>
              );
            })}
          </div>
        )}
        <FormEnd general={general}>
          <button type="button" class="btn" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" class="btn primary" disabled={busy || !type}>
            {busy ? 'Saving…' : c ? 'Save' : 'Add channel'}
          </button>
        </FormEnd>
      </form>
    </Dialog>
  );
}

const HOURS = Array.from({ length: 24 }, (_, h) => `${String(h).padStart(2, '0')}:00`);
const DAY_LABEL: Record<string, string> = { mon: 'Mon', tue: 'Tue', wed: 'Wed', thu: 'Thu', fri: 'Fri', sat: 'Sat', sun: 'Sun' };
const TEMPLATE_KINDS = ['*', ...KINDS.map((k) => k.kind), 'test', 'digest'];

function Err(props: { id: string; err?: string }) {
  return props.err ? (
    <span id={props.id} class="field-error">
      {props.err}
    </span>
  ) : null;
}

/** One channel's events and rules; saved with PATCH (its events) and PUT /rules (the rest). */
function RulesForm(props: { c: Channel; rules: Rules; onSaved: () => void }) {
  const { c } = props;
  const [d, setD] = useState<RulesDraft>(() => rulesDraft(c, props.rules));
  const [errs, setErrs] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [tkind, setTkind] = useState('*');
  const set = (x: Partial<RulesDraft>) => setD({ ...d, ...x });
  const toggle = (list: string[], x: string, on: boolean) => (on ? [...list, x] : list.filter((y) => y !== x));
  const id = (k: string) => `r${c.id}-${k.replace(/\W/g, '-')}`;
  const save = async (e: Event) => {
    e.preventDefault();
    const local = checkRules(d);
    setErrs(local);
    setGeneral(null);
    setNote(null);
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      if (d.events.join() !== c.events.join()) await api.patch(`${CHANNELS}/${c.id}`, { events: d.events });
      await api.put(`${NOTIFY_API}/rules`, { channels: { [c.id]: rulesBody(d) } });
      setNote('Saved.');
      props.onSaved();
    } catch (ex) {
      const f = (ex as { fields?: Record<string, string> }).fields ?? {};
      const tpl = Object.keys(f).find((k) => k.startsWith('templates.'));
      if (tpl) setTkind(tpl.split('.')[1]);
      const known = ['events', 'printers', 'quiet_hours', 'quiet_hours.start', 'quiet_hours.end', 'quiet_hours.days', 'min_interval_s', 'digest_hour'];
      const placed = placeErrors(ex, [...known, ...Object.keys(f).filter((k) => k.startsWith('templates.'))]);
      setErrs(placed.fields);
      setGeneral(placed.general);
    } finally {
      setBusy(false);
    }
  };
  const digestNow = async () => {
    setNote(null);
    setGeneral(null);
    try {
      await api.post(`${CHANNELS}/${c.id}/digest`);
      setNote('The digest is on its way: the delivery log shows how it went.');
    } catch (ex) {
      setGeneral((ex as Error).message);
    }
  };
  const t = d.templates[tkind] ?? { title: '', text: '' };
  const setT = (x: Partial<{ title: string; text: string }>) => set({ templates: { ...d.templates, [tkind]: { ...t, ...x } } });
  const tErr = (part: string) => errs[`templates.${tkind}.${part}`] ?? errs[`templates.${tkind}`];
  return (
    <form class="rules" onSubmit={save} noValidate aria-label={`Rules of ${c.name}`}>
      <fieldset class={`field wide${errs.events ? ' has-error' : ''}`}>
        <legend>Events</legend>
        <div class="check-grid">
          {KINDS.map((k) => (
            <label key={k.kind}>
              <input type="checkbox" checked={d.events.includes(k.kind)} onChange={(e) => set({ events: toggle(d.events, k.kind, (e.target as HTMLInputElement).checked) })} />{' '}
              {k.label}
            </label>
          ))}
        </div>
        <Err id={id('events-err')} err={errs.events} />
      </fieldset>
      <PrinterPicker value={d.printers} set={(printers) => set({ printers })} />
      <Err id={id('printers-err')} err={errs.printers} />
      <fieldset class="field wide quiet-hours">
        <legend>Quiet hours</legend>
        <label>
          <input type="checkbox" checked={d.quiet} onChange={(e) => set({ quiet: (e.target as HTMLInputElement).checked })} /> Hold messages during quiet hours
        </label>
        {d.quiet && (
          <>
            <div class="row-fields">
              <div class={`field${errs['quiet_hours.start'] ? ' has-error' : ''}`}>
                <label for={id('start')}>From</label>
                <input id={id('start')} type="time" value={d.start} aria-invalid={errs['quiet_hours.start'] ? true : undefined} onInput={(e) => set({ start: (e.target as HTMLInputElement).value })} />
                <Err id={id('start-err')} err={errs['quiet_hours.start']} />
              </div>
              <div class={`field${errs['quiet_hours.end'] ? ' has-error' : ''}`}>
                <label for={id('end')}>Until</label>
                <input id={id('end')} type="time" value={d.end} aria-invalid={errs['quiet_hours.end'] ? true : undefined} onInput={(e) => set({ end: (e.target as HTMLInputElement).value })} />
                <Err id={id('end-err')} err={errs['quiet_hours.end']} />
              </div>
            </div>
            <div class="check-row" role="group" aria-label="Days the quiet hours start on">
              {DAYS.map((x) => (
                <label key={x}>
                  <input type="checkbox" checked={!d.days.length || d.days.includes(x)} onChange={(e) => {
                    const all = d.days.length ? d.days : DAYS;
                    set({ days: toggle(all, x, (e.target as HTMLInputElement).checked) });
                  }} />{' '}
                  {DAY_LABEL[x]}
                </label>
              ))}
            </div>
            <Err id={id('days-err')} err={errs['quiet_hours.days'] ?? errs.quiet_hours} />
            <label>
              <input type="checkbox" checked={d.critical} onChange={(e) => set({ critical: (e.target as HTMLInputElement).checked })} /> Critical messages may pass (a failed
              print, a serious HMS error, a printer offline mid-print, not enough filament)
            </label>
            <span class="hint">What quiet hours hold goes into the daily digest when there is one, else it is not sent. A window ending before it starts runs past midnight.</span>
          </>
        )}
      </fieldset>
      <div class="row-fields">
        <div class={`field${errs.min_interval_s ? ' has-error' : ''}`}>
          <label for={id('interval')}>Minimum interval</label>
          <div class="with-unit">
            <input id={id('interval')} inputMode="numeric" placeholder="default" value={d.interval} aria-invalid={errs.min_interval_s ? true : undefined}
              aria-describedby={id(errs.min_interval_s ? 'interval-err' : 'interval-hint')} onInput={(e) => set({ interval: (e.target as HTMLInputElement).value })} />
            <span class="unit">s</span>
          </div>
          {errs.min_interval_s ? <Err id={id('interval-err')} err={errs.min_interval_s} /> : <span id={id('interval-hint')} class="hint">At most one message per event and printer in this time; empty: the daemon’s default.</span>}
        </div>
        <div class={`field${errs.digest_hour ? ' has-error' : ''}`}>
          <label for={id('digest')}>Daily digest</label>
          <div class="with-unit">
            <select id={id('digest')} value={d.digest} onChange={(e) => set({ digest: (e.target as HTMLSelectElement).value })}>
              <option value="">No digest</option>
              {HOURS.map((h, i) => (
                <option key={h} value={String(i)}>
                  at {h}
                </option>
              ))}
            </select>
            <button type="button" class="btn sm" onClick={digestNow}>
              Send digest now
            </button>
          </div>
          <Err id={id('digest-err')} err={errs.digest_hour} />
        </div>
      </div>
      <fieldset class="field wide templates">
        <legend>Templates</legend>
        <div class="field">
          <label for={id('tkind')}>Wording of</label>
          <select id={id('tkind')} value={tkind} onChange={(e) => setTkind((e.target as HTMLSelectElement).value)}>
            {TEMPLATE_KINDS.map((k) => (
              <option key={k} value={k}>
                {kindLabel(k)}
                {d.templates[k]?.title || d.templates[k]?.text ? ' ✓' : ''}
              </option>
            ))}
          </select>
        </div>
        <div class={`field${tErr('title') ? ' has-error' : ''}`}>
          <label for={id('ttitle')}>Title</label>
          <input id={id('ttitle')} value={t.title} placeholder="the default title" aria-invalid={tErr('title') ? true : undefined} onInput={(e) => setT({ title: (e.target as HTMLInputElement).value })} />
          <Err id={id('ttitle-err')} err={tErr('title')} />
        </div>
        <div class={`field${tErr('text') ? ' has-error' : ''}`}>
          <label for={id('ttext')}>Text</label>
          <textarea id={id('ttext')} rows={3} value={t.text} placeholder="the default text" aria-invalid={tErr('text') ? true : undefined} onInput={(e) => setT({ text: (e.target as HTMLTextAreaElement).value })} />
          <Err id={id('ttext-err')} err={tErr('text')} />
        </div>
        <p class="hint placeholders">
          Placeholders: {PLACEHOLDERS.map((p) => <code key={p}>{`{${p}}`}</code>)}. Empty keeps printdeck’s wording; “Every message” applies where a kind has none of its own; ✓ marks a kind worded here.
        </p>
      </fieldset>
      {general && (
        <p class="form-error" role="alert">
          {general}
        </p>
      )}
      {note && (
        <p class="ok-note" role="status">
          {note}
        </p>
      )}
      <div class="actions">
        <button type="submit" class="btn primary" disabled={busy}>
          {busy ? 'Saving…' : 'Save rules'}
        </button>
      </div>
    </form>
  );
}

interface TestResult { ok: boolean; status: number | null; message: string }

function ChannelItem(props: { c: Channel; rules: Rules; onChange: () => void; onEdit: () => void; onDelete: () => void }) {
  const { c } = props;
  const [test, setTest] = useState<TestResult | null>(null);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const [open, setOpen] = useState(false);
  const run = async (f: () => Promise<unknown>) => {
    setBusy(true);
    setErr(null);
    try {
      await f();
    } catch (ex) {
      setErr((ex as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const sendTest = () => run(async () => {
    setTest(null);
    setTest(await api.post<TestResult>(`${CHANNELS}/${c.id}/test`));
    props.onChange();
  });
  const enable = (on: boolean) => run(async () => {
    await api.patch(`${CHANNELS}/${c.id}`, { enabled: on });
    props.onChange();
  });
  const okAt = c.last_ok_at ? Date.parse(c.last_ok_at) : 0, errAt = c.last_error_at ? Date.parse(c.last_error_at) : 0;
  return (
    <li class="card channel" data-channel={c.id}>
      <div class="channel-head">
        <TypeBadge type={c.type} />
        <div class="channel-title">
          <h3>{c.name}</h3>
          <span class="muted small">
            {typeOf(c.type).label} · hears {eventsText(c.events)}
          </span>
        </div>
        <label class="switch">
          <input type="checkbox" role="switch" checked={c.enabled} disabled={busy} onChange={(e) => enable((e.target as HTMLInputElement).checked)} />
          <span>{c.enabled ? 'On' : 'Off'}</span>
          <span class="visually-hidden"> {c.name}</span>
        </label>
      </div>
      <p class="channel-status small">
        {!okAt && !errAt && <span class="muted">Nothing sent yet.</span>}
        {!!okAt && <span class="ok-text">Delivered {timeAgo(okAt)}.</span>}{' '}
        {!!errAt && errAt >= okAt && !test && (
          <span class="channel-error">
            Failed {timeAgo(errAt)}: {c.last_error}
          </span>
        )}
      </p>
      <div class="actions">
        <button type="button" class="btn sm" disabled={busy} onClick={sendTest}>
          {busy && !test ? 'Testing…' : 'Test'}
          <span class="visually-hidden"> {c.name}</span>
        </button>
        <button type="button" class="btn sm" aria-expanded={open} onClick={() => setOpen(!open)}>
          Rules<span class="visually-hidden"> of {c.name}</span>
        </button>
        <button type="button" class="btn sm" onClick={props.onEdit}>
          Edit<span class="visually-hidden"> {c.name}</span>
        </button>
        <button type="button" class="btn sm danger-outline" onClick={props.onDelete}>
          Delete<span class="visually-hidden"> {c.name}</span>
        </button>
      </div>
      <div class="test-result" role="status" aria-live="polite">
        {test && <Outcome ok={test.ok} said={test.ok ? 'Test: ' : 'Test not delivered: '} message={test.message} />}
      </div>
      {err && (
        <p class="form-error" role="alert">
          {err}
        </p>
      )}
      {open && <RulesForm c={c} rules={props.rules} onSaved={props.onChange} />}
    </li>
  );
}

/** The channels of this person (an admin: everyone's), with what the log needs of them. */
export function Channels(props: { onLoaded?: (c: Channel[]) => void }) {
  const [list, setList] = useState<Channel[] | null>(null);
  const [rules, setRules] = useState<Record<string, Rules>>({});
  const [err, setErr] = useState<string | null>(null);
  const [form, setForm] = useState<null | { c: Channel | null }>(null);
  const [remove, setRemove] = useState<Channel | null>(null);
  const load = async () => {
    setErr(null);
    try {
      const [cs, r] = await Promise.all([api.get<Channel[]>(CHANNELS), api.get<{ channels: Record<string, Rules> }>(`${NOTIFY_API}/rules`)]);
      setList(cs);
      setRules(r.channels);
      props.onLoaded?.(cs);
    } catch (e) {
      setErr((e as Error).message);
    }
  };
  useEffect(() => {
    void load();
  }, []);
  return (
    <section class="card" aria-labelledby="channels-title">
      <div class="page-head">
        <h2 id="channels-title">Channels</h2>
        <div class="head-actions">
          <button type="button" class="btn primary" onClick={() => setForm({ c: null })}>
            Add channel
          </button>
        </div>
      </div>
      {err && <ErrorBox error={err} onRetry={load} />}
      {!list && !err && <Loading label="Reading the channels" />}
      {list && !list.length && (
        <Empty title="No channel yet">
          <p>Add one to hear about prints where you already look: ntfy, Telegram, Pushover, Discord, Slack, Home Assistant, e-mail or a webhook of your own.</p>
        </Empty>
      )}
      {list && list.length > 0 && (
        <ul class="channels">
          {list.map((c) => (
            <ChannelItem key={c.id} c={c} rules={rules[c.id] ?? {}} onChange={load} onEdit={() => setForm({ c })} onDelete={() => setRemove(c)} />
          ))}
        </ul>
      )}
      {form && <ChannelDialog c={form.c} onClose={() => setForm(null)} onSaved={load} />}
      {remove && (
        <Confirm
          title={`Delete ${remove.name}?`}
          message="Its rules and its delivery log go with it. Nothing more is sent through it."
          action="Delete"
          danger
          onClose={() => setRemove(null)}
          onConfirm={async () => {
            await api.del(`${CHANNELS}/${remove.id}`);
            await load();
          }}
        />
      )}
    </section>
  );
}
