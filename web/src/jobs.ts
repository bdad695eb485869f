// The print history on the client: the job object of docs/api.md, the list query the filters
// build, live updates from the job.* events, and the numbers the job page shows.
import type { SseEvent } from './sse';
import { dateFormat } from './format';

export interface Stat { min: number | null; avg: number | null; max: number | null; samples: number }
export interface Pause { kind: 'pause' | 'offline'; started_at: string; ended_at: string | null; reason?: string | null }
/** What tells a job's spool apart (docs/api.md): its filament's vendor, name and colours, or
 * only its id once it was deleted. */
export interface JobSpool {
  id: number; deleted: boolean; vendor?: string | null; name?: string | null; material?: string | null;
  color_hex?: string | null; multi_color_hexes?: string | null; multi_color_direction?: string | null; archived?: boolean;
}
export interface JobFilament {
  spool_id?: number | null; tray?: number | null; unit?: number | null; slot?: number | null; material?: string | null; color?: string | null;
  grams?: number | null; meters?: number | null; source?: string | null; cost?: number | null; spool?: JobSpool | null;
}
export interface JobWarning { kind: string; filament_id: number; type?: string | null; color?: string | null; spool_id?: number | null; unit: number; slot: number; needed_g: number; remaining_g: number | null; short_g: number }
export interface JobCandidate { filament_id: number; type?: string | null; color?: string | null; grams?: number | null; why?: string | null; trays: { unit: number; slot: number; spool_id?: number | null }[] }
export interface Job {
  id: number;
  printer_id: number | null;
  printer_name: string | null;
  name: string;
  file: string | null;
  plate: number | null;
  status: 'printing' | 'paused' | 'completed' | 'failed' | 'cancelled' | 'unknown';
  origin: 'printer' | 'manual';
  started_at: string;
  ended_at: string | null;
  duration_s: number | null;
  estimated_s: number | null;
  progress: number | null;
  layer: number | null;
  total_layers: number | null;
  reason: string | null;
  error_code: string | null;
  materials: string | null;
  environment?: { chamber_temp?: Stat | null; ams?: { unit: number; humidity_pct?: Stat | null; temp?: Stat | null }[] } | null;
  notes: string | null;
  rating: number | null;
  pauses?: Pause[];
  filament?: JobFilament[];
  grams?: number | null;
  cost?: number | null;
  thumbnail?: string | null;
  /** the video of the print (docs/camera.md, Timelapses), null until made */
  timelapse?: { id: number; url: string; size: number; frames: number; duration_s: number; codec: string } | null;
  warnings?: JobWarning[] | null;
  candidates?: JobCandidate[] | null;
  usage_note?: string | null;
}

/** Where a tray of the job's usage was: `tray` is numbered as `tray_now` (4 per AMS unit,
 * 254 the external holder). */
export function trayName(u: { tray?: number | null; unit?: number | null; slot?: number | null }): string {
  if (u.tray === 254 || u.unit === 255) return 'external';
  if (u.unit !== null && u.unit !== undefined && u.slot !== null && u.slot !== undefined) return `AMS ${u.unit + 1} slot ${u.slot + 1}`;
  if (u.tray !== null && u.tray !== undefined) return `AMS ${Math.floor(u.tray / 4) + 1} slot ${(u.tray % 4) + 1}`;
  return '—';
}

/** A job's filament row's spool in words: "Polymaker PolyTerra Charcoal", the id and material
 * beside it, and where its link goes (the inventory showing that spool, archived ones too); a
 * deleted spool has no page. */
export function spoolLabel(s: JobSpool | null | undefined): { name: string; detail: string; href: string | null } {
  if (!s) return { name: 'no spool', detail: '', href: null };
  if (s.deleted) return { name: `deleted spool #${s.id}`, detail: '', href: null };
  const name = [s.vendor, s.name].filter(Boolean).join(' ') || s.material || `Spool #${s.id}`;
  const detail = [`#${s.id}`, s.name || s.vendor ? s.material : null, s.archived ? 'archived' : null].filter(Boolean).join(' · ');
  return { name, detail, href: `/inventory?spool=${s.id}` };
}

/** The correction a person typed, as PATCH /api/v1/jobs/{id} {"filament"} wants it; an error
 * in words when a row is not a spool and a weight. */
