// Slot prompts: "which spool did you load?" answered from the ranked candidates in two taps
// (pick, assign), and every slot's assignment with its history for the cases no prompt covers.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { useCan } from '../auth';
import { Dialog, Empty, ErrorBox, Loading, Swatch } from '../components/ui';
import { cssColor, filamentColors, grams } from '../format';
import { dateTime } from '../jobs';
import { store, usePrinterIndex, useSlots } from '../live';
import { newestFirst, notices, Prompt, slotName, useNotices } from '../notices';
import { onLinkClick } from '../router';
import type { Slot, Spool } from '../types';
import { AssignDialog } from './detail';

const refreshSlots = () => api.get<Slot[]>('/api/v1/ams').then((s) => store.setSlots(s), () => {});

export function spoolLabel(s: Spool): string {
  return `#${s.id} ${[s.filament.vendor?.name, s.filament.name].filter(Boolean).join(' ')}`.trim();
}

function promptTitle(p: Prompt, printerName: string | undefined): string {
  if (p.kind === 'job_filament')
    return `Job ${p.job_id}, filament ${(p.filament_index ?? 0) + 1}: which spool fed it?`;
  return `${printerName ? `${printerName}: ` : ''}${slotName(p.unit, p.slot).replace(/^the e/, 'E')} changed — which spool did you load?`;
}

