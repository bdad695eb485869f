// Spool labels: what a label's QR code says, what a scanned code means, which spools a label
// sheet holds and where each label sits on the paper. Pure: the label page and the scanner
// (both lazily loaded) and their tests share it.

/** The most labels one sheet page asks for (the inventory lists at most 500 spools). */
export const MAX_LABELS = 500;
const MAX_ID = 2 ** 31 - 1;

/** The address a label's QR code opens: that spool's page. */
export function spoolUrl(base: string, id: number): string {
  return `${base}/spools/${id}`;
}

/** The address people typed for their printdeck ("printdeck.lan:8080", "https://pd.example/")
 * as an origin, or null when it is none: the app lives at the root of its origin. */
export function labelBase(typed: string): string | null {
  const t = typed.trim();
  if (!t) return null;
  try {
    const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(t) ? t : `http://${t}`);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : null;
  } catch {
    return null;
  }
}

/** A base only this machine can open: a phone scanning the label would reach nothing. */
export function isLoopback(base: string): boolean {
  const h = new URL(base).hostname;
  return h === 'localhost' || h.endsWith('.localhost') || h === '[::1]' || /^127\./.test(h);
}

export type Scanned =
  | { kind: 'spool'; id: number }
  /** a Spoolman label of something other than a spool: a filament, a location… */
  | { kind: 'spoolman-other'; what: string }
  | { kind: 'unknown' };

const SPOOLMAN_KINDS: Record<string, string> = { f: 'a filament', v: 'a vendor', l: 'a location' };

function idOf(digits: string): number | null {
  const n = Number(digits);
  return digits.length <= 10 && Number.isInteger(n) && n >= 1 && n <= MAX_ID ? n : null;
}

const spool = (id: number | null): Scanned => (id ? { kind: 'spool', id } : { kind: 'unknown' });

/** What a scanned code (or, with `typed`, what a person typed) names. printdeck labels carry
 * `…/spools/12`; Spoolman's carry `web+spoolman:s-12` (upper case since Spoolman 0.19) or, with
 * its "HTTP URL" option, `…/spool/show/12`. A bare number counts only when typed: on a code it
 * could be anyone's. */
