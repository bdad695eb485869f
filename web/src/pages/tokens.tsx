// Settings → API tokens (admins): create with a role (the token is shown once), revoke.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { useAuth, type Role } from '../auth';
import { Confirm, Dialog, ErrorBox, Loading } from '../components/ui';
import { SettingsNav } from './settings';
import { when } from './users';

interface Token {
  id: number;
  name: string;
  role: Role;
  hint: string;
  created_at: string | null;
  last_used_at: string | null;
  token?: string;
}

function Created(props: { t: Token; onClose: () => void }) {
  const [copied, setCopied] = useState(false);
  const url = `${location.origin}/?token=${props.t.token}`;
  return (
    <Dialog title={`Token “${props.t.name}” created`} onClose={props.onClose} wide>
      <p>
        <strong>Copy it now: it is shown only this once.</strong> printdeck keeps only its hash.
      </p>
      <label class="field wide">
        <span>Token ({props.t.role})</span>
        <input class="token-value" readOnly value={props.t.token} onFocus={(e) => (e.target as HTMLInputElement).select()} />
      </label>
      <p class="muted">
        Scripts send it as <code>Authorization: Bearer …</code>. A wall display opens <code>{url.replace(props.t.token ?? '', '…')}</code> once and
        keeps a session.
      </p>
      <div class="dialog-actions">
        <button
          type="button"
          class="btn"
          onClick={() => navigator.clipboard?.writeText(props.t.token ?? '').then(() => setCopied(true), () => {})}
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
        <button type="button" class="btn primary" onClick={props.onClose}>
          Done
        </button>
      </div>
    </Dialog>
  );
}

export function TokensPage() {
  const { me } = useAuth();
  const [tokens, setTokens] = useState<Token[] | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [formErr, setFormErr] = useState<string | null>(null);
  const [created, setCreated] = useState<Token | null>(null);
  const [revoke, setRevoke] = useState<Token | null>(null);
  const load = () => api.get<Token[]>('/api/v1/tokens').then(setTokens, (e) => setErr((e as Error).message));
  useEffect(() => {
    void load();
  }, []);
  if (me?.role !== 'admin') return <ErrorBox error="Only an admin manages tokens." />;
  const create = async (e: Event) => {
    e.preventDefault();
    if (!name.trim()) {
      setFormErr('a name is needed, to tell the token apart later');
      return;
    }
    setFormErr(null);
    try {
      setCreated(await api.post<Token>('/api/v1/tokens', { name: name.trim(), role }));
      setName('');
      void load();
    } catch (ex) {
      setFormErr((ex as Error).message);
    }
  };
  return (
    <section class="page">
      <header class="page-head">
        <h1>API tokens</h1>
      </header>
      <SettingsNav />
      <form class="form token-create" onSubmit={create} noValidate>
        <div class="field">
          <label for="t-name">Name</label>
          <input id="t-name" value={name} autocomplete="off" aria-invalid={formErr ? true : undefined} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </div>
        <div class="field">
          <label for="t-role">Role</label>
          <select id="t-role" value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value as Role)}>
            <option value="viewer">viewer</option>
            <option value="operator">operator</option>
            <option value="admin">admin</option>
          </select>
        </div>
        <button type="submit" class="btn primary">
          Create token
        </button>
        {formErr && (
          <p class="form-error" role="alert">
            {formErr}
          </p>
        )}
      </form>
      {err && <ErrorBox error={err} onRetry={() => void load()} />}
      {!tokens && !err && <Loading />}
      {tokens && tokens.length === 0 && <p class="muted">No tokens yet.</p>}
      {tokens && tokens.length > 0 && (
        <div class="table-wrap">
          <table class="dense">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Starts with</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tokens.map((t) => (
                <tr key={t.id} data-token={t.name}>
                  <th scope="row">{t.name}</th>
                  <td>{t.role}</td>
                  <td>
                    <code>{t.hint ? `${t.hint}…` : '—'}</code>
                  </td>
                  <td>{when(t.created_at)}</td>
                  <td>{when(t.last_used_at)}</td>
                  <td>
                    <button type="button" class="btn sm danger-outline" onClick={() => setRevoke(t)} aria-label={`Revoke ${t.name}`}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {created && <Created t={created} onClose={() => setCreated(null)} />}
      {revoke && (
        <Confirm
          title={`Revoke “${revoke.name}”?`}
          message="Whatever uses it — scripts, wall displays signed in with it — loses access at once."
          action="Revoke"
          danger
          onConfirm={() => api.del(`/api/v1/tokens/${revoke.id}`).then(load)}
          onClose={() => setRevoke(null)}
        />
      )}
    </section>
  );
}
