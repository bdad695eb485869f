// Who is signed in (docs/accounts.md): the session the daemon keeps in an HttpOnly cookie,
// its CSRF token for writes, setup before the first account, and sign-in again when a
// session ends — over the page, so nothing typed on it is lost.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, setAuthHooks } from './api';

export type Role = 'viewer' | 'operator' | 'admin';
export interface Me {
  kind: 'session' | 'token' | 'trusted' | 'open' | 'none';
  name: string;
  role: Role;
  user_id: number | null;
  token_id: number | null;
  printers: number[];
  setup_required: boolean;
  csrf?: string;
}

/** loading → setup (no account yet) | signin (no session) | in; expired: was in, the session
 * ended (the page stays, a sign-in dialog covers it). */
export type AuthState = { phase: 'loading' | 'setup' | 'signin' | 'in' | 'expired'; me: Me | null; error?: string };

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

/** Whether me may do what needs `role` (the server decides; this only hides what it would refuse). */
export function allowed(me: Me | null, role: Role): boolean {
  return !!me && (RANK[me.role] ?? 0) >= RANK[role];
}

/** Takes ?token=… out of the address (a wall display's bookmark), so it is not left in the
 * history or a screenshot; returns it, or a token an older version kept in storage. */
export function takeToken(loc: Location, store: Storage | null, replace: (url: string) => void): string | null {
  const params = new URLSearchParams(loc.search);
  const fromUrl = params.get('token');
  if (fromUrl) {
    params.delete('token');
    const q = params.toString();
    replace(loc.pathname + (q ? `?${q}` : '') + loc.hash);
    return fromUrl;
  }
  const legacy = store?.getItem('printdeck.token') ?? null;
  store?.removeItem('printdeck.token');
  return legacy;
}

let state: AuthState = { phase: 'loading', me: null };
const listeners = new Set<() => void>();

function set(s: AuthState) {
  state = s;
  if (s.phase === 'in' && s.me && typeof localStorage !== 'undefined')
    localStorage.setItem(ME_KEY, JSON.stringify({ ...s.me, csrf: undefined }));
  setAuthHooks(s.me?.csrf ?? null, sessionLost);
  listeners.forEach((f) => f());
}

/** The session ended under the page (expired, signed out elsewhere, password reset). */
export function sessionLost() {
  if (state.phase === 'in') set({ phase: 'expired', me: state.me });
}

const ME_KEY = 'printdeck.me';

async function whoAmI(error?: string) {
  try {
    const me = await api.get<Me>('/api/v1/me');
    set({ phase: 'in', me });
  } catch (e) {
    const cached = localStorage.getItem(ME_KEY);
    if ((e as ApiError).status === 0 && cached) {
      // offline (the installed app away from home): the last known state, marked stale
      set({ phase: 'in', me: JSON.parse(cached) as Me });
      return;
    }
    if ((e as ApiError).status !== 401) {
      set({ phase: 'signin', me: null, error: (e as Error).message });
      return;
    }
    const s = await api.get<{ required: boolean }>('/api/v1/setup').catch(() => ({ required: false }));
    set({ phase: s.required ? 'setup' : 'signin', me: null, error });
  }
}

/** At start: a token from the address is exchanged for a session once, then who is there. */
export async function boot() {
  const token = takeToken(location, typeof localStorage !== 'undefined' ? localStorage : null, (u) => history.replaceState(null, '', u));
  let error: string | undefined;
  if (token) {
    try {
      await api.post<Me>('/api/v1/login', { token });
    } catch (e) {
      error = `The token in the address was not accepted: ${(e as Error).message}`;
    }
  }
  await whoAmI(error);
}

export async function signIn(body: { name: string; password: string } | { token: string }) {
  const me = await api.post<Me>('/api/v1/login', body);
  set({ phase: 'in', me });
}

export async function setup(name: string, password: string) {
  const me = await api.post<Me>('/api/v1/setup', { name, password });
  set({ phase: 'in', me });
}

export async function signOut() {
  await api.post('/api/v1/logout').catch(() => {});
  localStorage.removeItem(ME_KEY);
  set({ phase: 'signin', me: null });
}

export function useAuth(): AuthState {
  const [, tick] = useState(0);
  useEffect(() => {
    const f = () => tick((n) => n + 1);
    listeners.add(f);
    return () => {
      listeners.delete(f);
    };
  }, []);
  return state;
}

/** Whether the signed-in requester may do what needs role. */
export function useCan(role: Role): boolean {
  return allowed(useAuth().me, role);
}
