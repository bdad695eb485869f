// Settings → Thresholds: when printdeck raises an alert (docs/api.md, Thresholds). Everyone
// reads them; admins change them, and a change wins over the configuration file until it is
// reset to the file's value. The server's field errors show under the field they name.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { useCan } from '../auth';
import { ErrorBox, Loading } from '../components/ui';
import { onLinkClick } from '../router';
import { check, Draft, draftOf, GROUPS, MaterialRow, NAMES, patchOf, secondsText, shown, Threshold } from '../thresholds';
import { SettingsNav } from './settings';

const fid = (key: string) => `th-${key.replace(/\W/g, '-')}`;

function Origin(props: { t: Threshold; reset: boolean; canEdit: boolean; onReset: () => void }) {
  const { t } = props;
  if (props.reset) return <span class="hint">Goes back to the file's {shown(t, t.configured)} when saved.</span>;
  if (!t.set) return <span class="hint">As the configuration says.</span>;
  return (
    <span class="hint changed">
      Changed here; the file says {shown(t, t.configured)}.{' '}
      {props.canEdit && (
        <button type="button" class="linkish" onClick={props.onReset}>
          Reset<span class="visually-hidden"> {NAMES[t.key]?.label ?? t.key}</span>
        </button>
      )}
    </span>
  );
}

function IntField(props: { t: Threshold; value: string; err?: string; canEdit: boolean; reset: boolean; onInput: (v: string) => void; onReset: () => void }) {
  const { t } = props;
  const id = fid(t.key);
  const name = NAMES[t.key] ?? { label: t.key, unit: '', hint: t.help };
  const words = name.unit === 's' ? secondsText(Number(props.value)) : '';
  return (
    <div class={`field threshold${props.err ? ' has-error' : ''}`} data-key={t.key}>
      <label for={id}>{name.label}</label>
      <div class="with-unit">
        <input
          id={id}
          type="text"
          inputMode="numeric"
          readOnly={!props.canEdit}
          aria-invalid={props.err ? true : undefined}
          aria-describedby={`${id}-help ${props.err ? `${id}-err` : `${id}-origin`}`}
          value={props.value}
          onInput={(e) => props.onInput((e.target as HTMLInputElement).value)}
        />
        {name.unit && <span class="unit">{name.unit}</span>}
        {words && <span class="muted small">= {words}</span>}
      </div>
      {props.err ? (
        <span id={`${id}-err`} class="field-error">
          {props.err}
        </span>
      ) : (
        <span id={`${id}-origin`}>
          <Origin t={t} reset={props.reset} canEdit={props.canEdit} onReset={props.onReset} />
        </span>
      )}
      <span id={`${id}-help`} class="hint">
        {name.hint} From {t.min.toLocaleString()} to {t.max.toLocaleString()}{name.unit ? ` ${name.unit}` : ''}.
      </span>
    </div>
  );
}

function MaterialsField(props: { t: Threshold; rows: MaterialRow[]; err?: string; canEdit: boolean; reset: boolean; onChange: (r: MaterialRow[]) => void; onReset: () => void }) {
  const { t, rows } = props;
  const id = fid(t.key);
  const set = (i: number, k: keyof MaterialRow, v: string) => props.onChange(rows.map((r, n) => (n === i ? { ...r, [k]: v } : r)));
  return (
    <fieldset class={`field threshold materials${props.err ? ' has-error' : ''}`} data-key={t.key} aria-describedby={props.err ? `${id}-err` : undefined}>
      <legend>{NAMES[t.key]?.label ?? t.key}</legend>
      <ul class="material-rows">
        {rows.map((r, i) => (
          <li key={i}>
            <input aria-label={`Material ${i + 1}`} class="material" readOnly={!props.canEdit} value={r.material} maxLength={23} onInput={(e) => set(i, 'material', (e.target as HTMLInputElement).value)} />
            <input aria-label={`Hours for ${r.material || `material ${i + 1}`}`} class="hours" inputMode="numeric" readOnly={!props.canEdit} value={r.hours} onInput={(e) => set(i, 'hours', (e.target as HTMLInputElement).value)} />
            <span class="unit" aria-hidden="true">
              h
            </span>
            {props.canEdit && (
              <button type="button" class="btn sm" aria-label={`Remove ${r.material || `material ${i + 1}`}`} onClick={() => props.onChange(rows.filter((_, n) => n !== i))}>
                ✕
              </button>
            )}
          </li>
        ))}
      </ul>
      {props.canEdit && rows.length < 32 && (
        <button type="button" class="btn sm" onClick={() => props.onChange([...rows, { material: '', hours: '' }])}>
          + Material
        </button>
      )}
      {props.err ? (
        <span id={`${id}-err`} class="field-error">
          {props.err}
        </span>
      ) : (
        <Origin t={t} reset={props.reset} canEdit={props.canEdit} onReset={props.onReset} />
      )}
    </fieldset>
  );
}

