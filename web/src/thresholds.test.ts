import { describe, expect, it } from 'vitest';
import { check, draftOf, patchOf, secondsText, shown, type Threshold } from './thresholds';
import { parseRoute } from './router';

const list: Threshold[] = [
  { key: 'alerts.humidity_pct', type: 'integer', value: 50, configured: 40, set: true, min: 1, max: 100, help: '' },
  { key: 'alerts.stall_s', type: 'integer', value: 1800, configured: 1800, set: false, min: 10, max: 86400, help: '' },
  { key: 'alerts.drying_hours', type: 'materials', value: { PVA: 8, PETG: 168 }, configured: { PVA: 8 }, set: true, min: 1, max: 8760, help: '' },
];

describe('thresholds', () => {
  it('starts the form from what applies and sends only what changed', () => {
    const d = draftOf(list);
    expect(d['alerts.humidity_pct']).toBe('50');
    expect(d['alerts.drying_hours']).toEqual([{ material: 'PVA', hours: '8' }, { material: 'PETG', hours: '168' }]);
    expect(patchOf(list, d)).toEqual({});
    expect(patchOf(list, { ...d, 'alerts.stall_s': ' 600 ' })).toEqual({ 'alerts.stall_s': 600 });
    const rows = [{ material: 'PVA', hours: '6' }, { material: ' PA ', hours: '12' }];
    expect(patchOf(list, { ...d, 'alerts.drying_hours': rows })).toEqual({ 'alerts.drying_hours': { PVA: 6, PA: 12 } });
    // a reset sends null, whatever the draft says
    expect(patchOf(list, d, new Set(['alerts.humidity_pct']))).toEqual({ 'alerts.humidity_pct': null });
  });
  it('checks the bounds, whole numbers and the materials before sending', () => {
    const d = draftOf(list);
    expect(check(list, d)).toEqual({});
    expect(check(list, { ...d, 'alerts.humidity_pct': '101' })['alerts.humidity_pct']).toBe('must be 100 or less');
    expect(check(list, { ...d, 'alerts.humidity_pct': '40.5' })['alerts.humidity_pct']).toBe('must be a whole number');
    expect(check(list, { ...d, 'alerts.stall_s': '' })['alerts.stall_s']).toBe('required');
    const m = (rows: { material: string; hours: string }[]) => check(list, { ...d, 'alerts.drying_hours': rows })['alerts.drying_hours'];
    expect(m([{ material: 'PVA', hours: '0' }])).toBe('Row 1: whole hours from 1 to 8760');
    expect(m([{ material: 'PVA', hours: '8' }, { material: 'pva', hours: '9' }])).toBe('Row 2: pva is listed twice');
    expect(m([{ material: '', hours: '8' }])).toBe('Row 1: a material name is required');
    expect(m([{ material: 'PA:6', hours: '8' }])).toMatch(/^Row 1: letters, digits/);
    expect(m([])).toBeUndefined();
  });
  it('says a value with its unit, seconds in words', () => {
    expect(shown(list[0], 40)).toBe('40 %');
    expect(shown(list[2], { PVA: 8, PA: 12 })).toBe('PVA 8 h, PA 12 h');
    expect(shown(list[2], {})).toBe('none');
    expect(secondsText(5400)).toBe('1 h 30 min');
    expect(secondsText(600)).toBe('10 min');
    expect(secondsText(30)).toBe('');
  });
  it('has its route under Settings', () => {
    expect(parseRoute('/settings/thresholds')).toEqual({ name: 'thresholds' });
  });
});
