import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api';
import { useCan } from '../auth';
import { lazy } from '../components/lazy';
import { HistoryCharts } from '../components/chart';
import { JobList } from './jobs';
import { CameraPicture, cameraWords, hasCamera, useCameraStatus, useSeen } from '../components/camera';
import { Alerts, Controls, JobLine, SourceLine, StatePill, Temps } from '../components/printer';
import { Dialog, Empty, ErrorBox, Loading, Swatch } from '../components/ui';
import { cssColor, filamentColors, grams, humidityLabel } from '../format';
import { store } from '../live';
import { usePrinter, useSlots, useStatus } from '../live';
import { onLinkClick } from '../router';
import { slotKey } from '../store';
import type { Printer, Slot, Spool, Tray } from '../types';

// admins only, so nobody else loads it
const PrinterNotifications = lazy(() => import('./printernotify').then((m) => m.PrinterNotifications));

function SlotRow(props: { p: Printer; unit: number; tray: Tray; slot?: Slot; onAssign: () => void }) {
  const { p, unit, tray, slot } = props;
  const [err, setErr] = useState<string | null>(null);
  const color = cssColor(tray.color);
  const loaded = tray.present !== false && !!(tray.type || color);
  const name = unit === 255 ? 'External' : `Slot ${tray.id + 1}`;
  const unassign = async () => {
    setErr(null);
    try {
      const path = `/api/v1/printers/${p.id}/ams/${unit === 255 ? 'external' : unit}/${unit === 255 ? 0 : tray.id}/unassign`;
      await api.post(path, {});
      api.get<Slot[]>('/api/v1/ams').then((s) => store.setSlots(s));
    } catch (e) {
      setErr((e as Error).message);
    }
  };
  const spool = slot?.spool;
  return (
    <tr>
      <th scope="row">{name}</th>
      <td>
        <span class="cell-swatch">
          <Swatch colors={color ? [color] : []} empty={!loaded} label={loaded ? `colour ${color}` : 'empty'} />
          {loaded ? `${tray.type ?? '?'}${tray.sub_brand ? ` · ${tray.sub_brand}` : ''}` : 'Empty'}
        </span>
      </td>
      <td>{loaded && tray.remain !== null && tray.remain !== undefined && tray.remain >= 0 ? `${tray.remain} %` : '—'}</td>
      <td>{tray.k ? tray.k.toFixed(3) : '—'}</td>
      <td>
        {spool ? (
          <span class="cell-swatch">
            <Swatch colors={filamentColors(spool.filament)} size="sm" label="spool colour" />#{spool.id}{' '}
            {spool.filament.vendor?.name ?? ''} {spool.filament.name ?? ''} · {grams(spool.remaining_weight)}
          </span>
        ) : (
          <span class="muted">none</span>
        )}
        {slot?.mismatch && (slot.mismatch.material || slot.mismatch.color) && (
          <span class="badge warn" title="The loaded filament does not match the assigned spool">
            mismatch
          </span>
        )}
        {err && (
          <span class="form-error" role="alert">
            {' '}
            {err}
          </span>
        )}
      </td>
      <td>
        <div class="actions">
        <button type="button" class="btn sm" onClick={props.onAssign}>
          Assign…
        </button>
        {spool && (
          <button type="button" class="btn sm" onClick={unassign}>
            Unassign
          </button>
        )}
        </div>
      </td>
    </tr>
  );
}

/** Picks the spool for a slot from the whole inventory, the slot's material first. */
export function AssignDialog(props: { printerId: number; unit: number; slot: number; material?: string | null; onClose: () => void }) {
  const [spools, setSpools] = useState<Spool[] | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [q, setQ] = useState('');
  useEffect(() => {
    api.get<Spool[]>('/api/v1/spool?sort=filament.material:asc').then(setSpools, (e) => setErr(e.message));
  }, []);
  const want = (props.material ?? '').toLowerCase();
  const ranked = (spools ?? [])
    .filter((s) => !q || `${s.id} ${s.filament.name ?? ''} ${s.filament.material ?? ''} ${s.filament.vendor?.name ?? ''}`.toLowerCase().includes(q.toLowerCase()))
    .sort((a, b) => Number((b.filament.material ?? '').toLowerCase() === want) - Number((a.filament.material ?? '').toLowerCase() === want));
  const assign = async (id: number) => {
    setErr(null);
    try {
      await api.post(`/api/v1/printers/${props.printerId}/ams/${props.unit === 255 ? 'external' : props.unit}/${props.slot}/assign`, { spool_id: id });
      api.get<Slot[]>('/api/v1/ams').then((s) => store.setSlots(s));
      props.onClose();
    } catch (e) {
      setErr((e as Error).message);
    }
  };
  return (
    <Dialog title={`Which spool is in ${props.unit === 255 ? 'the external holder' : `AMS ${props.unit + 1} slot ${props.slot + 1}`}?`} onClose={props.onClose}>
      <label class="field">
        <span>Search spools</span>
        <input type="search" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
      </label>
      {err && <ErrorBox error={err} />}
      {!spools && !err && <Loading />}
      <ul class="pick-list">
        {ranked.slice(0, 50).map((s) => (
          <li key={s.id}>
            <button type="button" class="pick" onClick={() => assign(s.id)}>
              <Swatch colors={filamentColors(s.filament)} direction={s.filament.multi_color_direction} label="colour" />
              <span>
                #{s.id} {s.filament.vendor?.name ?? ''} {s.filament.name ?? ''} <span class="muted">{s.filament.material ?? ''}</span>
              </span>
              <span class="muted">{grams(s.remaining_weight)}</span>
            </button>
          </li>
        ))}
      </ul>
    </Dialog>
  );
}

