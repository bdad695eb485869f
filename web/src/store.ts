// The live state every screen reads: printers from the event stream, AMS slot assignments
// from /api/v1/ams. Subscriptions are per printer, so with 200 printers an update re-renders
// one card; the grid itself listens only to the index (ids, names, states, models), which
// changes far less often than temperatures.
import type { Printer, Slot } from './types';
import type { SseEvent, StreamStatus } from './sse';

type Fn = () => void;

export interface Snapshot {
  at: number; // ms since the epoch
  printers: Printer[];
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A new object: `patch` over `target`, objects member by member, anything else (arrays, null)
 * replacing. Unlike RFC 7386 null is a value: a printer's object never loses a member. */
export function applyPatch(target: Json, patch: Json): Json {
  const out: Json = { ...target };
  for (const [k, v] of Object.entries(patch)) out[k] = isObject(v) && isObject(out[k]) ? applyPatch(out[k] as Json, v) : v;
  return out;
}

/** Applies one event to the map; returns the ids it changed (empty when none did). */
export function applyEvent(printers: Map<number, Printer>, ev: SseEvent): number[] {
  let data: any;
  try {
    data = JSON.parse(ev.data);
  } catch {
    return [];
  }
  if (!data || typeof data !== 'object') return [];
  switch (ev.event) {
    case 'printer':
      if (typeof data.id !== 'number') return [];
      printers.set(data.id, data as Printer);
      return [data.id];
    case 'printer.patch': {
      // the members that changed since the object the stream carried last; a printer not
      // known yet comes whole in the snapshot still being sent
      const was = typeof data.id === 'number' ? printers.get(data.id) : undefined;
      if (!was) return [];
      printers.set(data.id, applyPatch(was as unknown as Json, data) as unknown as Printer);
      return [data.id];
    }
    case 'printer_removed':
      if (typeof data.printer_id !== 'number' || !printers.delete(data.printer_id)) return [];
      return [data.printer_id];
    default:
      return [];
  }
}

/** What the grid needs to lay itself out: a change here re-renders the grid, nothing else does. */
/** The printer a tray event is about, if it says. */
function trayPrinter(ev: SseEvent): number | undefined {
  try {
    const id = JSON.parse(ev.data)?.printer_id;
    return typeof id === 'number' ? id : undefined;
  } catch {
    return undefined;
  }
}

const indexPart = (p: Printer) => `${p.id}\u0001${p.name}\u0001${p.state ?? ''}\u0001${p.model ?? ''}\u0001${p.online}\u0002`;

export function indexKey(printers: Map<number, Printer>): string {
  let k = '';
  for (const p of printers.values()) k += indexPart(p);
  return k;
}

export const slotKey = (printerId: number, unit: number, slot: number) => `${printerId}:${unit}:${slot}`;

const SNAPSHOT_KEY = 'printdeck.snapshot';

export class Store {
  printers = new Map<number, Printer>();
  slots = new Map<string, Slot>();
  status: StreamStatus = 'connecting';
  retryAt = 0;
  /** the data shown is the last known state from an earlier visit, not live */
  stale = false;
  staleAt = 0;
  private byId = new Map<number, Set<Fn>>();
  private index = new Set<Fn>();
  private statusFns = new Set<Fn>();
  private slotFns = new Set<Fn>();
  private lastIndex = '';
  // each printer's part of the index as last seen: a report that leaves it alone (nearly all
  // of them) does not rebuild the whole key, which on a farm was a cost per report per printer
  private parts = new Map<number, string>();
  private saveTimer: ReturnType<typeof setTimeout> | null = null;
  private seen = new Set<number>(); // printers seen since the stream (re)connected

  constructor(private storage: Storage | null = typeof localStorage !== 'undefined' ? localStorage : null) {}

  loadSnapshot() {
    try {
      const raw = this.storage?.getItem(SNAPSHOT_KEY);
      if (!raw) return;
      const s = JSON.parse(raw) as Snapshot;
      if (!Array.isArray(s.printers)) return;
      for (const p of s.printers) this.printers.set(p.id, p);
      this.stale = true;
      this.staleAt = s.at;
      this.emitIndex();
    } catch {
      /* a broken snapshot is only a missed head start */
    }
  }

