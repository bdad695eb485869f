// The camera wall, for farms: every printer's camera as a snapshot refreshed every few seconds
// (a live stream each would be a constant flow per printer), a tile opening its live view.
// Only tiles on screen, in a visible tab, fetch anything.
import { useRef, useState } from 'preact/hooks';
import { CameraPicture, cameraWords, hasCamera, useCameraStatus, useSeen, useSnapshot } from '../components/camera';
import { JobLine, StatePill } from '../components/printer';
import { Dialog, Empty, Loading } from '../components/ui';
import { usePrinter, usePrinterIndex, useStatus } from '../live';
import { onLinkClick } from '../router';
import type { Printer } from '../types';

const EVERY_KEY = 'printdeck.cameras.every';
const EVERY = [5, 10, 30, 60];

function Tile(props: { id: number; everyS: number; onOpen: (p: Printer) => void }) {
  const p = usePrinter(props.id);
  const box = useRef<HTMLLIElement>(null);
  const seen = useSeen(box);
  const { st, err } = useCameraStatus(props.id, seen);
  const words = cameraWords(st, err);
  const snap = useSnapshot(st && !words ? st.signed.snapshot : null, props.everyS * 1000, seen);
  if (!p) return null;
  return (
    <li class="cam-tile card" ref={box} data-printer={p.serial}>
      {words ? (
        <div class="cam cam-wall cam-off">
          <p>{words}</p>
        </div>
      ) : (
        <button type="button" class="cam-open" onClick={() => props.onOpen(p)} aria-label={`Open the live view of ${p.name}`}>
          <div class="cam cam-wall">
            {snap.src ? (
              <img src={snap.src} alt={`Snapshot of ${p.name}`} />
            ) : (
              <span class="cam-wait">{snap.failed ? 'No picture from the camera' : 'Waiting for a picture…'}</span>
            )}
          </div>
        </button>
      )}
      <div class="cam-tile-head">
        <a href={`/printers/${p.id}`} onClick={onLinkClick}>
          {p.name}
        </a>
        <StatePill p={p} />
      </div>
      <JobLine p={p} />
    </li>
  );
}

function LiveDialog(props: { p: Printer; onClose: () => void }) {
  const { st, err } = useCameraStatus(props.p.id, true);
  const words = cameraWords(st, err);
  return (
    <Dialog title={`${props.p.name}: live`} onClose={props.onClose} wide>
      {words ? <p role="status">{words}</p> : st ? <CameraPicture st={st} name={props.p.name} seen live class="cam-detail" /> : <Loading />}
      <p>
        <a href={`/printers/${props.p.id}`} onClick={(e) => (props.onClose(), onLinkClick(e))}>
          Open {props.p.name}
        </a>
      </p>
    </Dialog>
  );
}

export function CamerasPage() {
  const printers = usePrinterIndex();
  const { status } = useStatus();
  const [everyS, setEveryRaw] = useState(() => Number(localStorage.getItem(EVERY_KEY)) || 10);
  const setEvery = (s: number) => {
    localStorage.setItem(EVERY_KEY, String(s));
    setEveryRaw(s);
  };
  const [open, setOpen] = useState<Printer | null>(null);
  const shown = printers.filter(hasCamera).sort((a, b) => a.name.localeCompare(b.name));
  return (
    <section aria-labelledby="cams-title" class="cameras">
      <div class="page-head">
        <h1 id="cams-title">Cameras</h1>
        <label class="cam-every">
          <span>Refresh every</span>
          <select value={String(everyS)} onChange={(e) => setEvery(Number((e.target as HTMLSelectElement).value))}>
            {EVERY.map((s) => (
              <option key={s} value={String(s)}>
                {s} s
              </option>
            ))}
          </select>
        </label>
      </div>
      {!shown.length ? (
        status === 'connecting' ? (
          <Loading />
        ) : (
          <Empty title="No cameras">
            <p>None of the printers has a camera printdeck can show.</p>
          </Empty>
        )
      ) : (
        <ul class="cam-grid">
          {shown.map((p) => (
            <Tile key={p.id} id={p.id} everyS={everyS} onOpen={setOpen} />
          ))}
        </ul>
      )}
      {open && <LiveDialog p={open} onClose={() => setOpen(null)} />}
    </section>
  );
}
