import { useMemo, useState } from 'preact/hooks';
import { PrinterCard, PrinterRow } from '../components/printer';
import { Empty, Loading } from '../components/ui';
import { stateLabel } from '../format';
import { usePrinterIndex, useStatus } from '../live';
import type { Printer } from '../types';

type Group = 'none' | 'state' | 'model';
type View = 'grid' | 'list';

const VIEW_KEY = 'printdeck.printers.view';

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
      {[...groups.entries()].map(([name, list]) => (
        <div key={name} class="group">
          {name && (
            <h2 class="group-title">
              {name} <span class="muted">({list.length})</span>
            </h2>
          )}
          {view === 'grid' ? (
            <div class="grid">
              {list.map((p) => (
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
                  {list.map((p) => (
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
