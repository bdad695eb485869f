// What asks for a person: open slot prompts and open alerts. Both are read once when the
// stream goes live (the stream's snapshot carries printers only) and kept current by the
// prompt.* and alert.* events, so the navigation badge and the bell never poll.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api';
import type { SseEvent } from './sse';
import type { Spool } from './types';

export interface Candidate {
  spool_id: number;
  material_match: boolean;
  color_distance: number | null;
  remaining_weight: number | null;
  loaded: { printer_id: number; unit: number; slot: number } | null;
  spool: Spool;
}

export interface Prompt {
  id: number;
  kind: 'slot' | 'job_filament';
  status: 'open' | 'answered' | 'dismissed' | 'replaced';
  printer_id: number | null;
  unit: number | null;
  slot: number | null;
  job_id: number | null;
  filament_index: number | null;
  reported: { material?: string | null; color?: string | null; tray_uuid?: string | null } | null;
  spool_id: number | null;
  created_at: string;
  closed_at: string | null;
  candidates?: Candidate[];
}

export interface Alert {
  id: number;
  kind: string;
  severity: string;
  printer_id: number | null;
  spool_id: number | null;
  filament_id: number | null;
  job_id: number | null;
  message: string;
  raised_at: string;
  cleared_at: string | null;
  acked_at: string | null;
  open: boolean;
  acked: boolean;
}

/** Applies one event to the open prompts and alerts; true when either changed. */
export function applyNotice(prompts: Map<number, Prompt>, alerts: Map<number, Alert>, ev: SseEvent): boolean {
  const isPrompt = ev.event.startsWith('prompt.');
  if (!isPrompt && !ev.event.startsWith('alert.')) return false;
  let d: any;
  try {
    d = JSON.parse(ev.data);
  } catch {
    return false;
  }
  if (!d || typeof d.id !== 'number') return false;
  if (isPrompt) {
    if (d.status === 'open') prompts.set(d.id, d as Prompt);
    else if (!prompts.delete(d.id)) return false;
    return true;
  }
  if (d.open) alerts.set(d.id, d as Alert);
  else if (!alerts.delete(d.id)) return false;
  return true;
}

/** Newest first, as the API lists them. */
export const newestFirst = <T extends { id: number }>(m: Map<number, T>) => [...m.values()].sort((a, b) => b.id - a.id);

/** Where a slot is, in the words the printer's screen uses. */
export function slotName(unit: number | null, slot: number | null): string {
  if (unit === 255) return 'the external holder';
  if (unit === null || slot === null) return 'a slot';
  return unit >= 128 ? `AMS HT ${unit - 127}` : `AMS ${unit + 1}, slot ${slot + 1}`;
}

export class Notices {
  prompts = new Map<number, Prompt>();
  alerts = new Map<number, Alert>();
  private fns = new Set<() => void>();

  handle(ev: SseEvent) {
    if (applyNotice(this.prompts, this.alerts, ev)) this.emit();
  }

  /** A reconnect may have missed events: read both lists again. */
  reload() {
    api.get<Prompt[]>('/api/v1/prompts').then((l) => {
      this.prompts = new Map(l.map((p) => [p.id, p]));
      this.emit();
    }, () => {});
    api.get<Alert[]>('/api/v1/alerts?state=open&limit=200').then((l) => {
      this.alerts = new Map(l.map((a) => [a.id, a]));
      this.emit();
    }, () => {});
  }

  emit() {
    this.fns.forEach((f) => f());
  }

  subscribe(fn: () => void) {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }
}

export const notices = new Notices();

export function useNotices(): Notices {
  const [, tick] = useState(0);
  useEffect(() => {
    const off = notices.subscribe(() => tick((n) => n + 1));
    tick((n) => n + 1);
    return off;
  }, []);
  return notices;
}
