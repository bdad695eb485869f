// One spool: its page (/spools/{id}, what a label's QR code opens), and the sheet a scanned
// label opens, with what a person holding the spool does next: load it into a slot, weigh it.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { useCan } from '../auth';
import { Dialog, Empty, ErrorBox, Loading, Meter, Swatch } from '../components/ui';
import { cssColor, filamentColors, grams, remainingPct } from '../format';
import { dateTime } from '../jobs';
import { store, usePrinterIndex, useSlots } from '../live';
import { slotName } from '../notices';
import { onLinkClick } from '../router';
import { slotKey } from '../store';
import type { Filament, Slot, Spool, Vendor } from '../types';
import { EditDialog, isLow, WeighForm } from './inventory';
import { packIds } from '../labels';

const refreshSlots = () => api.get<Slot[]>('/api/v1/ams').then((s) => store.setSlots(s), () => {});

/** Where a slot is, for a person: "Shelf P1S · AMS 1, slot 3". */
export function slotPlace(s: Pick<Slot, 'printer' | 'unit' | 'slot'>): string {
  return `${s.printer} · ${slotName(s.unit, s.slot).replace(/^the e/, 'E')}`;
}

/** The slot a spool is assigned to, if any. */
function useSpoolSlot(id: number): Slot | undefined {
  const slots = useSlots();
  for (const s of slots.values()) if (s.spool_id === id) return s;
  return undefined;
}

const spoolTitle = (s: Spool) => [s.filament.vendor?.name, s.filament.name ?? `Filament #${s.filament.id}`].filter(Boolean).join(' · ');

/** The spool, read again on `reload`; `missing` when the inventory has no such spool. */
function useSpool(id: number, reload = 0) {
  const [spool, setSpool] = useState<Spool | null>(null);
  const [err, setErr] = useState<ApiError | null>(null);
  useEffect(() => {
    setErr(null);
    api.get<Spool>(`/api/v1/spool/${id}`).then(setSpool, (e: ApiError) => {
      setSpool(null);
      setErr(e);
    });
  }, [id, reload]);
  return { spool, err, missing: err?.status === 404 };
}

/** Swatch, name, material, what is left and where the spool is. */
function SpoolSummary(props: { spool: Spool; heading?: 'h1' | 'h2' }) {
  const s = props.spool;
  const slot = useSpoolSlot(s.id);
  const pct = remainingPct(s.remaining_weight, s.initial_weight ?? s.filament.weight);
  const colors = filamentColors(s.filament);
  const H = props.heading ?? 'h2';
  return (
    <div class="spool-summary">
      <Swatch colors={colors} direction={s.filament.multi_color_direction} size="lg" label={colors.length ? `colour ${colors.join(', ')}` : 'no colour'} />
      <div class="spool-main">
        <H id={H === 'h1' ? 'spool-title' : undefined} class="spool-name">
          {spoolTitle(s)}
        </H>
        <div class="spool-title">
          <span class="badge">{s.filament.material ?? '?'}</span>
          {isLow(s) && <span class="badge warn">low</span>}
          {s.archived && <span class="badge">archived</span>}
          <span class="muted small">
            #{s.id} · {slot ? slotPlace(slot) : s.location ?? 'no location'}
          </span>
        </div>
        <div class="spool-left">
          <Meter value={pct} label={`Remaining on spool ${s.id}`} tone={isLow(s) ? 'paused' : 'printing'} />
          <span>
            {grams(s.remaining_weight)} left{pct !== null ? ` · ${pct} %` : ''}
          </span>
        </div>
      </div>
    </div>
  );
}

/** Printer, then AMS unit (or the external holder), then slot: the spool is assigned there
 * with the slot API (docs/api.md), and leaves whatever slot held it before. */
