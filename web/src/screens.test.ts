import { describe, expect, it } from 'vitest';
import { applyJobEvent, Job, jobMatches, jobsQuery, NO_FILTERS, seconds, spoolLabel, versusEstimate } from './jobs';
import { appendSample, History, historyPath, toColumns } from './history';
import { parseRoute } from './router';

const job = (o: Partial<Job> = {}): Job => ({
  id: 1, printer_id: 2, printer_name: 'P', name: 'benchy', file: 'benchy.3mf', plate: 1, status: 'printing', origin: 'printer',
  started_at: '2025-01-10T09:00:00Z', ended_at: null, duration_s: 60, estimated_s: 100, progress: 1, layer: 1, total_layers: 10,
  reason: null, error_code: null, materials: 'PLA', notes: null, rating: null, ...o,
});

describe('jobs', () => {
  it('names a job\'s spool by vendor and filament, an archived one too, and a deleted one by its id', () => {
    expect(spoolLabel({ id: 7, deleted: false, vendor: 'Polymaker', name: 'PolyTerra Charcoal', material: 'PLA', archived: false }))
      .toEqual({ name: 'Polymaker PolyTerra Charcoal', detail: '#7 · PLA', href: '/inventory?spool=7' });
    expect(spoolLabel({ id: 8, deleted: false, vendor: null, name: null, material: 'PETG', archived: true }))
      .toEqual({ name: 'PETG', detail: '#8 · archived', href: '/inventory?spool=8' });
    expect(spoolLabel({ id: 12, deleted: true })).toEqual({ name: 'deleted spool #12', detail: '', href: null });
    expect(spoolLabel(null).name).toBe('no spool');
  });
  it('builds the list query from the filters and page', () => {
    const q = new URL(jobsQuery({ ...NO_FILTERS, printer: '3', status: 'failed', text: ' warp ', from: '2025-01-10' }, 2, 25), 'http://x').searchParams;
    expect(q.get('printer_id')).toBe('3');
    expect(q.get('status')).toBe('failed');
    expect(q.get('text')).toBe('warp');
    expect(q.get('offset')).toBe('50');
    expect(q.get('limit')).toBe('25');
    expect(q.get('started_at')).toMatch(/^\d{4}-.*Z\|$/);
    expect(new URL(jobsQuery(NO_FILTERS, 0), 'http://x').searchParams.has('started_at')).toBe(false);
  });
  it('applies job events: update in place, new on top of page one only when it matches', () => {
    const list = [job({ id: 1 })];
    const ev = (event: string, j: Job) => ({ event, data: JSON.stringify(j), id: null });
    expect(applyJobEvent(list, ev('job.updated', job({ id: 1, progress: 50 })), NO_FILTERS, true)![0].progress).toBe(50);
    expect(applyJobEvent(list, ev('job.started', job({ id: 2 })), NO_FILTERS, true)!.map((j) => j.id)).toEqual([2, 1]);
    expect(applyJobEvent(list, ev('job.started', job({ id: 2 })), NO_FILTERS, false)).toBeNull();
    expect(applyJobEvent(list, ev('job.started', job({ id: 2, printer_id: 9 })), { ...NO_FILTERS, printer: '2' }, true)).toBeNull();
    expect(applyJobEvent(list, { event: 'layer', data: '{}', id: null }, NO_FILTERS, true)).toBeNull();
    expect(applyJobEvent(list, { event: 'job.updated', data: 'not json', id: null }, NO_FILTERS, true)).toBeNull();
  });
  it('matches filters on text, status and dates', () => {
    expect(jobMatches(job({ notes: 'Warped corner' }), { ...NO_FILTERS, text: 'warp' })).toBe(true);
    expect(jobMatches(job(), { ...NO_FILTERS, status: 'failed,cancelled' })).toBe(false);
    expect(jobMatches(job(), { ...NO_FILTERS, to: '2025-01-09' })).toBe(false);
  });
  it('formats durations and the estimate', () => {
    expect(seconds(45)).toBe('45 s');
    expect(seconds(3600 + 23 * 60)).toBe('1 h 23 min');
    expect(seconds(null)).toBe('—');
    expect(versusEstimate(112, 100)).toBe('+12 % over the estimate');
    expect(versusEstimate(95, 100)).toBe('−5 % under the estimate');
    expect(versusEstimate(100, null)).toBeNull();
  });
  it('routes jobs, one job and settings', () => {
    expect(parseRoute('/jobs')).toEqual({ name: 'jobs' });
    expect(parseRoute('/jobs/12')).toEqual({ name: 'job', id: 12 });
    expect(parseRoute('/settings')).toEqual({ name: 'settings' });
    expect(parseRoute('/jobs/x')).toEqual({ name: 'notfound' });
  });
});

const hist = (): History => ({
  interval_s: 5, keep_s: 20, t: [1000, 6000], nozzle: [200, 201], nozzle_target: [220, 220], bed: [60, null], bed_target: [60, 60],
  chamber: [null, null], fan_part: [100, 100], fan_aux: [null, null], fan_chamber: [null, null], fan_heatbreak: [null, null],
  ams: { interval_s: 60, t: [1000], units: [{ id: 0, humidity: [20], humidity_level: [4], temp: [null] }, { id: 1, humidity: [null], humidity_level: [null], temp: [null] }] },
});

describe('history', () => {
  it('turns columns into uPlot data, leaving out series without a value', () => {
    const c = toColumns(hist());
    expect(c.temps.series.map((s) => s.key)).toEqual(['nozzle', 'nozzle_target', 'bed', 'bed_target']);
    expect(c.temps.data[0]).toEqual([1, 6]);
    expect(c.temps.data[3]).toEqual([60, null]);
    expect(c.fans.series.map((s) => s.key)).toEqual(['fan_part']);
    expect(c.ams.map((a) => [a.id, a.series.map((s) => s.key)])).toEqual([[0, ['humidity']]]);
  });
  it('appends a live sample at most once per interval and drops what is older than keep_s', () => {
    const p: any = { online: true, nozzle_temp: 210, bed_temp: 61, fans: { part: 50 } };
    const h = hist();
    expect(appendSample(h, p, 8000)).toBe(h);
    const h2 = appendSample(h, p, 22000);
    expect(h2.t).toEqual([6000, 22000]);
    expect(h2.nozzle).toEqual([201, 210]);
    expect(h2.fan_part).toEqual([100, 50]);
    expect(appendSample(h2, { ...p, online: false }, 30000).nozzle.slice(-1)[0]).toBeNull();
  });
  it('asks for the history at the chart\'s width, every sample before it is laid out', () => {
    expect(historyPath(3, 389.6)).toBe('/api/v1/printers/3/history?points=390');
    expect(historyPath(3, 0)).toBe('/api/v1/printers/3/history');
    expect(historyPath(3, 99999)).toBe('/api/v1/printers/3/history?points=16384');
  });
});
