// Statistics: GET /api/v1/stats for the filters (one more read per stacked material), the low
// stock with days left, and "which spools should I load?" for a 3MF (POST /api/v1/files/analyze).
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { PeriodChart } from '../components/chart';
import { Empty, ErrorBox, Loading, Swatch } from '../components/ui';
import { cssColor, grams } from '../format';
import { seconds } from '../jobs';
import { usePrinterIndex } from '../live';
import { slotName } from '../notices';
import { onLinkClick } from '../router';
import { DEFAULT_STATS, money, pct, periodLabel, PRESETS, STACK_MAX, Stats, statsQuery, stackGrams, StatsFilters } from '../stats';

// the same hues in both themes, apart enough for six layers
const PALETTE = ['#2f80ed', '#f2994a', '#27ae60', '#bb6bd9', '#eb5757', '#8d99a6'];

function Filters(props: { f: StatsFilters; set: (f: StatsFilters) => void; materials: string[] }) {
  const { f, set } = props;
  const printers = usePrinterIndex();
  const on = (k: keyof StatsFilters) => (e: Event) => set({ ...f, [k]: (e.target as HTMLInputElement).value });
  return (
    <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Statistics filters">
      <label class="field">
        <span>Range</span>
        <select value={f.preset} onChange={on('preset')}>
          {PRESETS.map((p) => (
            <option key={p.id} value={p.id}>
              {p.label}
            </option>
          ))}
        </select>
      </label>
      {f.preset === 'custom' && (
        <>
          <label class="field">
            <span>From</span>
            <input type="date" value={f.from} onChange={on('from')} />
          </label>
          <label class="field">
            <span>To</span>
            <input type="date" value={f.to} onChange={on('to')} />
          </label>
        </>
      )}
      <label class="field">
        <span>Printer</span>
        <select value={f.printer} onChange={on('printer')}>
          <option value="">All printers</option>
          {printers.map((p) => (
            <option key={p.id} value={String(p.id)}>
              {p.name}
            </option>
          ))}
        </select>
      </label>
      <label class="field">
        <span>Material</span>
        <select value={f.material} onChange={on('material')}>
          <option value="">All materials</option>
          {[...new Set([...props.materials, ...(f.material ? [f.material] : [])])].map((m) => (
            <option key={m} value={m}>
              {m}
            </option>
          ))}
        </select>
      </label>
      <label class="field">
        <span>Per</span>
        <select value={f.period} onChange={on('period')}>
          <option value="day">Day</option>
          <option value="week">Week</option>
          <option value="month">Month</option>
        </select>
      </label>
    </form>
  );
}

interface Loaded {
  s: Stats;
  layers: { material: string; rows: Stats['by_period'] }[];
}

/** The whole range's figures, then one read per material stacked (the most used first). */
async function loadStats(f: StatsFilters): Promise<Loaded> {
  const s = await api.get<Stats>(statsQuery(f));
  const top = f.material ? [] : [...s.by_material].sort((a, b) => b.grams - a.grams).slice(0, STACK_MAX).map((m) => m.material);
  const layers = await Promise.all(top.map((m) => api.get<Stats>(statsQuery(f, new Date(), m)).then((x) => ({ material: m, rows: x.by_period }))));
  return { s, layers: f.material ? [{ material: f.material, rows: s.by_period }] : layers };
}

function Tile(props: { label: string; value: string; sub?: string }) {
  return (
    <div class="tile">
      <span class="tile-label">{props.label}</span>
      <strong class="tile-value num">{props.value}</strong>
      {props.sub && <span class="muted small">{props.sub}</span>}
    </div>
  );
}

/** A bar in a list: the width is the share of the largest, the words carry the value. */
function Bar(props: { share: number; children: preact.ComponentChildren; label: string }) {
  return (
    <li class="hbar">
      <span class="hbar-label">{props.label}</span>
      <span class="hbar-track" aria-hidden="true">
        <span class="hbar-fill" style={{ width: `${Math.max(1, Math.min(100, props.share * 100))}%` }} />
      </span>
      <span class="hbar-value num">{props.children}</span>
    </li>
  );
}

