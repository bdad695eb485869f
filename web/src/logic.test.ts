import { describe, expect, it } from 'vitest';
import { parseError } from './api';
import { toBody, validate, type FieldDef } from './components/form';
import { connectionProblem, cssColor, duration, filamentColors, finishClock, grams, remainingPct, stateLabel, stateTone, swatchBackground } from './format';
import { parseRoute } from './router';
import { SseParser, backoffMs } from './sse';
import { Store, applyEvent, indexKey } from './store';
import type { Printer } from './types';

const printer = (id: number, extra: Partial<Printer> = {}): Printer => ({ id, name: `P${id}`, serial: `S${id}`, online: true, state: 'IDLE', ...extra });

describe('event stream parser', () => {
  it('splits events across chunks, keeps the last id, skips comments', () => {
    const p = new SseParser();
    expect(p.push('id: 4\nevent: prin')).toEqual([]);
    expect(p.push('ter\ndata: {"id":1}\n\n: heartbeat 1\n\n')).toEqual([{ id: '4', event: 'printer', data: '{"id":1}' }]);
    expect(p.lastId).toBe('4');
    expect(p.push('data: a\r\ndata: b\r\n\r\n')).toEqual([{ id: '4', event: 'message', data: 'a\nb' }]);
  });
  it('waits for the \\n of a \\r\\n split between chunks', () => {
    const p = new SseParser();
    expect(p.push('data: x\r')).toEqual([]);
    expect(p.push('\n\r\n')).toEqual([{ id: null, event: 'message', data: 'x' }]);
  });
  it('backs off from 0.5-1 s to at most 30 s', () => {
    expect(backoffMs(0, () => 1)).toBe(1000);
    expect(backoffMs(0, () => 0)).toBe(500);
    expect(backoffMs(3, () => 1)).toBe(8000);
    expect(backoffMs(40, () => 1)).toBe(30000);
  });
});

describe('store', () => {
  it('applies printer and removal events, ignores junk', () => {
    const m = new Map<number, Printer>();
    expect(applyEvent(m, { id: '1', event: 'printer', data: JSON.stringify(printer(1)) })).toEqual([1]);
    expect(applyEvent(m, { id: '2', event: 'layer', data: '{"printer_id":1,"layer":3}' })).toEqual([]);
    expect(applyEvent(m, { id: '3', event: 'printer', data: 'not json' })).toEqual([]);
    expect(applyEvent(m, { id: '4', event: 'printer_removed', data: '{"printer_id":1}' })).toEqual([1]);
    expect(m.size).toBe(0);
  });
  it('applies patches member by member, null as a value, and not to unknown printers', () => {
    const m = new Map<number, Printer>();
    const p = { ...printer(1), connection: { state: 'connected', error: null, since: 'x' }, ams: [{ id: 0 }] } as any;
    applyEvent(m, { id: '1', event: 'printer', data: JSON.stringify(p) });
    const patch = { id: 1, nozzle_temp: null, connection: { state: 'backoff' }, ams: [] };
    expect(applyEvent(m, { id: '2', event: 'printer.patch', data: JSON.stringify(patch) })).toEqual([1]);
    const now = m.get(1) as any;
    expect(now.nozzle_temp).toBeNull();
    expect(now.connection).toEqual({ state: 'backoff', error: null, since: 'x' });
    expect(now.ams).toEqual([]);
    expect(now.name).toBe(p.name);
    expect(now).not.toBe(p); // a new object: per-printer subscribers see a change
    expect(applyEvent(m, { id: '3', event: 'printer.patch', data: '{"id":2,"name":"x"}' })).toEqual([]);
    expect(m.size).toBe(1);
  });
  it("replaces one printer's slots and keeps the others'", () => {
    const s = new Store(null);
    const slot = (p: number, u: number, n: number) => ({ printer_id: p, unit: u, slot: n }) as any;
    s.setSlots([slot(1, 0, 0), slot(1, 0, 1), slot(2, 0, 0)]);
    const before = s.slots;
    s.setPrinterSlots(1, [slot(1, 0, 2)]);
    expect([...s.slots.keys()].sort()).toEqual(['1:0:2', '2:0:0']);
    expect(s.slots).not.toBe(before);
  });
  it('notifies only the changed printer, and the grid only when its index changes', () => {
    const s = new Store(null);
    const calls: string[] = [];
    s.subscribe(1, () => calls.push('p1'));
    s.subscribe(2, () => calls.push('p2'));
    s.subscribeIndex(() => calls.push('index'));
    s.handle({ id: '1', event: 'printer', data: JSON.stringify(printer(1)) });
    s.handle({ id: '2', event: 'printer', data: JSON.stringify(printer(2)) });
    calls.length = 0;
    s.handle({ id: '3', event: 'printer', data: JSON.stringify(printer(1, { nozzle_temp: 210 })) });
    expect(calls).toEqual(['p1']);
    s.handle({ id: '4', event: 'printer', data: JSON.stringify(printer(2, { state: 'RUNNING' })) });
    expect(calls).toEqual(['p1', 'p2', 'index']);
  });
  it('marks a loaded snapshot stale until live data arrives, and reconciles removals', () => {
    const mem = new Map<string, string>();
    const storage = { getItem: (k: string) => mem.get(k) ?? null, setItem: (k: string, v: string) => void mem.set(k, v) } as Storage;
    mem.set('printdeck.snapshot', JSON.stringify({ at: 5, printers: [printer(1), printer(2)] }));
    const s = new Store(storage);
    s.loadSnapshot();
    expect(s.stale).toBe(true);
    expect(s.printers.size).toBe(2);
    s.handle({ id: '9', event: 'printer', data: JSON.stringify(printer(1)) });
    expect(s.stale).toBe(false);
    s.reconcile([1]);
    expect([...s.printers.keys()]).toEqual([1]);
  });
  it('index key ignores temperatures', () => {
    const a = new Map([[1, printer(1, { nozzle_temp: 20 })]]);
    const b = new Map([[1, printer(1, { nozzle_temp: 200 })]]);
    expect(indexKey(a)).toBe(indexKey(b));
  });
});

