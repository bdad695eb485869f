// The one store and its stream for the whole app.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api';
import { openStream } from './sse';
import { notices } from './notices';
import { Store } from './store';
import type { Printer, Slot } from './types';

export const store = new Store();

let slotTimer: ReturnType<typeof setTimeout> | null = null;
let staleAll = false;
const stalePrinters = new Set<number>();
/** Slots go stale with tray events; those of a few printers are fetched printer by printer,
 * more, or an unknown set (a printer added or removed, a new connection), all at once. All
 * the slots of a 200-printer farm are 1.1 MB of JSON, and printing printers send tray events
 * every few seconds: fetching them all each time filled a phone's link. */
const FEW = 8;
function refreshSlots(printerId?: number) {
  if (printerId === undefined) staleAll = true;
  else stalePrinters.add(printerId);
  if (slotTimer) return;
  slotTimer = setTimeout(() => {
    slotTimer = null;
    const ids = [...stalePrinters];
    stalePrinters.clear();
    if (staleAll || ids.length > FEW) {
      staleAll = false;
      api.get<Slot[]>('/api/v1/ams').then((s) => store.setSlots(s), () => {});
      return;
    }
    for (const id of ids) api.get<Slot[]>(`/api/v1/printers/${id}/ams`).then((s) => store.setPrinterSlots(id, s), () => {});
  }, 300);
}
store.onSlotsStale = refreshSlots;

let stop: (() => void) | null = null;

export function startLive() {
  stop?.();
  store.loadSnapshot();
  stop = openStream({
    // a printer's changes as patches after its snapshot, sent together four times a second
    url: '/api/v1/events?patch=1&batch=1',
    headers: () => ({}), // the session cookie goes by itself
    onEvent: (e) => {
      store.handle(e);
      notices.handle(e);
    },
    onStatus: (s, retryAt) => {
      store.setStatus(s, retryAt);
      if (s === 'live') {
        refreshSlots();
        notices.reload();
        // the stream opens with every printer; those known from before it (an earlier
        // connection, the saved snapshot) but no longer there went away meanwhile
        if (store.printers.size)
          api.get<Printer[]>('/api/v1/printers').then((l) => store.reconcile(l.map((p) => p.id)), () => {});
      }
    },
  });
}

// Each hook re-renders once after subscribing: a change between its first render and its
// effect would otherwise be missed until the next one.
export function usePrinter(id: number): Printer | undefined {
  const [, tick] = useState(0);
  useEffect(() => {
    const off = store.subscribe(id, () => tick((n) => n + 1));
    tick((n) => n + 1);
    return off;
  }, [id]);
  return store.printers.get(id);
}

export function usePrinterIndex(): Printer[] {
  const [, tick] = useState(0);
  useEffect(() => {
    const off = store.subscribeIndex(() => tick((n) => n + 1));
    tick((n) => n + 1);
    return off;
  }, []);
  return [...store.printers.values()];
}

export function useStatus() {
  const [, tick] = useState(0);
  useEffect(() => {
    const off = store.subscribeStatus(() => tick((n) => n + 1));
    tick((n) => n + 1);
    return off;
  }, []);
  return { status: store.status, retryAt: store.retryAt, stale: store.stale, staleAt: store.staleAt };
}

export function useSlots() {
  const [, tick] = useState(0);
  useEffect(() => {
    const off = store.subscribeSlots(() => tick((n) => n + 1));
    tick((n) => n + 1);
    return off;
  }, []);
  return store.slots;
}
