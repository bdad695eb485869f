import { describe, expect, it } from 'vitest';
import { b64urlBytes, pushSupport, sameKey, stateText } from './push';

const KEY = 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4';

describe('the VAPID key as applicationServerKey', () => {
  it('decodes base64url with or without padding', () => {
    const k = b64urlBytes(KEY);
    expect(k.length).toBe(65);
    expect(k[0]).toBe(4);
    expect(Array.from(b64urlBytes('BTBZMqHH6r4Tts7J_aSIgg=='))).toEqual(Array.from(b64urlBytes('BTBZMqHH6r4Tts7J_aSIgg')));
    expect(b64urlBytes('_-8').length).toBe(2);
  });
  it('tells a subscription of another key', () => {
    expect(sameKey(b64urlBytes(KEY).buffer as ArrayBuffer, KEY)).toBe(true);
    const other = b64urlBytes(KEY);
    other[64] ^= 1;
    expect(sameKey(other.buffer as ArrayBuffer, KEY)).toBe(false);
    expect(sameKey(null, KEY)).toBe(false);
  });
});

describe('what the browser allows', () => {
  const nav = { serviceWorker: {} } as unknown as Navigator;
  it('needs a service worker, PushManager and Notification', () => {
    expect(pushSupport({ navigator: {} as Navigator })).toBe('unsupported');
    expect(pushSupport({ navigator: nav, Notification: { permission: 'default' } })).toBe('unsupported');
  });
  it('needs a secure context, and permission not denied', () => {
    const base = { navigator: nav, PushManager: {}, Notification: { permission: 'default' } };
    expect(pushSupport({ ...base, isSecureContext: false })).toBe('insecure');
    expect(pushSupport({ ...base, isSecureContext: true })).toBe(null);
    expect(pushSupport({ ...base, isSecureContext: true, Notification: { permission: 'denied' } })).toBe('denied');
  });
  it('says each state in words', () => {
    for (const s of ['unsupported', 'insecure', 'denied', 'off', 'on'] as const) expect(stateText(s).length).toBeGreaterThan(10);
  });
});