describe('formatting', () => {
  it('colours', () => {
    expect(cssColor('#FF8800FF')).toBe('#ff8800');
    expect(cssColor('00ff00')).toBe('#00ff00');
    expect(cssColor('nonsense')).toBeNull();
    expect(filamentColors({ color_hex: 'ff0000', multi_color_hexes: '00ff00,0000ff' })).toEqual(['#00ff00', '#0000ff']);
    expect(filamentColors({ color_hex: 'ff0000' })).toEqual(['#ff0000']);
    expect(swatchBackground(['#000000', '#ffffff'], 'longitudinal')).toContain('linear-gradient');
    expect(swatchBackground(['#000000', '#ffffff'])).toContain('conic-gradient');
  });
  it('durations, weights, finish time', () => {
    expect(duration(45)).toBe('45 min');
    expect(duration(125)).toBe('2 h 05 min');
    expect(duration(60 * 50)).toBe('2 d 2 h');
    expect(duration(undefined)).toBe('—');
    expect(grams(512.4)).toBe('512 g');
    expect(grams(1250)).toBe('1.25 kg');
    expect(remainingPct(250, 1000)).toBe(25);
    expect(remainingPct(250, 0)).toBeNull();
    const now = new Date(2026, 0, 5, 10, 0);
    expect(finishClock(30, now, 'en-GB')).toBe('10:30');
    expect(finishClock(24 * 60, now, 'en-GB')).toMatch(/^Tue 10:00$/);
  });
  it('states and connection problems in words', () => {
    expect(stateTone(printer(1, { state: 'RUNNING' }))).toBe('printing');
    expect(stateTone(printer(1, { online: false }))).toBe('offline');
    expect(stateLabel(printer(1, { online: false, connection: { state: 'auth_failed' } }))).toBe('Cannot connect');
    expect(connectionProblem(printer(1, { connection: { state: 'auth_failed' } }))).toMatch(/access code/);
    expect(connectionProblem(printer(1, { sign_required: true }))).toMatch(/Developer Mode/);
    expect(connectionProblem(printer(1, { connection: { state: 'connected' } }))).toBeNull();
  });
});

describe('errors and forms', () => {
  it('reads both error shapes into field messages', () => {
    const a = parseError(422, { error: { code: 'invalid_field', message: 'serial: must be 8-31 letters', field: 'serial' } });
    expect(a.fields).toEqual({ serial: 'must be 8-31 letters' });
    const b = parseError(422, { detail: [{ type: 'value_error', loc: ['body', 'density'], msg: 'must be positive' }] });
    expect(b.fields).toEqual({ density: 'must be positive' });
    expect(b.message).toBe('density: must be positive');
    expect(parseError(404, { message: 'No spool with ID 7 found.' }).message).toBe('No spool with ID 7 found.');
    expect(parseError(502, null).message).toMatch(/server failed/);
  });
  it('validates before sending and sends only what an edit changed', () => {
    const defs: FieldDef[] = [
      { name: 'name', label: 'Name', required: true },
      { name: 'price', label: 'Price', type: 'number', min: 0 },
      { name: 'filament_id', label: 'F', type: 'select' },
      { name: 'color_hex', label: 'C', type: 'color' },
    ];
    expect(validate(defs, { name: '', price: '-1' })).toEqual({ name: 'required', price: 'must be 0 or more' });
    expect(validate(defs, { name: 'x', price: 'abc' })).toEqual({ price: 'must be a number' });
    expect(toBody(defs, { name: 'x', price: '2.5', filament_id: '3', color_hex: '#aabbcc' }, false)).toEqual({ name: 'x', price: 2.5, filament_id: 3, color_hex: 'aabbcc' });
    expect(toBody(defs, { name: 'x', price: '', filament_id: '3' }, true, { name: 'x', price: '4', filament_id: '3' })).toEqual({ price: null });
  });
  it('routes', () => {
    expect(parseRoute('/')).toEqual({ name: 'printers' });
    expect(parseRoute('/printers/12')).toEqual({ name: 'printer', id: 12 });
    expect(parseRoute('/inventory/')).toEqual({ name: 'inventory' });
    expect(parseRoute('/stats')).toEqual({ name: 'stats' });
    expect(parseRoute('/prompts')).toEqual({ name: 'prompts' });
    expect(parseRoute('/camera')).toEqual({ name: 'cameras' });
    expect(parseRoute('/nope/x')).toEqual({ name: 'notfound' });
  });
});
