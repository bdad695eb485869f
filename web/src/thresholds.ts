// Settings → Thresholds on the client: the thresholds of GET /api/v1/thresholds grouped and
// named for people, a draft of the form, its checks before sending (the server's rules: its
// bounds come with each threshold), and the PATCH body of what changed.
import { validate, type FieldDef } from './components/form';

export interface Threshold {
  key: string;
  type: 'integer' | 'materials';
  value: number | Record<string, number>;
  configured: number | Record<string, number>;
  set: boolean;
  min: number;
  max: number;
  help: string;
}

/** The words, unit and hint of each key; a key the daemon adds later shows with its own name
 * and the daemon's help. */
export const NAMES: Record<string, { label: string; unit: string; hint: string }> = {
  'alerts.low_stock_g': { label: 'Low stock under', unit: 'g', hint: 'All of a filament\'s spools together. 0: only filaments with a threshold of their own.' },
  'alerts.low_stock_margin_g': { label: 'Raise again after a refill of', unit: 'g', hint: 'Above the threshold, before the same filament can alert again.' },
  'alerts.humidity_pct': { label: 'Humid above', unit: '%', hint: 'An AMS unit\'s humidity.' },
  'alerts.humidity_level': { label: 'Humid at level or below', unit: '', hint: 'For units that report a level only: 1 wettest to 5 driest; 0 never.' },
  'alerts.humidity_margin_pct': { label: 'Dry again under the limit by', unit: '%', hint: 'The alert clears this far under the limit.' },
  'alerts.humidity_sustain_s': { label: 'Humid for at least', unit: 's', hint: 'How long it must stay high before it counts.' },
  'alerts.stall_s': { label: 'No new layer for', unit: 's', hint: 'While printing, before the print counts as stalled.' },
  'alerts.drying_check_s': { label: 'Check the spools every', unit: 's', hint: 'How often the spools in the AMS units are looked at.' },
  'alerts.drying_hours': { label: 'Hours in an AMS before drying again', unit: 'h', hint: '' },
};

export const GROUPS: { title: string; keys: string[]; note?: string }[] = [
  {
    title: 'Low stock',
    keys: ['alerts.low_stock_g', 'alerts.low_stock_margin_g'],
    note: 'A filament or a spool can have a threshold of its own: its Low-stock weight, in the',
  },
  { title: 'AMS humidity', keys: ['alerts.humidity_pct', 'alerts.humidity_level', 'alerts.humidity_margin_pct', 'alerts.humidity_sustain_s'] },
  { title: 'Stalled prints', keys: ['alerts.stall_s'] },
  {
    title: 'Drying',
    keys: ['alerts.drying_check_s', 'alerts.drying_hours'],
    note: 'A spool of one of these materials is due for drying once it has been in an AMS this long since it was last dried. The longest name that starts the spool\'s material counts (PA for PA6-CF); materials not listed are never due.',
  },
];

export interface MaterialRow { material: string; hours: string }
export type Draft = Record<string, string | MaterialRow[]>;

const isMaterials = (t: Threshold) => t.type === 'materials';
const rowsOf = (v: Threshold['value']): MaterialRow[] =>
  Object.entries(v as Record<string, number>).map(([material, hours]) => ({ material, hours: String(hours) }));

/** The form's starting values: what applies now. */
export function draftOf(list: Threshold[]): Draft {
  return Object.fromEntries(list.map((t) => [t.key, isMaterials(t) ? rowsOf(t.value) : String(t.value)]));
}

/** A threshold's value as the form holds it, for `configured` (a reset shows what comes back). */
export function shown(t: Threshold, v: Threshold['value']): string {
  if (!isMaterials(t)) return `${v}${NAMES[t.key]?.unit ? ` ${NAMES[t.key].unit}` : ''}`;
  return rowsOf(v).map((r) => `${r.material} ${r.hours} h`).join(', ') || 'none';
}

/** Seconds in words beside a field that takes seconds: "1 h 30 min". */
export function secondsText(s: number): string {
  if (!Number.isFinite(s) || s < 60) return '';
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return [h ? `${h} h` : '', m ? `${m} min` : '', r ? `${r} s` : ''].filter(Boolean).join(' ');
}

function fieldDef(t: Threshold): FieldDef {
  return { name: t.key, label: NAMES[t.key]?.label ?? t.key, type: 'number', required: true, min: t.min, max: t.max, step: '1' };
}

/** Checks before sending, key → message (a material's problem under its table's key). */
export function check(list: Threshold[], d: Draft): Record<string, string> {
  const ints = list.filter((t) => !isMaterials(t));
  const errs = validate(ints.map(fieldDef), Object.fromEntries(ints.map((t) => [t.key, d[t.key] as string])));
  for (const t of list.filter(isMaterials)) {
    const seen = new Set<string>();
    const rows = d[t.key] as MaterialRow[];
    for (const [i, r] of rows.entries()) {
      const name = r.material.trim(), h = Number(r.hours.trim());
      let why = '';
      if (!name) why = 'a material name is required';
      else if (!/^[A-Za-z0-9+_ -]+$/.test(name) || name.length > 23) why = 'letters, digits, -, +, _ and spaces, at most 23';
      else if (seen.has(name.toLowerCase())) why = `${name} is listed twice`;
      else if (!r.hours.trim() || !Number.isInteger(h) || h < t.min || h > t.max) why = `whole hours from ${t.min} to ${t.max}`;
      seen.add(name.toLowerCase());
      if (why) {
        errs[t.key] = `Row ${i + 1}: ${why}`;
        break;
      }
    }
  }
  return errs;
}

function same(t: Threshold, draft: string | MaterialRow[]): boolean {
  if (!isMaterials(t)) return Number(draft) === t.value;
  const now = rowsOf(t.value);
  const rows = draft as MaterialRow[];
  return rows.length === now.length && rows.every((r, i) => r.material.trim() === now[i].material && Number(r.hours) === Number(now[i].hours));
}

/** PATCH /api/v1/thresholds: the keys whose draft differs from what applies, and the resets. */
export function patchOf(list: Threshold[], d: Draft, resets: Set<string> = new Set()): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const t of list) {
    if (resets.has(t.key)) body[t.key] = null;
    else if (!same(t, d[t.key]))
      body[t.key] = isMaterials(t)
        ? Object.fromEntries((d[t.key] as MaterialRow[]).map((r) => [r.material.trim(), Number(r.hours)]))
        : Number(d[t.key]);
  }
  return body;
}