export function readLabel(text: string, typed = false): Scanned {
  const t = text.trim();
  const sm = /^web\+spoolman:([a-z])-(\d+)$/i.exec(t);
  if (sm) {
    const k = sm[1].toLowerCase();
    if (k === 's') return spool(idOf(sm[2]));
    return { kind: 'spoolman-other', what: SPOOLMAN_KINDS[k] ?? 'something else' };
  }
  if (/^https?:\/\//i.test(t)) {
    let path: string;
    try {
      path = new URL(t).pathname;
    } catch {
      return { kind: 'unknown' };
    }
    const m = /\/(?:spools|spool\/show)\/(\d+)\/?$/.exec(path);
    return m ? spool(idOf(m[1])) : { kind: 'unknown' };
  }
  if (typed) {
    const m = /^(?:#|s-)?\s*(\d+)$/i.exec(t);
    if (m) return spool(idOf(m[1]));
  }
  return { kind: 'unknown' };
}

/** Spool ids for a sheet's address: sorted, runs as ranges ("3-7,12"), so "all shown" of a
 * long list stays a short URL. */
export function packIds(ids: number[]): string {
  const s = [...new Set(ids)].filter((n) => Number.isInteger(n) && n >= 1).sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++;
    out.push(j === i ? String(s[i]) : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

/** The ids of packIds's text, or null when it is not such a list or names more than `max`. */
export function unpackIds(text: string, max = MAX_LABELS): number[] | null {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return null;
    const a = idOf(m[1]);
    const b = m[2] === undefined ? a : idOf(m[2]);
    if (!a || !b || b < a || b - a >= max) return null;
    for (let n = a; n <= b; n++) out.add(n);
    if (out.size > max) return null;
  }
  return [...out].sort((x, y) => x - y);
}

/** One kind of label stock, in millimetres: the page, and the grid of labels on it. A roll
 * prints one label per page of the label's own size. */
export interface LabelFormat {
  id: string;
  name: string;
  pageW: number;
  pageH: number;
  cols: number;
  rows: number;
  w: number;
  h: number;
  top: number;
  left: number;
  pitchX: number;
  pitchY: number;
}

const A4 = { pageW: 210, pageH: 297 };
const LETTER = { pageW: 215.9, pageH: 279.4 };
const roll = (id: string, name: string, w: number, h: number): LabelFormat => ({
  id, name, pageW: w, pageH: h, cols: 1, rows: 1, w, h, top: 0, left: 0, pitchX: w, pitchY: h,
});

// the sheets' geometry is their makers' template data
export const FORMATS: LabelFormat[] = [
  { id: 'l7160', name: 'A4 sheet, 3 × 7 (Avery L7160, 63.5 × 38.1 mm)', ...A4, cols: 3, rows: 7, w: 63.5, h: 38.1, top: 15.15, left: 7.25, pitchX: 66.04, pitchY: 38.1 },
  { id: 'l7159', name: 'A4 sheet, 3 × 8 (Avery L7159, 63.5 × 33.9 mm)', ...A4, cols: 3, rows: 8, w: 63.5, h: 33.9, top: 12.9, left: 7.25, pitchX: 66.04, pitchY: 33.9 },
  { id: 'l7163', name: 'A4 sheet, 2 × 7 (Avery L7163, 99.1 × 38.1 mm)', ...A4, cols: 2, rows: 7, w: 99.1, h: 38.1, top: 15.15, left: 4.65, pitchX: 101.6, pitchY: 38.1 },
  { id: 'a5160', name: 'Letter sheet, 3 × 10 (Avery 5160, 2⅝ × 1 in)', ...LETTER, cols: 3, rows: 10, w: 66.675, h: 25.4, top: 12.7, left: 4.7625, pitchX: 69.85, pitchY: 25.4 },
  { id: 'a5163', name: 'Letter sheet, 2 × 5 (Avery 5163, 4 × 2 in)', ...LETTER, cols: 2, rows: 5, w: 101.6, h: 50.8, top: 12.7, left: 3.96875, pitchX: 106.3625, pitchY: 50.8 },
  roll('r62x29', 'Roll, 62 × 29 mm (Brother DK-11209)', 62, 29),
  roll('r62x40', 'Roll, 62 mm continuous cut at 40 mm (Brother DK-22205)', 62, 40),
  roll('r50x30', 'Roll, 50 × 30 mm (thermal label printers)', 50, 30),
  roll('r89x36', 'Roll, 89 × 36 mm (Dymo 99012)', 89, 36),
];

export const formatById = (id: string | null | undefined): LabelFormat => FORMATS.find((f) => f.id === id) ?? FORMATS[0];

export const perPage = (f: LabelFormat) => f.cols * f.rows;

/** The sheet's pages: each a list of label positions holding the index of the spool printed
 * there, or null for a position left blank. `skip` positions at the start of the first page
 * stay blank, for a sheet whose first labels were used already. */
export function paginate(count: number, f: LabelFormat, skip = 0): (number | null)[][] {
  const per = perPage(f);
  const blank = Math.max(0, Math.min(per - 1, Math.floor(skip)));
  const cells: (number | null)[] = [...Array(blank).fill(null), ...Array.from({ length: count }, (_, i) => i)];
  const pages: (number | null)[][] = [];
  for (let i = 0; i < cells.length; i += per) {
    const page = cells.slice(i, i + per);
    while (page.length < per) page.push(null);
    pages.push(page);
  }
  return pages;
}

/** A weight as a label prints it: "250 g", "1 kg", "2.25 kg". */
export function labelWeight(g: number): string {
  return g < 1000 ? `${Math.round(g)} g` : `${Number((g / 1000).toFixed(2))} kg`;
}

/** The label at position `i` of a page: its top-left corner in millimetres. */
export function cellAt(f: LabelFormat, i: number): { x: number; y: number } {
  return { x: f.left + (i % f.cols) * f.pitchX, y: f.top + Math.floor(i / f.cols) * f.pitchY };
}

const OTHER_WAYS = 'Take a photo of the label or type its number below.';

/** Why the camera did not open, in words: getUserMedia's error, or null when the browser
 * offers no camera at all (`secure`: the page is a secure context, where browsers allow one). */
export function cameraProblem(e: unknown, secure: boolean): string {
  if (!secure) return `The browser opens the camera only on an https:// address (or on this machine). ${OTHER_WAYS}`;
  const name = (e as { name?: string } | null)?.name;
  if (!name) return `This browser cannot open a camera. ${OTHER_WAYS}`;
  if (name === 'NotAllowedError' || name === 'SecurityError')
    return `Camera permission was denied: allow the camera for this site in the browser's settings. ${OTHER_WAYS}`;
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return `No camera was found on this device. ${OTHER_WAYS}`;
  if (name === 'NotReadableError' || name === 'AbortError')
    return `The camera is in use by another app or could not start. ${OTHER_WAYS}`;
  return `The camera could not be opened. ${OTHER_WAYS}`;
}
