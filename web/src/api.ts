// Every request of the dashboard: the token, and errors turned into words and field messages.
// The two error shapes of docs/api.md are read here: printdeck's {"error":{code,message,field}}
// and Spoolman's {"message"} / {"detail":[{loc,msg}]} on the inventory routes.

const TOKEN_KEY = 'printdeck.token';

let token: string | null = null;

/** Takes ?token=… from the address once (a wall display's bookmark), keeps it in localStorage
 * and removes it from the address bar, so it is not left in the history or a screenshot. */
export function initToken(loc: Location = location, store: Storage = localStorage): string | null {
  const params = new URLSearchParams(loc.search);
  const fromUrl = params.get('token');
  if (fromUrl) {
    store.setItem(TOKEN_KEY, fromUrl);
    params.delete('token');
    const q = params.toString();
    history.replaceState(null, '', loc.pathname + (q ? `?${q}` : '') + loc.hash);
  }
  token = store.getItem(TOKEN_KEY);
  return token;
}

export function setToken(t: string | null, store: Storage = localStorage) {
  token = t;
  if (t) store.setItem(TOKEN_KEY, t);
  else store.removeItem(TOKEN_KEY);
}

export const getToken = () => token;

export function authHeaders(): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export class ApiError extends Error {
  status: number;
  code: string;
  /** field name → message, for the form that sent the body */
  fields: Record<string, string>;
  constructor(status: number, code: string, message: string, fields: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

/** Turns an error reply into an ApiError; never shows raw JSON to a person. */
export function parseError(status: number, body: unknown): ApiError {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, any>;
  if (b.error && typeof b.error === 'object') {
    const e = b.error;
    const fields: Record<string, string> = {};
    let msg = String(e.message ?? 'request failed');
    if (typeof e.field === 'string') {
      // "name: must be …" names the field already
      const m = msg.startsWith(`${e.field}: `) ? msg.slice(e.field.length + 2) : msg;
      fields[e.field] = m;
    }
    return new ApiError(status, String(e.code ?? 'error'), msg, fields);
  }
  if (Array.isArray(b.detail)) {
    const fields: Record<string, string> = {};
    const parts: string[] = [];
    for (const d of b.detail) {
      const loc = Array.isArray(d?.loc) ? d.loc : [];
      const field = loc.length > 1 ? String(loc[loc.length - 1]) : '';
      const msg = String(d?.msg ?? 'invalid');
      if (field) fields[field] = msg;
      parts.push(field ? `${field}: ${msg}` : msg);
    }
    return new ApiError(status, 'invalid_field', parts.join('; ') || 'invalid input', fields);
  }
  if (typeof b.message === 'string') return new ApiError(status, codeOf(status), b.message);
  return new ApiError(status, codeOf(status), statusText(status));
}

function codeOf(status: number) {
  return status === 401 ? 'unauthorized' : status === 404 ? 'not_found' : status >= 500 ? 'server' : 'error';
}

function statusText(status: number) {
  if (status === 0) return 'printdeck cannot be reached';
  if (status === 401) return 'a valid token is needed';
  if (status === 403) return 'not allowed';
  if (status === 404) return 'not found';
  if (status >= 500) return `the server failed (${status})`;
  return `request failed (${status})`;
}

export interface ApiResult<T> {
  data: T;
  total: number | null; // X-Total-Count
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: { ...authHeaders(), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new ApiError(0, 'network', statusText(0));
  }
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!res.ok) throw parseError(res.status, parsed);
  const total = res.headers.get('X-Total-Count');
  return { data: parsed as T, total: total === null ? null : Number(total) };
}

export const api = {
  get: <T>(p: string) => request<T>('GET', p).then((r) => r.data),
  list: <T>(p: string) => request<T[]>('GET', p),
  post: <T>(p: string, b?: unknown) => request<T>('POST', p, b ?? {}).then((r) => r.data),
  patch: <T>(p: string, b: unknown) => request<T>('PATCH', p, b).then((r) => r.data),
  put: <T>(p: string, b: unknown) => request<T>('PUT', p, b).then((r) => r.data),
  del: <T>(p: string) => request<T>('DELETE', p).then((r) => r.data),
};

/** A printer command (docs/api.md: POST /api/v1/printers/{id}/commands), waiting for its ack. */
export function command(printerId: number, cmd: Record<string, unknown>) {
  return api.post<{ ok: boolean }>(`/api/v1/printers/${printerId}/commands`, cmd);
}