function Charts(props: { d: Loaded; f: StatsFilters }) {
  const { s, layers } = props.d;
  const periods = s.by_period.map((r) => periodLabel(r.period, s.period));
  const stack = stackGrams(s.by_period, layers);
  const maxHours = Math.max(0, ...s.by_printer.map((p) => p.print_hours));
  const maxAvg = Math.max(0, ...s.by_material.map((m) => m.avg_print_s ?? 0));
  const maxFail = Math.max(0, ...s.failure_reasons.map((r) => r.count));
  const t = s.totals;
  return (
    <>
      <div class="tiles">
        <Tile label="Prints" value={String(t.jobs)} sub={`${t.completed} done · ${t.failed} failed · ${t.cancelled} cancelled`} />
        <Tile label="Success rate" value={pct(t.success_rate)} />
        <Tile label="Print hours" value={t.print_hours.toFixed(1)} />
        <Tile label="Filament" value={grams(t.grams)} sub={`${t.meters.toFixed(0)} m`} />
        <Tile label="Cost" value={money(t.cost)} />
      </div>
      <div class="stats-grid">
        <div class="card wide">
          <h2>Filament per {s.period} by material</h2>
          {s.by_period.length === 0 ? (
            <p class="muted">No filament used in this range.</p>
          ) : (
            <PeriodChart
              title="Grams"
              summary={`Grams per ${s.period}, stacked by material: ${stack.layers.map((l) => `${l.label} ${Math.round(l.values.reduce((a, b) => a + b, 0))} g`).join(', ')}`}
              periods={periods}
              series={stack.layers.map((l, i) => ({ label: l.label, color: PALETTE[i % PALETTE.length], values: l.values }))}
              unit=" g"
              kind="bars"
              stacked
            />
          )}
        </div>
        <div class="card">
          <h2>Success rate</h2>
          {s.by_period.length === 0 ? (
            <p class="muted">No prints in this range.</p>
          ) : (
            <PeriodChart
              title={`Completed of the prints that ended, per ${s.period}`}
              summary={`Success rate per ${s.period}; ${pct(t.success_rate)} over the range`}
              periods={periods}
              series={[{ label: 'Success', color: PALETTE[2], values: s.by_period.map((r) => (r.success_rate === null ? null : r.success_rate * 100)) }]}
              unit=" %"
              kind="line"
            />
          )}
        </div>
        <div class="card">
          <h2>Cost</h2>
          {s.by_period.length === 0 || t.cost === null ? (
            <p class="muted">No cost known: give spools or filaments a price.</p>
          ) : (
            <PeriodChart
              title={`Filament cost per ${s.period}`}
              summary={`Cost per ${s.period}; ${money(t.cost)} over the range`}
              periods={periods}
              series={[{ label: 'Cost', color: PALETTE[1], values: s.by_period.map((r) => r.cost) }]}
              unit=""
              digits={2}
              kind="bars"
            />
          )}
        </div>
        <div class="card">
          <h2>Print hours per printer</h2>
          {s.by_printer.length === 0 ? (
            <p class="muted">No prints in this range.</p>
          ) : (
            <ul class="hbars">
              {s.by_printer.map((p) => (
                <Bar key={p.printer_id} label={p.printer_name} share={maxHours ? p.print_hours / maxHours : 0}>
                  {p.print_hours.toFixed(1)} h · {pct(p.utilisation)} busy
                </Bar>
              ))}
            </ul>
          )}
        </div>
        <div class="card">
          <h2>Average print time by material</h2>
          {s.by_material.length === 0 ? (
            <p class="muted">No filament used in this range.</p>
          ) : (
            <ul class="hbars">
              {s.by_material.map((m) => (
                <Bar key={m.material} label={m.material} share={maxAvg ? (m.avg_print_s ?? 0) / maxAvg : 0}>
                  {m.avg_print_s ? seconds(m.avg_print_s) : '—'} · {grams(m.grams)}
                  {m.cost !== null ? ` · ${money(m.cost)}` : ''}
                </Bar>
              ))}
            </ul>
          )}
        </div>
        <div class="card">
          <h2>Why prints failed</h2>
          {s.failure_reasons.length === 0 ? (
            <p class="muted">No failed prints in this range.</p>
          ) : (
            <ul class="hbars">
              {s.failure_reasons.map((r) => (
                <Bar key={r.reason} label={r.reason} share={maxFail ? r.count / maxFail : 0}>
                  {r.count}×
                </Bar>
              ))}
            </ul>
          )}
        </div>
      </div>
    </>
  );
}

interface LowStock {
  days: number;
  spools: { spool_id: number; name: string; material: string; remaining_g: number; threshold_g: number; used_g: number; days_left: number | null }[];
  filaments: { filament_id: number; name: string; material: string; remaining_g: number; threshold_g: number; used_g: number; spools: number; days_left: number | null }[];
}

const daysLeft = (d: number | null) => (d === null ? 'not used lately' : d < 1 ? 'under a day left' : `${Math.round(d)} days left`);

