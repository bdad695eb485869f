import { useEffect, useRef, useState } from 'preact/hooks';
import { sessionLost, useAuth } from './auth';
import { startLive, useStatus } from './live';
import { InventoryPage } from './pages/inventory';
import { PrinterDetail } from './pages/detail';
import { JobDetail, JobsPage } from './pages/jobs';
import { PrintersPage } from './pages/printers';
import { SettingsPage } from './pages/settings';
import { onLinkClick, parseRoute, usePath } from './router';
import { Empty, Icon, Loading, useDismiss } from './components/ui';
import { SetupPage, SignInAgain, SignInPage, UserMenu } from './pages/account';
import { TokensPage } from './pages/tokens';
import { ThresholdsPage } from './pages/thresholds';
import { UsersPage } from './pages/users';
import { timeAgo } from './format';
import { Bell } from './components/bell';
import { useNotices } from './notices';
import { PromptsPage } from './pages/prompts';
import { StatsPage } from './pages/stats';
import { ScanButton, SpoolPage } from './pages/spool';
import { lazy } from './components/lazy';

// the label sheet carries the QR encoder: it loads with the page, not with the app
const LabelsPage = lazy(() => import('./pages/labels').then((m) => m.LabelsPage));
// the channel types' table, their forms and the log are needed only on their settings page
const NotificationsPage = lazy(() => import('./pages/notifications').then((m) => m.NotificationsPage));
// the camera wall is for farms: its code loads when it is opened
const CamerasPage = lazy(() => import('./pages/cameras').then((m) => m.CamerasPage));

// `phone`: kept in the bottom bar of a phone; the others go under its More entry
const NAV = [
  { href: '/', label: 'Printers', icon: '▦', phone: true, match: (p: string) => p === '/' || p.startsWith('/printers') },
  { href: '/inventory', label: 'Inventory', icon: '◎', phone: true, match: (p: string) => p.startsWith('/inventory') || p.startsWith('/spool') || p === '/labels' },
  { href: '/jobs', label: 'Jobs', icon: '☰', phone: true, match: (p: string) => p.startsWith('/jobs') },
  { href: '/prompts', label: 'Prompts', icon: '?', phone: true, match: (p: string) => p === '/prompts' },
  { href: '/stats', label: 'Statistics', icon: '▤', phone: false, match: (p: string) => p === '/stats' },
  { href: '/camera', label: 'Cameras', icon: '◉', phone: false, match: (p: string) => p === '/camera' },
  { href: '/settings', label: 'Settings', icon: '⚙', phone: false, match: (p: string) => p.startsWith('/settings') },
];

function NavLink(props: { n: (typeof NAV)[number]; path: string; badge?: number }) {
  const { n } = props;
  return (
    <a href={n.href} onClick={onLinkClick} aria-current={n.match(props.path) ? 'page' : undefined}>
      <span class="nav-icon" aria-hidden="true">
        {n.icon}
      </span>
      <span class="nav-label">{n.label}</span>
      {!!props.badge && (
        <span class="nav-badge">
          {props.badge}
          <span class="visually-hidden"> open</span>
        </span>
      )}
    </a>
  );
}

/** The phone's bottom bar has room for five entries: the rest open from More. */
function MoreMenu(props: { path: string }) {
  const ref = useRef<HTMLDetailsElement>(null);
  useEffect(() => {
    if (ref.current) ref.current.open = false;
  }, [props.path]);
  const here = NAV.some((n) => !n.phone && n.match(props.path));
  return (
    <details class="more" ref={ref}>
      <summary aria-current={here ? 'page' : undefined}>
        <span class="nav-icon" aria-hidden="true">
          ⋯
        </span>
        <span class="nav-label">More</span>
      </summary>
      <ul>
        {NAV.filter((n) => !n.phone).map((n) => (
          <li key={n.href}>
            <NavLink n={n} path={props.path} />
          </li>
        ))}
      </ul>
    </details>
  );
}

type Theme = 'system' | 'light' | 'dark';
const THEME_KEY = 'printdeck.theme';

