// The printer history of GET /api/v1/printers/{id}/history as uPlot columns, and a live
// printer report appended to it.
import type { Printer } from './types';

export interface History {
  interval_s: number;
  keep_s: number;
  t: number[];
  nozzle: (number | null)[];
  nozzle_target: (number | null)[];
  bed: (number | null)[];
  bed_target: (number | null)[];
  chamber: (number | null)[];
  fan_part: (number | null)[];
  fan_aux: (number | null)[];
  fan_chamber: (number | null)[];
  fan_heatbreak: (number | null)[];
  ams: { interval_s: number; t: number[]; units: { id: number; humidity: (number | null)[]; humidity_level: (number | null)[]; temp: (number | null)[] }[] };
}

export interface Series { key: string; label: string; color: string; dash?: number[] }
type Cols = { data: [number[], ...(number | null)[][]]; series: Series[] };

const TEMPS: Series[] = [
  { key: 'nozzle', label: 'Nozzle', color: '#e4572e' },
  { key: 'nozzle_target', label: 'Nozzle target', color: '#e4572e', dash: [4, 4] },
  { key: 'bed', label: 'Bed', color: '#2a9d8f' },
  { key: 'bed_target', label: 'Bed target', color: '#2a9d8f', dash: [4, 4] },
  { key: 'chamber', label: 'Chamber', color: '#8e7dbe' },
];
const FANS: Series[] = [
  { key: 'fan_part', label: 'Part', color: '#3a86ff' },
  { key: 'fan_aux', label: 'Aux', color: '#ff9f1c' },
  { key: 'fan_chamber', label: 'Chamber', color: '#8e7dbe' },
  { key: 'fan_heatbreak', label: 'Heatbreak', color: '#6c757d' },
];

/** The history's URL for a chart `width` CSS pixels wide (0: not laid out yet, every sample). */
export function historyPath(printerId: number, width: number): string {
  const points = Math.min(16384, Math.round(width));
  return `/api/v1/printers/${printerId}/history${points >= 2 ? `?points=${points}` : ''}`;
}

const hasValue = (a: (number | null)[]) => a.some((v) => v !== null);

/** Seconds on the x axis (uPlot's time scale); series that never had a value are left out. */
export function toColumns(h: History): { temps: Cols; fans: Cols; ams: (Cols & { id: number })[] } {
  const x = h.t.map((t) => t / 1000);
  const pick = (defs: Series[]): Cols => {
    const used = defs.filter((d) => hasValue((h as any)[d.key] as (number | null)[]));
    return { data: [x, ...used.map((d) => (h as any)[d.key] as (number | null)[])], series: used };
  };
  const ax = h.ams.t.map((t) => t / 1000);
  return {
    temps: pick(TEMPS),
    fans: pick(FANS),
    ams: h.ams.units
      .map((u) => {
        const series: Series[] = [];
        const data: (number | null)[][] = [];
        if (hasValue(u.humidity)) {
          series.push({ key: 'humidity', label: 'Humidity %', color: '#3a86ff' });
          data.push(u.humidity);
        }
        if (hasValue(u.temp)) {
          series.push({ key: 'temp', label: 'Temperature °C', color: '#e4572e' });
          data.push(u.temp);
        }
        return { id: u.id, series, data: [ax, ...data] as Cols['data'] };
      })
      .filter((c) => c.series.length > 0),
  };
}

/** A live report as a new sample, at most one per interval, dropping what is older than keep_s. */
export function appendSample(h: History, p: Printer, now: number): History {
  const last = h.t.length ? h.t[h.t.length - 1] : 0;
  if (now - last < h.interval_s * 1000) return h;
  const cut = now - h.keep_s * 1000;
  const keep = h.t.findIndex((t) => t > cut);
  const from = keep < 0 ? h.t.length : keep;
  const v = (x: number | null | undefined) => (p.online && typeof x === 'number' ? x : null);
  const fan = (k: string) => v(p.fans?.[k]);
  const add = <T,>(a: T[], x: T) => [...a.slice(from), x];
  return {
    ...h,
    t: add(h.t, now),
    nozzle: add(h.nozzle, v(p.nozzle_temp)),
    nozzle_target: add(h.nozzle_target, v(p.nozzle_target)),
    bed: add(h.bed, v(p.bed_temp)),
    bed_target: add(h.bed_target, v(p.bed_target)),
    chamber: add(h.chamber, v(p.chamber_temp)),
    fan_part: add(h.fan_part, fan('part')),
    fan_aux: add(h.fan_aux, fan('aux')),
    fan_chamber: add(h.fan_chamber, fan('chamber')),
    fan_heatbreak: add(h.fan_heatbreak, fan('heatbreak')),
  };
}
