// Settings → Printers: add (with a connection test that says in words what fails), edit,
// remove; and the navigation between the settings' sections (thresholds, notifications, users,
// tokens).
import { useState } from 'preact/hooks';
import { api } from '../api';
import { useCan } from '../auth';
import { lazy } from '../components/lazy';
import { Confirm, Empty } from '../components/ui';
import { connectionProblem, sourceWords } from '../format';
import { usePrinter, usePrinterIndex } from '../live';
import { onLinkClick, usePath } from '../router';
import type { PrinterRecord } from '../printerform';
import type { Printer } from '../types';

// the dialog is a chunk of its own: most visits to the settings never open it
const PrinterForm = lazy(() => import('./printerform').then((m) => m.PrinterForm));

/** The settings' sections, on each of their pages; users and tokens are an admin's. */
export function SettingsNav() {
  const admin = useCan('admin');
  const path = usePath();
  const items = [
    { href: '/settings', label: 'Printers' },
    { href: '/settings/thresholds', label: 'Thresholds' },
    { href: '/settings/notifications', label: 'Notifications' },
    ...(admin ? [{ href: '/settings/users', label: 'Users' }, { href: '/settings/tokens', label: 'API tokens' }] : []),
  ];
  return (
    <nav class="subnav" aria-label="Settings">
      <ul>
        {items.map((i) => (
          <li key={i.href}>
            <a href={i.href} onClick={onLinkClick} aria-current={path === i.href ? 'page' : undefined}>
              {i.label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

/** Its own subscription: the list re-renders on names and states, not on a connection's error. */
function ConnectionCell(props: { id: number }) {
  const p = usePrinter(props.id);
  const problem = p && connectionProblem(p);
  return <td class={problem ? 'row-note' : undefined}>{p ? problem ?? sourceWords(p) ?? (p.online ? 'online' : 'offline') : '—'}</td>;
}

export function SettingsPage() {
  const printers = usePrinterIndex();
  const [form, setForm] = useState<null | { p?: PrinterRecord }>(null);
  const [remove, setRemove] = useState<Printer | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const openEdit = async (p: Printer) => {
    setErr(null);
    try {
      setForm({ p: await api.get<PrinterRecord>(`/api/v1/printers/${p.id}`) });
    } catch (e) {
      setErr((e as Error).message);
    }
  };
  return (
    <section aria-labelledby="settings-title">
      <div class="page-head">
        <h1 id="settings-title">Settings</h1>
      </div>
      <SettingsNav />
      <div class="card">
        <div class="page-head">
          <h2>Printers</h2>
          <button type="button" class="btn primary" onClick={() => setForm({})}>
            Add printer
          </button>
        </div>
        {err && (
          <p class="form-error" role="alert">
            {err}
          </p>
        )}
        {printers.length === 0 ? (
          <Empty title="No printer yet">
            <p>Add one with its address, serial and LAN access code.</p>
          </Empty>
        ) : (
          <div class="table-wrap">
            <table class="dense">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Model</th>
                  <th scope="col">Serial</th>
                  <th scope="col">Address</th>
                  <th scope="col">Connection</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {printers.map((p) => (
                  <tr key={p.id}>
                    <th scope="row">
                      <a href={`/printers/${p.id}`} onClick={onLinkClick}>
                        {p.name}
                      </a>
                    </th>
                    <td>{p.model_name ?? p.model ?? '—'}</td>
                    <td class="num">{p.serial}</td>
                    <td>{p.source === 'homeassistant' ? 'Home Assistant' : p.host ?? '—'}</td>
                    <ConnectionCell id={p.id} />
                    <td>
                      <div class="actions">
                        <button type="button" class="btn sm" onClick={() => openEdit(p)}>
                          Edit
                        </button>
                        <button type="button" class="btn sm danger" onClick={() => setRemove(p)}>
                          Remove
                        </button>
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
      {form && <PrinterForm p={form.p} onDone={() => setForm(null)} />}
      {remove && (
        <Confirm
          title={`Remove ${remove.name}?`}
          message="printdeck stops watching it. Its print history is kept."
          action="Remove"
          danger
          onClose={() => setRemove(null)}
          onConfirm={() => api.del(`/api/v1/printers/${remove.id}`)}
        />
      )}
    </section>
  );
}
