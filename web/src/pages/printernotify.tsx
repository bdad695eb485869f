// A printer's notifications on its page (admins): the seed's per-printer preferences, a view
// over the rules (docs/notify.md, "The seed's per-printer preferences"), each toggle saved at
// once with PUT /api/v1/notifications/printers/{id}; the webhook URL with its own Save.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { placeErrors } from '../components/form';
import { ErrorBox, Loading } from '../components/ui';
import { NOTIFY_API } from '../notify';

interface Prefs {
  notify_print_start: boolean;
  notify_print_complete: boolean;
  notify_print_failed: boolean;
  notify_material_change: boolean;
  notify_maintenance: boolean;
  email_enabled: boolean;
  webhook_url: string | null;
}

type Flag = Exclude<keyof Prefs, 'webhook_url'>;

const FLAGS: { name: Flag; label: string; hint: string }[] = [
  { name: 'notify_print_start', label: 'Print start', hint: 'started, first layer done' },
  { name: 'notify_print_complete', label: 'Print complete', hint: 'finished' },
  { name: 'notify_print_failed', label: 'Print failed', hint: 'failed, cancelled, stalled, offline mid-print' },
  { name: 'notify_material_change', label: 'Material change', hint: 'spool to confirm, not enough filament, running low' },
  { name: 'notify_maintenance', label: 'Maintenance', hint: 'HMS errors, AMS humidity, drying due' },
  { name: 'email_enabled', label: 'E-mail', hint: 'the e-mail channels hear this printer' },
];

export function PrinterNotifications(props: { printerId: number }) {
  const path = `${NOTIFY_API}/printers/${props.printerId}`;
  const [p, setP] = useState<Prefs | null>(null);
  const [url, setUrl] = useState('');
  const [errs, setErrs] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    api.get<Prefs>(path).then(
      (x) => {
        setP(x);
        setUrl(x.webhook_url ?? '');
      },
      (e) => setGeneral((e as Error).message),
    );
  }, [path]);
  const put = async (body: Partial<Prefs>) => {
    setBusy(true);
    setErrs({});
    setGeneral(null);
    setSaved(false);
    try {
      const x = await api.put<Prefs>(path, body);
      setP(x);
      setUrl(x.webhook_url ?? '');
      setSaved(true);
    } catch (ex) {
      const placed = placeErrors(ex, [...FLAGS.map((f) => f.name), 'webhook_url']);
      setErrs(placed.fields);
      setGeneral(placed.general);
    } finally {
      setBusy(false);
    }
  };
  if (!p) return general ? <ErrorBox error={general} /> : <Loading label="Reading the notification settings" />;
  return (
    <div class="printer-notify">
      <ul class="toggles">
        {FLAGS.map((f) => (
          <li key={f.name} class={errs[f.name] ? 'has-error' : undefined}>
            <label class="switch">
              <input type="checkbox" role="switch" checked={p[f.name]} disabled={busy} onChange={(e) => put({ [f.name]: (e.target as HTMLInputElement).checked })} />
              <span>{f.label}</span>
            </label>
            <span class="hint">{f.hint}</span>
            {errs[f.name] && <span class="field-error">{errs[f.name]}</span>}
          </li>
        ))}
      </ul>
      <form
        class="webhook-url"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void put({ webhook_url: url.trim() || null });
        }}
      >
        <div class={`field${errs.webhook_url ? ' has-error' : ''}`}>
          <label for={`pn-${props.printerId}-url`}>Webhook URL</label>
          <div class="with-unit">
            <input
              id={`pn-${props.printerId}-url`}
              type="url"
              placeholder="https://…"
              value={url}
              aria-invalid={errs.webhook_url ? true : undefined}
              aria-describedby={`pn-${props.printerId}-url-${errs.webhook_url ? 'err' : 'hint'}`}
              onInput={(e) => setUrl((e.target as HTMLInputElement).value)}
            />
            <button type="submit" class="btn sm" disabled={busy || url.trim() === (p.webhook_url ?? '')}>
              Save
            </button>
          </div>
          {errs.webhook_url ? (
            <span id={`pn-${props.printerId}-url-err`} class="field-error">
              {errs.webhook_url}
            </span>
          ) : (
            <span id={`pn-${props.printerId}-url-hint`} class="hint">
              A webhook channel of this printer alone; empty removes it. Its secret is set under Settings → Notifications.
            </span>
          )}
        </div>
      </form>
      {general && (
        <p class="form-error" role="alert">
          {general}
        </p>
      )}
      <p class="muted small" role="status">
        {saved ? 'Saved.' : ''}
      </p>
    </div>
  );
}
