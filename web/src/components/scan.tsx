// The scanner (a chunk of its own): the rear camera through getUserMedia, read by the
// browser's BarcodeDetector where it has one, else by the `qr` package's decoder (loaded only
// then); a photo or a typed number where there is no camera. A printdeck or Spoolman label
// opens that spool's sheet.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { cameraProblem, readLabel } from '../labels';
import { navigate } from '../router';
import type { Spool } from '../types';
import { SpoolSheet } from '../pages/spool';
import { Dialog, Loading } from './ui';
import './scan.css';

type Source = HTMLVideoElement | ImageBitmap;
type Reader = (src: Source, w: number, h: number, photo: boolean) => Promise<string | null>;

interface NativeDetector {
  detect(src: Source): Promise<{ rawValue: string }[]>;
}
interface NativeDetectorClass {
  new (o: { formats: string[] }): NativeDetector;
  getSupportedFormats?: () => Promise<string[]>;
}

let reader: Promise<Reader> | null = null;

/** The browser's own QR reader when it has one (Android, ChromeOS, macOS), else the decoder. */
function getReader(): Promise<Reader> {
  return (reader ??= (async (): Promise<Reader> => {
    const Native = (globalThis as { BarcodeDetector?: NativeDetectorClass }).BarcodeDetector;
    if (Native && (await Native.getSupportedFormats?.().catch((): string[] => []))?.includes('qr_code')) {
      const d = new Native({ formats: ['qr_code'] });
      return async (src) => (await d.detect(src).catch(() => []))[0]?.rawValue ?? null;
    }
    const { default: decodeQR } = await import('qr/decode.js');
    const canvas = document.createElement('canvas');
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    return async (src, w, h, photo) => {
      // a phone's photo has far more pixels than a label needs: smaller decodes faster
      const k = Math.min(1, 1600 / Math.max(w, h));
      canvas.width = Math.round(w * k);
      canvas.height = Math.round(h * k);
      ctx.drawImage(src, 0, 0, canvas.width, canvas.height);
      try {
        // a frame missed is the next frame's chance; a photo is the only one, so it gets more effort
        return decodeQR(ctx.getImageData(0, 0, canvas.width, canvas.height), photo ? { effort: Infinity, timeLimit: 2000 } : undefined);
      } catch {
        return null;
      }
    };
  })());
}

type Cam = { k: 'starting' } | { k: 'on' } | { k: 'off' } | { k: 'problem'; why: string };
type Result =
  | null
  | { k: 'wrong'; why: string; text?: string }
  | { k: 'looking'; id: number }
  | { k: 'missing'; id: number }
  | { k: 'failed'; id: number; why: string }
  | { k: 'found'; spool: Spool };

const FRAME_MS = 150; // ~7 reads a second: quick enough for a hand, kind to a phone's battery

