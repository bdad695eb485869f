// The printer's add and edit dialog (Settings → Printers), a chunk of its own: its own link or
// Home Assistant, the entity names, the webhook secret (write-only) and the timelapse settings
// (docs/web.md). What is sent is printerform.ts's.
import { useState } from 'preact/hooks';
import { api } from '../api';
import { FieldDef, FormEnd, FormField, placeErrors, SecretKept, validate, Values } from '../components/form';
import { Dialog, Outcome } from '../components/ui';
import {
  entityDefs, GLOBAL, HA_ENTITIES, isWebhookPrinter, mainDefs, printerBody, printerDefs, printerValues, PrinterRecord,
  SecretChange, secretProblem, Source, timelapseDefs,
} from '../printerform';

interface TestResult { ok: boolean; step: string; message: string; elapsed_ms: number }

const SOURCES: { source: Source; label: string; about: string }[] = [
  { source: 'mqtt', label: 'Its own link (LAN mode, MQTT)', about: 'printdeck talks to the printer itself: live state, commands, camera.' },
  { source: 'homeassistant', label: 'Through Home Assistant', about: 'printdeck follows the printer’s ha-bambulab entities: its job, progress and AMS. No commands.' },
];

const SECRET: FieldDef = {
  name: 'webhook_secret', label: 'Webhook secret', type: 'password', wide: true,
  hint: '16 to 128 characters. Home Assistant’s webhooks naming this printer must carry it; none: the server’s [homeassistant] webhook_secret.',
};

/** The webhook secret: "set" with Replace and Clear, or typed anew; never shown. */
function SecretField(props: { set: boolean; change: SecretChange; onChange: (c: SecretChange) => void; err?: string }) {
  const { change } = props;
  const id = 'pf-webhook_secret';
  if (change.kind === 'clear')
    return (
      <FormField d={{ ...SECRET, hint: 'Cleared when you save: the server’s [homeassistant] webhook_secret applies.' }} idPrefix="pf" value="" set={() => {}}>
        <div class="secret-set">
          <span class="badge warn">cleared</span>
          <button type="button" id={id} aria-label="Keep the webhook secret" class="btn sm" onClick={() => props.onChange({ kind: 'keep' })}>
            Undo
          </button>
        </div>
      </FormField>
    );
  if (props.set && change.kind === 'keep')
    return (
      <FormField d={SECRET} idPrefix="pf" value="" set={() => {}}>
        <SecretKept id={id} label={SECRET.label} onReplace={() => props.onChange({ kind: 'set', value: '' })} onClear={() => props.onChange({ kind: 'clear' })} />
      </FormField>
    );
  const value = change.kind === 'set' ? change.value : '';
  return (
    <FormField
      d={{ ...SECRET, hint: props.set ? `${SECRET.hint} Empty keeps the one set.` : SECRET.hint }}
      idPrefix="pf"
      value={value}
      err={props.err}
      set={(x) => props.onChange(x ? { kind: 'set', value: x } : props.set ? { kind: 'set', value: '' } : { kind: 'keep' })}
    />
  );
}

/** A number of the timelapse group: the global setting, or this printer's own. */
function GlobalOrNumber(props: { d: FieldDef; value: string; err?: string; own: boolean; setOwn: (b: boolean) => void; set: (x: string) => void }) {
  const { d } = props;
  const id = `pf-${d.name}`;
  return (
    <div class={`field${props.err ? ' has-error' : ''}`}>
      <label for={id}>{d.label}</label>
      <input
        id={id}
        name={d.name}
        type="text"
        inputMode="numeric"
        disabled={!props.own}
        placeholder={props.own ? undefined : 'global setting'}
        aria-invalid={props.err ? true : undefined}
        aria-describedby={props.err ? `${id}-err` : `${id}-hint`}
        value={props.own ? props.value : ''}
        onInput={(e) => props.set((e.target as HTMLInputElement).value)}
      />
      <label class="check small">
        <input type="checkbox" checked={!props.own} onChange={(e) => props.setOwn(!(e.target as HTMLInputElement).checked)} />
        {GLOBAL}
      </label>
      {props.err ? (
        <span id={`${id}-err`} class="field-error">
          {props.err}
        </span>
      ) : (
        <span id={`${id}-hint`} class="hint">
          {d.hint}
        </span>
      )}
    </div>
  );
}

