// Signing in and out: the setup page of a first start, the sign-in page, the sign-in dialog
// over a page whose session ended (what was typed there stays), and the user menu.
import { useRef, useState } from 'preact/hooks';
import { api } from '../api';
import { setup, signIn, signOut, useAuth, type Me } from '../auth';
import { Dialog, useDismiss } from '../components/ui';
import { onLinkClick } from '../router';

export const PW_MIN = 8;

/** What is wrong with a new password and its confirmation, or null. */
export function passwordProblem(pw: string, again: string): string | null {
  if (pw.length < PW_MIN) return `at least ${PW_MIN} characters`;
  if (new TextEncoder().encode(pw).length > 256) return 'at most 256 bytes';
  if (pw !== again) return 'the two passwords differ';
  return null;
}

function Field(props: { id: string; label: string; type?: string; value: string; set: (v: string) => void; error?: string | null; auto?: string }) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        type={props.type ?? 'text'}
        value={props.value}
        autocomplete={props.auto}
        aria-invalid={props.error ? true : undefined}
        aria-describedby={props.error ? `${props.id}-err` : undefined}
        onInput={(e) => props.set((e.target as HTMLInputElement).value)}
      />
      {props.error && (
        <p id={`${props.id}-err`} class="field-error">
          {props.error}
        </p>
      )}
    </div>
  );
}

