// Settings → Notifications → Delivery log (admins): every attempt of every channel, newest
// first, filtered by channel, event and printer and paged with X-Total-Count (docs/api.md,
// GET /api/v1/notifications/log). A message quiet hours held is a row of attempt 0.
import { useEffect, useState } from 'preact/hooks';
import { request } from '../api';
import { Empty, ErrorBox, Loading } from '../components/ui';
import { dateFormat } from '../format';
import { usePrinterIndex } from '../live';
import { Channel, KINDS, kindLabel, LogRow, logQuery, outcomeText } from '../notify';

const SIZE = 25;
const when = dateFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });

export function DeliveryLog(props: { channels: Channel[] }) {
  const printers = usePrinterIndex();
  const [f, setF] = useState({ channel: '', event: '', printer: '' });
  const [page, setPage] = useState(0);
  const [rows, setRows] = useState<LogRow[] | null>(null);
  const [total, setTotal] = useState(0);
  const [err, setErr] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setErr(null);
    request<LogRow[]>('GET', logQuery(f, page, SIZE)).then(
      (r) => {
        if (!live) return;
        setRows(r.data);
        setTotal(r.total ?? r.data.length);
      },
      (e) => live && setErr((e as Error).message),
    );
    return () => {
      live = false;
    };
  }, [f, page, tick]);
  const filter = (k: keyof typeof f) => (e: Event) => {
    setF({ ...f, [k]: (e.target as HTMLSelectElement).value });
    setPage(0);
  };
  const channelName = (id: number) => props.channels.find((c) => c.id === id)?.name ?? `#${id}`;
  const printerName = (id: number | null) => (id === null ? '—' : printers.find((p) => p.id === id)?.name ?? `#${id}`);
  const pages = Math.max(1, Math.ceil(total / SIZE));
  return (
    <section class="card" aria-labelledby="log-title">
      <div class="page-head">
        <h2 id="log-title">Delivery log</h2>
        <div class="head-actions">
          <button type="button" class="btn sm" onClick={() => setTick(tick + 1)}>
            Refresh
          </button>
        </div>
      </div>
      <div class="filters log-filters">
        <div class="field">
          <label for="log-channel">Channel</label>
          <select id="log-channel" value={f.channel} onChange={filter('channel')}>
            <option value="">All channels</option>
            {props.channels.map((c) => (
              <option key={c.id} value={String(c.id)}>
                {c.name}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="log-event">Event</label>
          <select id="log-event" value={f.event} onChange={filter('event')}>
            <option value="">All events</option>
            {[...KINDS.map((k) => k.kind), 'test', 'digest'].map((k) => (
              <option key={k} value={k}>
                {kindLabel(k)}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="log-printer">Printer</label>
          <select id="log-printer" value={f.printer} onChange={filter('printer')}>
            <option value="">All printers</option>
            {printers.map((p) => (
              <option key={p.id} value={String(p.id)}>
                {p.name}
              </option>
            ))}
          </select>
        </div>
      </div>
      {err && <ErrorBox error={err} onRetry={() => setTick(tick + 1)} />}
      {!rows && !err && <Loading label="Reading the log" />}
      {rows && !rows.length && (
        <Empty title={f.channel || f.event || f.printer ? 'Nothing matches these filters' : 'Nothing sent yet'}>
          <p>Every attempt to deliver a message shows here, with the service’s answer.</p>
        </Empty>
      )}
      {rows && rows.length > 0 && (
        <div class="table-wrap">
          <table class="dense stack-on-phone log-table">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Channel</th>
                <th scope="col">Event</th>
                <th scope="col">Printer</th>
                <th scope="col">Title</th>
                <th scope="col">Attempt</th>
                <th scope="col">Outcome</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id} class={r.ok ? undefined : 'failed'}>
                  <td data-label="Time">{when.format(new Date(r.at))}</td>
                  <td data-label="Channel">{channelName(r.channel_id)}</td>
                  <td data-label="Event">{kindLabel(r.event)}</td>
                  <td data-label="Printer">{printerName(r.printer_id)}</td>
                  <td data-label="Title" class="wrap">{r.title}</td>
                  <td data-label="Attempt" class="num">{r.attempt}</td>
                  <td data-label="Outcome">
                    <span class={`badge ${r.ok ? 'ok' : r.attempt === 0 ? '' : 'bad'}`}>{outcomeText(r)}</span>
                  </td>
                  <td data-label="Error" class="wrap">{r.error ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {rows && total > SIZE && (
        <nav class="pager" aria-label="Log pages">
          <button type="button" class="btn sm" disabled={page === 0} onClick={() => setPage(page - 1)}>
            ← Newer
          </button>
          <span class="muted">
            Page {page + 1} of {pages} · {total} attempts
          </span>
          <button type="button" class="btn sm" disabled={page + 1 >= pages} onClick={() => setPage(page + 1)}>
            Older →
          </button>
        </nav>
      )}
    </section>
  );
}