function LowStockCard() {
  const [d, setD] = useState<LowStock | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const load = () => {
    setErr(null);
    api.get<LowStock>('/api/v1/stats/low-stock').then(setD, (e) => setErr(e.message));
  };
  useEffect(load, []);
  return (
    <div class="card">
      <h2>Low stock</h2>
      {err && <ErrorBox error={err} onRetry={load} />}
      {!d && !err && <Loading label="Reading the stock" />}
      {d && d.spools.length + d.filaments.length === 0 && <p class="muted">Nothing is under its threshold.</p>}
      {d && d.spools.length + d.filaments.length > 0 && (
        <ul class="plain low-stock">
          {d.filaments.map((f) => (
            <li key={`f${f.filament_id}`}>
              <strong>{f.name}</strong> <span class="muted">{f.material}</span>
              <br />
              <span class="num">
                {grams(f.remaining_g)} in {f.spools} spool{f.spools === 1 ? '' : 's'} (under {grams(f.threshold_g)}) · {daysLeft(f.days_left)}
              </span>
            </li>
          ))}
          {d.spools.map((s) => (
            <li key={`s${s.spool_id}`}>
              <a href={`/inventory?spool=${s.spool_id}`} onClick={onLinkClick}>
                Spool #{s.spool_id} {s.name}
              </a>{' '}
              <span class="muted">{s.material}</span>
              <br />
              <span class="num">
                {grams(s.remaining_g)} left (under {grams(s.threshold_g)}) · {daysLeft(s.days_left)}
              </span>
            </li>
          ))}
        </ul>
      )}
      {d && <p class="muted small">Days left at the rate of the last {d.days} days.</p>}
    </div>
  );
}

interface AnalyzedSpool { spool_id: number; name: string; material: string; color: string | null; remaining_g: number | null; enough: boolean; color_distance: number | null; loaded: { printer_id: number; unit: number; slot: number } | null }
interface AnalyzedFilament { id: number; type: string; color: string | null; grams: number; meters: number; spools: AnalyzedSpool[] }
interface Mapping { filament_id: number; needed_g: number; tray: { unit: number; slot: number; material: string; color: string } | null; spool_id: number | null; remaining_g: number | null; short_g: number }
export interface Analysis {
  kind: string;
  name: string;
  warnings?: string[];
  plates: { index: number; prediction_s: number | null; weight_g: number | null; thumbnail?: string | null; filaments: AnalyzedFilament[]; printer?: { printer_id: number; name: string; runs_out: boolean; remaining_unknown: boolean; mapping: Mapping[] } }[];
}