function PromptCard(props: { p: Prompt; printerName?: string }) {
  const { p } = props;
  const canAnswer = useCan('operator');
  const [full, setFull] = useState<Prompt | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [pick, setPick] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const [other, setOther] = useState(false);
  // the event carries no candidates: they are ranked when read
  useEffect(() => {
    api.get<Prompt>(`/api/v1/prompts/${p.id}`).then(setFull, (e) => setErr(e.message));
  }, [p.id]);
  const send = async (path: string, body?: unknown) => {
    setBusy(true);
    setErr(null);
    try {
      const r = await api.post<Prompt>(path, body);
      notices.handle({ id: null, event: `prompt.${r.status}`, data: JSON.stringify(r) });
      refreshSlots();
    } catch (e) {
      setErr((e as Error).message);
      setBusy(false);
    }
  };
  const answer = (spoolId: number) => send(`/api/v1/prompts/${p.id}/assign`, { spool_id: spoolId });
  const color = cssColor(p.reported?.color);
  const cands = full?.candidates ?? [];
  return (
    <li class="card prompt" aria-labelledby={`prompt-${p.id}`}>
      <h2 id={`prompt-${p.id}`} class="prompt-title">
        {promptTitle(p, props.printerName)}
      </h2>
      <p class="muted small">
        <span class="cell-swatch">
          <Swatch colors={color ? [color] : []} size="sm" label={color ? `reported colour ${color}` : 'no colour reported'} />
          Reported {p.reported?.material ?? 'no material'}
          {color ? ` ${color.slice(0, 7)}` : ''} · {dateTime(p.created_at)}
          {p.kind === 'job_filament' && p.job_id !== null && (
            <>
              {' '}
              ·{' '}
              <a href={`/jobs/${p.job_id}`} onClick={onLinkClick}>
                the job
              </a>
            </>
          )}
        </span>
      </p>
      {!full && !err && <Loading label="Ranking the spools" />}
      {full && cands.length === 0 && <p class="muted">No spool in the inventory fits; pick one from the whole list.</p>}
      {cands.length > 0 && (
        <ul class="candidates" aria-label="Likely spools, best first">
          {cands.map((c) => (
            <li key={c.spool_id}>
              <button
                type="button"
                class="candidate"
                aria-pressed={pick === c.spool_id}
                disabled={!canAnswer || busy}
                onClick={() => setPick(c.spool_id)}
              >
                <Swatch colors={filamentColors(c.spool.filament)} direction={c.spool.filament.multi_color_direction} label="spool colour" />
                <span class="candidate-name">
                  {spoolLabel(c.spool)}
                  <span class="muted small">
                    {' '}
                    {c.spool.filament.material ?? ''}
                    {!c.material_match ? ' (other material)' : ''}
                    {c.loaded ? ` · in ${slotName(c.loaded.unit, c.loaded.slot)}` : ''}
                  </span>
                </span>
                <span class="num">{grams(c.remaining_weight)}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {err && <ErrorBox error={err} />}
      {canAnswer ? (
        <div class="actions">
          <button type="button" class="btn primary" disabled={pick === null || busy} onClick={() => pick !== null && answer(pick)}>
            {busy ? 'Assigning…' : pick !== null ? `Assign spool #${pick}` : 'Assign'}
          </button>
          <button type="button" class="btn" disabled={busy} onClick={() => setOther(true)}>
            Another spool…
          </button>
          <button type="button" class="btn" disabled={busy} onClick={() => send(`/api/v1/prompts/${p.id}/dismiss`)}>
            Dismiss
          </button>
        </div>
      ) : (
        <p class="muted small">An operator answers this prompt; you can see it but not answer it.</p>
      )}
      {other && <OtherSpool material={p.reported?.material} onPick={(id) => (setOther(false), answer(id))} onClose={() => setOther(false)} />}
    </li>
  );
}

/** Any spool of the inventory, for the answer the ranking did not offer. */
function OtherSpool(props: { material?: string | null; onPick: (id: number) => void; onClose: () => void }) {
  const [spools, setSpools] = useState<Spool[] | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [q, setQ] = useState(props.material ?? '');
  useEffect(() => {
    api.get<Spool[]>('/api/v1/spool?sort=filament.material:asc').then(setSpools, (e) => setErr(e.message));
  }, []);
  const shown = (spools ?? []).filter((s) => !q || `${spoolLabel(s)} ${s.filament.material ?? ''}`.toLowerCase().includes(q.toLowerCase()));
  return (
    <Dialog title="Which spool is it?" onClose={props.onClose}>
      <label class="field">
        <span>Search spools</span>
        <input type="search" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
      </label>
      {err && <ErrorBox error={err} />}
      {!spools && !err && <Loading />}
      <ul class="pick-list">
        {shown.slice(0, 50).map((s) => (
          <li key={s.id}>
            <button type="button" class="pick" onClick={() => props.onPick(s.id)}>
              <Swatch colors={filamentColors(s.filament)} direction={s.filament.multi_color_direction} label="colour" />
              <span>
                {spoolLabel(s)} <span class="muted">{s.filament.material ?? ''}</span>
              </span>
              <span class="muted">{grams(s.remaining_weight)}</span>
            </button>
          </li>
        ))}
      </ul>
    </Dialog>
  );
}

interface HistoryEntry {
  id: number;
  unit: number;
  slot: number;
  spool_id?: number | null;
  assigned_at: string;
  unassigned_at?: string | null;
  event_type: string;
  unassign_event?: string | null;
  reported?: { material?: string | null; color?: string | null } | null;
}

const EVENT_WORDS: Record<string, string> = {
  manual: 'assigned by hand',
  rfid: 'RFID tag read',
  color_change: 'colour changed',
  material_change: 'material changed',
  empty: 'emptied',
  loaded: 'spool loaded',
};

function SlotHistory(props: { s: Slot; onClose: () => void }) {
  const { s } = props;
  const [rows, setRows] = useState<HistoryEntry[] | null>(null);
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    // the history is per printer; this slot's entries are picked from its newest 200
    api.get<HistoryEntry[]>(`/api/v1/printers/${s.printer_id}/ams/history?limit=200`).then(
      (l) => setRows(l.filter((h) => h.unit === s.unit && h.slot === s.slot)),
      (e) => setErr(e.message),
    );
  }, []);
  return (
    <Dialog title={`History of ${s.printer}, ${slotName(s.unit, s.slot)}`} onClose={props.onClose}>
      {err && <ErrorBox error={err} />}
      {!rows && !err && <Loading />}
      {rows && rows.length === 0 && <p class="muted">Nothing recorded for this slot yet.</p>}
      {rows && rows.length > 0 && (
        <ol class="timeline">
          {rows.map((h) => (
            <li key={h.id}>
              <span class="muted small">{dateTime(h.assigned_at)}</span>{' '}
              {h.spool_id ? (
                <>
                  spool #{h.spool_id} {EVENT_WORDS[h.event_type] ?? h.event_type}
                  {h.unassigned_at ? ` · until ${dateTime(h.unassigned_at)}${h.unassign_event ? ` (${EVENT_WORDS[h.unassign_event] ?? h.unassign_event})` : ''}` : ' · still there'}
                </>
              ) : (
                <>
                  {EVENT_WORDS[h.event_type] ?? h.event_type}
                  {h.reported?.material ? `: ${h.reported.material}` : ''}
                  {h.reported?.color ? ` ${h.reported.color.slice(0, 7)}` : ''}
                </>
              )}
            </li>
          ))}
        </ol>
      )}
    </Dialog>
  );
}

function SlotItem(props: { s: Slot; canEdit: boolean; onAssign: () => void; onHistory: () => void }) {
  const { s } = props;
  const [err, setErr] = useState<string | null>(null);
  const live = s.live;
  const color = cssColor(live?.color);
  const unassign = async () => {
    setErr(null);
    try {
      await api.post(`/api/v1/printers/${s.printer_id}/ams/${s.external ? 'external' : s.unit}/${s.slot}/unassign`, {});
      refreshSlots();
    } catch (e) {
      setErr((e as Error).message);
    }
  };
  return (
    <li class="slot-item">
      <div class="slot-where">
        <Swatch colors={color ? [color] : []} empty={!live?.present} label={live?.present ? `loaded colour ${color ?? 'unknown'}` : 'empty'} />
        <span>
          <strong>{slotName(s.unit, s.slot).replace(/^the e/, 'E')}</strong>
          <span class="muted small"> {live?.present ? live.material ?? 'unknown material' : 'empty'}</span>
        </span>
      </div>
      <div class="slot-spool">
        {s.spool ? (
          <span class="cell-swatch">
            <Swatch colors={filamentColors(s.spool.filament)} size="sm" label="spool colour" />
            {spoolLabel(s.spool)} · {grams(s.spool.remaining_weight)}
          </span>
        ) : (
          <span class="muted">no spool assigned</span>
        )}
        {s.mismatch && (s.mismatch.material || s.mismatch.color) && <span class="badge warn"> mismatch</span>}
        {err && (
          <span class="form-error" role="alert">
            {' '}
            {err}
          </span>
        )}
      </div>
      <div class="actions">
        {props.canEdit && (
          <button type="button" class="btn sm" onClick={props.onAssign}>
            Assign…
          </button>
        )}
        {props.canEdit && s.spool && (
          <button type="button" class="btn sm" onClick={unassign}>
            Unassign
          </button>
        )}
        <button type="button" class="btn sm" onClick={props.onHistory}>
          History
        </button>
      </div>
    </li>
  );
}

export function PromptsPage() {
  const n = useNotices();
  const slots = useSlots();
  const printers = usePrinterIndex();
  const canEdit = useCan('operator');
  const [assign, setAssign] = useState<Slot | null>(null);
  const [hist, setHist] = useState<Slot | null>(null);
  useEffect(() => {
    notices.reload();
    refreshSlots();
  }, []);
  const names = new Map(printers.map((p) => [p.id, p.name]));
  const open = newestFirst(n.prompts);
  const byPrinter = new Map<number, Slot[]>();
  for (const s of slots.values()) {
    const l = byPrinter.get(s.printer_id) ?? [];
    l.push(s);
    byPrinter.set(s.printer_id, l);
  }
  return (
    <section aria-labelledby="prompts-title">
      <div class="page-head">
        <h1 id="prompts-title">Slot prompts</h1>
        <span class="muted">{open.length === 0 ? 'nothing to answer' : `${open.length} open`}</span>
      </div>
      {open.length === 0 ? (
        <div class="card quiet">
          <p>
            No open prompts. When a spool without an RFID tag goes into a slot, printdeck asks here which spool it is.
          </p>
        </div>
      ) : (
        <ul class="prompts">
          {open.map((p) => (
            <PromptCard key={p.id} p={p} printerName={p.printer_id !== null ? names.get(p.printer_id) : undefined} />
          ))}
        </ul>
      )}
      <h2 class="section-title">Slots</h2>
      {byPrinter.size === 0 ? (
        <Empty title="No slots yet">
          <p>Slots appear once a printer reports its AMS or external holder.</p>
        </Empty>
      ) : (
        [...byPrinter.entries()].map(([id, l]) => (
          <div class="card slot-card" key={id}>
            <h3>
              <a href={`/printers/${id}`} onClick={onLinkClick}>
                {l[0].printer}
              </a>
            </h3>
            <ul class="slot-list">
              {l
                .sort((a, b) => a.unit - b.unit || a.slot - b.slot)
                .map((s) => (
                  <SlotItem key={`${s.unit}:${s.slot}`} s={s} canEdit={canEdit} onAssign={() => setAssign(s)} onHistory={() => setHist(s)} />
                ))}
            </ul>
          </div>
        ))
      )}
      {assign && (
        <AssignDialog printerId={assign.printer_id} unit={assign.unit} slot={assign.slot} material={assign.live?.material} onClose={() => setAssign(null)} />
      )}
      {hist && <SlotHistory s={hist} onClose={() => setHist(null)} />}
    </section>
  );
}