function applyTheme(t: Theme) {
  if (t === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
}

const THEMES: { value: Theme; label: string; icon: 'halves' | 'sun' | 'moon' }[] = [
  { value: 'system', label: 'As the system', icon: 'halves' },
  { value: 'light', label: 'Light', icon: 'sun' },
  { value: 'dark', label: 'Dark', icon: 'moon' },
];

/** An icon button (it fits a 360 px top bar beside the status, the bell and the user) that
 * opens the three choices. */
function ThemeSwitch() {
  const [t, setT] = useState<Theme>(() => (localStorage.getItem(THEME_KEY) as Theme) || 'system');
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  useDismiss(open, () => setOpen(false), box);
  useEffect(() => {
    applyTheme(t);
    localStorage.setItem(THEME_KEY, t);
  }, [t]);
  const cur = THEMES.find((x) => x.value === t) ?? THEMES[0];
  return (
    <div class="theme popover" ref={box}>
      <button type="button" class="icon-btn" aria-label={`Theme: ${cur.label.toLowerCase()}`} aria-haspopup="true" aria-expanded={open} onClick={() => setOpen(!open)}>
        <Icon name={cur.icon} size={20} />
      </button>
      {open && (
        <ul class="menu" role="menu" aria-label="Theme">
          {THEMES.map((x) => (
            <li key={x.value} role="none">
              <button
                type="button"
                role="menuitemradio"
                aria-checked={x.value === t}
                onClick={() => {
                  setT(x.value);
                  setOpen(false);
                }}
              >
                <Icon name={x.icon} /> {x.label}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
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
    status === 'live' ? 'Live' : status === 'connecting' ? 'Connecting…' : status === 'unauthorized' ? 'Signed out' : `Offline · retry in ${Math.max(0, Math.ceil((retryAt - Date.now()) / 1000))} s`;
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

export function App() {
  const path = usePath();
  const route = parseRoute(path);
  const { status, stale } = useStatus();
  const auth = useAuth();
  const notices = useNotices();
  const signedIn = auth.phase === 'in' || auth.phase === 'expired';
  // the stream follows the session: one that ended stops it, a new one (re)starts it
  useEffect(() => {
    if (auth.phase === 'in') startLive();
  }, [auth.phase]);
  useEffect(() => {
    if (status === 'unauthorized') sessionLost();
  }, [status]);
  useEffect(() => {
    const main = document.getElementById('main');
    main?.focus({ preventScroll: true });
    scrollTo(0, 0);
  }, [path]);
  let page;
  if (auth.phase === 'loading') page = <Loading />;
  else if (auth.phase === 'setup') page = <SetupPage />;
  else if (auth.phase === 'signin') page = <SignInPage error={auth.error} />;
  else if (route.name === 'printers') page = <PrintersPage />;
  else if (route.name === 'printer') page = <PrinterDetail id={route.id} />;
  else if (route.name === 'inventory') page = <InventoryPage />;
  else if (route.name === 'spool') page = <SpoolPage id={route.id} />;
  else if (route.name === 'labels') page = <LabelsPage />;
  else if (route.name === 'jobs') page = <JobsPage />;
  else if (route.name === 'job') page = <JobDetail id={route.id} />;
  else if (route.name === 'settings') page = <SettingsPage />;
  else if (route.name === 'users') page = <UsersPage />;
  else if (route.name === 'tokens') page = <TokensPage />;
  else if (route.name === 'thresholds') page = <ThresholdsPage />;
  else if (route.name === 'notifications') page = <NotificationsPage />;
  else if (route.name === 'stats') page = <StatsPage />;
  else if (route.name === 'prompts') page = <PromptsPage />;
  else if (route.name === 'cameras') page = <CamerasPage />;
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
        {signedIn && <LiveBadge />}
        {signedIn && <ScanButton class="icon-btn scan-top" compact />}
        {signedIn && <Bell />}
        <ThemeSwitch />
        <UserMenu />
      </header>
      {auth.phase === 'expired' && <SignInAgain me={auth.me} />}
      <nav class="nav" aria-label="Main" hidden={!signedIn}>
        <ul>
          {NAV.map((n) => (
            <li key={n.href} class={n.phone ? undefined : 'wide-only'}>
              <NavLink n={n} path={path} badge={n.href === '/prompts' ? notices.prompts.size : undefined} />
            </li>
          ))}
          <li class="phone-only">
            <MoreMenu path={path} />
          </li>
        </ul>
      </nav>
      <main id="main" tabIndex={-1} class={stale && status !== 'live' ? 'stale' : undefined}>
        {page}
      </main>
    </>
  );
}