function LoadIntoSlot(props: { spool: Spool; onDone: (where: string) => void; onCancel: () => void }) {
  const printers = usePrinterIndex().sort((a, b) => a.name.localeCompare(b.name));
  const slots = useSlots();
  const [pid, setPid] = useState<number | null>(null);
  const [unit, setUnit] = useState<number | null>(null);
  const [slot, setSlot] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const p = printers.find((x) => x.id === (pid ?? (printers.length === 1 ? printers[0].id : null)));
  const units = p ? [...(p.ams ?? []).map((u) => ({ id: u.id, trays: u.trays })), { id: 255, trays: [p.external ?? { id: 0 }] }] : [];
  const u = units.find((x) => x.id === (unit ?? (units.length === 1 ? units[0].id : null)));
  const trays = u ? [...u.trays].sort((a, b) => a.id - b.id) : [];
  const slotId = u?.id === 255 ? 0 : slot;
  // what the printer says is loaded there, when it is not this spool's material
  const tray = u?.id === 255 ? u.trays[0] : u && slotId !== null ? u.trays.find((t) => t.id === slotId) : undefined;
  const other = tray?.type && tray.present !== false && tray.type.toLowerCase() !== (props.spool.filament.material ?? '').toLowerCase() ? tray.type : null;
  const load = async () => {
    if (!p || !u || slotId === null) return;
    setBusy(true);
    setErr(null);
    try {
      const s = await api.post<Slot>(`/api/v1/printers/${p.id}/ams/${u.id === 255 ? 'external' : u.id}/${slotId}/assign`, { spool_id: props.spool.id });
      void refreshSlots();
      props.onDone(slotPlace(s));
    } catch (e) {
      setErr((e as Error).message);
      setBusy(false);
    }
  };
  if (!printers.length) return <Empty title="No printers">{<p>Add a printer in Settings first.</p>}</Empty>;
  return (
    <div class="load-slot">
      <fieldset class="choice">
        <legend>Printer</legend>
        <div class="choices">
          {printers.map((x) => (
            <button key={x.id} type="button" class="btn choice-btn" aria-pressed={p?.id === x.id} onClick={() => (setPid(x.id), setUnit(null), setSlot(null))}>
              {x.name}
              {!x.online && <span class="muted small"> offline</span>}
            </button>
          ))}
        </div>
      </fieldset>
      {p && (
        <fieldset class="choice">
          <legend>AMS unit</legend>
          <div class="choices">
            {units.map((x) => (
              <button key={x.id} type="button" class="btn choice-btn" aria-pressed={u?.id === x.id} onClick={() => (setUnit(x.id), setSlot(null))}>
                {x.id === 255 ? 'External holder' : x.id >= 128 ? `AMS HT ${x.id - 127}` : `AMS ${x.id + 1}`}
              </button>
            ))}
          </div>
        </fieldset>
      )}
      {p && u && u.id !== 255 && (
        <fieldset class="choice">
          <legend>Slot</legend>
          <div class="slot-choices">
            {trays.map((t) => {
              const here = slots.get(slotKey(p.id, u.id, t.id));
              const color = cssColor(t.color);
              const loaded = t.present !== false && !!(t.type || color);
              return (
                <button key={t.id} type="button" class="slot-choice" aria-pressed={slot === t.id} onClick={() => setSlot(t.id)}>
                  <Swatch colors={color ? [color] : []} empty={!loaded} size="sm" label={loaded ? `loaded colour ${color ?? 'unknown'}` : 'empty'} />
                  <strong>Slot {t.id + 1}</strong>
                  <span class="muted small">{loaded ? t.type ?? '?' : 'empty'}</span>
                  <span class="muted small">{here?.spool_id ? (here.spool_id === props.spool.id ? 'this spool' : `spool #${here.spool_id}`) : 'no spool'}</span>
                </button>
              );
            })}
          </div>
        </fieldset>
      )}
      {other && (
        <p class="load-warn" role="status">
          The printer reports {other} in this slot, and this spool is {props.spool.filament.material ?? 'of no material'}: load it anyway, or
          pick another slot.
        </p>
      )}
      {err && <ErrorBox error={err} />}
      <div class="dialog-actions">
        <button type="button" class="btn" onClick={props.onCancel}>
          Back
        </button>
        <button type="button" class="btn primary" disabled={busy || !p || !u || slotId === null} onClick={load}>
          {busy ? 'Loading…' : p && u && slotId !== null ? `Load into ${u.id === 255 ? 'the external holder' : `slot ${slotId + 1}`}` : 'Load'}
        </button>
      </div>
    </div>
  );
}

/** Takes the spool out of its slot (the slot API's unassign). */
async function unload(s: Slot) {
  await api.post(`/api/v1/printers/${s.printer_id}/ams/${s.external ? 'external' : s.unit}/${s.slot}/unassign`, {});
  await refreshSlots();
}

type Step = { kind: 'menu'; note?: string } | { kind: 'load' } | { kind: 'weigh' };

