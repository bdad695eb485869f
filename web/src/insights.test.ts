import { describe, expect, it } from 'vitest';
import { filamentPatch, trayName } from './jobs';
import { applyNotice, slotName } from './notices';
import { cumulative, presetRange, stackGrams, statsQuery, DEFAULT_STATS } from './stats';

const row = (period: string, grams: number) => ({ period, grams, jobs: 1, completed: 1, failed: 0, cancelled: 0, success_rate: 1, print_hours: 1, meters: 0, cost: null });

describe('statistics', () => {
  it('builds the query from the filters', () => {
    const now = new Date(2025, 2, 15, 12);
    const q = new URL(statsQuery({ ...DEFAULT_STATS, preset: '7d', printer: '3', period: 'day' }, now), 'http://x').searchParams;
    expect(q.get('printer_id')).toBe('3');
    expect(q.get('period')).toBe('day');
    expect(new Date(q.get('from')!).getTime()).toBe(new Date(2025, 2, 9).getTime());
    expect(q.has('to')).toBe(false);
  });
  it('ends a custom range after its last day', () => {
    const r = presetRange({ ...DEFAULT_STATS, preset: 'custom', from: '2025-01-01', to: '2025-01-31' });
    expect(r.to!.getTime() - r.from!.getTime()).toBe(31 * 86400000);
  });
  it('stacks materials and puts the rest in Other', () => {
    const s = stackGrams([row('2025-01', 100), row('2025-02', 50)], [{ material: 'PLA', rows: [row('2025-01', 60)] }]);
    expect(s.layers).toEqual([{ label: 'PLA', values: [60, 0] }, { label: 'Other', values: [40, 50] }]);
    expect(cumulative(s.layers)).toEqual([[60, 0], [100, 50]]);
  });
});

describe('notices', () => {
  it('keeps open prompts and drops answered ones', () => {
    const p = new Map(), a = new Map();
    expect(applyNotice(p, a, { id: '1', event: 'prompt.raised', data: '{"id":4,"status":"open"}' })).toBe(true);
    expect(p.size).toBe(1);
    expect(applyNotice(p, a, { id: '2', event: 'prompt.answered', data: '{"id":4,"status":"answered"}' })).toBe(true);
    expect(p.size).toBe(0);
    expect(applyNotice(p, a, { id: '3', event: 'alert.raised', data: '{"id":9,"open":true}' })).toBe(true);
    expect(applyNotice(p, a, { id: '4', event: 'alert.cleared', data: '{"id":9,"open":false}' })).toBe(true);
    expect(a.size).toBe(0);
    expect(applyNotice(p, a, { id: '5', event: 'printer', data: '{"id":1}' })).toBe(false);
    expect(applyNotice(p, a, { id: '6', event: 'prompt.raised', data: 'not json' })).toBe(false);
  });
  it('names slots as the printer does', () => {
    expect(slotName(0, 2)).toBe('AMS 1, slot 3');
    expect(slotName(255, 0)).toBe('the external holder');
  });
});

describe('job filament', () => {
  it('checks the correction and skips empty rows', () => {
    expect(filamentPatch([{ spool_id: '4', grams: '12.5' }, { spool_id: '', grams: '' }])).toEqual([{ spool_id: 4, grams: 12.5 }]);
    expect(filamentPatch([{ spool_id: 'x', grams: '1' }])).toMatch(/row 1/);
    expect(filamentPatch([{ spool_id: '4', grams: '-1' }])).toMatch(/grams/);
  });
  it('names trays', () => {
    expect(trayName({ tray: 5 })).toBe('AMS 2 slot 2');
    expect(trayName({ tray: 254 })).toBe('external');
  });
});
