import { useEffect, useMemo, useState } from 'preact/hooks';
import { PrinterCard, PrinterRow } from '../components/printer';
import { Empty, Loading } from '../components/ui';
import { stateLabel } from '../format';
import { usePrinterIndex, useStatus } from '../live';
import type { Printer } from '../types';

type Group = 'none' | 'state' | 'model';
type View = 'grid' | 'list';

const VIEW_KEY = 'printdeck.printers.view';
const FIRST = 24;
const STEP = 48;

/** How many of n items to render now: the first screenfuls at once, the rest a batch per
 * task after it. A farm's 200 cards in one task kept a slow phone from showing the first one
 * for seconds; this way it shows after 24, and the page stays responsive while the rest come. */
function useProgressive(n: number): number {
  const [limit, setLimit] = useState(FIRST);
  useEffect(() => {
    if (limit >= n) return;
    const t = setTimeout(() => setLimit((l) => l + STEP), 0);
    return () => clearTimeout(t);
  }, [limit, n]);
  return limit;
}

export function PrintersPage() {
  const printers = usePrinterIndex();
  const { status, stale } = useStatus();
  const [q, setQ] = useState('');
  const [state, setState] = useState('');
  const [model, setModel] = useState('');
  const [group, setGroup] = useState<Group>('none');
  const [view, setViewRaw] = useState<View>(() => (localStorage.getItem(VIEW_KEY) as View) || 'grid');
  const setView = (v: View) => {
    localStorage.setItem(VIEW_KEY, v);
    setViewRaw(v);
  };

  const states = useMemo(() => [...new Set(printers.map((p) => stateLabel(p)))].sort(), [printers]);
  const models = useMemo(() => [...new Set(printers.map((p) => p.model ?? '—'))].sort(), [printers]);
  const shown = printers.filter(
    (p) =>
      (!state || stateLabel(p) === state) &&
      (!model || (p.model ?? '—') === model) &&
      (!q || `${p.name} ${p.serial}`.toLowerCase().includes(q.toLowerCase())),
  );
  const groups = new Map<string, Printer[]>();
  for (const p of shown) {
    const k = group === 'state' ? stateLabel(p) : group === 'model' ? p.model_name ?? p.model ?? 'Unknown model' : '';
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(p);
  }

  // each group's printers, and those of them rendered so far
  const limit = useProgressive(shown.length);
  let left = limit;
  const sections = [...groups.entries()].map(([name, list]): [string, Printer[], Printer[]] => {
    const now = list.slice(0, Math.max(0, left));
    left -= list.length;
    return [name, list, now];
  });

  if (!printers.length) {
    if (status === 'connecting' && !stale) return <Loading label="Connecting to printdeck…" />;
    return (
      <Empty title="No printers yet">
        <p>
          Add a printer in the configuration file or with <code>POST /api/v1/printers</code> (see the README); it appears here
          as soon as it is added.
        </p>
      </Empty>
    );
  }

  return (
    <section aria-labelledby="printers-title">
      <div class="page-head">
        <h1 id="printers-title">Printers</h1>
        <span class="muted">
          {shown.length} of {printers.length}
        </span>
      </div>
      <div class="toolbar" role="search">
        <label>
          <span class="visually-hidden">Search printers</span>
          <input type="search" placeholder="Search name or serial" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          <span class="lbl">State</span>
          <select value={state} onChange={(e) => setState((e.target as HTMLSelectElement).value)}>
            <option value="">All</option>
            {states.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          <span class="lbl">Model</span>
          <select value={model} onChange={(e) => setModel((e.target as HTMLSelectElement).value)}>
            <option value="">All</option>
            {models.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          <span class="lbl">Group</span>
          <select value={group} onChange={(e) => setGroup((e.target as HTMLSelectElement).value as Group)}>
            <option value="none">None</option>
            <option value="state">By state</option>
            <option value="model">By model</option>
          </select>
        </label>
        <div class="seg" role="group" aria-label="View">
          <button type="button" aria-pressed={view === 'grid'} onClick={() => setView('grid')}>
            Cards
          </button>
          <button type="button" aria-pressed={view === 'list'} onClick={() => setView('list')}>
            List
          </button>
        </div>
      </div>
      {!shown.length && <Empty title="No printer matches these filters" />}
      {sections.map(([name, list, now]) => (
        <div key={name} class="group">
          {name && (
            <h2 class="group-title">
              {name} <span class="muted">({list.length})</span>
            </h2>
          )}
          {view === 'grid' ? (
            <div class="grid">
              {now.map((p) => (
                <PrinterCard key={p.id} id={p.id} />
              ))}
            </div>
          ) : (
            <div class="table-wrap">
              <table class="dense">
                <thead>
                  <tr>
                    <th scope="col">Printer</th>
                    <th scope="col">Model</th>
                    <th scope="col">State</th>
                    <th scope="col">Progress</th>
                    <th scope="col">Layer</th>
                    <th scope="col">Left · finish</th>
                    <th scope="col">Nozzle</th>
                    <th scope="col">Bed</th>
                    <th scope="col">Notes</th>
                  </tr>
                </thead>
                <tbody>
                  {now.map((p) => (
                    <PrinterRow key={p.id} id={p.id} />
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      ))}
    </section>
  );
}
