// Settings → Users (admins): create, role, printer limits, reset password, delete.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { useAuth, type Role } from '../auth';
import { Confirm, Dialog, ErrorBox, Loading } from '../components/ui';
import { usePrinterIndex } from '../live';
import { passwordProblem } from './account';
import { SettingsNav } from './settings';

export interface User {
  id: number;
  name: string;
  role: Role;
  printers: number[];
  created_at: string | null;
  last_login_at: string | null;
}

const ROLES: { value: Role; label: string }[] = [
  { value: 'viewer', label: 'Viewer — sees everything, changes nothing' },
  { value: 'operator', label: 'Operator — controls printers, edits the inventory' },
  { value: 'admin', label: 'Admin — also users, tokens, printers and settings' },
];

export const when = (t: string | null) => (t ? new Date(t).toLocaleString() : 'never');

/** "All printers", or the names of those in the limit. */
export function limitText(ids: number[], names: Map<number, string>): string {
  if (!ids.length) return 'All printers';
  return ids.map((id) => names.get(id) ?? `#${id}`).join(', ');
}

export function PrinterPicker(props: { value: number[]; set: (v: number[]) => void }) {
  const printers = usePrinterIndex();
  const all = props.value.length === 0;
  return (
    <fieldset class="field wide printer-picker">
      <legend>Printers</legend>
      <label>
        <input type="checkbox" checked={all} onChange={() => props.set(all ? printers.slice(0, 1).map((p) => p.id) : [])} /> All printers
      </label>
      {!all &&
        printers.map((p) => (
          <label key={p.id}>
            <input
              type="checkbox"
              checked={props.value.includes(p.id)}
              onChange={(e) => props.set((e.target as HTMLInputElement).checked ? [...props.value, p.id] : props.value.filter((x) => x !== p.id))}
            />{' '}
            {p.name}
          </label>
        ))}
    </fieldset>
  );
}