function Suggest() {
  const printers = usePrinterIndex();
  const [printer, setPrinter] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const [a, setA] = useState<Analysis | null>(null);
  const send = async (e: Event) => {
    e.preventDefault();
    if (!file) return;
    setBusy(true);
    setErr(null);
    setA(null);
    const q = new URLSearchParams({ name: file.name });
    if (printer) q.set('printer_id', printer);
    try {
      setA(await api.upload<Analysis>(`/api/v1/files/analyze?${q}`, file));
    } catch (x) {
      setErr((x as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="card wide">
      <h2>Which spools should I load?</h2>
      <form class="analyze-form" onSubmit={send}>
        <label class="field">
          <span>Print file (.gcode.3mf or .gcode)</span>
          <input type="file" accept=".3mf,.gcode" onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)} />
        </label>
        <label class="field">
          <span>Check against a printer's trays</span>
          <select value={printer} onChange={(e) => setPrinter((e.target as HTMLSelectElement).value)}>
            <option value="">No printer</option>
            {printers.map((p) => (
              <option key={p.id} value={String(p.id)}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
        <button class="btn primary" type="submit" disabled={!file || busy}>
          {busy ? 'Reading the file…' : 'Suggest spools'}
        </button>
      </form>
      {err && <ErrorBox error={err} />}
      {a && <AnalysisView a={a} />}
    </div>
  );
}

function AnalysisView(props: { a: Analysis }) {
  const { a } = props;
  if (a.plates.length === 0) return <p class="muted">The file has no plates to print.</p>;
  return (
    <div class="plates">
      {(a.warnings ?? []).map((w) => (
        <p key={w} class="muted small">
          {w}
        </p>
      ))}
      {a.plates.map((pl) => {
        const pr = pl.printer;
        return (
          <section key={pl.index} class="plate" aria-label={`Plate ${pl.index}`}>
            <div class="thumb">{pl.thumbnail ? <img src={pl.thumbnail} alt={`Plate ${pl.index}`} width="160" height="160" /> : <span class="muted small">No thumbnail</span>}</div>
            <div class="plate-main">
              <h3>
                Plate {pl.index}
                <span class="muted small">
                  {pl.weight_g !== null ? ` · ${grams(pl.weight_g)}` : ''}
                  {pl.prediction_s ? ` · ${seconds(pl.prediction_s)}` : ''}
                </span>
              </h3>
              {pr && (
                <p class={pr.runs_out ? 'verdict bad' : 'verdict ok'} role="status">
                  {pr.runs_out
                    ? `As loaded now, ${pr.name} runs out: ${pr.mapping
                        .filter((m) => m.short_g > 0)
                        .map((m) => `${m.tray ? slotName(m.tray.unit, m.tray.slot) : 'no tray'} is ${grams(m.short_g)} short`)
                        .join(', ') || 'no tray holds a material it needs'}.`
                    : pr.remaining_unknown
                      ? `${pr.name} has a tray for each filament, but not every tray says how much is left.`
                      : `${pr.name} has enough loaded for this plate.`}
                </p>
              )}
              <ul class="plain">
                {pl.filaments.map((fl) => {
                  const m = pr?.mapping.find((x) => x.filament_id === fl.id);
                  const c = cssColor(fl.color);
                  return (
                    <li key={fl.id} class="plate-filament">
                      <span class="cell-swatch">
                        <Swatch colors={c ? [c] : []} label={`filament ${fl.id} colour ${c ?? 'unknown'}`} />
                        <strong>
                          {fl.type} {grams(fl.grams)}
                        </strong>
                        <span class="muted small">{fl.meters.toFixed(1)} m</span>
                      </span>
                      {m && (
                        <span class={m.short_g > 0 || !m.tray ? 'form-error small' : 'muted small'}>
                          {' '}
                          → {m.tray ? slotName(m.tray.unit, m.tray.slot) : 'no tray of this material'}
                          {m.remaining_g !== null ? `, ${grams(m.remaining_g)} there` : ''}
                          {m.short_g > 0 ? `, ${grams(m.short_g)} short` : ''}
                        </span>
                      )}
                      {fl.spools.length === 0 ? (
                        <p class="muted small">No spool of this material and colour in the inventory.</p>
                      ) : (
                        <ol class="suggestions">
                          {fl.spools.map((s) => {
                            const sc = cssColor(s.color);
                            return (
                              <li key={s.spool_id} class={s.enough ? '' : 'short'}>
                                <Swatch colors={sc ? [sc] : []} size="sm" label={`colour ${sc ?? 'unknown'}`} />
                                <span>
                                  #{s.spool_id} {s.name}
                                  <span class="muted small">
                                    {' '}
                                    {s.remaining_g !== null ? grams(s.remaining_g) : '? g'}
                                    {s.enough ? '' : ' — not enough'}
                                    {s.loaded ? ` · loaded in ${slotName(s.loaded.unit, s.loaded.slot)}` : ''}
                                  </span>
                                </span>
                              </li>
                            );
                          })}
                        </ol>
                      )}
                    </li>
                  );
                })}
              </ul>
            </div>
          </section>
        );
      })}
    </div>
  );
}

export function StatsPage() {
  const [f, setF] = useState<StatsFilters>(DEFAULT_STATS);
  const [d, setD] = useState<Loaded | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [materials, setMaterials] = useState<string[]>([]);
  const load = () => {
    setErr(null);
    let live = true;
    loadStats(f).then(
      (x) => {
        if (!live) return;
        setD(x);
        if (!f.material) setMaterials(x.s.by_material.map((m) => m.material));
      },
      (e) => live && setErr(e.message),
    );
    return () => {
      live = false;
    };
  };
  useEffect(load, [f]);
  return (
    <section aria-labelledby="stats-title" class="stats">
      <div class="page-head">
        <h1 id="stats-title">Statistics</h1>
      </div>
      <Filters f={f} set={setF} materials={materials} />
      {err && <ErrorBox error={err} onRetry={load} />}
      {!d && !err && <Loading label="Counting" />}
      {d && d.s.totals.jobs === 0 && d.s.totals.grams === 0 ? (
        <Empty title="No prints in this range">
          <p>Choose a longer range, or another printer or material.</p>
        </Empty>
      ) : (
        d && <Charts d={d} f={f} />
      )}
      <div class="stats-grid">
        <LowStockCard />
        <Suggest />
      </div>
    </section>
  );
}
