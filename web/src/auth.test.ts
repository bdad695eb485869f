import { describe, expect, it } from 'vitest';
import { allowed, takeToken, type Me } from './auth';
import { parseRoute } from './router';
import { passwordProblem } from './pages/account';
import { limitText } from './pages/users';

const me = (role: Me['role']): Me => ({ kind: 'session', name: 'a', role, user_id: 1, token_id: null, printers: [], setup_required: false });

function memStore(init: Record<string, string> = {}): Storage {
  const m = new Map(Object.entries(init));
  return {
    get length() { return m.size; },
    clear: () => m.clear(),
    getItem: (k: string) => m.get(k) ?? null,
    key: (i: number) => [...m.keys()][i] ?? null,
    removeItem: (k: string) => void m.delete(k),
    setItem: (k: string, v: string) => void m.set(k, v),
  };
}

describe('accounts', () => {
  it('ranks roles: each can do what the one below can', () => {
    expect(allowed(me('viewer'), 'viewer')).toBe(true);
    expect(allowed(me('viewer'), 'operator')).toBe(false);
    expect(allowed(me('operator'), 'operator')).toBe(true);
    expect(allowed(me('operator'), 'admin')).toBe(false);
    expect(allowed(me('admin'), 'operator')).toBe(true);
    expect(allowed(null, 'viewer')).toBe(false);
  });
  it('takes ?token= out of the address, keeping the rest', () => {
    let replaced = '';
    const loc = { search: '?a=1&token=pdk_x&b=2', pathname: '/printers/3', hash: '#h' } as Location;
    expect(takeToken(loc, memStore(), (u) => (replaced = u))).toBe('pdk_x');
    expect(replaced).toBe('/printers/3?a=1&b=2#h');
  });
  it('exchanges a token an older version stored, once', () => {
    const s = memStore({ 'printdeck.token': 'old' });
    const loc = { search: '', pathname: '/', hash: '' } as Location;
    expect(takeToken(loc, s, () => {})).toBe('old');
    expect(takeToken(loc, s, () => {})).toBe(null);
  });
  it('checks a new password before sending it', () => {
    expect(passwordProblem('short', 'short')).toMatch(/at least 8/);
    expect(passwordProblem('long enough', 'long enougH')).toMatch(/differ/);
    expect(passwordProblem('é'.repeat(129), 'é'.repeat(129))).toMatch(/256 bytes/);
    expect(passwordProblem('long enough', 'long enough')).toBe(null);
  });
  it('names the printers of a limit', () => {
    const names = new Map([[1, 'X1C'], [2, 'P1S']]);
    expect(limitText([], names)).toBe('All printers');
    expect(limitText([2, 9], names)).toBe('P1S, #9');
  });
  it('routes the settings pages', () => {
    expect(parseRoute('/settings/users')).toEqual({ name: 'users' });
    expect(parseRoute('/settings/tokens')).toEqual({ name: 'tokens' });
  });
});