/** What a scanned label offers: load into a slot, weigh, open the page. Viewers only open. */
export function SpoolSheet(props: { spool: Spool; onChanged: () => void; onScanAgain: () => void; onOpen: () => void }) {
  const s = props.spool;
  const canEdit = useCan('operator');
  const slot = useSpoolSlot(s.id);
  const [step, setStep] = useState<Step>({ kind: 'menu' });
  const [err, setErr] = useState<string | null>(null);
  const back = (note?: string) => {
    setStep({ kind: 'menu', note });
    props.onChanged();
  };
  return (
    <div class="spool-sheet">
      <SpoolSummary spool={s} />
      {step.kind === 'load' && <LoadIntoSlot spool={s} onDone={(w) => back(`Spool #${s.id} is now in ${w}.`)} onCancel={() => setStep({ kind: 'menu' })} />}
      {step.kind === 'weigh' && (
        <WeighForm spool={s} use={false} onDone={() => back('Weight saved.')} onCancel={() => setStep({ kind: 'menu' })} />
      )}
      {step.kind === 'menu' && (
        <>
          {step.note && (
            <p class="ok-note" role="status">
              {step.note}
            </p>
          )}
          {err && <ErrorBox error={err} />}
          {!canEdit && <p class="muted small">Loading and weighing spools needs an operator; you can open the spool's page.</p>}
          <div class="sheet-actions">
            {canEdit && (
              <button type="button" class="btn primary big" onClick={() => setStep({ kind: 'load' })}>
                Load into slot…
              </button>
            )}
            {canEdit && slot && (
              <button type="button" class="btn big" onClick={() => unload(slot).then(() => back(`Spool #${s.id} left ${slotPlace(slot)}.`), (e) => setErr(e.message))}>
                Unload from {slotName(slot.unit, slot.slot).replace(/^the /, '')}
              </button>
            )}
            {canEdit && (
              <button type="button" class="btn big" onClick={() => setStep({ kind: 'weigh' })}>
                Weigh
              </button>
            )}
            <a class="btn big" href={`/spools/${s.id}`} onClick={(e) => (onLinkClick(e), props.onOpen())}>
              Open
            </a>
            <button type="button" class="btn big" onClick={props.onScanAgain}>
              Scan another
            </button>
          </div>
        </>
      )}
    </div>
  );
}

type ScanDialogType = typeof import('../components/scan').ScanDialog;

/** Opens the scanner; its code (and the QR decoder) load on the first press. */
export function ScanButton(props: { class?: string; compact?: boolean }) {
  const [Scan, setScan] = useState<ScanDialogType | null>(null);
  const [open, setOpen] = useState(false);
  const [failed, setFailed] = useState(false);
  const start = () => {
    setFailed(false);
    import('../components/scan').then(
      (m) => (setScan(() => m.ScanDialog), setOpen(true)),
      () => setFailed(true),
    );
  };
  return (
    <>
      <button type="button" class={props.class ?? 'btn'} onClick={start} aria-label={props.compact ? 'Scan a spool label' : undefined}>
        <svg class="icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false">
          <path d="M3 3h6v2H5v4H3zm12 0h6v6h-2V5h-4zM3 15h2v4h4v2H3zm16 0h2v6h-6v-2h4zM7 11h10v2H7z" fill="currentColor" />
        </svg>
        {!props.compact && 'Scan'}
      </button>
      {open && Scan && <Scan onClose={() => setOpen(false)} />}
      {failed && (
        <Dialog title="Scan a spool label" onClose={() => setFailed(false)}>
          <ErrorBox error="The scanner could not be loaded: check the connection." onRetry={start} />
        </Dialog>
      )}
    </>
  );
}

type Open = null | 'load' | 'weigh' | 'use' | 'edit';

const fact = (label: string, value: string | number | null | undefined) =>
  value === null || value === undefined || value === '' ? null : (
    <div key={label}>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );

const range = (a?: number | null, b?: number | null, unit = '°C') =>
  a || b ? `${a ?? '?'}${b && b !== a ? `–${b}` : ''} ${unit}` : null;

export function SpoolPage(props: { id: number }) {
  const [reload, setReload] = useState(0);
  const { spool: s, err, missing } = useSpool(props.id, reload);
  const slot = useSpoolSlot(props.id);
  const canEdit = useCan('operator');
  const [open, setOpen] = useState<Open>(null);
  const [note, setNote] = useState<string | null>(null);
  const [lists, setLists] = useState<{ filaments: Filament[]; vendors: Vendor[] } | null>(null);
  const [actErr, setActErr] = useState<string | null>(null);
  const done = (n?: string) => {
    setOpen(null);
    setNote(n ?? null);
    setReload((x) => x + 1);
  };
  const edit = () => {
    setActErr(null);
    Promise.all([api.get<Filament[]>('/api/v1/filament?sort=name:asc'), api.get<Vendor[]>('/api/v1/vendor?sort=name:asc')]).then(
      ([filaments, vendors]) => (setLists({ filaments, vendors }), setOpen('edit')),
      (e) => setActErr(e.message),
    );
  };
  const crumbs = (
    <nav class="crumbs" aria-label="Breadcrumb">
      <a href="/inventory" onClick={onLinkClick}>
        Inventory
      </a>{' '}
      / <span>Spool #{props.id}</span>
    </nav>
  );
  if (missing)
    return (
      <section>
        {crumbs}
        <Empty title={`Spool #${props.id} not found`}>
          <p>No spool with this number is in the inventory: it may have been deleted.</p>
          <a href="/inventory" onClick={onLinkClick}>
            Back to the inventory
          </a>
        </Empty>
      </section>
    );
  if (err) return <ErrorBox error={err.message} onRetry={() => setReload((x) => x + 1)} />;
  if (!s) return <Loading />;
  const f = s.filament;
  const colors = filamentColors(f);
  return (
    <section aria-labelledby="spool-title" class="spool-page">
      {crumbs}
      <div class="card">
        <SpoolSummary spool={s} heading="h1" />
        {note && (
          <p class="ok-note" role="status">
            {note}
          </p>
        )}
        {actErr && <ErrorBox error={actErr} />}
        <div class="actions spool-page-actions">
          {canEdit && (
            <>
              <button type="button" class="btn primary" onClick={() => setOpen('load')}>
                Load into slot…
              </button>
              {slot && (
                <button type="button" class="btn" onClick={() => unload(slot).then(() => done(`Spool #${s.id} left ${slotPlace(slot)}.`), (e) => setActErr(e.message))}>
                  Unload from {slotName(slot.unit, slot.slot).replace(/^the /, '')}
                </button>
              )}
              <button type="button" class="btn" onClick={() => setOpen('weigh')}>
                Weigh
              </button>
              <button type="button" class="btn" onClick={() => setOpen('use')}>
                Use
              </button>
              <button type="button" class="btn" onClick={edit}>
                Edit
              </button>
            </>
          )}
          <a class="btn" href={`/labels?ids=${packIds([s.id])}`} onClick={onLinkClick}>
            Print label
          </a>
        </div>
      </div>
      <div class="card">
        <h2>Details</h2>
        <dl class="facts spool-facts">
          {fact('Material', f.material)}
          {fact('Colour', colors.length ? colors.join(', ') : null)}
          {fact('Diameter', f.diameter ? `${f.diameter} mm` : null)}
          {fact('Net weight', s.initial_weight ?? f.weight ? grams(s.initial_weight ?? f.weight) : null)}
          {fact('Empty spool', s.spool_weight ?? f.spool_weight ? grams(s.spool_weight ?? f.spool_weight) : null)}
          {fact('Used', grams(s.used_weight))}
          {fact('Remaining length', s.remaining_length ? `${(s.remaining_length / 1000).toFixed(1)} m` : null)}
          {fact('Location', s.location)}
          {fact('Lot number', s.lot_nr)}
          {fact('Price', s.price ?? f.price)}
          {fact('Purchased', s.purchase_date ? dateTime(s.purchase_date).split(',')[0] : null)}
          {fact('First used', s.first_used ? dateTime(s.first_used) : null)}
          {fact('Last used', s.last_used ? dateTime(s.last_used) : null)}
          {fact('Nozzle', range(f.nozzle_temp_min, f.nozzle_temp_max))}
          {fact('Bed', range(f.bed_temp_min, f.bed_temp_max))}
          {fact('Drying', f.drying_temp ? `${f.drying_temp} °C${f.drying_hours ? ` for ${f.drying_hours} h` : ''}` : null)}
          {fact('Article number', f.article_number)}
          {fact('Comment', s.comment)}
        </dl>
      </div>
      {open === 'load' && (
        <Dialog title={`Load spool #${s.id} into…`} onClose={() => setOpen(null)}>
          <LoadIntoSlot spool={s} onDone={(w) => done(`Spool #${s.id} is now in ${w}.`)} onCancel={() => setOpen(null)} />
        </Dialog>
      )}
      {(open === 'weigh' || open === 'use') && (
        <Dialog title={`${open === 'weigh' ? 'Weigh' : 'Use from'} spool #${s.id}`} onClose={() => setOpen(null)}>
          <WeighForm spool={s} use={open === 'use'} onDone={() => done()} />
        </Dialog>
      )}
      {open === 'edit' && lists && <EditDialog edit={{ kind: 'spool', item: s }} filaments={lists.filaments} vendors={lists.vendors} onDone={() => done()} />}
    </section>
  );
}
