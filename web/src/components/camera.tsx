// The printer's camera (docs/camera.md): its status in words, the live MJPEG view and snapshots,
// on the signed short-lived URLs the status hands out (an <img> sends no token). The daemon
// holds one connection to the printer whatever the number of viewers; the dashboard still
// opens a stream only where someone can see it: a card on screen, in a visible tab.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api';
import type { Printer } from '../types';

export interface CameraStatus {
  printer_id: number;
  type: string | null;
  enabled: boolean;
  state: 'idle' | 'opening' | 'streaming' | 'backoff';
  connected: boolean;
  fps_in: number;
  viewers: number;
  frame_age_ms: number | null;
  error: string | null;
  signed: { camera: string; snapshot: string; expires_at: number };
}

/** Whether the printer has a camera printdeck may show (the model's, switched on). */
// a printer Home Assistant feeds has no host: printdeck reaches neither it nor its camera
export const hasCamera = (p: Printer) => !!p.camera?.enabled && !!p.camera.type && p.source !== 'homeassistant';

/** True while the element is on screen and the tab is visible: nothing streams for a card
 * scrolled away or a tab in the background. */
export function useSeen(ref: { current: Element | null }): boolean {
  const [inView, setInView] = useState(false);
  const [visible, setVisible] = useState(() => document.visibilityState === 'visible');
  useEffect(() => {
    const onVis = () => setVisible(document.visibilityState === 'visible');
    document.addEventListener('visibilitychange', onVis);
    const el = ref.current;
    const io = el && 'IntersectionObserver' in window ? new IntersectionObserver((es) => setInView(es.some((e) => e.isIntersecting))) : null;
    if (io && el) io.observe(el);
    else if (el) setInView(true);
    return () => {
      document.removeEventListener('visibilitychange', onVis);
      io?.disconnect();
    };
  }, [ref.current]);
  return inView && visible;
}

const RENEW_MS = 60000;

/** The camera's status while `on`: fetched again every `everyMs` (0: only to renew the signed
 * URLs a minute before they expire). */
export function useCameraStatus(id: number, on: boolean, everyMs = 0): { st: CameraStatus | null; err: string | null } {
  const [st, setSt] = useState<CameraStatus | null>(null);
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    if (!on) return;
    let gone = false;
    let t: ReturnType<typeof setTimeout> | undefined;
    const load = () =>
      api.get<CameraStatus>(`/api/v1/printers/${id}/camera/status`).then(
        (s) => {
          if (gone) return;
          // the URLs in use stay until they near their end: a new one would be a new stream
          setSt((old) => (old && old.signed.expires_at * 1000 - Date.now() > RENEW_MS ? { ...s, signed: old.signed } : s));
          setErr(null);
          const renew = Math.max(10000, s.signed.expires_at * 1000 - Date.now() - RENEW_MS);
          t = setTimeout(load, everyMs ? Math.min(everyMs, renew) : renew);
        },
        (e) => {
          if (gone) return;
          setErr((e as Error).message);
          t = setTimeout(load, 15000);
        },
      );
    load();
    return () => {
      gone = true;
      clearTimeout(t);
    };
  }, [id, on, everyMs]);
  return { st, err };
}

/** The status in words when there is no picture to show, or null while one comes. */
export function cameraWords(st: CameraStatus | null, err: string | null): string | null {
  if (err) return `Camera status unavailable: ${err}`;
  if (!st) return null;
  if (!st.enabled) return 'The camera is switched off for this printer (Settings → Printers).';
  if (!st.connected && st.error) return st.error;
  return null;
}

/** A snapshot refreshed every `everyMs` while `on`, each fetched whole before it replaces the
 * last (no flicker, and the <img> never asks twice). An object URL, or null before the first. */
export function useSnapshot(url: string | null, everyMs: number, on: boolean): { src: string | null; failed: boolean } {
  const [src, setSrc] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  const shown = useRef<string | null>(null); // the object URL on screen, revoked when replaced or gone
  useEffect(() => {
    if (!url || !on) return;
    let gone = false;
    let t: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const r = await fetch(`${url}&t=${Date.now()}`);
        if (!r.ok) throw new Error(String(r.status));
        const b = URL.createObjectURL(await r.blob());
        if (gone) {
          URL.revokeObjectURL(b);
          return;
        }
        if (shown.current) URL.revokeObjectURL(shown.current);
        shown.current = b;
        setSrc(b);
        setFailed(false);
      } catch {
        if (!gone) setFailed(true);
      }
      if (!gone) t = setTimeout(load, everyMs);
    };
    load();
    return () => {
      gone = true;
      clearTimeout(t);
    };
  }, [url, everyMs, on]);
  useEffect(() => () => shown.current && URL.revokeObjectURL(shown.current), []);
  return { src, failed };
}

/** Phones get snapshots instead of a stream: a few KB every few seconds, not a constant flow. */
const SMALL = '(max-width: 640px)';
export const SNAPSHOT_EVERY_MS = 4000;

/** An MJPEG stream in an <img>. Chromium goes on loading an image taken out of the page, and a
 * stream never ends by itself: its src goes when the element does, which ends the request. */
function Stream(props: { src: string; alt: string; onError: () => void }) {
  const ref = useRef<HTMLImageElement>(null);
  useEffect(() => {
    const el = ref.current;
    return () => el?.removeAttribute('src');
  }, []);
  return <img ref={ref} src={props.src} alt={props.alt} onError={props.onError} decoding="async" />;
}

/** The live picture while `seen`: an MJPEG <img> (removed when not seen, which ends the
 * stream), or, unless `live`, on small screens a snapshot every few seconds. */
export function CameraPicture(props: { st: CameraStatus; name: string; seen: boolean; live?: boolean; class?: string }) {
  const small = !props.live && matchMedia(SMALL).matches;
  const snap = useSnapshot(small ? props.st.signed.snapshot : null, SNAPSHOT_EVERY_MS, props.seen);
  const [broken, setBroken] = useState(false);
  const src = small ? snap.src : props.seen && !broken ? props.st.signed.camera : null;
  useEffect(() => setBroken(false), [props.st.signed.camera]);
  return (
    <div class={`cam ${props.class ?? ''}`}>
      {src && small ? (
        <img src={src} alt={`Camera of ${props.name}, a snapshot every few seconds`} decoding="async" />
      ) : src ? (
        <Stream key={src} src={src} alt={`Camera of ${props.name}, live`} onError={() => setBroken(true)} />
      ) : (
        <span class="cam-wait">{broken || snap.failed ? 'No picture from the camera' : 'Connecting to the camera…'}</span>
      )}
      {!small && src && <span class="cam-badge">Live</span>}
    </div>
  );
}

/** A card's small live view while the printer prints: its status asked for only once the card
 * is on screen; nothing when the camera cannot be shown. */
export function CardCamera(props: { p: Printer }) {
  const box = useRef<HTMLDivElement>(null);
  const seen = useSeen(box);
  const { st, err } = useCameraStatus(props.p.id, seen);
  if (cameraWords(st, err)) return null;
  return <div ref={box}>{st ? <CameraPicture st={st} name={props.p.name} seen={seen} class="cam-card" /> : <div class="cam cam-card" />}</div>;
}
