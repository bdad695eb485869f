// Formatting that every screen shares, in the browser's locale and time zone.

/** "#RRGGBBAA" or "RRGGBB" (printers send the first, Spoolman the second) → "#rrggbb", or null. */
export function cssColor(c: string | null | undefined): string | null {
  if (!c) return null;
  const h = c.replace(/^#/, '');
  if (!/^[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$/.test(h)) return null;
  return `#${h.slice(0, 6).toLowerCase()}`;
}

/** The colours of a filament: its multi-colour list when it has one, else its colour. */
export function filamentColors(f: { color_hex?: string | null; multi_color_hexes?: string | null }): string[] {
  const multi = (f.multi_color_hexes ?? '')
    .split(',')
    .map((x) => cssColor(x.trim()))
    .filter((x): x is string => !!x);
  if (multi.length) return multi;
  const one = cssColor(f.color_hex);
  return one ? [one] : [];
}

/** A CSS background for a swatch of one or more colours. */
export function swatchBackground(colors: string[], direction: string | null | undefined = 'coaxial'): string {
  if (colors.length === 0) return 'transparent';
  if (colors.length === 1) return colors[0];
  const step = 100 / colors.length;
  const stops = colors.map((c, i) => `${c} ${(i * step).toFixed(1)}% ${((i + 1) * step).toFixed(1)}%`).join(', ');
  return direction === 'longitudinal' ? `linear-gradient(90deg, ${stops})` : `conic-gradient(${stops})`;
}

/** Relative luminance is over 0.5: dark text reads on it. */
export function isLight(color: string): boolean {
  const h = color.replace('#', '');
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16) / 255);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5;
}

/** Minutes → "2 h 05 min", "45 min", "—". */
export function duration(min: number | null | undefined): string {
  if (min === null || min === undefined || !Number.isFinite(min) || min < 0) return '—';
  const m = Math.round(min);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, '0')} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** A date formatter made once per locale and options: toLocale*String builds one per call,
 * which on a 200-printer farm was most of the dashboard's time on a slow phone. */
export function dateFormat(locale: string | undefined, opts: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const k = `${locale ?? ''}|${JSON.stringify(opts)}`;
  let f = formats.get(k);
  if (!f) formats.set(k, (f = new Intl.DateTimeFormat(locale, opts)));
  return f;
}

/** The clock time a job ends: "14:35", or "Tue 09:10" when not today. */
export function finishClock(remainingMin: number, now: Date = new Date(), locale?: string): string {
  const end = new Date(now.getTime() + remainingMin * 60000);
  const time = dateFormat(locale, { hour: '2-digit', minute: '2-digit' }).format(end);
  if (end.toDateString() === now.toDateString()) return time;
  return `${dateFormat(locale, { weekday: 'short' }).format(end)} ${time}`;
}

export function temp(v: number | null | undefined, target?: number | null): string {
  if (v === null || v === undefined) return '—';
  const t = target ? ` / ${Math.round(target)}` : '';
  return `${Math.round(v)}${t} °C`;
}

export function grams(g: number | null | undefined): string {
  if (g === null || g === undefined || !Number.isFinite(g)) return '—';
  if (Math.abs(g) >= 1000) return `${(g / 1000).toFixed(2)} kg`;
  return `${Math.round(g)} g`;
}

/** Remaining weight as a percent of the net weight, or null when unknown. */
export function remainingPct(remaining: number | null | undefined, initial: number | null | undefined): number | null {
  if (remaining === null || remaining === undefined || !initial) return null;
  return Math.max(0, Math.min(100, Math.round((remaining / initial) * 100)));
}

export type StateTone = 'printing' | 'paused' | 'done' | 'failed' | 'idle' | 'offline' | 'problem';

/** The colour family of a printer's state. */
export function stateTone(p: { online: boolean; state?: string | null; connection?: { state: string } }): StateTone {
  const c = p.connection?.state;
  if (c === 'auth_failed' || c === 'tls_failed') return 'problem';
  if (!p.online) return 'offline';
  switch (p.state) {
    case 'RUNNING':
    case 'PREPARE':
    case 'SLICING':
      return 'printing';
    case 'PAUSE':
      return 'paused';
    case 'FINISH':
      return 'done';
    case 'FAILED':
      return 'failed';
    default:
      return 'idle';
  }
}