export function ScanDialog(props: { onClose: () => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const stream = useRef<MediaStream | null>(null);
  const [cam, setCam] = useState<Cam>({ k: 'starting' });
  const [result, setResult] = useState<Result>(null);
  const [typed, setTyped] = useState('');
  const [busyPhoto, setBusyPhoto] = useState(false);

  const stopCamera = () => {
    stream.current?.getTracks().forEach((t) => t.stop());
    stream.current = null;
  };

  const startCamera = async () => {
    setResult(null);
    setCam({ k: 'starting' });
    const secure = window.isSecureContext;
    if (!navigator.mediaDevices?.getUserMedia) return setCam({ k: 'problem', why: cameraProblem(null, secure) });
    try {
      const s = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: { ideal: 'environment' }, width: { ideal: 1280 }, height: { ideal: 720 } },
        audio: false,
      });
      if (!video.current) return s.getTracks().forEach((t) => t.stop()); // closed meanwhile
      stream.current = s;
      video.current.srcObject = s;
      await video.current.play();
      setCam({ k: 'on' });
    } catch (e) {
      stopCamera();
      setCam({ k: 'problem', why: cameraProblem(e, secure) });
    }
  };

  /** `again`: the spool changed under its open sheet; the sheet stays while it is read */
  const open = async (id: number, again = false) => {
    if (!again) setResult({ k: 'looking', id });
    try {
      setResult({ k: 'found', spool: await api.get<Spool>(`/api/v1/spool/${id}`) });
    } catch (e) {
      const err = e as ApiError;
      setResult(err.status === 404 ? { k: 'missing', id } : { k: 'failed', id, why: err.message });
    }
  };

  /** A code read (or typed): a spool's label opens it, anything else says what it is. */
  const take = (text: string, byHand: boolean) => {
    const r = readLabel(text, byHand);
    if (r.kind === 'spool') {
      stopCamera();
      setCam({ k: 'off' });
      void open(r.id);
    } else {
      if (!byHand) {
        stopCamera();
        setCam({ k: 'off' });
      }
      setResult(
        r.kind === 'spoolman-other'
          ? { k: 'wrong', why: `This is a Spoolman label of ${r.what}, not of a spool.` }
          : byHand
            ? { k: 'wrong', why: 'Type a spool number, like 12, or the text of a label.' }
            : { k: 'wrong', why: 'This code is not a printdeck or Spoolman spool label.', text },
      );
    }
  };

  useEffect(() => {
    void startCamera();
    return stopCamera;
  }, []);

  // read frames while the camera is on
  useEffect(() => {
    if (cam.k !== 'on') return;
    let gone = false;
    let timer: ReturnType<typeof setTimeout>;
    const tick = async () => {
      const v = video.current;
      if (gone || !v) return;
      if (v.readyState >= 2 && v.videoWidth) {
        const read = await getReader();
        const text = await read(v, v.videoWidth, v.videoHeight, false);
        if (gone) return;
        if (text) return take(text, false);
      }
      timer = setTimeout(tick, FRAME_MS);
    };
    void tick();
    return () => {
      gone = true;
      clearTimeout(timer);
    };
  }, [cam.k]);

  const photo = async (file: File | undefined) => {
    if (!file) return;
    setBusyPhoto(true);
    setResult(null);
    try {
      const bmp = await createImageBitmap(file);
      const text = await (await getReader())(bmp, bmp.width, bmp.height, true);
      bmp.close();
      if (text) take(text, false);
      else setResult({ k: 'wrong', why: 'No QR code was found in the photo: take it closer, with the label filling most of the picture.' });
    } catch {
      setResult({ k: 'wrong', why: 'This photo could not be read.' });
    } finally {
      setBusyPhoto(false);
    }
  };

  const close = () => {
    stopCamera();
    props.onClose();
  };

  const found = result?.k === 'found' ? result.spool : null;
  const canRetry = cam.k === 'off';
  return (
    <Dialog title={found ? `Spool #${found.id}` : 'Scan a spool label'} onClose={close}>
      {/* the video stays mounted: "Scan another" starts the camera into it again */}
      <div class="scan-view" hidden={!!found || (cam.k !== 'on' && cam.k !== 'starting')}>
        <video ref={video} muted playsInline aria-label="Camera view" />
        <span class="scan-frame" aria-hidden="true" />
        {cam.k === 'starting' && <Loading label="Opening the camera…" />}
      </div>
      {found && <SpoolSheet spool={found} onChanged={() => void open(found.id, true)} onScanAgain={() => void startCamera()} onOpen={close} />}
      {!found && cam.k === 'on' && <p class="muted small scan-hint">Hold the label's QR code inside the frame.</p>}
      {!found && cam.k === 'problem' && (
        <p class="scan-problem" role="alert">
          {cam.why}
        </p>
      )}
      {result?.k === 'looking' && <Loading label={`Looking up spool #${result.id}…`} />}
      {result && result.k !== 'looking' && result.k !== 'found' && (
        <div class="error-box" role="alert">
          <p>
            {result.k === 'wrong'
              ? result.why
              : result.k === 'missing'
                ? `Spool #${result.id} is not in the inventory: it may have been deleted.`
                : `Spool #${result.id} could not be read: ${result.why}`}
          </p>
          {result.k === 'wrong' && result.text && <p class="scan-text">{result.text.length > 120 ? `${result.text.slice(0, 120)}…` : result.text}</p>}
          {canRetry && (
            <button type="button" class="btn" onClick={() => void startCamera()}>
              Scan again
            </button>
          )}
        </div>
      )}
      {!found && cam.k === 'problem' && (
        <label class="btn scan-photo">
          {busyPhoto ? 'Reading the photo…' : 'Take a photo of the label'}
          <input type="file" accept="image/*" capture="environment" class="visually-hidden" onChange={(e) => void photo((e.target as HTMLInputElement).files?.[0])} />
        </label>
      )}
      {!found && (
        <form
          class="scan-manual"
          onSubmit={(e) => {
            e.preventDefault();
            if (typed.trim()) take(typed, true);
          }}
        >
          <div class="field">
            <label for="scan-typed">Or type the spool number</label>
            <input id="scan-typed" value={typed} autoComplete="off" placeholder="12, or the label's text" onInput={(e) => setTyped((e.target as HTMLInputElement).value)} />
          </div>
          <button type="submit" class="btn primary">
            Open
          </button>
        </form>
      )}
      {!found && (
        <p class="muted small">
          No label on the spool?{' '}
          <a href="/inventory" onClick={(e) => (e.preventDefault(), close(), navigate('/inventory'))}>
            Find it in the inventory
          </a>{' '}
          and print one from its page.
        </p>
      )}
    </Dialog>
  );
}