function SignInForm(props: { error?: string; name?: string }) {
  const [useToken, setUseToken] = useState(false);
  const [name, setName] = useState(props.name ?? '');
  const [pw, setPw] = useState('');
  const [token, setToken] = useState('');
  const [err, setErr] = useState<string | null>(props.error ?? null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (useToken ? !token.trim() : !name.trim() || !pw) {
      setErr(useToken ? 'Paste a token.' : 'Enter your name and password.');
      return;
    }
    setBusy(true);
    setErr(null);
    try {
      await signIn(useToken ? { token: token.trim() } : { name: name.trim(), password: pw });
    } catch (ex) {
      setErr((ex as Error).message);
      setPw('');
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="form auth-form" onSubmit={submit} noValidate>
      {useToken ? (
        <Field id="signin-token" label="API token" type="password" value={token} set={setToken} auto="off" />
      ) : (
        <>
          <Field id="signin-name" label="Name" value={name} set={setName} auto="username" />
          <Field id="signin-password" label="Password" type="password" value={pw} set={setPw} auto="current-password" />
        </>
      )}
      {err && (
        <p class="form-error" role="alert">
          {err}
        </p>
      )}
      <div class="dialog-actions">
        <button type="button" class="btn" onClick={() => setUseToken(!useToken)}>
          {useToken ? 'Use a name and password' : 'Use an API token'}
        </button>
        <button type="submit" class="btn primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </div>
    </form>
  );
}

export function SignInPage(props: { error?: string }) {
  return (
    <div class="auth-page">
      <h1>Sign in to printdeck</h1>
      <SignInForm error={props.error} />
    </div>
  );
}

/** Over a page whose session ended: signing in again leaves the page, and what was typed on it, as it was. */
export function SignInAgain(props: { me: Me | null }) {
  return (
    // closing it leaves the page for the sign-in page: the page behind cannot be used signed out
    <Dialog title="Your session has ended" onClose={() => void signOut()}>
      <p>Sign in again{props.me?.name ? ` as ${props.me.name}` : ''} to go on; what you typed on this page is kept.</p>
      <SignInForm name={props.me?.kind === 'session' && props.me.user_id ? props.me.name : ''} />
    </Dialog>
  );
}

export function SetupPage() {
  const [name, setName] = useState('admin');
  const [pw, setPw] = useState('');
  const [again, setAgain] = useState('');
  const [errs, setErrs] = useState<Record<string, string | null>>({});
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const local = { name: name.trim() ? null : 'a name is needed', password: passwordProblem(pw, again) };
    setErrs(local);
    if (local.name || local.password) return;
    setBusy(true);
    try {
      await setup(name.trim(), pw);
    } catch (ex) {
      const f = (ex as { fields?: Record<string, string> }).fields ?? {};
      setErrs({ name: f.name ?? null, password: f.password ?? null, general: f.name || f.password ? null : (ex as Error).message });
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="auth-page">
      <h1>Welcome to printdeck</h1>
      <p>Create the first account: an admin, who can add printers, users and tokens.</p>
      <form class="form auth-form" onSubmit={submit} noValidate>
        <Field id="setup-name" label="Name" value={name} set={setName} error={errs.name} auto="username" />
        <Field id="setup-password" label={`Password (at least ${PW_MIN} characters)`} type="password" value={pw} set={setPw} error={errs.password} auto="new-password" />
        <Field id="setup-again" label="Password again" type="password" value={again} set={setAgain} auto="new-password" />
        {errs.general && (
          <p class="form-error" role="alert">
            {errs.general}
          </p>
        )}
        <div class="dialog-actions">
          <button type="submit" class="btn primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create the admin'}
          </button>
        </div>
      </form>
    </div>
  );
}

function PasswordDialog(props: { onClose: () => void }) {
  const [cur, setCur] = useState('');
  const [pw, setPw] = useState('');
  const [again, setAgain] = useState('');
  const [errs, setErrs] = useState<Record<string, string | null>>({});
  const [done, setDone] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const p = passwordProblem(pw, again);
    setErrs({ password: p, current: cur ? null : 'enter your current password' });
    if (p || !cur) return;
    try {
      await api.post('/api/v1/me/password', { current: cur, password: pw });
      setDone(true);
    } catch (ex) {
      const f = (ex as { fields?: Record<string, string> }).fields ?? {};
      setErrs({ current: f.current ?? null, password: f.password ?? null, general: f.current || f.password ? null : (ex as Error).message });
    }
  };
  return (
    <Dialog title="Change your password" onClose={props.onClose}>
      {done ? (
        <>
          <p role="status">Your password is changed. Your other devices are signed out.</p>
          <div class="dialog-actions">
            <button type="button" class="btn primary" onClick={props.onClose}>
              Close
            </button>
          </div>
        </>
      ) : (
        <form class="form" onSubmit={submit} noValidate>
          <Field id="pw-current" label="Current password" type="password" value={cur} set={setCur} error={errs.current} auto="current-password" />
          <Field id="pw-new" label="New password" type="password" value={pw} set={setPw} error={errs.password} auto="new-password" />
          <Field id="pw-again" label="New password again" type="password" value={again} set={setAgain} auto="new-password" />
          {errs.general && (
            <p class="form-error" role="alert">
              {errs.general}
            </p>
          )}
          <div class="dialog-actions">
            <button type="submit" class="btn primary">
              Change
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

export function UserMenu() {
  const { me } = useAuth();
  const [open, setOpen] = useState(false);
  const [pw, setPw] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  useDismiss(open, () => setOpen(false), box);
  if (!me || me.kind === 'open') return null;
  const admin = me.role === 'admin';
  return (
    <div class="user-menu popover" ref={box}>
      <button type="button" class="btn sm" title={`${me.name} · ${me.role}`} aria-expanded={open} aria-haspopup="true" onClick={() => setOpen(!open)}>
        <span class="user-name">{me.name}</span> <span class="muted role">· {me.role}</span>
      </button>
      {open && (
        <ul class="menu" role="menu" onClick={() => setOpen(false)}>
          {admin && (
            <li role="none">
              <a role="menuitem" href="/settings/users" onClick={onLinkClick}>
                Users
              </a>
            </li>
          )}
          {admin && (
            <li role="none">
              <a role="menuitem" href="/settings/tokens" onClick={onLinkClick}>
                API tokens
              </a>
            </li>
          )}
          {me.user_id && (
            <li role="none">
              <button type="button" role="menuitem" onClick={() => setPw(true)}>
                Change password
              </button>
            </li>
          )}
          <li role="none">
            <button type="button" role="menuitem" onClick={() => void signOut()}>
              Sign out
            </button>
          </li>
        </ul>
      )}
      {pw && <PasswordDialog onClose={() => setPw(false)} />}
    </div>
  );
}
