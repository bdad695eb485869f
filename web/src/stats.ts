// The statistics screen's logic: the filters as a query of GET /api/v1/stats, the date presets,
// and the per-material series stacked for the grams chart.

import { dateFormat } from './format';

export type Period = 'day' | 'week' | 'month';
export type Preset = '7d' | '30d' | '90d' | '12m' | 'ytd' | 'custom';

export interface StatsFilters {
  printer: string; // an id, or '' for every printer
  material: string;
  period: Period;
  preset: Preset;
  from: string; // YYYY-MM-DD, local days, with preset 'custom'
  to: string;
}

export const PRESETS: { id: Preset; label: string }[] = [
  { id: '7d', label: 'Last 7 days' },
  { id: '30d', label: 'Last 30 days' },
  { id: '90d', label: 'Last 90 days' },
  { id: '12m', label: 'Last 12 months' },
  { id: 'ytd', label: 'This year' },
  { id: 'custom', label: 'Custom range' },
];

export const DEFAULT_STATS: StatsFilters = { printer: '', material: '', period: 'week', preset: '90d', from: '', to: '' };

/** The preset's range as instants: `from` included, `to` excluded (null: now). */
export function presetRange(f: StatsFilters, now: Date = new Date()): { from: Date | null; to: Date | null } {
  const day = (n: number) => {
    const d = new Date(now.getFullYear(), now.getMonth(), now.getDate() - n);
    return d;
  };
  switch (f.preset) {
    case '7d':
      return { from: day(6), to: null };
    case '30d':
      return { from: day(29), to: null };
    case '90d':
      return { from: day(89), to: null };
    case '12m':
      return { from: new Date(now.getFullYear() - 1, now.getMonth(), now.getDate() + 1), to: null };
    case 'ytd':
      return { from: new Date(now.getFullYear(), 0, 1), to: null };
    case 'custom': {
      const from = f.from ? new Date(`${f.from}T00:00:00`) : null;
      // the last day chosen is included: the range ends at the next midnight
      const to = f.to ? new Date(new Date(`${f.to}T00:00:00`).getTime() + 86400000) : null;
      return { from, to };
    }
  }
}

/** GET /api/v1/stats for the filters; `material` overrides the filter's (one stack layer). */
export function statsQuery(f: StatsFilters, now: Date = new Date(), material = f.material): string {
  const q = new URLSearchParams();
  const r = presetRange(f, now);
  if (f.printer) q.set('printer_id', f.printer);
  if (material) q.set('material', material);
  if (r.from) q.set('from', r.from.toISOString());
  if (r.to) q.set('to', r.to.toISOString());
  q.set('period', f.period);
  q.set('top', '10');
  return `/api/v1/stats?${q}`;
}

export interface PeriodRow { period: string; jobs: number; completed: number; failed: number; cancelled: number; success_rate: number | null; print_hours: number; grams: number; meters: number; cost: number | null }
export interface Stats {
  from: string;
  to: string;
  period: Period;
  totals: { jobs: number; completed: number; failed: number; cancelled: number; unknown: number; printing: number; paused: number; success_rate: number | null; print_hours: number; grams: number; meters: number; cost: number | null };
  by_material: { material: string; grams: number; meters: number; cost: number | null; completed_jobs: number; avg_print_s: number | null }[];
  by_printer: { printer_id: number; printer_name: string; jobs: number; completed: number; failed: number; cancelled: number; success_rate: number | null; print_hours: number; grams: number; meters: number; cost: number | null; utilisation: number | null }[];
  by_spool: { spool_id: number; material: string; grams: number; meters: number; cost: number | null }[];
  by_period: PeriodRow[];
  failure_reasons: { reason: string; count: number }[];
}

/** Materials stacked one by one (the most used first); the rest is one "Other" layer. */
export const STACK_MAX = 5;

export interface Stack {
  periods: string[];
  layers: { label: string; values: number[] }[];
}

/** Grams per period and material: each layer's own grams, aligned on the whole range's
 * periods; whatever the named layers do not cover of the total goes to "Other". */
export function stackGrams(total: PeriodRow[], perMaterial: { material: string; rows: PeriodRow[] }[]): Stack {
  const periods = total.map((r) => r.period);
  const layers = perMaterial.map((m) => {
    const at = new Map(m.rows.map((r) => [r.period, r.grams]));
    return { label: m.material, values: periods.map((p) => at.get(p) ?? 0) };
  });
  const other = total.map((r, i) => Math.max(0, r.grams - layers.reduce((s, l) => s + l.values[i], 0)));
  // rounding of each layer's sum leaves a few hundredths, not a layer
  if (other.some((g) => g >= 0.5)) layers.push({ label: 'Other', values: other });
  return { periods, layers };
}

/** The running sums the stacked bars are drawn from: layer i is the top of layers 0..i. */
export function cumulative(layers: { values: number[] }[]): number[][] {
  const out: number[][] = [];
  layers.forEach((l, i) => out.push(l.values.map((v, j) => v + (i ? out[i - 1][j] : 0))));
  return out;
}

/** "2025-03" → "Mar 2025", "2025-03-10" → "10 Mar" (a week is named by its Monday). */
export function periodLabel(p: string, period: Period, locale?: string): string {
  const m = /^(\d{4})-(\d{2})(?:-(\d{2}))?$/.exec(p);
  if (!m) return p;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3] ?? 1)));
  if (period === 'month') return dateFormat(locale, { month: 'short', year: 'numeric', timeZone: 'UTC' }).format(d);
  return dateFormat(locale, { day: 'numeric', month: 'short', timeZone: 'UTC' }).format(d);
}

export const pct = (r: number | null | undefined) => (r === null || r === undefined ? '—' : `${Math.round(r * 1000) / 10} %`);
export const money = (c: number | null | undefined) => (c === null || c === undefined ? '—' : c.toFixed(2));
