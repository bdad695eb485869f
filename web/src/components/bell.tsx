// The alert bell of the top bar: open alerts (docs/api.md, Alerts), newest first, kept live by
// the alert.* events; operators acknowledge them here.
import { useRef, useState } from 'preact/hooks';
import { api } from '../api';
import { useCan } from '../auth';
import { dateTime } from '../jobs';
import { Alert, newestFirst, notices, useNotices } from '../notices';
import { useDismiss } from './ui';

function AlertItem(props: { a: Alert; canAck: boolean }) {
  const { a } = props;
  const [err, setErr] = useState<string | null>(null);
  const ack = async () => {
    setErr(null);
    try {
      const r = await api.post<Alert>(`/api/v1/alerts/${a.id}/ack`);
      notices.handle({ id: null, event: 'alert.acked', data: JSON.stringify(r) });
    } catch (e) {
      setErr((e as Error).message);
    }
  };
  return (
    <li class={`bell-item sev-${a.severity}${a.acked ? ' acked' : ''}`}>
      <p>{a.message}</p>
      <div class="bell-meta">
        <span class="muted small">
          {dateTime(a.raised_at)}
          {a.acked ? ' · acknowledged' : ''}
        </span>
        {props.canAck && !a.acked && (
          <button type="button" class="btn sm" onClick={ack}>
            Acknowledge
          </button>
        )}
      </div>
      {err && (
        <p class="form-error" role="alert">
          {err}
        </p>
      )}
    </li>
  );
}

export function Bell() {
  const n = useNotices();
  const canAck = useCan('operator');
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  useDismiss(open, () => setOpen(false), box);
  const list = newestFirst(n.alerts);
  const unacked = list.filter((a) => !a.acked).length;
  return (
    <div class="bell" ref={box}>
      <button
        type="button"
        class="icon-btn bell-btn"
        aria-expanded={open}
        aria-controls="bell-list"
        aria-label={`Alerts: ${list.length} open, ${unacked} not acknowledged`}
        onClick={() => setOpen(!open)}
      >
        <svg class="icon" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">
          <path fill="currentColor" d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1z" />
        </svg>
        {unacked > 0 && <span class="count">{unacked > 99 ? '99+' : unacked}</span>}
      </button>
      {open && (
        <div id="bell-list" class="bell-pop" role="region" aria-label="Open alerts">
          <h2>Open alerts</h2>
          {list.length === 0 ? <p class="muted">Nothing needs attention.</p> : (
            <ul>
              {list.map((a) => (
                <AlertItem key={a.id} a={a} canAck={canAck} />
              ))}
            </ul>
          )}
        </div>
      )}
    </div>
  );
}
