// Jobs: the print history with filters and pages, kept live by the job.* events; and one
// job's page (duration against the estimate, pauses and gaps, environment, failure reason,
// filament per spool, notes and rating).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, request } from '../api';
import { useCan } from '../auth';
import { Empty, ErrorBox, Loading, Pager, Swatch } from '../components/ui';
import { filamentColors, grams } from '../format';
import { applyJobEvent, dateTime, filamentPatch, Job, JobFilters, JobSpool, jobsQuery, JOB_STATUSES, NO_FILTERS, PAGE_SIZE, seconds, spoolLabel, statusTone, trayName, versusEstimate, Stat } from '../jobs';
import { store, usePrinterIndex } from '../live';
import { onLinkClick } from '../router';

function StatusPill(props: { s: Job['status'] }) {
  return <span class={`pill tone-${statusTone(props.s)}`}>{props.s}</span>;
}

/** A job list: filters (unless fixed to one printer), pages, live rows. */
export function JobList(props: { printerId?: number; compact?: boolean }) {
  const printers = usePrinterIndex();
  const [f, setF] = useState<JobFilters>(() => ({ ...NO_FILTERS, printer: props.printerId ? String(props.printerId) : '' }));
  const [page, setPage] = useState(0);
  const [rows, setRows] = useState<Job[] | null>(null);
  const [total, setTotal] = useState(0);
  const [err, setErr] = useState<string | null>(null);
  const [gen, setGen] = useState(0);
  const size = props.compact ? 10 : PAGE_SIZE;
  const state = useRef({ f, page });
  state.current = { f, page };

  useEffect(() => {
    let gone = false;
    const t = setTimeout(() => {
      request<Job[]>('GET', jobsQuery(f, page, size)).then(
        (r) => {
          if (gone) return;
          setRows(r.data);
          setTotal(r.total ?? r.data.length);
          setErr(null);
        },
        (e) => !gone && setErr(e.message),
      );
    }, 200); // typing in the text filter sends one request
    return () => {
      gone = true;
      clearTimeout(t);
    };
  }, [f, page, gen, size]);

  useEffect(
    () =>
      store.listen((ev) => {
        if (!ev.event.startsWith('job.')) return;
        setRows((cur) => {
          if (!cur) return cur;
          const next = applyJobEvent(cur, ev, state.current.f, state.current.page === 0, size);
          if (next && next.length !== cur.length) setTotal((n) => n + 1);
          return next ?? cur;
        });
      }),
    [size],
  );

  const set = (k: keyof JobFilters) => (e: Event) => {
    setF({ ...f, [k]: (e.target as HTMLInputElement).value });
    setPage(0);
  };
  return (
    <div>
      {!props.printerId && (
        <form class="filters" role="search" aria-label="Filter jobs" onSubmit={(e) => e.preventDefault()}>
          <label class="field">
            <span>Search</span>
            <input type="search" value={f.text} onInput={set('text')} placeholder="name, file, notes, reason" />
          </label>
          <label class="field">
            <span>Printer</span>
            <select value={f.printer} onChange={set('printer')}>
              <option value="">All printers</option>
              {printers.map((p) => (
                <option key={p.id} value={String(p.id)}>
                  {p.name}
                </option>
              ))}
            </select>
          </label>
          <label class="field">
            <span>Status</span>
            <select value={f.status} onChange={set('status')}>
              <option value="">Any status</option>
              {JOB_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <label class="field">
            <span>Material</span>
            <input value={f.material} onInput={set('material')} placeholder="PLA, PETG…" />
          </label>
          <label class="field">
            <span>From</span>
            <input type="date" value={f.from} onInput={set('from')} />
          </label>
          <label class="field">
            <span>To</span>
            <input type="date" value={f.to} onInput={set('to')} />
          </label>
        </form>
      )}
      {err && <ErrorBox error={err} onRetry={() => setGen((n) => n + 1)} />}
      {!rows && !err && <Loading label="Loading jobs" />}
      {rows && rows.length === 0 && (
        <Empty title={JSON.stringify(f) === JSON.stringify({ ...NO_FILTERS, printer: f.printer }) ? 'No prints yet' : 'No job matches these filters'}>
          <p>Every print is recorded by itself, whoever starts it.</p>
        </Empty>
      )}
      {rows && rows.length > 0 && (
        <div class="table-wrap">
          <table class="dense jobs">
            <thead>
              <tr>
                <th scope="col">Job</th>
                {!props.printerId && <th scope="col">Printer</th>}
                <th scope="col">Status</th>
                <th scope="col">Started</th>
                <th scope="col">Duration</th>
                <th scope="col">Material</th>
                <th scope="col">Filament</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((j) => (
                <tr key={j.id}>
                  <th scope="row">
                    <a href={`/jobs/${j.id}`} onClick={onLinkClick}>
                      {j.name || `Job ${j.id}`}
                    </a>
                    {j.rating ? <span class="muted small"> {'★'.repeat(j.rating)}</span> : null}
                  </th>
                  {!props.printerId && <td>{j.printer_name ?? '—'}</td>}
                  <td>
                    <StatusPill s={j.status} />
                    {(j.status === 'printing' || j.status === 'paused') && j.progress !== null && <span class="muted small num"> {j.progress} %</span>}
                  </td>
                  <td class="num">{dateTime(j.started_at)}</td>
                  <td class="num">{seconds(j.duration_s)}</td>
                  <td>{j.materials || '—'}</td>
                  <td class="num">{j.grams ? grams(j.grams) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {rows && <Pager page={page} size={size} total={total} noun="jobs" onPage={setPage} />}
    </div>
  );
}

export function JobsPage() {
  return (
    <section aria-labelledby="jobs-title">
      <div class="page-head">
        <h1 id="jobs-title">Jobs</h1>
      </div>
      <JobList />
    </section>
  );
}

function StatRow(props: { label: string; s?: Stat | null; unit: string }) {
  const s = props.s;
  if (!s || !s.samples) return null;
  const f = (v: number | null) => (v === null ? '—' : `${Math.round(v * 10) / 10} ${props.unit}`);
  return (
    <tr>
      <th scope="row">{props.label}</th>
      <td class="num">{f(s.min)}</td>
      <td class="num">{f(s.avg)}</td>
      <td class="num">{f(s.max)}</td>
    </tr>
  );
}

function Rating(props: { value: number | null; onChange: (v: number | null) => void; busy: boolean }) {
  return (
    <fieldset class="rating" disabled={props.busy}>
      <legend>Rating</legend>
      {[1, 2, 3, 4, 5].map((n) => (
        <button
          key={n}
          type="button"
          class={`star${props.value !== null && n <= props.value ? ' on' : ''}`}
          aria-pressed={props.value === n}
          aria-label={`${n} star${n > 1 ? 's' : ''}`}
          onClick={() => props.onChange(props.value === n ? null : n)}
        >
          ★
        </button>
      ))}
    </fieldset>
  );
}

export function JobDetail(props: { id: number }) {
  const [j, setJ] = useState<Job | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [notes, setNotes] = useState('');
  const [saving, setSaving] = useState(false);
  const [saveErr, setSaveErr] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const load = () =>
    api.get<Job>(`/api/v1/jobs/${props.id}`).then(
      (x) => {
        setJ(x);
        setNotes(x.notes ?? '');
        setErr(null);
      },
      (e) => setErr(e.status === 404 ? 'not_found' : e.message),
    );
  useEffect(() => {
    load();
  }, [props.id]);
  useEffect(
    () =>
      store.listen((ev) => {
        if (!ev.event.startsWith('job.')) return;
        try {
          const x = JSON.parse(ev.data) as Job;
          if (x.id === props.id) setJ((cur) => (cur ? { ...cur, ...x } : cur));
        } catch {
          /* not a job */
        }
      }),
    [props.id],
  );
  const patch = async (body: Partial<Job>) => {
    setSaving(true);
    setSaveErr(null);
    setSaved(false);
    try {
      const x = await api.patch<Job>(`/api/v1/jobs/${props.id}`, body);
      setJ((cur) => ({ ...(cur ?? x), ...x }));
      setSaved(true);
    } catch (e) {
      setSaveErr((e as Error).message);
    } finally {
      setSaving(false);
    }
  };
  if (err === 'not_found')
    return (
      <Empty title="No such job">
        <a href="/jobs" onClick={onLinkClick}>
          Back to jobs
        </a>
      </Empty>
    );
  if (err) return <ErrorBox error={err} onRetry={load} />;
  if (!j) return <Loading label="Loading the job" />;
  const vs = versusEstimate(j.duration_s, j.estimated_s);
  const env = j.environment;
  return (
    <section aria-labelledby="job-title" class="detail">
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="/jobs" onClick={onLinkClick}>
          Jobs
        </a>{' '}
        / <span>{j.name}</span>
      </nav>
      <div class="page-head">
        <h1 id="job-title">{j.name || `Job ${j.id}`}</h1>
        <StatusPill s={j.status} />
      </div>
      <p class="muted">
        {j.printer_id ? (
          <a href={`/printers/${j.printer_id}`} onClick={onLinkClick}>
            {j.printer_name ?? `printer ${j.printer_id}`}
          </a>
        ) : (
          j.printer_name ?? 'no printer'
        )}
        {j.file ? ` · ${j.file}` : ''}
        {j.plate ? ` · plate ${j.plate}` : ''} · {j.origin === 'manual' ? 'added by hand' : 'recorded from the printer'}
      </p>
      <div class="detail-grid">
        <div class="card job-summary">
          <div class="thumb" aria-hidden={j.thumbnail ? undefined : 'true'}>
            {j.thumbnail ? <img src={j.thumbnail} alt={`Plate of ${j.name}`} width="160" height="160" /> : <span class="muted small">No thumbnail</span>}
          </div>
          <dl class="facts">
            <div>
              <dt>Started</dt>
              <dd>{dateTime(j.started_at)}</dd>
            </div>
            <div>
              <dt>Ended</dt>
              <dd>{j.ended_at ? dateTime(j.ended_at) : 'still running'}</dd>
            </div>
            <div>
              <dt>Duration</dt>
              <dd>
                {seconds(j.duration_s)}
                {j.estimated_s ? <span class="muted small"> · estimate {seconds(j.estimated_s)}</span> : null}
                {vs && <span class="muted small"> ({vs})</span>}
              </dd>
            </div>
            <div>
              <dt>Progress</dt>
              <dd class="num">
                {j.progress ?? '—'} %{j.total_layers ? ` · layer ${j.layer ?? 0} of ${j.total_layers}` : ''}
              </dd>
            </div>
            <div>
              <dt>Filament</dt>
              <dd>
                {j.materials || '—'}
                {j.grams ? ` · ${grams(j.grams)}` : ''}
                {j.cost !== null && j.cost !== undefined ? ` · cost ${j.cost.toFixed(2)}` : ''}
              </dd>
            </div>
          </dl>
        </div>
        {j.timelapse && (
          <div class="card job-timelapse">
            <h2>Timelapse</h2>
            {/* the session cookie goes with a same-origin media request; the route answers ranges,
                so the player seeks without fetching the whole file */}
            <video controls preload="metadata" src={j.timelapse.url} aria-label={`Timelapse of ${j.name}`} />
            <p class="muted small">
              {j.timelapse.frames} frames · {j.timelapse.duration_s < 10 ? `${j.timelapse.duration_s.toFixed(1)} s` : seconds(Math.round(j.timelapse.duration_s))} · {(j.timelapse.size / 1048576).toFixed(1)} MB ·{' '}
              <a href={j.timelapse.url} download={`${j.name || `job-${j.id}`}.mp4`}>
                Download
              </a>
            </p>
          </div>
        )}
        {(j.reason || j.error_code) && (
          <div class="card" role="note">
            <h2>{j.status === 'failed' ? 'Why it failed' : 'Reason'}</h2>
            <p>{j.reason ?? '—'}</p>
            {j.error_code && (
              <p class="muted small">Printer error code {j.error_code}</p>
            )}
          </div>
        )}
        <div class="card">
          <h2>Notes and rating</h2>
          <Rating value={j.rating} busy={saving} onChange={(v) => patch({ rating: v })} />
          <form
            onSubmit={(e) => {
              e.preventDefault();
              patch({ notes: notes.trim() ? notes : null });
            }}
          >
            <label class="field">
              <span>Notes</span>
              <textarea rows={3} maxLength={4000} value={notes} onInput={(e) => setNotes((e.target as HTMLTextAreaElement).value)} />
            </label>
            <div class="actions">
              <button class="btn primary" type="submit" disabled={saving || notes === (j.notes ?? '')}>
                Save notes
              </button>
              <span role="status" class="muted small">
                {saving ? 'Saving…' : saved ? 'Saved' : ''}
              </span>
            </div>
            {saveErr && <ErrorBox error={saveErr} />}
          </form>
        </div>
        <div class="card">
          <h2>Pauses and gaps</h2>
          {(j.pauses ?? []).length === 0 ? (
            <p class="muted">None: it ran through.</p>
          ) : (
            <ul class="plain">
              {(j.pauses ?? []).map((p, i) => (
                <li key={i}>
                  <strong>{p.kind === 'offline' ? 'Offline' : 'Paused'}</strong> {dateTime(p.started_at)}
                  {p.ended_at ? ` for ${seconds((Date.parse(p.ended_at) - Date.parse(p.started_at)) / 1000)}` : ' (ongoing)'}
                  {p.reason ? <span class="muted"> · {p.reason}</span> : null}
                </li>
              ))}
            </ul>
          )}
        </div>
        <div class="card">
          <h2>Environment</h2>
          {!env || (!env.chamber_temp?.samples && !(env.ams ?? []).length) ? (
            <p class="muted">No readings recorded.</p>
          ) : (
            // a region of its own: when the card is narrow the table scrolls, and a keyboard must reach it
            <div class="table-wrap" tabIndex={0} role="region" aria-label="Environment readings">
              <table class="dense">
                <thead>
                  <tr>
                    <th scope="col">Reading</th>
                    <th scope="col">Min</th>
                    <th scope="col">Avg</th>
                    <th scope="col">Max</th>
                  </tr>
                </thead>
                <tbody>
                  <StatRow label="Chamber" s={env.chamber_temp} unit="°C" />
                  {(env.ams ?? []).map((a) => [
                    <StatRow key={`h${a.unit}`} label={`AMS ${a.unit + 1} humidity`} s={a.humidity_pct} unit="%" />,
                    <StatRow key={`t${a.unit}`} label={`AMS ${a.unit + 1} temperature`} s={a.temp} unit="°C" />,
                  ])}
                </tbody>
              </table>
            </div>
          )}
        </div>
        <FilamentCard j={j} onSaved={(x) => setJ((cur) => ({ ...(cur ?? x), ...x }))} />
      </div>
    </section>
  );
}

/** A usage row's spool: its colours, vendor and name linked to the inventory, its id and
 * material; "deleted spool #12" for one that is gone. */
function SpoolCell(props: { s: JobSpool | null | undefined }) {
  const { s } = props;
  const l = spoolLabel(s);
  const colors = s && !s.deleted ? filamentColors(s) : [];
  return (
    <span class={`job-spool${s?.deleted ? ' gone' : ''}`}>
      {s && !s.deleted && <Swatch colors={colors} direction={s.multi_color_direction} size="sm" label={colors.length ? `colour ${colors.join(', ')}` : 'no colour'} />}
      <span class="job-spool-text">
        {l.href ? (
          <a href={l.href} onClick={onLinkClick}>
            {l.name}
          </a>
        ) : (
          <span class={s?.deleted ? 'muted' : undefined}>{l.name}</span>
        )}
        {l.detail && <span class="muted small"> {l.detail}</span>}
      </span>
    </span>
  );
}

function FilamentCard(props: { j: Job; onSaved: (j: Job) => void }) {
  const { j } = props;
  const canEdit = useCan('operator');
  const [fix, setFix] = useState(false);
  const rows = j.filament ?? [];
  return (
    <div class="card wide-card">
      <h2>Filament per spool</h2>
      {(j.warnings ?? []).map((w, i) => (
        <p key={i} class="alert problem" role="note">
          Filament {w.filament_id} ({w.type ?? '?'}) needed {grams(w.needed_g)} but {trayName(w)} held {grams(w.remaining_g)}: {grams(w.short_g)} short at the start.
        </p>
      ))}
      {(j.candidates ?? []).length > 0 && (
        <div class="alert" role="note">
          <p>Which spool fed these is not certain: two trays alike could have.</p>
          <ul class="plain">
            {(j.candidates ?? []).map((c) => (
              <li key={c.filament_id}>
                Filament {c.filament_id} ({c.type ?? '?'}{c.grams ? `, ${grams(c.grams)}` : ''}): {c.trays.map((t) => `${trayName(t)}${t.spool_id ? ` (spool #${t.spool_id})` : ''}`).join(' or ')}
              </li>
            ))}
          </ul>
        </div>
      )}
      {rows.length === 0 ? (
        <p class="muted">Not accounted yet: grams per spool appear once the job has ended and its filament is counted.</p>
      ) : (
        <div class="table-wrap" tabIndex={0} role="region" aria-label="Filament per spool">
          <table class="dense stack-on-phone">
            <thead>
              <tr>
                <th scope="col">Spool</th>
                <th scope="col">Tray</th>
                <th scope="col">Grams</th>
                <th scope="col">Metres</th>
                <th scope="col">Source</th>
                <th scope="col">Cost</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((u, i) => (
                <tr key={i}>
                  <th scope="row" data-label="Spool">
                    <SpoolCell s={u.spool} />
                  </th>
                  <td data-label="Tray">{trayName(u)}</td>
                  <td data-label="Grams" class="num">{grams(u.grams ?? null)}</td>
                  <td data-label="Metres" class="num">{u.meters !== null && u.meters !== undefined ? `${u.meters.toFixed(2)} m` : '—'}</td>
                  <td data-label="Source">{u.source ?? '—'}</td>
                  <td data-label="Cost" class="num">{u.cost !== null && u.cost !== undefined ? u.cost.toFixed(2) : '—'}</td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th scope="row">Total</th>
                <td />
                <td data-label="Grams" class="num">
                  <strong>{grams(j.grams ?? 0)}</strong>
                </td>
                <td />
                <td />
                <td data-label="Cost" class="num">
                  <strong>{j.cost !== null && j.cost !== undefined ? j.cost.toFixed(2) : '—'}</strong>
                </td>
              </tr>
            </tfoot>
          </table>
        </div>
      )}
      {j.usage_note && <p class="muted small">{j.usage_note}</p>}
      {canEdit && j.status !== 'printing' && j.status !== 'paused' && (
        fix ? (
          <FilamentFix j={j} onDone={(x) => (x && props.onSaved(x), setFix(false))} />
        ) : (
          <div class="actions">
            <button type="button" class="btn" onClick={() => setFix(true)}>
              Correct the filament…
            </button>
          </div>
        )
      )}
    </div>
  );
}

/** PATCH filament: the rows replace the job's usage; the spools get the difference back. */
function FilamentFix(props: { j: Job; onDone: (j: Job | null) => void }) {
  const start = (props.j.filament ?? []).map((u) => ({ spool_id: u.spool_id ? String(u.spool_id) : '', grams: u.grams !== null && u.grams !== undefined ? String(u.grams) : '', unit: u.unit, slot: u.slot }));
  const [rows, setRows] = useState(start.length ? start : [{ spool_id: '', grams: '', unit: null, slot: null }]);
  const [err, setErr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (i: number, k: 'spool_id' | 'grams', v: string) => setRows(rows.map((r, n) => (n === i ? { ...r, [k]: v } : r)));
  const save = async (e: Event) => {
    e.preventDefault();
    const body = filamentPatch(rows);
    if (typeof body === 'string') return setErr(body);
    setBusy(true);
    setErr(null);
    try {
      props.onDone(await api.patch<Job>(`/api/v1/jobs/${props.j.id}`, { filament: body }));
    } catch (x) {
      setErr((x as Error).message);
      setBusy(false);
    }
  };
  return (
    <form class="filament-fix" onSubmit={save} aria-label="Correct the filament">
      {rows.map((r, i) => (
        <div class="fix-row" key={i}>
          <label class="field">
            <span>Spool #</span>
            <input inputMode="numeric" value={r.spool_id} onInput={(e) => set(i, 'spool_id', (e.target as HTMLInputElement).value)} />
          </label>
          <label class="field">
            <span>Grams</span>
            <input inputMode="decimal" value={r.grams} onInput={(e) => set(i, 'grams', (e.target as HTMLInputElement).value)} />
          </label>
          <button type="button" class="btn sm" aria-label={`Remove row ${i + 1}`} onClick={() => setRows(rows.filter((_, n) => n !== i))}>
            ✕
          </button>
        </div>
      ))}
      {err && <p class="form-error" role="alert">{err}</p>}
      <div class="actions">
        <button type="button" class="btn" onClick={() => setRows([...rows, { spool_id: '', grams: '', unit: null, slot: null }])}>
          + Spool
        </button>
        <button type="button" class="btn" onClick={() => props.onDone(null)}>
          Cancel
        </button>
        <button type="submit" class="btn primary" disabled={busy}>
          {busy ? 'Saving…' : 'Save the filament'}
        </button>
      </div>
    </form>
  );
}