export function filamentPatch(rows: { spool_id: string; grams: string; unit?: number | null; slot?: number | null }[]): { spool_id: number; grams: number; unit?: number; slot?: number }[] | string {
  const out: { spool_id: number; grams: number; unit?: number; slot?: number }[] = [];
  for (const [i, r] of rows.entries()) {
    if (!r.spool_id.trim() && !r.grams.trim()) continue;
    const id = Number(r.spool_id);
    const g = Number(r.grams);
    if (!Number.isInteger(id) || id <= 0) return `row ${i + 1}: the spool must be a spool number`;
    if (!r.grams.trim() || !Number.isFinite(g) || g < 0) return `row ${i + 1}: grams must be a number, 0 or more`;
    out.push({ spool_id: id, grams: g, ...(r.unit !== null && r.unit !== undefined && r.slot !== null && r.slot !== undefined ? { unit: r.unit, slot: r.slot } : {}) });
  }
  return out;
}

export const JOB_STATUSES = ['printing', 'paused', 'completed', 'failed', 'cancelled', 'unknown'] as const;

export interface JobFilters { printer: string; status: string; material: string; from: string; to: string; text: string }
export const NO_FILTERS: JobFilters = { printer: '', status: '', material: '', from: '', to: '', text: '' };
export const PAGE_SIZE = 25;

/** GET /api/v1/jobs for the filters and page: dates are local days, sent as an ISO range. */
export function jobsQuery(f: JobFilters, page: number, size = PAGE_SIZE): string {
  const q = new URLSearchParams();
  if (f.printer) q.set('printer_id', f.printer);
  if (f.status) q.set('status', f.status);
  if (f.material) q.set('material', f.material);
  if (f.text.trim()) q.set('text', f.text.trim());
  if (f.from || f.to) {
    const start = f.from ? new Date(`${f.from}T00:00:00`).toISOString() : '';
    const end = f.to ? new Date(new Date(`${f.to}T00:00:00`).getTime() + 86400000).toISOString() : '';
    q.set('started_at', `${start}|${end}`);
  }
  q.set('sort', 'started_at:desc,id:desc');
  q.set('limit', String(size));
  q.set('offset', String(Math.max(0, page) * size));
  return `/api/v1/jobs?${q}`;
}

/** Whether a job event's job belongs in a list filtered this way (the server decides on reload;
 * this keeps a live list from showing a job the filters exclude). */
export function jobMatches(j: Job, f: JobFilters): boolean {
  if (f.printer && String(j.printer_id) !== f.printer) return false;
  if (f.status && !f.status.split(',').includes(j.status)) return false;
  if (f.material && !(j.materials ?? '').toLowerCase().includes(f.material.toLowerCase())) return false;
  if (f.text.trim()) {
    const t = f.text.trim().toLowerCase();
    if (![j.name, j.file, j.notes, j.reason].some((s) => (s ?? '').toLowerCase().includes(t))) return false;
  }
  const started = Date.parse(j.started_at);
  if (f.from && started < new Date(`${f.from}T00:00:00`).getTime()) return false;
  if (f.to && started >= new Date(`${f.to}T00:00:00`).getTime() + 86400000) return false;
  return true;
}

/** A job.* event applied to the first page of a list: an update replaces the row in place, a
 * new job that matches goes on top (the list is newest first). Returns null when nothing
 * changed, so the page does not re-render. */
export function applyJobEvent(list: Job[], ev: SseEvent, f: JobFilters, onFirstPage: boolean, size = PAGE_SIZE): Job[] | null {
  if (!ev.event.startsWith('job.')) return null;
  let j: Job;
  try {
    j = JSON.parse(ev.data) as Job;
  } catch {
    return null;
  }
  if (typeof j?.id !== 'number') return null;
  const i = list.findIndex((x) => x.id === j.id);
  if (i >= 0) {
    const next = list.slice();
    next[i] = { ...list[i], ...j };
    return next;
  }
  if (ev.event !== 'job.started' || !onFirstPage || !jobMatches(j, f)) return null;
  return [j, ...list].slice(0, size);
}

/** "1 h 23 min", "45 s". */
export function seconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s) || s < 0) return '—';
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.round(s / 60);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** The duration against the slicer's estimate: "+12 %" slower, "−5 %" faster. */
export function versusEstimate(duration: number | null, estimate: number | null): string | null {
  if (!duration || !estimate || estimate <= 0) return null;
  const pct = Math.round(((duration - estimate) / estimate) * 100);
  return pct === 0 ? 'on the estimate' : pct > 0 ? `+${pct} % over the estimate` : `−${-pct} % under the estimate`;
}

export function statusTone(s: Job['status']): string {
  return s === 'completed' ? 'done' : s === 'failed' ? 'failed' : s === 'printing' ? 'printing' : s === 'paused' ? 'paused' : 'idle';
}

export function dateTime(iso: string | null | undefined, locale?: string): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '—' : dateFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}
