// Web Push on this device (docs/notify.md, "Web Push"): whether the browser can, the VAPID key
// the daemon serves turned into PushManager's applicationServerKey, and the subscription
// posted to the daemon or withdrawn. The service worker (public/sw.js) shows what arrives.
import { api } from './api';

export const PUSH_API = '/api/v1/notifications/push';

export interface PushKey {
  public_key: string;
  channel: { id: number; name: string; enabled: boolean } | null;
}

export type PushState = 'unsupported' | 'insecure' | 'denied' | 'off' | 'on';

/** The bytes of a base64url text (padding optional), as PushManager.subscribe takes a key. */
export function b64urlBytes(s: string): Uint8Array<ArrayBuffer> {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** Whether a subscription was made with this key (a new database has a new one: the old
 * subscription then reaches nobody and is made again). */
export function sameKey(a: ArrayBuffer | null | undefined, key: string): boolean {
  if (!a) return false;
  const x = new Uint8Array(a), y = b64urlBytes(key);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** What the browser lets this page do, before any subscription is looked at. */
export function pushSupport(w: { isSecureContext?: boolean; navigator?: Navigator } & Record<string, unknown> = globalThis as never): PushState | null {
  if (!w.navigator || !('serviceWorker' in w.navigator) || !('PushManager' in w) || !('Notification' in w)) return 'unsupported';
  if (!w.isSecureContext) return 'insecure';
  if ((w.Notification as { permission?: string }).permission === 'denied') return 'denied';
  return null;
}

/** What the settings control says for a state. */
export function stateText(s: PushState): string {
  switch (s) {
    case 'unsupported':
      return 'This browser cannot receive push notifications. On an iPhone or iPad, add printdeck to the home screen first and open it from there.';
    case 'insecure':
      return 'Push notifications need the dashboard over https (or on localhost).';
    case 'denied':
      return 'Notifications are blocked for this site: allow them in the browser’s site settings, then try again.';
    case 'off':
      return 'This device is not notified.';
    case 'on':
      return 'This device is notified of the events the Web Push channel sends.';
  }
}

async function registration(): Promise<ServiceWorkerRegistration> {
  const reg = (await navigator.serviceWorker.getRegistration()) ?? (await navigator.serviceWorker.register('/sw.js'));
  await navigator.serviceWorker.ready;
  return reg;
}

/** This device's subscription, if it has one made with key. */
export async function currentSubscription(key: string): Promise<PushSubscription | null> {
  const reg = await navigator.serviceWorker.getRegistration();
  const sub = reg ? await reg.pushManager.getSubscription() : null;
  return sub && sameKey(sub.options?.applicationServerKey, key) ? sub : null;
}

/** Asks for permission, subscribes with the daemon's key and posts the subscription. */
export async function enablePush(key: string): Promise<PushSubscription> {
  const perm = await Notification.requestPermission();
  if (perm !== 'granted') throw new Error(perm === 'denied' ? stateText('denied') : 'Notifications were not allowed.');
  const reg = await registration();
  const old = await reg.pushManager.getSubscription();
  if (old && !sameKey(old.options?.applicationServerKey, key)) await old.unsubscribe();
  const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64urlBytes(key) });
  await api.post(`${PUSH_API}/subscriptions`, sub.toJSON());
  return sub;
}

export async function disablePush(sub: PushSubscription): Promise<void> {
  await api.del(`${PUSH_API}/subscriptions?endpoint=${encodeURIComponent(sub.endpoint)}`).catch(() => {
    /* already gone on the daemon's side (a push service said so): unsubscribing here is what is left */
  });
  await sub.unsubscribe();
}

export const testPush = (sub: PushSubscription) =>
  api.post<{ ok: boolean; status: number | null; message: string }>(`${PUSH_API}/test`, { endpoint: sub.endpoint });
