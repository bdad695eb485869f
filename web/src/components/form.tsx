// Forms that show the server's field errors next to the field they name.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError } from '../api';

export type Values = Record<string, string>;

export interface FieldDef {
  name: string; // the API's field name: errors are matched on it
  label: string;
  type?: 'text' | 'number' | 'date' | 'color' | 'select' | 'textarea' | 'password';
  options?: { value: string; label: string }[];
  required?: boolean;
  min?: number;
  max?: number;
  step?: string;
  hint?: string;
  placeholder?: string;
  wide?: boolean;
}

/** Checks before sending: required fields and number ranges; returns field → message. */
export function validate(defs: FieldDef[], v: Values): Record<string, string> {
  const errs: Record<string, string> = {};
  for (const d of defs) {
    const x = (v[d.name] ?? '').trim();
    if (d.required && !x) errs[d.name] = 'required';
    else if (x && d.type === 'number') {
      const n = Number(x);
      if (!Number.isFinite(n)) errs[d.name] = 'must be a number';
      else if (d.step === '1' && !Number.isInteger(n)) errs[d.name] = 'must be a whole number';
      else if (d.min !== undefined && n < d.min) errs[d.name] = `must be ${d.min} or more`;
      else if (d.max !== undefined && n > d.max) errs[d.name] = `must be ${d.max} or less`;
    }
  }
  return errs;
}

/** The body to send: numbers as numbers; on an edit only the changed fields, an emptied one as
 * null (clears it); on a create empty fields are left out. */
export function toBody(defs: FieldDef[], v: Values, edit: boolean, initial: Values = {}): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const d of defs) {
    const x = (v[d.name] ?? '').trim();
    if (edit && x === (initial[d.name] ?? '').trim()) continue; // an edit sends what changed
    if (!x) {
      if (edit) body[d.name] = null;
      continue;
    }
    if (d.type === 'number' || d.name.endsWith('_id')) body[d.name] = Number(x);
    else if (d.type === 'color') body[d.name] = x.replace('#', '');
    else body[d.name] = x;
  }
  return body;
}

/** The server's field errors of a failed request placed on the fields a form has; what names
 * none of them is said once, above the buttons. */
export function placeErrors(ex: unknown, names: string[]): { fields: Record<string, string>; general: string | null } {
  const e = ex as ApiError;
  const fields = Object.fromEntries(Object.entries(e.fields ?? {}).filter(([k]) => names.includes(k)));
  // a record's rule names its field first, without the field member ("serial: must be …")
  const named = /^([a-z_]+): (.+)$/s.exec(e.message ?? '');
  if (!Object.keys(fields).length && named && names.includes(named[1])) fields[named[1]] = named[2];
  return { fields, general: Object.keys(fields).length ? null : e.message };
}

/** A write-only secret already set: never shown, only "set", with Replace (and Clear where it
 * may go). The Replace button carries the field's id, so its label names it. */
export function SecretKept(props: { id: string; label: string; onReplace: () => void; onClear?: () => void }) {
  const what = props.label.toLowerCase();
  return (
    <div class="secret-set">
      <span class="badge">set</span>
      <button type="button" id={props.id} aria-label={`Replace the ${what}`} class="btn sm" onClick={props.onReplace}>
        Replace
      </button>
      {props.onClear && (
        <button type="button" aria-label={`Clear the ${what}`} class="btn sm" onClick={props.onClear}>
          Clear
        </button>
      )}
    </div>
  );
}

/** One field: its label, its control, and under it the error or else the hint. */
export function FormField(props: { d: FieldDef; value: string; err?: string; set: (x: string) => void; idPrefix?: string; children?: ComponentChildren }) {
  const { d, err, value, set } = props;
  const id = `${props.idPrefix ?? 'f'}-${d.name.replace(/\W/g, '-')}`;
  const common = {
    id,
    name: d.name,
    placeholder: d.placeholder,
    'aria-invalid': err ? true : undefined,
    'aria-describedby': err ? `${id}-err` : d.hint ? `${id}-hint` : undefined,
  };
  return (
    <div class={`field${d.wide ? ' wide' : ''}${err ? ' has-error' : ''}`}>
      <label for={id}>
        {d.label}
        {d.required && <span aria-hidden="true"> *</span>}
      </label>
      {props.children ??
        (d.type === 'select' ? (
          <select {...common} value={value} onChange={(e) => set((e.target as HTMLSelectElement).value)}>
            {d.options!.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        ) : d.type === 'textarea' ? (
          <textarea {...common} rows={2} value={value} onInput={(e) => set((e.target as HTMLTextAreaElement).value)} />
        ) : d.type === 'color' ? (
          <div class="color-field">
            <input
              type="color"
              aria-label={`${d.label} picker`}
              value={`#${(value || '888888').replace('#', '').slice(0, 6)}`}
              onInput={(e) => set((e.target as HTMLInputElement).value.slice(1))}
            />
            <input {...common} type="text" placeholder="RRGGBB" value={value} onInput={(e) => set((e.target as HTMLInputElement).value)} />
          </div>
        ) : (
          <input
            {...common}
            type={d.type === 'number' ? 'text' : d.type ?? 'text'}
            inputMode={d.type === 'number' ? 'decimal' : undefined}
            autocomplete={d.type === 'password' ? 'new-password' : undefined}
            required={d.required}
            value={value}
            onInput={(e) => set((e.target as HTMLInputElement).value)}
          />
        ))}
      {err ? (
        <span id={`${id}-err`} class="field-error">
          {err}
        </span>
      ) : d.hint ? (
        <span id={`${id}-hint`} class="hint">
          {d.hint}
        </span>
      ) : null}
    </div>
  );
}

/** The end of a form: what the server said that names no field, then its buttons. */
export function FormEnd(props: { general: string | null; children: ComponentChildren }) {
  return (
    <>
      {props.general && (
        <p class="form-error" role="alert">
          {props.general}
        </p>
      )}
      <div class="dialog-actions">{props.children}</div>
    </>
  );
}

export function Form(props: {
  defs: FieldDef[];
  initial: Values;
  edit: boolean;
  submitLabel: string;
  onSubmit: (body: Record<string, unknown>) => Promise<unknown>;
  onDone: () => void;
  /** Cancel, when it is not the same as done */
  onCancel?: () => void;
  extra?: ComponentChildren;
}) {
  const [v, setV] = useState<Values>(props.initial);
  const [errs, setErrs] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const local = validate(props.defs, v);
    setErrs(local);
    setGeneral(null);
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      await props.onSubmit(toBody(props.defs, v, props.edit, props.initial));
      props.onDone();
    } catch (ex) {
      const placed = placeErrors(ex, props.defs.map((d) => d.name));
      setErrs(placed.fields);
      setGeneral(placed.general);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="form" onSubmit={submit} noValidate>
      <div class="form-grid">
        {props.defs.map((d) => (
          <FormField key={d.name} d={d} value={v[d.name] ?? ''} err={errs[d.name]} set={(x) => setV({ ...v, [d.name]: x })} />
        ))}
      </div>
      {props.extra}
      <FormEnd general={general}>
        <button type="button" class="btn" onClick={props.onCancel ?? props.onDone}>
          Cancel
        </button>
        <button type="submit" class="btn primary" disabled={busy}>
          {busy ? 'Saving…' : props.submitLabel}
        </button>
      </FormEnd>
    </form>
  );
}

export const str = (x: unknown) => (x === null || x === undefined ? '' : String(x));
