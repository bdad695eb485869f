// Small shared pieces: dialogs, confirmation, swatches, meters, states.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { isLight, swatchBackground } from '../format';

export function Dialog(props: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current!;
    if (!d.open) d.showModal();
    const cancel = (e: Event) => {
      e.preventDefault();
      props.onClose();
    };
    d.addEventListener('cancel', cancel);
    return () => d.removeEventListener('cancel', cancel);
  }, []);
  return (
    <dialog ref={ref} class={props.wide ? 'dialog wide' : 'dialog'} aria-labelledby="dialog-title">
      <header class="dialog-head">
        <h2 id="dialog-title">{props.title}</h2>
        <button type="button" class="icon-btn" aria-label="Close" onClick={props.onClose}>
          ✕
        </button>
      </header>
      {props.children}
    </dialog>
  );
}

/** Asks before a command that cannot be taken back; runs it and shows its error in words. */
export function Confirm(props: {
  title: string;
  message: string;
  action: string;
  danger?: boolean;
  onConfirm: () => Promise<unknown>;
  onClose: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const run = async () => {
    setBusy(true);
    setErr(null);
    try {
      await props.onConfirm();
      props.onClose();
    } catch (e) {
      setErr((e as Error).message);
      setBusy(false);
    }
  };
  return (
    <Dialog title={props.title} onClose={props.onClose}>
      <p>{props.message}</p>
      {err && (
        <p class="form-error" role="alert">
          {err}
        </p>
      )}
      <div class="dialog-actions">
        <button type="button" class="btn" onClick={props.onClose}>
          Cancel
        </button>
        <button type="button" class={props.danger ? 'btn danger' : 'btn primary'} disabled={busy} onClick={run}>
          {busy ? 'Sending…' : props.action}
        </button>
      </div>
    </Dialog>
  );
}

export function Swatch(props: { colors: string[]; direction?: string | null; size?: 'sm' | 'md' | 'lg'; label: string; empty?: boolean }) {
  const bg = swatchBackground(props.colors, props.direction);
  return (
    <span
      class={`swatch ${props.size ?? 'md'}${props.empty || !props.colors.length ? ' empty' : ''}`}
      style={{ background: props.colors.length ? bg : undefined }}
      role="img"
      aria-label={props.label}
      title={props.label}
    />
  );
}

/** A popover's dismissal: a press outside `box` or Escape closes it while it is open. */
export function useDismiss(open: boolean, close: () => void, box: { current: HTMLElement | null }) {
  useEffect(() => {
    if (!open) return;
    const away = (e: Event) => box.current && !box.current.contains(e.target as Node) && close();
    const esc = (e: KeyboardEvent) => e.key === 'Escape' && close();
    document.addEventListener('pointerdown', away);
    document.addEventListener('keydown', esc);
    return () => {
      document.removeEventListener('pointerdown', away);
      document.removeEventListener('keydown', esc);
    };
  }, [open]);
}

export function Meter(props: { value: number | null; label: string; tone?: string }) {
  const v = props.value ?? 0;
  return (
    <div class={`meter ${props.tone ?? ''}`} role="progressbar" aria-label={props.label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={props.value ?? undefined}>
      <div class="meter-fill" style={{ width: `${Math.max(0, Math.min(100, v))}%` }} />
    </div>
  );
}

export function textOn(color: string | null) {
  return color && isLight(color) ? '#111' : '#fff';
}

export function Empty(props: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty-state">
      <h2>{props.title}</h2>
      {props.children}
    </div>
  );
}

export function Loading(props: { label?: string }) {
  return (
    <div class="loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" />
      {props.label ?? 'Loading…'}
    </div>
  );
}

/** What a test (a connection, a channel's message) came to, in the words the daemon gave. */
export function Outcome(props: { ok: boolean; said: string; message: string }) {
  return (
    <p class={props.ok ? 'ok-text' : 'form-error'}>
      <strong>{props.said}</strong>
      {props.message}
    </p>
  );
}

/** Newer and older pages of a list the API counts (X-Total-Count). */
export function Pager(props: { page: number; size: number; total: number; noun: string; label?: string; onPage: (n: number) => void }) {
  const pages = Math.max(1, Math.ceil(props.total / props.size));
  if (props.total <= props.size) return null;
  return (
    <nav class="pager" aria-label={props.label ?? 'Pages'}>
      <button type="button" class="btn sm" disabled={props.page === 0} onClick={() => props.onPage(props.page - 1)}>
        ← Newer
      </button>
      <span class="muted">
        Page {props.page + 1} of {pages} · {props.total} {props.noun}
      </span>
      <button type="button" class="btn sm" disabled={props.page + 1 >= pages} onClick={() => props.onPage(props.page + 1)}>
        Older →
      </button>
    </nav>
  );
}

export function ErrorBox(props: { error: string; onRetry?: () => void }) {
  return (
    <div class="error-box" role="alert">
      <p>{props.error}</p>
      {props.onRetry && (
        <button type="button" class="btn" onClick={props.onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

const ICONS: Record<string, string> = {
  pause: 'M7 5h3v14H7zM14 5h3v14h-3z',
  play: 'M8 5v14l11-7z',
  stop: 'M6 6h12v12H6z',
  light: 'M9 21h6v-1H9zm3-19a7 7 0 0 0-4 12.7V17h8v-2.3A7 7 0 0 0 12 2z',
  drop: 'M12 3s-6 6.5-6 11a6 6 0 0 0 12 0c0-4.5-6-11-6-11z',
  clock: 'M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 2a8 8 0 1 1 0 16 8 8 0 0 1 0-16zm1 3h-2v6l5 3 1-1.7-4-2.3z',
  sun: 'M12 7a5 5 0 1 0 0 10 5 5 0 0 0 0-10zM11 1h2v3h-2zm0 19h2v3h-2zM1 11h3v2H1zm19 0h3v2h-3zM4.2 5.6l1.4-1.4 2.1 2.1-1.4 1.4zm12.1 12.1 1.4-1.4 2.1 2.1-1.4 1.4zM4.2 18.4l2.1-2.1 1.4 1.4-2.1 2.1zm12.1-12.1 2.1-2.1 1.4 1.4-2.1 2.1z',
  moon: 'M20.5 14.6A8.5 8.5 0 0 1 9.4 3.5a8.5 8.5 0 1 0 11.1 11.1z',
  // a ring, its right half filled: "as the system says"
  halves: 'M12 2a10 10 0 1 0 0 20 10 10 0 1 0 0-20zm0 2a8 8 0 1 1 0 16 8 8 0 1 1 0-16zm0 0v16a8 8 0 0 0 0-16z',
};

/** An inline icon: drawn the same on every device, unlike emoji, and hidden from readers. */
export function Icon(props: { name: keyof typeof ICONS; size?: number }) {
  const s = props.size ?? 16;
  return (
    <svg class="icon" viewBox="0 0 24 24" width={s} height={s} aria-hidden="true" focusable="false">
      <path d={ICONS[props.name]} fill="currentColor" fill-rule="evenodd" />
    </svg>
  );
}
