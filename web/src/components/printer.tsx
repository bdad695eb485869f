// A printer's card (grid and list rows), its controls, its AMS trays.
import { memo } from 'preact/compat';
import { useState } from 'preact/hooks';
import { command } from '../api';
import { useCan } from '../auth';
import {
  SPEEDS, connectionProblem, cssColor, sourceWords, duration, finishClock, grams, humidityLabel, stateLabel, stateTone, temp,
} from '../format';
import { onLinkClick } from '../router';
import { slotKey } from '../store';
import { usePrinter, useSlots, useStatus } from '../live';
import type { AmsUnit, Printer, Slot, Tray } from '../types';
import { CardCamera, hasCamera } from './camera';
import { Confirm, Icon, Meter, Swatch } from './ui';

const ACTIVE = new Set(['RUNNING', 'PREPARE', 'PAUSE', 'SLICING']);

export function isActive(p: Printer) {
  return p.online && ACTIVE.has(p.state ?? '');
}

export function StatePill(props: { p: Printer }) {
  return <span class={`pill tone-${stateTone(props.p)}`}>{stateLabel(props.p)}</span>;
}

export function TrayChip(props: { p: Printer; unit: number; tray: Tray; slot?: Slot; active?: boolean; detail?: boolean }) {
  const { tray, slot } = props;
  const loaded = tray.present !== false && !!(tray.type || cssColor(tray.color));
  const color = cssColor(tray.color);
  const spool = slot?.spool;
  const label = loaded
    ? `${props.unit === 255 ? 'External' : `AMS ${props.unit + 1} slot ${tray.id + 1}`}: ${tray.type ?? 'filament'}${
        tray.remain !== null && tray.remain !== undefined && tray.remain >= 0 ? `, ${tray.remain} % left` : ''
      }${spool ? `, spool #${spool.id} ${grams(spool.remaining_weight)}` : ''}`
    : `${props.unit === 255 ? 'External' : `AMS ${props.unit + 1} slot ${tray.id + 1}`}: empty`;
  return (
    <li class={`tray${props.active ? ' active' : ''}${loaded ? '' : ' is-empty'}`} title={label}>
      <Swatch colors={color ? [color] : []} label={label} empty={!loaded} size={props.detail ? 'lg' : 'md'} />
      <span class="tray-type">{loaded ? tray.type ?? '?' : 'Empty'}</span>
      <span class="tray-remain">
        {loaded && tray.remain !== null && tray.remain !== undefined && tray.remain >= 0 ? `${tray.remain}%` : '\u00a0'}
      </span>
      <span class="tray-grams">{spool ? grams(spool.remaining_weight) : '\u00a0'}</span>
    </li>
  );
}

export function AmsRow(props: { p: Printer; unit: AmsUnit; slots: Map<string, Slot> }) {
  const { p, unit } = props;
  const trays = [...unit.trays].sort((a, b) => a.id - b.id);
  return (
    <div class="ams">
      <div class="ams-head">
        <span>AMS {unit.id + 1}</span>
        {(unit.humidity !== null && unit.humidity !== undefined) || unit.humidity_pct != null ? (
          <span class="muted" title="Humidity">
            <Icon name="drop" /> {humidityLabel(unit.humidity, unit.humidity_pct)}
          </span>
        ) : null}
      </div>
      <ul class="trays">
        {trays.map((t) => (
          <TrayChip
            key={t.id}
            p={p}
            unit={unit.id}
            tray={t}
            slot={props.slots.get(slotKey(p.id, unit.id, t.id))}
            active={p.feeding?.unit === unit.id && p.feeding?.slot === t.id}
          />
        ))}
      </ul>
    </div>
  );
}

type Ask = null | 'pause' | 'resume' | 'stop';

export function Controls(props: { p: Printer; compact?: boolean }) {
  // a viewer gets no control at all, nor a printer Home Assistant feeds (the API refuses both anyway)
  return useCan('operator') && props.p.source !== 'homeassistant' ? <ControlsFor {...props} /> : null;
}