/** The camera, large: live while on screen, else what keeps it from showing, in words. Its
 * status is asked again every few seconds, so a camera that comes back shows by itself. */
function DetailCamera(props: { p: Printer }) {
  const box = useRef<HTMLElement>(null);
  const seen = useSeen(box);
  const { st, err } = useCameraStatus(props.p.id, seen, 5000);
  const words = cameraWords(st, err);
  return (
    <section class="card detail-camera" ref={box} aria-labelledby="camera-title">
      <h2 id="camera-title">
        Camera{' '}
        {st && !words && (
          <span class="muted small">
            {st.connected ? `${st.fps_in.toFixed(1)} frames/s` : 'connecting…'}
          </span>
        )}
      </h2>
      {words ? (
        <div class="cam cam-detail cam-off" role="status">
          <p>
            <strong>No picture.</strong> {words}
          </p>
        </div>
      ) : st ? (
        <CameraPicture st={st} name={props.p.name} seen={seen} live class="cam-detail" />
      ) : (
        <div class="cam cam-detail" />
      )}
    </section>
  );
}

export function PrinterDetail(props: { id: number }) {
  const p = usePrinter(props.id);
  const slots = useSlots();
  const { status } = useStatus();
  const admin = useCan('admin');
  const [assign, setAssign] = useState<null | { unit: number; slot: number; tray: Tray }>(null);
  if (!p) {
    if (status === 'connecting') return <Loading />;
    return (
      <Empty title="No such printer">
        <a href="/" onClick={onLinkClick}>
          Back to printers
        </a>
      </Empty>
    );
  }
  const fans = Object.entries(p.fans ?? {}).filter(([, v]) => v !== null && v !== undefined);
  return (
    <section aria-labelledby="detail-title" class="detail">
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="/" onClick={onLinkClick}>
          Printers
        </a>{' '}
        / <span>{p.name}</span>
      </nav>
      <div class="page-head">
        <h1 id="detail-title">{p.name}</h1>
        <StatePill p={p} />
      </div>
      <p class="muted">
        {p.model_name ?? p.model ?? 'Unknown model'} · {p.serial}
        {p.firmware ? ` · firmware ${p.firmware}` : ''}
        {p.nozzle?.diameter ? ` · ${p.nozzle.diameter} mm ${p.nozzle.type ?? ''} nozzle` : ''}
      </p>
      <SourceLine p={p} />
      <div class={hasCamera(p) ? 'detail-top' : undefined}>
        {hasCamera(p) && <DetailCamera p={p} />}
        <div class="detail-grid">
          <div class="card">
            <h2>Current job</h2>
            <JobLine p={p} />
            <Alerts p={p} />
            <Controls p={p} />
          </div>
          {/* Home Assistant tells no temperatures (docs/homeassistant.md, Limits) */}
          {p.source !== 'homeassistant' && (
            <div class="card">
              <h2>Temperatures and fans</h2>
              <Temps p={p} />
              {fans.length > 0 && (
                <dl class="temps">
                  {fans.map(([k, v]) => (
                    <div key={k}>
                      <dt>{k} fan</dt>
                      <dd>{v} %</dd>
                    </div>
                  ))}
                </dl>
              )}
            </div>
          )}
        </div>
      </div>
      {p.source !== 'homeassistant' && (
        <div class="card">
          <h2>The last hour</h2>
          <HistoryCharts printerId={p.id} />
        </div>
      )}
      {(p.ams ?? []).map((u) => (
        <div class="card" key={u.id}>
          <h2>
            AMS {u.id + 1}{' '}
            <span class="muted small">
              humidity {humidityLabel(u.humidity, u.humidity_pct)}
              {u.temp !== null && u.temp !== undefined ? ` · ${Math.round(u.temp)} °C` : ''}
            </span>
          </h2>
          <div class="table-wrap">
            <table class="dense">
              <thead>
                <tr>
                  <th scope="col">Slot</th>
                  <th scope="col">Reported</th>
                  <th scope="col">Left</th>
                  <th scope="col">K</th>
                  <th scope="col">Assigned spool</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {[...u.trays]
                  .sort((a, b) => a.id - b.id)
                  .map((t) => (
                    <SlotRow key={t.id} p={p} unit={u.id} tray={t} slot={slots.get(slotKey(p.id, u.id, t.id))} onAssign={() => setAssign({ unit: u.id, slot: t.id, tray: t })} />
                  ))}
              </tbody>
            </table>
          </div>
        </div>
      ))}
      {p.external && (
        <div class="card">
          <h2>External spool holder</h2>
          <div class="table-wrap">
            <table class="dense">
              <tbody>
                <SlotRow p={p} unit={255} tray={p.external} slot={slots.get(slotKey(p.id, 255, 0))} onAssign={() => setAssign({ unit: 255, slot: 0, tray: p.external! })} />
              </tbody>
            </table>
          </div>
        </div>
      )}
      <div class="card">
        <h2>Jobs on this printer</h2>
        <JobList printerId={p.id} compact />
      </div>
      {admin && (
        <div class="card">
          <h2>Notifications</h2>
          <PrinterNotifications printerId={p.id} />
        </div>
      )}
      {assign && <AssignDialog printerId={p.id} unit={assign.unit} slot={assign.slot} material={assign.tray.type} onClose={() => setAssign(null)} />}
    </section>
  );
}