export function ThresholdsPage() {
  const canEdit = useCan('admin');
  const [list, setList] = useState<Threshold[] | null>(null);
  const [draft, setDraft] = useState<Draft>({});
  const [resets, setResets] = useState<Set<string>>(new Set());
  const [errs, setErrs] = useState<Record<string, string>>({});
  const [err, setErr] = useState<string | null>(null);
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const take = (l: Threshold[]) => {
    setList(l);
    setDraft(draftOf(l));
    setResets(new Set());
  };
  const load = () => {
    setErr(null);
    api.get<Threshold[]>('/api/v1/thresholds').then(take, (e) => setErr((e as Error).message));
  };
  useEffect(load, []);
  if (err) return <ErrorBox error={err} onRetry={load} />;
  if (!list) return <Loading label="Loading the thresholds" />;
  const byKey = new Map(list.map((t) => [t.key, t]));
  const edit = (key: string, v: string | MaterialRow[]) => {
    setDraft({ ...draft, [key]: v });
    setSaved(false);
    if (resets.has(key)) setResets(new Set([...resets].filter((k) => k !== key)));
  };
  const reset = (t: Threshold) => {
    setResets(new Set([...resets, t.key]));
    setDraft({ ...draft, ...draftOf([{ ...t, value: t.configured }]) });
    setSaved(false);
  };
  const body = patchOf(list, draft, resets);
  const save = async (e: Event) => {
    e.preventDefault();
    const local = check(list, draft);
    setErrs(local);
    setGeneral(null);
    if (Object.keys(local).length || !Object.keys(body).length) return;
    setBusy(true);
    try {
      take(await api.patch<Threshold[]>('/api/v1/thresholds', body));
      setSaved(true);
    } catch (ex) {
      const x = ex as ApiError;
      const known = Object.fromEntries(Object.entries(x.fields ?? {}).filter(([k]) => byKey.has(k)));
      setErrs(known);
      setGeneral(Object.keys(known).length ? null : x.message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="th-title">
      <div class="page-head">
        <h1 id="th-title">Thresholds</h1>
      </div>
      <SettingsNav />
      <p class="muted">
        When printdeck raises an alert. {canEdit ? 'A value changed here wins over the configuration file until you reset it.' : 'Only an admin can change them.'}
      </p>
      <form class="thresholds" onSubmit={save} noValidate aria-label="Alert thresholds">
        {GROUPS.map((g) => (
          <div class="card" key={g.title}>
            <h2>{g.title}</h2>
            {g.note && (
              <p class="muted small">
                {g.note}
                {g.title === 'Low stock' && (
                  <>
                    {' '}
                    <a href="/inventory" onClick={onLinkClick}>
                      inventory
                    </a>
                    .
                  </>
                )}
              </p>
            )}
            <div class="form-grid">
              {g.keys
                .map((k) => byKey.get(k))
                .filter((t): t is Threshold => !!t)
                .map((t) =>
                  t.type === 'materials' ? (
                    <MaterialsField key={t.key} t={t} rows={draft[t.key] as MaterialRow[]} err={errs[t.key]} canEdit={canEdit} reset={resets.has(t.key)} onChange={(r) => edit(t.key, r)} onReset={() => reset(t)} />
                  ) : (
                    <IntField key={t.key} t={t} value={draft[t.key] as string} err={errs[t.key]} canEdit={canEdit} reset={resets.has(t.key)} onInput={(v) => edit(t.key, v)} onReset={() => reset(t)} />
                  ),
                )}
            </div>
          </div>
        ))}
        {general && (
          <p class="form-error" role="alert">
            {general}
          </p>
        )}
        {canEdit && (
          // held in view while there is something to save, at the end of the form otherwise
          <div class={`actions${Object.keys(body).length ? ' sticky-actions' : ''}`}>
            <button type="button" class="btn" disabled={busy || !Object.keys(body).length} onClick={() => take(list)}>
              Undo changes
            </button>
            <button type="submit" class="btn primary" disabled={busy || !Object.keys(body).length}>
              {busy ? 'Saving…' : 'Save thresholds'}
            </button>
            <span role="status" class="muted small">
              {saved ? 'Saved: applied now.' : Object.keys(body).length ? `${Object.keys(body).length} not saved yet` : ''}
            </span>
          </div>
        )}
      </form>
    </section>
  );
}