  private saveSoon() {
    if (this.saveTimer || !this.storage) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      try {
        const s: Snapshot = { at: Date.now(), printers: [...this.printers.values()] };
        this.storage!.setItem(SNAPSHOT_KEY, JSON.stringify(s));
      } catch {
        /* storage full or disabled: offline start shows nothing, live use is unaffected */
      }
    }, 5000);
  }

  setStatus(s: StreamStatus, retryAt = 0) {
    if (s === 'live' && this.status !== 'live') this.seen.clear();
    this.status = s;
    this.retryAt = retryAt;
    this.statusFns.forEach((f) => f());
  }

  /** Every event as it comes, for screens that follow more than printers (job.* events). */
  listen(fn: (ev: SseEvent) => void): () => void {
    this.eventFns.add(fn);
    return () => this.eventFns.delete(fn);
  }
  private eventFns = new Set<(ev: SseEvent) => void>();

  handle(ev: SseEvent) {
    this.eventFns.forEach((f) => f(ev));
    if (ev.event === 'tray') this.onSlotsStale?.(trayPrinter(ev));
    else if (ev.event === 'printer_added' || ev.event === 'printer_removed') this.onSlotsStale?.();
    const changed = applyEvent(this.printers, ev);
    if (ev.event === 'printer') {
      changed.forEach((id) => this.seen.add(id));
      if (this.stale) {
        this.stale = false;
        this.statusFns.forEach((f) => f());
      }
    }
    for (const id of changed) this.byId.get(id)?.forEach((f) => f());
    if (changed.length) {
      if (this.partsChanged(changed)) this.emitIndex();
      this.saveSoon();
    }
  }

  /** After a reconnect the snapshot names every printer there is: those it did not name were
   * removed while the stream was down. */
  reconcile(ids: number[]) {
    const keep = new Set(ids);
    let removed = false;
    for (const id of [...this.printers.keys()])
      if (!keep.has(id)) {
        this.printers.delete(id);
        this.parts.delete(id);
        this.byId.get(id)?.forEach((f) => f());
        removed = true;
      }
    if (removed) this.emitIndex();
  }

  private partsChanged(ids: number[]): boolean {
    let changed = false;
    for (const id of ids) {
      const p = this.printers.get(id);
      const part = p ? indexPart(p) : undefined;
      if (part === this.parts.get(id)) continue;
      changed = true;
      if (part === undefined) this.parts.delete(id);
      else this.parts.set(id, part);
    }
    return changed;
  }

  private emitIndex() {
    const k = indexKey(this.printers);
    if (k === this.lastIndex) return;
    this.lastIndex = k;
    this.index.forEach((f) => f());
  }

  /** One printer's slots, fresh; the others' stay. */
  setPrinterSlots(printerId: number, list: Slot[]) {
    for (const k of [...this.slots.keys()]) if (this.slots.get(k)!.printer_id === printerId) this.slots.delete(k);
    for (const sl of list) this.slots.set(slotKey(sl.printer_id, sl.unit, sl.slot), sl);
    this.slots = new Map(this.slots); // a new map: the cards compare it
    this.slotFns.forEach((f) => f());
  }

  setSlots(list: Slot[]) {
    this.slots = new Map(list.map((s) => [slotKey(s.printer_id, s.unit, s.slot), s]));
    this.slotFns.forEach((f) => f());
  }

  /** Slots went stale: one printer's (a tray event), or any (undefined). */
  onSlotsStale?: (printerId?: number) => void;

  subscribe(id: number, fn: Fn) {
    let s = this.byId.get(id);
    if (!s) this.byId.set(id, (s = new Set()));
    s.add(fn);
    return () => s!.delete(fn);
  }
  subscribeIndex(fn: Fn) {
    this.index.add(fn);
    return () => this.index.delete(fn);
  }
  subscribeStatus(fn: Fn) {
    this.statusFns.add(fn);
    return () => this.statusFns.delete(fn);
  }
  subscribeSlots(fn: Fn) {
    this.slotFns.add(fn);
    return () => this.slotFns.delete(fn);
  }
}