export function PrinterForm(props: { p?: PrinterRecord; onDone: () => void }) {
  const { p } = props;
  const edit = !!p;
  const webhooks = isWebhookPrinter(p);
  const [source, setSource] = useState<Source>(p?.source === 'homeassistant' ? 'homeassistant' : 'mqtt');
  const initial = printerValues(p);
  const [v, setV] = useState<Values>(initial);
  // the timelapse numbers this printer has of its own (the others: the global setting)
  const [own, setOwn] = useState<Record<string, boolean>>({
    timelapse_interval_s: !!initial.timelapse_interval_s, timelapse_fps: !!initial.timelapse_fps,
  });
  const [secret, setSecret] = useState<SecretChange>({ kind: 'keep' });
  const [errs, setErrs] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState<'' | 'test' | 'save'>('');
  const [test, setTest] = useState<TestResult | null>(null);
  const [entitiesOpen, setEntitiesOpen] = useState(HA_ENTITIES.some((e) => initial[e.name]));
  const defs = printerDefs(source, edit, p, own, v.ha_device);
  const names = [...defs.map((d) => d.name), 'source', 'webhook_secret'];
  // a field changed is judged again at the next send: its old error goes with the old value
  const set = (name: string) => (x: string) => {
    setV({ ...v, [name]: x });
    if (errs[name]) setErrs({ ...errs, [name]: '' });
  };
  const body = () => printerBody(source, v, p, secret, own);
  const pick = (s: Source) => {
    setSource(s);
    setErrs({});
    setGeneral(null);
    setTest(null);
  };
  const check = () => {
    const local = validate(defs, v);
    const bad = secret.kind === 'set' && secret.value.trim() ? secretProblem(secret.value) : null;
    if (bad) local.webhook_secret = bad;
    setErrs(local);
    setGeneral(null);
    if (HA_ENTITIES.some((e) => local[e.name])) setEntitiesOpen(true);
    return !Object.keys(local).length;
  };
  const fail = (ex: unknown) => {
    const placed = placeErrors(ex, names);
    setErrs(placed.fields);
    setGeneral(placed.general);
    if (HA_ENTITIES.some((e) => placed.fields[e.name])) setEntitiesOpen(true);
  };
  const runTest = async () => {
    if (!check()) return;
    setBusy('test');
    setTest(null);
    try {
      setTest(await api.post<TestResult>(`/api/v1/printers/test${edit ? `?printer=${p!.id}` : ''}`, body()));
    } catch (ex) {
      fail(ex);
    } finally {
      setBusy('');
    }
  };
  const save = async (e: Event) => {
    e.preventDefault();
    if (!check()) return;
    setBusy('save');
    try {
      if (edit) await api.patch(`/api/v1/printers/${p!.id}`, body());
      else await api.post('/api/v1/printers', body());
      props.onDone();
    } catch (ex) {
      fail(ex);
    } finally {
      setBusy('');
    }
  };
  const field = (d: FieldDef) => <FormField key={d.name} d={d} idPrefix="pf" value={v[d.name] ?? ''} err={errs[d.name]} set={set(d.name)} />;
  return (
    <Dialog title={edit ? `Edit ${p!.name}` : 'Add a printer'} onClose={props.onDone} wide>
      <form class="form" onSubmit={save} noValidate>
        {edit ? (
          <p class="source-fixed">
            <span class="muted">Source: </span>
            {webhooks ? 'Home Assistant’s webhooks' : source === 'homeassistant' ? 'Through Home Assistant' : 'Its own link (LAN mode, MQTT)'}
            {source === 'homeassistant' && <> · serial {p!.serial}</>}
            <span class="hint"> — fixed once added: to change it, remove the printer and add it again.</span>
          </p>
        ) : (
          <fieldset class="choice" aria-describedby={errs.source ? 'pf-source-err' : undefined}>
            <legend>How does printdeck reach it?</legend>
            <div class="source-choices">
              {SOURCES.map((s) => (
                <button key={s.source} type="button" class="btn type-choice source-choice" aria-pressed={source === s.source} onClick={() => pick(s.source)}>
                  <strong>{s.label}</strong>
                  <span class="small muted">{s.about}</span>
                </button>
              ))}
            </div>
            {errs.source && (
              <p id="pf-source-err" class="field-error" role="alert">
                {errs.source}
              </p>
            )}
          </fieldset>
        )}
        {!edit && (
          <p class="muted small">
            {source === 'mqtt'
              ? 'On the printer: turn on LAN mode and Developer Mode, then read the serial and the access code from its screen.'
              : 'Home Assistant must already follow the printer with the ha-bambulab integration, and printdeck must know Home Assistant ([homeassistant] api_url and token).'}
          </p>
        )}
        <div class="form-grid">{mainDefs(source, edit, webhooks).map(field)}</div>
        {source === 'homeassistant' && !webhooks && (
          <details class="disclosure" open={entitiesOpen} onToggle={(e) => setEntitiesOpen((e.currentTarget as HTMLDetailsElement).open)}>
            <summary>Entity names</summary>
            <p class="muted small">Only where an entity’s id differs from ha-bambulab’s English default (shown greyed in each box).</p>
            <div class="form-grid entity-grid">{entityDefs(v.ha_device ?? '').map((d) => field({ ...d, wide: d.name === 'ha_ams_tray' }))}</div>
          </details>
        )}
        {source === 'mqtt' && (
          <fieldset class="form-group">
            <legend>Timelapse</legend>
            <div class="form-grid">
              {timelapseDefs(own).map((d) =>
                d.type === 'number' ? (
                  <GlobalOrNumber
                    key={d.name}
                    d={d}
                    value={v[d.name] ?? ''}
                    err={errs[d.name]}
                    own={!!own[d.name]}
                    setOwn={(b) => {
                      setOwn({ ...own, [d.name]: b });
                      if (!b) setV({ ...v, [d.name]: '' });
                    }}
                    set={set(d.name)}
                  />
                ) : (
                  field(d)
                ),
              )}
            </div>
          </fieldset>
        )}
        {edit && (
          <fieldset class="form-group">
            <legend>Home Assistant’s webhooks</legend>
            <div class="form-grid">
              <SecretField
                set={!!p!.webhook_secret_set}
                change={secret}
                onChange={(c) => {
                  setSecret(c);
                  if (errs.webhook_secret) setErrs({ ...errs, webhook_secret: '' });
                }}
                err={errs.webhook_secret}
              />
            </div>
          </fieldset>
        )}
        <div class="test-result" role="status" aria-live="polite">
          {busy === 'test' && <p class="muted">Testing the connection… (up to 10 s)</p>}
          {test && <Outcome ok={test.ok} said={test.ok ? 'Connection works: ' : 'Connection test failed: '} message={test.message} />}
        </div>
        <FormEnd general={general}>
          {source === 'mqtt' && (
            <button type="button" class="btn" onClick={runTest} disabled={!!busy}>
              Test connection
            </button>
          )}
          <button type="button" class="btn" onClick={props.onDone}>
            Cancel
          </button>
          <button type="submit" class="btn primary" disabled={!!busy}>
            {busy === 'save' ? 'Saving…' : edit ? 'Save' : 'Add printer'}
          </button>
        </FormEnd>
      </form>
    </Dialog>
  );
}