function ControlsFor(props: { p: Printer; compact?: boolean }) {
  const { p } = props;
  const [ask, setAsk] = useState<Ask>(null);
  const [err, setErr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (cmd: Record<string, unknown>) => {
    setBusy(true);
    setErr(null);
    try {
      await command(p.id, cmd);
    } catch (e) {
      setErr((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const { status, stale } = useStatus();
  const paused = p.state === 'PAUSE';
  const printing = isActive(p);
  // what a card shows while the stream is down may be old: no command on it
  const off = !p.online || stale || status !== 'live';
  const texts = {
    pause: { title: `Pause ${p.name}?`, message: 'The print head parks and the print waits until you resume it.', action: 'Pause' },
    resume: { title: `Resume ${p.name}?`, message: 'The print continues where it stopped.', action: 'Resume' },
    stop: { title: `Stop ${p.name}?`, message: 'The print is cancelled. This cannot be undone.', action: 'Stop print' },
  };
  return (
    <div class="controls">
      {paused ? (
        <button type="button" class="btn" disabled={off || busy} onClick={() => setAsk('resume')}>
          <Icon name="play" /> Resume
        </button>
      ) : (
        <button type="button" class="btn" disabled={off || busy || !printing} onClick={() => setAsk('pause')}>
          <Icon name="pause" /> Pause
        </button>
      )}
      <button type="button" class="btn danger-outline" disabled={off || busy || !printing} onClick={() => setAsk('stop')}>
        <Icon name="stop" /> Stop
      </button>
      <button
        type="button"
        class="btn"
        aria-pressed={p.light === 'on'}
        disabled={off || busy}
        onClick={() => run({ command: 'light', on: p.light !== 'on' })}
      >
        <Icon name="light" /> Light
      </button>
      <label class="speed">
        <span class="visually-hidden">Print speed of {p.name}</span>
        <select
          value={String(p.speed_level ?? 2)}
          disabled={off || busy || !printing}
          onChange={(e) => run({ command: 'speed', level: Number((e.target as HTMLSelectElement).value) })}
        >
          {Object.entries(SPEEDS).map(([k, v]) => (
            <option key={k} value={k}>
              {v}
            </option>
          ))}
        </select>
      </label>
      {err && (
        <p class="form-error control-error" role="alert">
          {err}
        </p>
      )}
      {ask && (
        <Confirm
          {...texts[ask]}
          danger={ask === 'stop'}
          onConfirm={() => command(p.id, { command: ask })}
          onClose={() => setAsk(null)}
        />
      )}
    </div>
  );
}

export function JobLine(props: { p: Printer }) {
  const { p } = props;
  const active = isActive(p);
  const pct = p.progress ?? 0;
  return (
    <div class="job">
      <div class="job-name" title={p.subtask ?? undefined}>
        {active || p.state === 'FINISH' || p.state === 'FAILED' ? p.subtask || p.gcode_file || 'Print job' : 'No print running'}
      </div>
      <Meter value={active || p.state === 'FINISH' ? pct : 0} label={`Progress of ${p.name}`} tone={stateTone(p)} />
      <div class="job-meta">
        <span>{active || p.state === 'FINISH' ? `${pct}%` : '\u00a0'}</span>
        <span>{active && p.total_layers ? `Layer ${p.layer ?? 0} / ${p.total_layers}` : ''}</span>
        <span>
          {active && p.remaining_min !== undefined ? (
            <>
              {duration(p.remaining_min)} left · <span title="Finish time"><Icon name="clock" /> {finishClock(p.remaining_min)}</span>
            </>
          ) : (
            ''
          )}
        </span>
      </div>
    </div>
  );
}

export function Temps(props: { p: Printer }) {
  const { p } = props;
  return (
    <dl class="temps">
      <div>
        <dt>Nozzle</dt>
        <dd>{temp(p.nozzle_temp, p.nozzle_target)}</dd>
      </div>
      <div>
        <dt>Bed</dt>
        <dd>{temp(p.bed_temp, p.bed_target)}</dd>
      </div>
      {p.chamber_temp !== null && p.chamber_temp !== undefined && (
        <div>
          <dt>Chamber</dt>
          <dd>{temp(p.chamber_temp)}</dd>
        </div>
      )}
    </dl>
  );
}

/** Where the state of a printer Home Assistant feeds comes from; nothing for one on its own link. */
export function SourceLine(props: { p: Printer }) {
  const said = sourceWords(props.p);
  return said ? <p class="source-line">{said}</p> : null;
}

export function Alerts(props: { p: Printer }) {
  const { p } = props;
  const problem = connectionProblem(p);
  const hms = p.hms ?? [];
  if (!problem && !hms.length && !p.print_error) return null;
  return (
    <ul class="alerts">
      {problem && <li class="alert problem">{problem}</li>}
      {p.print_error && <li class="alert error">{p.print_error.text || `Print error ${p.print_error.code}`}</li>}
      {hms.map((h) => (
        <li key={h.code} class={`alert ${h.severity === 'fatal' || h.severity === 'serious' ? 'error' : 'warn'}`}>
          <span>{h.text || h.code}</span>
          {h.url && (
            <>
              {' '}
              <a href={h.url} target="_blank" rel="noopener noreferrer">
                Wiki<span class="visually-hidden"> for {h.code}</span>
              </a>
            </>
          )}
        </li>
      ))}
    </ul>
  );
}

function CardBody(props: { p: Printer; slots: Map<string, Slot> }) {
  const { p, slots } = props;
  return (
    <>
      <header class="card-head">
        <div class="card-title">
          <h3>
            <a href={`/printers/${p.id}`} onClick={onLinkClick}>
              {p.name}
            </a>
          </h3>
          <span class="muted">{p.model_name ?? p.model ?? 'Unknown model'}</span>
        </div>
        <StatePill p={p} />
      </header>
      <SourceLine p={p} />
      <JobLine p={p} />
      {isActive(p) && hasCamera(p) && <CardCamera p={p} />}
      {p.source !== 'homeassistant' && <Temps p={p} />}
      {(p.ams ?? []).map((u) => (
        <AmsRow key={u.id} p={p} unit={u} slots={slots} />
      ))}
      {p.external && p.external.present !== false && (p.external.type || p.external.color) ? (
        <div class="ams">
          <div class="ams-head">
            <span>External spool</span>
          </div>
          <ul class="trays">
            <TrayChip p={p} unit={255} tray={p.external} slot={slots.get(slotKey(p.id, 255, 0))} active={p.feeding?.unit === 255 && p.feeding?.slot === 0} />
          </ul>
        </div>
      ) : null}
      <Alerts p={p} />
      <Controls p={p} />
    </>
  );
}

/** One card: re-renders only when its printer (or the slot map) changes. */
export const PrinterCard = memo(function PrinterCard(props: { id: number }) {
  const p = usePrinter(props.id);
  const slots = useSlots();
  if (!p) return null;
  return (
    <article class={`card printer-card tone-${stateTone(p)}`} aria-label={p.name} data-printer={p.serial}>
      <CardBody p={p} slots={slots} />
    </article>
  );
});

/** One row of the dense list for farms. */
export const PrinterRow = memo(function PrinterRow(props: { id: number }) {
  const p = usePrinter(props.id);
  if (!p) return null;
  const active = isActive(p);
  const problem = connectionProblem(p);
  return (
    <tr class={`tone-${stateTone(p)}`} data-printer={p.serial}>
      <th scope="row">
        <a href={`/printers/${p.id}`} onClick={onLinkClick}>
          {p.name}
        </a>
      </th>
      <td>{p.model ?? '—'}</td>
      <td>
        <StatePill p={p} />
      </td>
      <td class="row-progress">
        {active ? (
          <>
            <Meter value={p.progress ?? 0} label={`Progress of ${p.name}`} tone={stateTone(p)} /> {p.progress ?? 0}%
          </>
        ) : (
          '—'
        )}
      </td>
      <td>{active && p.total_layers ? `${p.layer ?? 0}/${p.total_layers}` : '—'}</td>
      <td>{active ? `${duration(p.remaining_min)} · ${finishClock(p.remaining_min ?? 0)}` : '—'}</td>
      <td>{temp(p.nozzle_temp)}</td>
      <td>{temp(p.bed_temp)}</td>
      <td class="row-note">{problem ?? (p.hms?.length ? `${p.hms.length} alert${p.hms.length > 1 ? 's' : ''}` : '')}</td>
    </tr>
  );
});
