// Settings → Printers: add (with a connection test that says in words what fails), edit,
// remove; and the navigation between the settings' sections (thresholds, notifications, users,
// tokens).
import { useState } from 'preact/hooks';
import { api } from '../api';
import { useCan } from '../auth';
import { FieldDef, FormField, placeErrors, str, toBody, validate, Values } from '../components/form';
import { Confirm, Dialog, Empty, Outcome } from '../components/ui';
import { usePrinterIndex } from '../live';
import { onLinkClick, usePath } from '../router';
import type { Printer } from '../types';

interface TestResult { ok: boolean; step: string; message: string; elapsed_ms: number }

const DEFS = (edit: boolean): FieldDef[] => [
  { name: 'name', label: 'Name', required: true },
  { name: 'serial', label: 'Serial', required: true, hint: 'on the printer: Settings → Device' },
  { name: 'host', label: 'Address', required: true, hint: 'IP address or host name' },
  { name: 'access_code', label: 'LAN access code', type: 'password', required: !edit, hint: edit ? 'leave empty to keep it' : 'Settings → LAN Only Mode' },
  { name: 'port', label: 'MQTT port', type: 'number', min: 1, max: 65535 },
  { name: 'ca_file', label: 'CA file', hint: 'only for a printer with its own certificate' },
  { name: 'tls_verify', label: 'Verify TLS', type: 'select', options: [{ value: 'true', label: 'Yes (recommended)' }, { value: 'false', label: 'No' }] },
  // the printer's own timelapse settings; empty: the server's [timelapse] ones (docs/camera.md)
  { name: 'timelapse_enabled', label: 'Timelapse', type: 'select', options: [{ value: '', label: 'As configured' }, { value: 'true', label: 'On' }, { value: 'false', label: 'Off' }] },
  { name: 'timelapse_mode', label: 'Timelapse frames', type: 'select', options: [{ value: '', label: 'As configured' }, { value: 'layer', label: 'One per layer' }, { value: 'interval', label: 'One per interval' }] },
  { name: 'timelapse_interval_s', label: 'Timelapse interval (s)', type: 'number', min: 1, max: 3600, step: '1', hint: 'empty: as configured' },
  { name: 'timelapse_fps', label: 'Timelapse video fps', type: 'number', min: 1, max: 120, step: '1', hint: 'empty: as configured' },
];

type Timelapse = { enabled: boolean | null; mode: string | null; interval_s: number | null; fps: number | null };

function PrinterForm(props: { p?: Printer & { port?: number; ca_file?: string | null; tls_verify?: boolean; timelapse?: Timelapse }; onDone: () => void }) {
  const edit = !!props.p;
  const defs = DEFS(edit);
  const initial: Values = {
    name: str(props.p?.name), serial: str(props.p?.serial), host: str(props.p?.host), access_code: '',
    port: str(props.p?.port ?? 8883), ca_file: str(props.p?.ca_file), tls_verify: props.p?.tls_verify === false ? 'false' : 'true',
    timelapse_enabled: str(props.p?.timelapse?.enabled), timelapse_mode: str(props.p?.timelapse?.mode),
    timelapse_interval_s: str(props.p?.timelapse?.interval_s), timelapse_fps: str(props.p?.timelapse?.fps),
  };
  const [v, setV] = useState<Values>(initial);
  const [errs, setErrs] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState<'' | 'test' | 'save'>('');
  const [test, setTest] = useState<TestResult | null>(null);
  const body = () => {
    const b = toBody(defs, v, edit, initial);
    if ('tls_verify' in b) b.tls_verify = b.tls_verify === 'true';
    if (typeof b.timelapse_enabled === 'string') b.timelapse_enabled = b.timelapse_enabled === 'true';
    if (edit && b.access_code === null) delete b.access_code; // empty keeps the stored code
    return b;
  };
  const check = () => {
    const local = validate(defs, v);
    setErrs(local);
    setGeneral(null);
    return !Object.keys(local).length;
  };
  const fail = (ex: unknown) => {
    const placed = placeErrors(ex, defs.map((d) => d.name));
    setErrs(placed.fields);
    setGeneral(placed.general);
  };
  const runTest = async () => {
    if (!check()) return;
    setBusy('test');
    setTest(null);
    try {
      setTest(await api.post<TestResult>(`/api/v1/printers/test${edit ? `?printer=${props.p!.id}` : ''}`, body()));
    } catch (ex) {
      fail(ex);
    } finally {
      setBusy('');
    }
  };
  const save = async (e: Event) => {
    e.preventDefault();
    if (!check()) return;
    setBusy('save');
    try {
      if (edit) await api.patch(`/api/v1/printers/${props.p!.id}`, body());
      else await api.post('/api/v1/printers', body());
      props.onDone();
    } catch (ex) {
      fail(ex);
    } finally {
      setBusy('');
    }
  };
  return (
    <Dialog title={edit ? `Edit ${props.p!.name}` : 'Add a printer'} onClose={props.onDone} wide>
      <form class="form" onSubmit={save} noValidate>
        <p class="muted small">On the printer: turn on LAN mode and Developer Mode, then read the serial and the access code from its screen.</p>
        <div class="form-grid">
          {defs.map((d) => (
            <FormField key={d.name} d={d} idPrefix="pf" value={v[d.name] ?? ''} err={errs[d.name]} set={(x) => setV({ ...v, [d.name]: x })} />
          ))}
        </div>
        <div class="test-result" role="status" aria-live="polite">
          {busy === 'test' && <p class="muted">Testing the connection… (up to 10 s)</p>}
          {test && <Outcome ok={test.ok} said={test.ok ? 'Connection works: ' : 'Connection test failed: '} message={test.message} />}
        </div>
        {general && (
          <p class="form-error" role="alert">
            {general}
          </p>
        )}
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={runTest} disabled={!!busy}>
            Test connection
          </button>
          <button type="button" class="btn" onClick={props.onDone}>
            Cancel
          </button>
          <button type="submit" class="btn primary" disabled={!!busy}>
            {busy === 'save' ? 'Saving…' : edit ? 'Save' : 'Add printer'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

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

export function SettingsPage() {
  const printers = usePrinterIndex();
  const [form, setForm] = useState<null | { p?: Printer }>(null);
  const [remove, setRemove] = useState<Printer | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const openEdit = async (p: Printer) => {
    setErr(null);
    try {
      setForm({ p: await api.get<Printer>(`/api/v1/printers/${p.id}`) });
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
                    <td>{p.host ?? '—'}</td>
                    <td>{p.source === 'homeassistant' ? `Home Assistant${p.online ? '' : ': no webhook yet'}` : p.online ? 'online' : p.connection?.error ?? p.connection?.state ?? 'offline'}</td>
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
      {form && <PrinterForm p={form.p as any} onDone={() => setForm(null)} />}
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
