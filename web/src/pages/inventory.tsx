import { useCan } from '../auth';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { Form, str, type FieldDef } from '../components/form';
import { Dialog, Empty, ErrorBox, Loading, Meter, Swatch } from '../components/ui';
import { filamentColors, grams, remainingPct } from '../format';
import { useSlots } from '../live';
import type { Filament, Spool, Vendor } from '../types';
import { MAX_LABELS, packIds } from '../labels';
import { navigate, onLinkClick } from '../router';
import { ScanButton, slotPlace } from './spool';

const PAGE = 500;

const SORTS = [
  { value: 'id:desc', label: 'Newest' },
  { value: 'remaining_weight:asc', label: 'Least left' },
  { value: 'remaining_weight:desc', label: 'Most left' },
  { value: 'filament.material:asc', label: 'Material' },
  { value: 'filament.vendor.name:asc', label: 'Vendor' },
  { value: 'location:asc', label: 'Location' },
  { value: 'last_used:desc', label: 'Last used' },
];

export function isLow(s: Spool): boolean {
  const limit = s.low_stock_weight ?? s.filament.low_stock_weight;
  return limit !== null && limit !== undefined && s.remaining_weight !== null && s.remaining_weight !== undefined && s.remaining_weight <= limit;
}

function spoolDefs(filaments: Filament[]): FieldDef[] {
  return [
    {
      name: 'filament_id', label: 'Filament', type: 'select', required: true, wide: true,
      options: [{ value: '', label: 'Choose a filament…' }, ...filaments.map((f) => ({ value: String(f.id), label: `${f.vendor?.name ?? '—'} · ${f.name ?? `#${f.id}`} (${f.material ?? '?'})` }))],
    },
    { name: 'initial_weight', label: 'Net weight (g)', type: 'number', min: 0, hint: 'filament on a full spool' },
    { name: 'spool_weight', label: 'Empty spool (g)', type: 'number', min: 0 },
    { name: 'remaining_weight', label: 'Remaining (g)', type: 'number', min: 0 },
    { name: 'price', label: 'Price', type: 'number', min: 0 },
    { name: 'location', label: 'Location' },
    { name: 'lot_nr', label: 'Lot number' },
    { name: 'purchase_date', label: 'Purchase date', type: 'date' },
    { name: 'low_stock_weight', label: 'Low stock below (g)', type: 'number', min: 0 },
    { name: 'comment', label: 'Comment', type: 'textarea', wide: true },
  ];
}

function filamentDefs(vendors: Vendor[]): FieldDef[] {
  return [
    { name: 'name', label: 'Name (product)', required: true },
    {
      name: 'vendor_id', label: 'Brand', type: 'select',
      options: [{ value: '', label: 'No brand' }, ...vendors.map((v) => ({ value: String(v.id), label: v.name }))],
    },
    { name: 'material', label: 'Material', required: true, hint: 'PLA, PETG, ABS…' },
    { name: 'color_hex', label: 'Colour', type: 'color' },
    { name: 'multi_color_hexes', label: 'Multi-colour', hint: 'RRGGBB,RRGGBB,… (overrides the colour)' },
    {
      name: 'multi_color_direction', label: 'Multi-colour kind', type: 'select',
      options: [{ value: '', label: 'Single colour' }, { value: 'coaxial', label: 'Coaxial (co-extruded)' }, { value: 'longitudinal', label: 'Longitudinal (gradient)' }],
    },
    { name: 'density', label: 'Density (g/cm³)', type: 'number', min: 0, required: true },
    { name: 'diameter', label: 'Diameter (mm)', type: 'number', min: 0, required: true },
    { name: 'weight', label: 'Net weight (g)', type: 'number', min: 0 },
    { name: 'spool_weight', label: 'Empty spool (g)', type: 'number', min: 0 },
    { name: 'price', label: 'Price', type: 'number', min: 0 },
    { name: 'nozzle_temp_min', label: 'Nozzle min (°C)', type: 'number', min: 0 },
    { name: 'nozzle_temp_max', label: 'Nozzle max (°C)', type: 'number', min: 0 },
    { name: 'bed_temp_min', label: 'Bed min (°C)', type: 'number', min: 0 },
    { name: 'bed_temp_max', label: 'Bed max (°C)', type: 'number', min: 0 },
    { name: 'drying_temp', label: 'Drying (°C)', type: 'number', min: 0 },
    { name: 'drying_hours', label: 'Drying (h)', type: 'number', min: 0 },
    { name: 'drying_notes', label: 'Drying notes', type: 'textarea', wide: true },
    { name: 'article_number', label: 'Article number' },
    { name: 'low_stock_weight', label: 'Low stock below (g)', type: 'number', min: 0 },
    { name: 'comment', label: 'Comment', type: 'textarea', wide: true },
  ];
}

const vendorDefs: FieldDef[] = [
  { name: 'name', label: 'Name', required: true },
  { name: 'empty_spool_weight', label: 'Empty spool (g)', type: 'number', min: 0 },
  { name: 'comment', label: 'Comment', type: 'textarea', wide: true },
];

const valuesOf = (defs: FieldDef[], o: Record<string, any> | null): Record<string, string> =>
  Object.fromEntries(defs.map((d) => [d.name, o ? str(d.name === 'filament_id' ? o.filament?.id : d.name === 'vendor_id' ? o.vendor?.id : o[d.name]) : '']));

type Edit =
  | { kind: 'spool'; item: Spool | null }
  | { kind: 'filament'; item: Filament | null }
  | { kind: 'vendor'; item: Vendor | null }
  | { kind: 'weigh'; item: Spool }
  | { kind: 'use'; item: Spool };

export function WeighForm(props: { spool: Spool; use: boolean; onDone: () => void; onCancel?: () => void }) {
  const defs: FieldDef[] = props.use
    ? [{ name: 'use_weight', label: 'Used (g)', type: 'number', required: true, hint: 'subtracted from what is left' }]
    : [{ name: 'weight', label: 'Scale reading (g)', type: 'number', min: 0, required: true, hint: 'the spool with its filament; the empty spool weight is subtracted' }];
  return (
    <Form
      defs={defs}
      initial={{}}
      edit={false}
      submitLabel={props.use ? 'Record use' : 'Save weight'}
      onSubmit={(b) => api.put(`/api/v1/spool/${props.spool.id}/${props.use ? 'use' : 'measure'}`, b)}
      onDone={props.onDone}
      onCancel={props.onCancel}
    />
  );
}

export function InventoryPage() {
  const [spools, setSpools] = useState<Spool[] | null>(null);
  const [total, setTotal] = useState(0);
  const [err, setErr] = useState<string | null>(null);
  const [filaments, setFilaments] = useState<Filament[]>([]);
  const [vendors, setVendors] = useState<Vendor[]>([]);
  const [materials, setMaterials] = useState<string[]>([]);
  const [locations, setLocations] = useState<string[]>([]);
  // ?q= opens the list searched; ?spool= shows one spool, archived or not, as a job's spool
  // link does
  const [q, setQ] = useState(() => new URLSearchParams(window.location.search).get('q') ?? '');
  const [only, setOnly] = useState(() => Number(new URLSearchParams(window.location.search).get('spool')) || null);
  const [material, setMaterial] = useState('');
  const [vendor, setVendor] = useState('');
  const [location, setLocation] = useState('');
  const [low, setLow] = useState(false);
  const [archived, setArchived] = useState(false);
  const [sort, setSort] = useState('id:desc');
  const [edit, setEdit] = useState<Edit | null>(null);
  const [reload, setReload] = useState(0);
  // choosing spools for a label sheet: null when not choosing
  const [picked, setPicked] = useState<Set<number> | null>(null);
  const slots = useSlots();

  useEffect(() => {
    if (only) {
      setErr(null);
      api.get<Spool>(`/api/v1/spool/${only}`).then(
        (s) => {
          setSpools([s]);
          setTotal(1);
        },
        (e: ApiError) => setErr(e.status === 404 ? `Spool #${only} is not in the inventory: it was deleted.` : e.message),
      );
      return;
    }
    const params = new URLSearchParams({ sort, limit: String(PAGE) });
    if (archived) params.set('allow_archived', 'true');
    if (material) params.set('filament.material', material);
    if (vendor) params.set('filament.vendor.name', vendor);
    if (location) params.set('location', location);
    setErr(null);
    api.list<Spool>(`/api/v1/spool?${params}`).then(
      (r) => {
        setSpools(r.data);
        setTotal(r.total ?? r.data.length);
      },
      (e) => setErr(e.message),
    );
  }, [only, sort, archived, material, vendor, location, reload]);
  const showAll = () => {
    history.replaceState(null, '', '/inventory');
    setOnly(null);
  };
  // a filter or search touched while one spool shows: the list it asks for
  const filtered = useRef(false);
  useEffect(() => {
    if (filtered.current && only) showAll();
    filtered.current = true;
  }, [q, material, vendor, location, low, archived, sort]);

  useEffect(() => {
    api.get<Filament[]>('/api/v1/filament?sort=name:asc').then(setFilaments, () => {});
    api.get<Vendor[]>('/api/v1/vendor?sort=name:asc').then(setVendors, () => {});
    api.get<string[]>('/api/v1/material').then(setMaterials, () => {});
    api.get<string[]>('/api/v1/location').then(setLocations, () => {});
  }, [reload]);

  const where = useMemo(() => {
    const m = new Map<number, string>();
    for (const s of slots.values()) if (s.spool_id) m.set(s.spool_id, slotPlace(s));
    return m;
  }, [slots]);

  const shown = (spools ?? []).filter((s) => {
    if (low && !isLow(s)) return false;
    if (!q) return true;
    const hay = `${s.id} ${s.filament.name ?? ''} ${s.filament.material ?? ''} ${s.filament.vendor?.name ?? ''} ${s.location ?? ''} ${s.lot_nr ?? ''} ${s.comment ?? ''}`;
    return hay.toLowerCase().includes(q.toLowerCase());
  });

  const done = () => {
    setEdit(null);
    setReload((n) => n + 1);
  };
  const archive = async (s: Spool) => {
    try {
      await api.patch(`/api/v1/spool/${s.id}`, { archived: !s.archived });
      setReload((n) => n + 1);
    } catch (e) {
      setErr((e as Error).message);
    }
  };

  // viewers read the inventory; the edit controls are the operators'
  const canEdit = useCan('operator');
  const pick = (id: number, on: boolean) => {
    const next = new Set(picked);
    if (on) next.add(id);
    else next.delete(id);
    setPicked(next);
  };
  const labels = (ids: number[]) => navigate(`/labels?ids=${packIds(ids.slice(0, MAX_LABELS))}`);
  return (
    <section aria-labelledby="inv-title">
      <div class="page-head">
        <h1 id="inv-title">Inventory</h1>
        <span class="muted">{spools ? `${shown.length} of ${total} spools` : ''}</span>
        <div class="head-actions">
          <ScanButton />
          <button type="button" class="btn" aria-pressed={picked !== null} onClick={() => setPicked(picked ? null : new Set())}>
            Labels…
          </button>
          {canEdit && (
            <>
              <button type="button" class="btn" onClick={() => setEdit({ kind: 'vendor', item: null })}>
                + Vendor
              </button>
              <button type="button" class="btn" onClick={() => setEdit({ kind: 'filament', item: null })}>
                + Filament
              </button>
              <button type="button" class="btn primary" onClick={() => setEdit({ kind: 'spool', item: null })}>
                + Spool
              </button>
            </>
          )}
        </div>
      </div>
      <div class="toolbar" role="search">
        <label>
          <span class="visually-hidden">Search spools</span>
          <input type="search" placeholder="Search name, vendor, location…" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          <span class="lbl">Material</span>
          <select value={material} onChange={(e) => setMaterial((e.target as HTMLSelectElement).value)}>
            <option value="">All</option>
            {materials.map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
        </label>
        <label>
          <span class="lbl">Vendor</span>
          <select value={vendor} onChange={(e) => setVendor((e.target as HTMLSelectElement).value)}>
            <option value="">All</option>
            {vendors.map((v) => (
              <option key={v.id}>{v.name}</option>
            ))}
          </select>
        </label>
        <label>
          <span class="lbl">Location</span>
          <select value={location} onChange={(e) => setLocation((e.target as HTMLSelectElement).value)}>
            <option value="">All</option>
            {locations.map((l) => (
              <option key={l}>{l}</option>
            ))}
          </select>
        </label>
        <label>
          <span class="lbl">Sort</span>
          <select value={sort} onChange={(e) => setSort((e.target as HTMLSelectElement).value)}>
            {SORTS.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
        </label>
        <label class="check">
          <input type="checkbox" checked={low} onChange={(e) => setLow((e.target as HTMLInputElement).checked)} /> Low stock
        </label>
        <label class="check">
          <input type="checkbox" checked={archived} onChange={(e) => setArchived((e.target as HTMLInputElement).checked)} /> Archived
        </label>
      </div>
      {picked && (
        <div class="pick-bar" role="region" aria-label="Labels">
          <span>
            {picked.size ? `${picked.size} chosen` : 'Choose spools for labels'}
          </span>
          <button type="button" class="btn primary" disabled={!picked.size} onClick={() => labels([...picked])}>
            Print {picked.size || ''} {picked.size === 1 ? 'label' : 'labels'}
          </button>
          <button type="button" class="btn" disabled={!shown.length} onClick={() => labels(shown.map((s) => s.id))}>
            All {shown.length} shown
          </button>
          <button type="button" class="btn" onClick={() => setPicked(null)}>
            Done
          </button>
        </div>
      )}
      {only && (
        <p class="alert only-one" role="status">
          Showing spool #{only} only.{' '}
          <button type="button" class="btn sm" onClick={showAll}>
            Show every spool
          </button>
        </p>
      )}
      {err && <ErrorBox error={err} onRetry={() => setReload((n) => n + 1)} />}
      {!spools && !err && <Loading />}
      {spools && !shown.length && (
        <Empty title={spools.length ? 'No spool matches' : 'No spools yet'}>
          {!spools.length && <p>Add a vendor and a filament, then your first spool — or import a Spoolman export.</p>}
        </Empty>
      )}
      {shown.length > 0 && (
        <ul class="spools">
          {shown.map((s) => {
            const pct = remainingPct(s.remaining_weight, s.initial_weight ?? s.filament.weight);
            const colors = filamentColors(s.filament);
            return (
              <li key={s.id} class={`card spool${s.archived ? ' archived' : ''}`} data-spool={s.id}>
                {picked && (
                  <input type="checkbox" class="spool-pick" checked={picked.has(s.id)} onChange={(e) => pick(s.id, (e.target as HTMLInputElement).checked)} aria-label={`Label for spool ${s.id}`} />
                )}
                <Swatch colors={colors} direction={s.filament.multi_color_direction} size="lg" label={colors.length ? `colour ${colors.join(', ')}` : 'no colour'} />
                <div class="spool-main">
                  <div class="spool-title">
                    <a class="spool-link" href={`/spools/${s.id}`} onClick={onLinkClick}>
                      {s.filament.vendor?.name ? `${s.filament.vendor.name} · ` : ''}
                      {s.filament.name ?? `Filament #${s.filament.id}`}
                    </a>
                    <span class="badge">{s.filament.material ?? '?'}</span>
                    {isLow(s) && <span class="badge warn">low</span>}
                    {s.archived && <span class="badge">archived</span>}
                  </div>
                  <div class="spool-meta muted">
                    #{s.id} · {where.get(s.id) ?? s.location ?? 'no location'}
                    {s.lot_nr ? ` · lot ${s.lot_nr}` : ''}
                  </div>
                  <div class="spool-left">
                    <Meter value={pct} label={`Remaining on spool ${s.id}`} tone={isLow(s) ? 'paused' : 'printing'} />
                    <span>
                      {grams(s.remaining_weight)}
                      {pct !== null ? ` · ${pct} %` : ''}
                    </span>
                  </div>
                </div>
                <div class="spool-actions" hidden={!canEdit}>
                  <button type="button" class="btn sm" onClick={() => setEdit({ kind: 'spool', item: s })} aria-label={`Edit spool ${s.id}`}>
                    Edit
                  </button>
                  <button type="button" class="btn sm" onClick={() => setEdit({ kind: 'weigh', item: s })} aria-label={`Weigh spool ${s.id}`}>
                    Weigh
                  </button>
                  <button type="button" class="btn sm" onClick={() => setEdit({ kind: 'use', item: s })} aria-label={`Use from spool ${s.id}`}>
                    Use
                  </button>
                  <button type="button" class="btn sm" onClick={() => archive(s)} aria-label={`${s.archived ? 'Unarchive' : 'Archive'} spool ${s.id}`}>
                    {s.archived ? 'Unarchive' : 'Archive'}
                  </button>
                  <button type="button" class="btn sm" onClick={() => setEdit({ kind: 'filament', item: s.filament })} aria-label={`Edit filament of spool ${s.id}`}>
                    Filament
                  </button>
                </div>
              </li>
            );
          })}
        </ul>
      )}
      {edit && <EditDialog edit={edit} filaments={filaments} vendors={vendors} onDone={done} />}
    </section>
  );
}

export function EditDialog(props: { edit: Edit; filaments: Filament[]; vendors: Vendor[]; onDone: () => void }) {
  const { edit } = props;
  if (edit.kind === 'weigh' || edit.kind === 'use')
    return (
      <Dialog title={`${edit.kind === 'weigh' ? 'Weigh' : 'Use from'} spool #${edit.item.id}`} onClose={props.onDone}>
        <WeighForm spool={edit.item} use={edit.kind === 'use'} onDone={props.onDone} />
      </Dialog>
    );
  const defs = edit.kind === 'spool' ? spoolDefs(props.filaments) : edit.kind === 'filament' ? filamentDefs(props.vendors) : vendorDefs;
  const initial = valuesOf(defs, edit.item);
  if (edit.kind === 'filament' && !edit.item) {
    initial.density = '1.24';
    initial.diameter = '1.75';
    initial.weight = '1000';
  }
  const path = edit.kind === 'spool' ? 'spool' : edit.kind === 'filament' ? 'filament' : 'vendor';
  const noun = edit.kind === 'spool' ? 'spool' : edit.kind === 'filament' ? 'filament' : 'vendor';
  return (
    <Dialog title={edit.item ? `Edit ${noun} #${edit.item.id}` : `New ${noun}`} onClose={props.onDone} wide={edit.kind !== 'vendor'}>
      <Form
        defs={defs}
        initial={initial}
        edit={!!edit.item}
        submitLabel={edit.item ? 'Save' : `Add ${noun}`}
        onSubmit={(b) => (edit.item ? api.patch(`/api/v1/${path}/${edit.item.id}`, b) : api.post(`/api/v1/${path}`, b))}
        onDone={props.onDone}
      />
    </Dialog>
  );
}


