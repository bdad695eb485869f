// The label sheet (/labels?ids=3-7,12): one label per spool with the QR code of its page, its
// number, vendor, material, colour and weights, laid out in millimetres on the chosen label
// stock. A chunk of its own (with the QR encoder); printing shows only the sheet.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api } from '../api';
import { Empty, ErrorBox, Loading } from '../components/ui';
import { filamentColors, swatchBackground } from '../format';
import { cellAt, FORMATS, formatById, isLoopback, labelBase, labelWeight, MAX_LABELS, paginate, perPage, spoolUrl, unpackIds, type LabelFormat } from '../labels';
import { qrMatrix, qrPath } from '../qrcode';
import { onLinkClick } from '../router';
import type { Spool } from '../types';
import './labels.css';

const FORMAT_KEY = 'printdeck.labels.format';
const BASE_KEY = 'printdeck.labels.base';
/** the spool list's id filter takes at most 256 ids a request */
const BATCH = 200;
const PX_PER_MM = 96 / 25.4;

function Qr(props: { text: string; size: number }) {
  const m = useMemo(() => qrMatrix(props.text), [props.text]);
  const n = m.length;
  return (
    <svg class="label-qr" viewBox={`0 0 ${n} ${n}`} style={{ width: `${props.size}mm`, height: `${props.size}mm` }} shape-rendering="crispEdges" role="img" aria-label={`QR code: ${props.text}`}>
      <rect width={n} height={n} fill="#fff" />
      <path d={qrPath(m)} fill="#000" />
    </svg>
  );
}

function Label(props: { spool: Spool; base: string; f: LabelFormat; at: { x: number; y: number } }) {
  const { spool: s, f } = props;
  const colors = filamentColors(s.filament);
  const net = s.initial_weight ?? s.filament.weight;
  const empty = s.spool_weight ?? s.filament.spool_weight;
  const pad = Math.min(2.5, f.h * 0.07);
  // a code of 20–30 mm reads from arm's length; the rest of the label is for people
  const qr = Math.min(f.h - 2 * pad, f.w * 0.4);
  return (
    <div
      class="label"
      data-spool={s.id}
      style={{ left: `${props.at.x}mm`, top: `${props.at.y}mm`, width: `${f.w}mm`, height: `${f.h}mm`, padding: `${pad}mm`, gap: `${pad}mm`, fontSize: `${Math.min(3.4, f.h * 0.085).toFixed(2)}mm` }}
    >
      <Qr text={spoolUrl(props.base, s.id)} size={qr} />
      <div class="label-text">
        <div class="label-head">
          <span class="label-id">#{s.id}</span>
          <span class="label-material">{s.filament.material ?? '?'}</span>
        </div>
        {s.filament.vendor?.name && <div class="label-vendor">{s.filament.vendor.name}</div>}
        <div class="label-name">
          {colors.length > 0 && <span class="label-swatch" style={{ background: swatchBackground(colors, s.filament.multi_color_direction) }} />}
          {s.filament.name ?? `Filament #${s.filament.id}`}
        </div>
        {(net || empty) && (
          <div class="label-weight">
            {net ? `${labelWeight(net)} net` : ''}
            {net && empty ? ' · ' : ''}
            {empty ? `spool ${labelWeight(empty)}` : ''}
          </div>
        )}
      </div>
    </div>
  );
}

/** The spools of the list, read by id in batches; `missing` the ids the inventory lacks. */
function useSpools(ids: number[] | null) {
  const [spools, setSpools] = useState<Spool[] | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [reload, setReload] = useState(0);
  const key = ids?.join(',') ?? '';
  useEffect(() => {
    if (!ids?.length) return;
    setErr(null);
    const batches: number[][] = [];
    for (let i = 0; i < ids.length; i += BATCH) batches.push(ids.slice(i, i + BATCH));
    Promise.all(batches.map((b) => api.get<Spool[]>(`/api/v1/spool?id=${b.join(',')}&allow_archived=true&limit=${b.length}&sort=id:asc`))).then(
      (r) => setSpools(r.flat()),
      (e) => setErr(e.message),
    );
  }, [key, reload]);
  const found = new Set((spools ?? []).map((s) => s.id));
  return { spools, err, missing: spools ? (ids ?? []).filter((id) => !found.has(id)) : [], retry: () => setReload((n) => n + 1) };
}

/** The sheet's scale on screen: a page fits the width it has (a phone shows A4 small). */
function useFit(f: LabelFormat) {
  const ref = useRef<HTMLDivElement>(null);
  const [scale, setScale] = useState(1);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const fit = () => setScale(Math.min(1.25, el.clientWidth / (f.pageW * PX_PER_MM)));
    fit();
    const ro = new ResizeObserver(fit);
    ro.observe(el);
    return () => ro.disconnect();
  }, [f]);
  return { ref, scale };
}

