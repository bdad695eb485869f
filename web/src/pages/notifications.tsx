// Settings → Notifications: Web Push to this device (docs/notify.md, "Web Push"), the channels
// with their rules (channels.tsx) and, for admins, the delivery log (notifylog.tsx). Anyone
// signed in may have their own devices notified, of the printers they may see; the channel that
// sends (which events) is an admin's, and an admin can add it here when there is none.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { useCan } from '../auth';
import { ErrorBox, Loading } from '../components/ui';
import { currentSubscription, disablePush, enablePush, PUSH_API, PushKey, PushState, pushSupport, stateText, testPush } from '../push';
import type { Channel } from '../notify';
import { Channels } from './channels';
import { DeliveryLog } from './notifylog';
import { SettingsNav } from './settings';

function ThisDevice() {
  const admin = useCan('admin');
  const [key, setKey] = useState<PushKey | null>(null);
  const [sub, setSub] = useState<PushSubscription | null>(null);
  const [state, setState] = useState<PushState | null>(pushSupport());
  const [err, setErr] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const load = async () => {
    setErr(null);
    try {
      const k = await api.get<PushKey>(`${PUSH_API}/key`);
      setKey(k);
      if (pushSupport()) return;
      const s = await currentSubscription(k.public_key);
      setSub(s);
      setState(s ? 'on' : 'off');
    } catch (e) {
      setErr((e as Error).message);
    }
  };
  useEffect(() => {
    void load();
  }, []);
  const run = async (f: () => Promise<void>) => {
    setBusy(true);
    setErr(null);
    setNote(null);
    try {
      await f();
    } catch (e) {
      setErr((e as Error).message);
      setState(pushSupport() ?? (sub ? 'on' : 'off'));
    } finally {
      setBusy(false);
    }
  };
  const enable = () => run(async () => {
    const s = await enablePush(key!.public_key);
    setSub(s);
    setState('on');
  });
  const disable = () => run(async () => {
    await disablePush(sub!);
    setSub(null);
    setState('off');
  });
  const test = () => run(async () => {
    const r = await testPush(sub!);
    setNote(r.ok ? 'Sent: it should show on this device in a moment.' : `Not delivered: ${r.message}`);
  });
  const addChannel = () => run(async () => {
    await api.post('/api/v1/notifications/channels', { type: 'webpush', name: 'Dashboard (Web Push)' });
    await load();
  });
  if (!key && !err) return <Loading label="Reading the push settings" />;
  return (
    <section class="card" aria-labelledby="push-title">
      <h2 id="push-title">This device</h2>
      <p id="push-state" data-state={state ?? ''} aria-live="polite">
        {stateText(state ?? 'off')}
      </p>
      {key && !key.channel && (
        <p class="hint">
          {admin ? 'Nothing is sent until there is a Web Push channel.' : 'Nothing is sent yet: an admin turns Web Push on.'}{' '}
          {admin && (
            <button type="button" class="btn sm" disabled={busy} onClick={addChannel}>
              Turn on Web Push
            </button>
          )}
        </p>
      )}
      {key?.channel && !key.channel.enabled && <p class="hint">The Web Push channel “{key.channel.name}” is turned off.</p>}
      <div class="actions">
        {state === 'off' && (
          <button type="button" class="btn primary" disabled={busy} onClick={enable}>
            Notify this device
          </button>
        )}
        {state === 'on' && (
          <>
            <button type="button" class="btn" disabled={busy || !key?.channel} onClick={test}>
              Send a test
            </button>
            <button type="button" class="btn danger" disabled={busy} onClick={disable}>
              Stop notifying this device
            </button>
          </>
        )}
      </div>
      {note && (
        <p class="hint" role="status">
          {note}
        </p>
      )}
      {err && <ErrorBox error={err} />}
    </section>
  );
}

export function NotificationsPage() {
  const admin = useCan('admin');
  const [channels, setChannels] = useState<Channel[]>([]);
  return (
    <section aria-labelledby="notifications-title">
      <div class="page-head">
        <h1 id="notifications-title">Settings</h1>
      </div>
      <SettingsNav />
      <div class="notify-page">
        <ThisDevice />
        <Channels onLoaded={setChannels} />
        {admin && <DeliveryLog channels={channels} />}
      </div>
    </section>
  );
}
