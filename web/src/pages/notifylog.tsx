// Settings → Notifications → Delivery log (admins): every attempt of every channel, newest
// first, filtered by channel, event and printer and paged with X-Total-Count (docs/api.md,
// GET /api/v1/notifications/log). A message quiet hours held is a row of attempt 0.
import { useEffect, useState } from 'preact/hooks';
import { request } from '../api';
import { Empty, ErrorBox, Loading, Pager } from '../components/ui';
import { dateFormat } from '../format';
import { usePrinterIndex } from '../live';
import { Channel, KINDS, kindLabel, LogRow, logQuery, outcomeText } from '../notify';

const SIZE = 25;
const COLS = ['Time', 'Channel', 'Event', 'Printer', 'Title', 'Attempt', 'Outcome', 'Error'];
const EVENTS = [...KINDS.map((k) => k.kind), 'test', 'digest'].map((k) => ({ id: k, name: kindLabel(k) }));
const when = dateFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });

function Filter(props: { name: string; label: string; all: string; value: string; onChange: (e: Event) => void; options: { id: number | string; name: string }[] }) {
  return (
    <div class="field">
      <label for={`log-${props.name}`}>{props.label}</label>
      <select id={`log-${props.name}`} value={props.value} onChange={props.onChange}>
        <option value="">{props.all}</option>
        {props.options.map((o) => (
          <option key={o.id} value={String(o.id)}>
            {o.name}
          </option>
        ))}
      </select>
    </div>
  );
}

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
        <Filter name="channel" label="Channel" all="All channels" value={f.channel} onChange={filter('channel')} options={props.channels} />
        <Filter name="event" label="Event" all="All events" value={f.event} onChange={filter('event')} options={EVENTS} />
        <Filter name="printer" label="Printer" all="All printers" value={f.printer} onChange={filter('printer')} options={printers} />
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
                {COLS.map((c) => (
                  <th key={c} scope="col">
                    {c}
                  </th>
                ))}
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
      {rows && <Pager page={page} size={SIZE} total={total} noun="attempts" label="Log pages" onPage={setPage} />}
    </section>
  );
}