export function stateLabel(p: { online: boolean; state?: string | null; connection?: { state: string } }): string {
  const tone = stateTone(p);
  if (tone === 'problem') return 'Cannot connect';
  if (tone === 'offline') return 'Offline';
  const s = p.state;
  const names: Record<string, string> = {
    RUNNING: 'Printing', PREPARE: 'Preparing', SLICING: 'Slicing', PAUSE: 'Paused',
    FINISH: 'Finished', FAILED: 'Failed', IDLE: 'Idle',
  };
  return s ? names[s] ?? s.charAt(0) + s.slice(1).toLowerCase() : 'Idle';
}

/** The connection problem in words (docs/printer-link.md's states and errors). */
export function connectionProblem(p: {
  online: boolean;
  sign_required?: boolean;
  source?: string;
  ha_device?: string | null;
  connection?: { state: string; error?: string | null };
}): string | null {
  const c = p.connection;
  if (p.source === 'homeassistant') return p.ha_device ? haProblem(p.online, c) : null; // the webhooks' printers have no connection
  if (p.sign_required) return 'The firmware refuses unsigned commands: enable LAN-only mode and Developer Mode on the printer.';
  if (!c) return null;
  switch (c.state) {
    case 'auth_failed':
      return 'The printer refused the access code: check the LAN access code on its screen.';
    case 'tls_failed':
      return `TLS failed${c.error ? ` (${c.error})` : ''}: check the serial and the certificate settings.`;
    case 'stale':
      return 'Connected, but the printer has gone silent.';
    case 'backoff':
    case 'disconnected':
      return c.error ? `Not reachable: ${c.error}` : 'Not reachable: retrying.';
    case 'connecting':
      return p.online ? null : 'Connecting…';
    default:
      return null;
  }
}

/** The connection to Home Assistant of a printer followed through its API, in words
 * (docs/homeassistant.md, "The connection"): its errors are already sentences. */
function haProblem(online: boolean, c?: { state: string; error?: string | null }): string | null {
  const said = c?.error ?? null;
  switch (c?.state) {
    case 'connected':
      return null;
    case 'connecting':
      return online ? null : 'Connecting to Home Assistant…';
    case 'stale':
      return 'Connected to Home Assistant, but it stopped answering.';
    case 'auth_failed':
      return `Home Assistant refused printdeck: ${said ?? 'the token was refused'}. Check [homeassistant] token.`;
    case 'tls_failed':
      return `Home Assistant’s certificate: ${said ?? 'it did not verify'}.`;
    case 'backoff':
      return said?.startsWith('unreachable: ') ? `Home Assistant is ${said}; trying again.` : `Home Assistant: ${said ?? 'not connected'}; trying again.`;
    default:
      return 'Not connected to Home Assistant: is [homeassistant] api_url set?';
  }
}

/** Where a printer's state comes from, in words; null for a printer on its own link. */
export function sourceWords(p: { source?: string; online: boolean; ha_device?: string | null; connection?: { state: string } }): string | null {
  if (p.source !== 'homeassistant') return null;
  if (!p.ha_device) return p.online ? 'State from Home Assistant’s webhooks.' : 'State from Home Assistant’s webhooks: none received since printdeck started.';
  const state = p.connection?.state === 'connected' ? 'connected' : p.connection?.state === 'connecting' ? 'connecting…' : 'not connected';
  return `State from Home Assistant (ha-bambulab device ${p.ha_device}): ${state}.`;
}

export const SPEEDS: Record<number, string> = { 1: 'Silent', 2: 'Standard', 3: 'Sport', 4: 'Ludicrous' };

export function humidityLabel(level: number | null | undefined, pct?: number | null): string {
  if (pct !== null && pct !== undefined) return `${Math.round(pct)} %`;
  if (level === null || level === undefined) return '—';
  return ['', 'very wet', 'wet', 'fair', 'dry', 'very dry'][level] ?? `${level}`;
}

export function timeAgo(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}
