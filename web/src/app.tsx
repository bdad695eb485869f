import { useEffect, useState } from 'preact/hooks';
import { getToken, setToken } from './api';
import { startLive, useStatus } from './live';
import { InventoryPage } from './pages/inventory';
import { PrinterDetail } from './pages/detail';
import { JobDetail, JobsPage } from './pages/jobs';
import { PrintersPage } from './pages/printers';
import { SettingsPage } from './pages/settings';
import { onLinkClick, parseRoute, usePath } from './router';
import { Empty } from './components/ui';
import { timeAgo } from './format';

const NAV = [
  { href: '/', label: 'Printers', icon: '▦', match: (p: string) => p === '/' || p.startsWith('/printers') },
  { href: '/inventory', label: 'Inventory', icon: '◎', match: (p: string) => p.startsWith('/inventory') },
  { href: '/jobs', label: 'Jobs', icon: '☰', match: (p: string) => p.startsWith('/jobs') },
  { href: '/stats', label: 'Statistics', icon: '▤', match: (p: string) => p === '/stats' },
  { href: '/prompts', label: 'Prompts', icon: '?', match: (p: string) => p === '/prompts' },
  { href: '/camera', label: 'Cameras', icon: '◉', match: (p: string) => p === '/camera' },
  { href: '/settings', label: 'Settings', icon: '⚙', match: (p: string) => p.startsWith('/settings') },
];

type Theme = 'system' | 'light' | 'dark';
const THEME_KEY = 'printdeck.theme';

function applyTheme(t: Theme) {
  if (t === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
}

function ThemeSwitch() {
  const [t, setT] = useState<Theme>(() => (localStorage.getItem(THEME_KEY) as Theme) || 'system');
  useEffect(() => {
    applyTheme(t);
    localStorage.setItem(THEME_KEY, t);
  }, [t]);
  return (
    <label class="theme">
      <span class="visually-hidden">Theme</span>
      <select value={t} onChange={(e) => setT((e.target as HTMLSelectElement).value as Theme)}>
        <option value="system">◐ System</option>
        <option value="light">☀ Light</option>
        <option value="dark">☾ Dark</option>
      </select>
    </label>
  );
}

function LiveBadge() {
  const { status, retryAt, stale, staleAt } = useStatus();
  const [, tick] = useState(0);
  useEffect(() => {
    if (status !== 'down') return;
    const t = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [status]);
  const text =
    status === 'live' ? 'Live' : status === 'connecting' ? 'Connecting…' : status === 'unauthorized' ? 'Token needed' : `Offline · retry in ${Math.max(0, Math.ceil((retryAt - Date.now()) / 1000))} s`;
  return (
    <>
      <span class={`live live-${status}`} role="status" aria-live="polite">
        <span class="dot" aria-hidden="true" />
        {text}
      </span>
      {stale && status !== 'live' && (
        <div class="banner stale" role="status">
          Showing the last known state from {timeAgo(staleAt)} — not live.
        </div>
      )}
    </>
  );
}

function TokenGate(props: { onToken: () => void }) {
  const [v, setV] = useState('');
  return (
    <Empty title="printdeck needs an API token">
      <p>
        Open the dashboard with <code>/?token=…</code> (the token <code>make run</code> prints), or create one with{' '}
        <code>printdeck token create NAME</code> and paste it here.
      </p>
      <form
        class="token-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (v.trim()) {
            setToken(v.trim());
            props.onToken();
          }
        }}
      >
        <label for="token">API token</label>
        <input id="token" type="password" autocomplete="off" value={v} onInput={(e) => setV((e.target as HTMLInputElement).value)} />
        <button class="btn primary" type="submit">
          Open
        </button>
      </form>
    </Empty>
  );
}

export function App() {
  const path = usePath();
  const route = parseRoute(path);
  const { status, stale } = useStatus();
  const [, setGen] = useState(0);
  useEffect(() => {
    const main = document.getElementById('main');
    main?.focus({ preventScroll: true });
    scrollTo(0, 0);
  }, [path]);
  let page;
  if (status === 'unauthorized' || (!getToken() && status !== 'live'))
    page = (
      <TokenGate
        onToken={() => {
          startLive();
          setGen((n) => n + 1);
        }}
      />
    );
  else if (route.name === 'printers') page = <PrintersPage />;
  else if (route.name === 'printer') page = <PrinterDetail id={route.id} />;
  else if (route.name === 'inventory') page = <InventoryPage />;
  else if (route.name === 'jobs') page = <JobsPage />;
  else if (route.name === 'job') page = <JobDetail id={route.id} />;
  else if (route.name === 'settings') page = <SettingsPage />;
  else if (route.name === 'placeholder')
    page = (
      <Empty title={route.title}>
        <p>This screen arrives with a later part of printdeck.</p>
      </Empty>
    );
  else
    page = (
      <Empty title="Page not found">
        <a href="/" onClick={onLinkClick}>
          Back to printers
        </a>
      </Empty>
    );
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="/" onClick={onLinkClick} aria-label="printdeck: printers">
          <img src="/icon.svg" alt="" width="28" height="28" />
          <span>printdeck</span>
        </a>
        <LiveBadge />
        <ThemeSwitch />
      </header>
      <nav class="nav" aria-label="Main">
        <ul>
          {NAV.map((n) => (
            <li key={n.href}>
              <a href={n.href} onClick={onLinkClick} aria-current={n.match(path) ? 'page' : undefined}>
                <span class="nav-icon" aria-hidden="true">
                  {n.icon}
                </span>
                <span class="nav-label">{n.label}</span>
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1} class={stale && status !== 'live' ? 'stale' : undefined}>
        {page}
      </main>
    </>
  );
}
