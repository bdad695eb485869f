// Every request of the dashboard: the session's CSRF token, and errors turned into words and
// field messages.
// The two error shapes of docs/api.md are read here: printdeck's {"error":{code,message,field}}
// and Spoolman's {"message"} / {"detail":[{loc,msg}]} on the inventory routes.

let csrf: string | null = null;
let onLost: () => void = () => {};

/** The session's CSRF token, sent with every write (the server refuses a cookie without it),
 * and what to do when a request finds the session gone (auth.ts). */
export function setAuthHooks(token: string | null, lost: () => void) {
  csrf = token;
  onLost = lost;
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
  if (status === 401) return 'sign in first';
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
  const raw = body instanceof Blob;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: {
        ...(method !== 'GET' && csrf ? { 'X-CSRF-Token': csrf } : {}),
        ...(body !== undefined ? { 'Content-Type': raw ? 'application/octet-stream' : 'application/json' } : {}),
      },
      // a file goes as the raw body: the browser streams it, the daemon spools it to disk
      body: raw ? body : body !== undefined ? JSON.stringify(body) : undefined,
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
  if (res.status === 401 && !path.startsWith('/api/v1/login') && !path.startsWith('/api/v1/me')) {
    onLost();
    throw new ApiError(401, 'unauthorized', 'Not sent: your session has ended. Sign in again, then send it again.');
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
  upload: <T>(p: string, file: Blob) => request<T>('POST', p, file).then((r) => r.data),
};

/** A printer command (docs/api.md: POST /api/v1/printers/{id}/commands), waiting for its ack. */
export function command(printerId: number, cmd: Record<string, unknown>) {
  return api.post<{ ok: boolean }>(`/api/v1/printers/${printerId}/commands`, cmd);
}