function UserDialog(props: { user: User | null; onClose: () => void; onSaved: () => void }) {
  const u = props.user;
  const [name, setName] = useState(u?.name ?? '');
  const [role, setRole] = useState<Role>(u?.role ?? 'viewer');
  const [printers, setPrinters] = useState<number[]>(u?.printers ?? []);
  const [pw, setPw] = useState('');
  const [again, setAgain] = useState('');
  const [errs, setErrs] = useState<Record<string, string | null>>({});
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const local = { name: name.trim() ? null : 'a name is needed', password: u ? null : passwordProblem(pw, again) };
    setErrs(local);
    if (local.name || local.password) return;
    setBusy(true);
    try {
      if (u) await api.patch(`/api/v1/users/${u.id}`, { name: name.trim(), role, printers });
      else await api.post('/api/v1/users', { name: name.trim(), password: pw, role, printers });
      props.onSaved();
      props.onClose();
    } catch (ex) {
      const f = (ex as { fields?: Record<string, string> }).fields ?? {};
      const known = f.name || f.password || f.role || f.printers;
      setErrs({ ...f, general: known ? null : (ex as Error).message });
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title={u ? `Edit ${u.name}` : 'New user'} onClose={props.onClose} wide>
      <form class="form" onSubmit={submit} noValidate>
        <div class="form-grid">
          <div class="field">
            <label for="u-name">Name</label>
            <input id="u-name" value={name} autocomplete="off" aria-invalid={errs.name ? true : undefined} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
            {errs.name && <p class="field-error">{errs.name}</p>}
          </div>
          <div class="field">
            <label for="u-role">Role</label>
            <select id="u-role" value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value as Role)}>
              {ROLES.map((r) => (
                <option key={r.value} value={r.value}>
                  {r.label}
                </option>
              ))}
            </select>
            {errs.role && <p class="field-error">{errs.role}</p>}
          </div>
          {!u && (
            <>
              <div class="field">
                <label for="u-pw">Password</label>
                <input id="u-pw" type="password" autocomplete="new-password" value={pw} aria-invalid={errs.password ? true : undefined} onInput={(e) => setPw((e.target as HTMLInputElement).value)} />
                {errs.password && <p class="field-error">{errs.password}</p>}
              </div>
              <div class="field">
                <label for="u-again">Password again</label>
                <input id="u-again" type="password" autocomplete="new-password" value={again} onInput={(e) => setAgain((e.target as HTMLInputElement).value)} />
              </div>
            </>
          )}
          <PrinterPicker value={printers} set={setPrinters} />
          {errs.printers && <p class="field-error">{errs.printers}</p>}
        </div>
        {errs.general && (
          <p class="form-error" role="alert">
            {errs.general}
          </p>
        )}
        <div class="dialog-actions">
          <button type="submit" class="btn primary" disabled={busy}>
            {u ? 'Save' : 'Create'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function ResetDialog(props: { user: User; onClose: () => void }) {
  const [pw, setPw] = useState('');
  const [again, setAgain] = useState('');
  const [err, setErr] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const p = passwordProblem(pw, again);
    setErr(p);
    if (p) return;
    try {
      await api.post(`/api/v1/users/${props.user.id}/password`, { password: pw });
      setDone(true);
    } catch (ex) {
      setErr((ex as Error).message);
    }
  };
  return (
    <Dialog title={`Reset the password of ${props.user.name}`} onClose={props.onClose}>
      {done ? (
        <p role="status">Done: {props.user.name} is signed out everywhere and signs in with the new password.</p>
      ) : (
        <form class="form" onSubmit={submit} noValidate>
          <div class="field">
            <label for="r-pw">New password</label>
            <input id="r-pw" type="password" autocomplete="new-password" value={pw} onInput={(e) => setPw((e.target as HTMLInputElement).value)} />
          </div>
          <div class="field">
            <label for="r-again">New password again</label>
            <input id="r-again" type="password" autocomplete="new-password" value={again} onInput={(e) => setAgain((e.target as HTMLInputElement).value)} />
          </div>
          {err && (
            <p class="form-error" role="alert">
              {err}
            </p>
          )}
          <div class="dialog-actions">
            <button type="submit" class="btn primary">
              Reset
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

export function UsersPage() {
  const { me } = useAuth();
  const printers = usePrinterIndex();
  const names = new Map(printers.map((p) => [p.id, p.name]));
  const [users, setUsers] = useState<User[] | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [edit, setEdit] = useState<User | null | 'new'>(null);
  const [reset, setReset] = useState<User | null>(null);
  const [del, setDel] = useState<User | null>(null);
  const load = () => api.get<User[]>('/api/v1/users').then(setUsers, (e) => setErr((e as Error).message));
  useEffect(() => {
    void load();
  }, []);
  if (me?.role !== 'admin') return <ErrorBox error="Only an admin manages users." />;
  return (
    <section class="page">
      <header class="page-head">
        <h1>Users</h1>
        <button type="button" class="btn primary" onClick={() => setEdit('new')}>
          New user
        </button>
      </header>
      <SettingsNav />
      {err && <ErrorBox error={err} onRetry={() => void load()} />}
      {!users && !err && <Loading />}
      {users && (
        <div class="table-wrap">
          <table class="dense">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Printers</th>
                <th scope="col">Last sign-in</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.id} data-user={u.name}>
                  <th scope="row">{u.name}</th>
                  <td>{u.role}</td>
                  <td>{limitText(u.printers, names)}</td>
                  <td>{when(u.last_login_at)}</td>
                  <td class="actions">
                    <button type="button" class="btn sm" onClick={() => setEdit(u)} aria-label={`Edit ${u.name}`}>
                      Edit
                    </button>
                    <button type="button" class="btn sm" onClick={() => setReset(u)} aria-label={`Reset password of ${u.name}`}>
                      Reset password
                    </button>
                    <button type="button" class="btn sm danger-outline" onClick={() => setDel(u)} aria-label={`Delete ${u.name}`}>
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {edit && <UserDialog user={edit === 'new' ? null : edit} onClose={() => setEdit(null)} onSaved={() => void load()} />}
      {reset && <ResetDialog user={reset} onClose={() => setReset(null)} />}
      {del && (
        <Confirm
          title={`Delete ${del.name}?`}
          message="They are signed out at once and cannot sign in again."
          action="Delete"
          danger
          onConfirm={() => api.del(`/api/v1/users/${del.id}`).then(load)}
          onClose={() => setDel(null)}
        />
      )}
    </section>
  );
}