export function LabelsPage() {
  const params = new URLSearchParams(location.search);
  const ids = unpackIds(params.get('ids') ?? '');
  const [f, setF] = useState(() => formatById(params.get('format') ?? localStorage.getItem(FORMAT_KEY)));
  const [skip, setSkip] = useState('1');
  const [baseText, setBaseText] = useState(() => localStorage.getItem(BASE_KEY) ?? location.origin);
  const base = labelBase(baseText);
  const { spools, err, missing, retry } = useSpools(ids);
  const { ref, scale } = useFit(f);

  useEffect(() => localStorage.setItem(FORMAT_KEY, f.id), [f]);
  useEffect(() => {
    if (base) localStorage.setItem(BASE_KEY, base);
  }, [base]);
  // the printed page is the label stock itself, edge to edge: the positions are measured from it
  useEffect(() => {
    const style = document.createElement('style');
    style.textContent = `@page { size: ${f.pageW}mm ${f.pageH}mm; margin: 0; }`;
    document.head.appendChild(style);
    return () => style.remove();
  }, [f]);

  const per = perPage(f);
  const first = Math.max(1, Math.min(per, Math.floor(Number(skip)) || 1));
  const pages = spools ? paginate(spools.length, f, first - 1) : [];

  if (!ids?.length)
    return (
      <Empty title="No spools chosen for labels">
        <p>
          Choose spools in the inventory (Labels…), or print one spool's label from its page. A sheet holds at most {MAX_LABELS} labels.
        </p>
        <a href="/inventory" onClick={onLinkClick}>
          Go to the inventory
        </a>
      </Empty>
    );
  return (
    <section aria-labelledby="labels-title" class="labels-page">
      <div class="no-print">
        <nav class="crumbs" aria-label="Breadcrumb">
          <a href="/inventory" onClick={onLinkClick}>
            Inventory
          </a>{' '}
          / <span>Labels</span>
        </nav>
        <div class="page-head">
          <h1 id="labels-title">Labels</h1>
          <span class="muted">
            {spools ? `${spools.length} ${spools.length === 1 ? 'label' : 'labels'} · ${pages.length} ${pages.length === 1 ? 'page' : 'pages'}` : ''}
          </span>
          <div class="head-actions">
            <button type="button" class="btn primary" disabled={!spools?.length || !base} onClick={() => print()}>
              Print
            </button>
          </div>
        </div>
        <div class="label-options">
          <div class="field">
            <label for="lb-stock">Label stock</label>
            <select id="lb-stock" value={f.id} onChange={(e) => setF(formatById((e.target as HTMLSelectElement).value))}>
              {FORMATS.map((x) => (
                <option key={x.id} value={x.id}>
                  {x.name}
                </option>
              ))}
            </select>
          </div>
          {per > 1 && (
            <div class="field">
              <label for="lb-skip">Start at label</label>
              <input id="lb-skip" type="number" min={1} max={per} value={skip} onInput={(e) => setSkip((e.target as HTMLInputElement).value)} aria-describedby="lb-skip-hint" />
              <span id="lb-skip-hint" class="hint">
                of {per}: leaves the used labels of a sheet blank
              </span>
            </div>
          )}
          <div class={`field${base ? '' : ' has-error'}`}>
            <label for="lb-base">printdeck's address in the codes</label>
            <input id="lb-base" value={baseText} onInput={(e) => setBaseText((e.target as HTMLInputElement).value)} aria-invalid={!base || undefined} aria-describedby="base-hint" inputMode="url" />
            <span id="base-hint" class={base && !isLoopback(base) ? 'hint' : 'field-error'}>
              {!base
                ? 'Type an address such as http://printdeck.lan:8080'
                : isLoopback(base)
                  ? 'Only this computer can open this address: a phone scanning the label cannot. Type the address phones reach printdeck at.'
                  : `A label opens ${spoolUrl(base, spools?.[0]?.id ?? 1)}`}
            </span>
          </div>
        </div>
        {missing.length > 0 && (
          <p class="error-box" role="status">
            Not in the inventory (deleted?), so no label: {missing.map((id) => `#${id}`).join(', ')}.
          </p>
        )}
        {err && <ErrorBox error={err} onRetry={retry} />}
        {!spools && !err && <Loading />}
        <p class="muted small print-tip">Print at 100 % (“actual size”, no “fit to page”) with the margins set to none.</p>
      </div>
      <div class="sheets" ref={ref}>
        {base &&
          pages.map((cells, n) => (
            <div key={n} class="sheet-frame" style={{ width: `${f.pageW * PX_PER_MM * scale}px`, height: `${f.pageH * PX_PER_MM * scale}px` }}>
              <div class="sheet" aria-label={`Page ${n + 1}`} style={{ width: `${f.pageW}mm`, height: `${f.pageH}mm`, '--page-h': `${f.pageH}mm`, transform: `scale(${scale})` }}>
                {cells.map((c, i) => {
                  const at = cellAt(f, i);
                  // on screen: the positions left for labels used already, and those left over
                  const used = n === 0 && i < first - 1;
                  return c === null ? (
                    per > 1 && <div key={i} class={`label blank${used ? ' used' : ''}`} title={used ? 'used already' : undefined} style={{ left: `${at.x}mm`, top: `${at.y}mm`, width: `${f.w}mm`, height: `${f.h}mm` }} />
                  ) : (
                    <Label key={i} spool={spools![c]} base={base} f={f} at={at} />
                  );
                })}
              </div>
            </div>
          ))}
      </div>
    </section>
  );
}
