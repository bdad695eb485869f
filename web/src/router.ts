// Client routes on the History API; the daemon answers any of them with index.html.
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { name: 'printers' }
  | { name: 'printer'; id: number }
  | { name: 'inventory' }
  | { name: 'spool'; id: number }
  | { name: 'labels' }
  | { name: 'jobs' }
  | { name: 'job'; id: number }
  | { name: 'settings' }
  | { name: 'users' }
  | { name: 'tokens' }
  | { name: 'thresholds' }
  | { name: 'notifications' }
  | { name: 'stats' }
  | { name: 'prompts' }
  | { name: 'cameras' }
  | { name: 'notfound' };

export function parseRoute(path: string): Route {
  const parts = path.split('/').filter(Boolean);
  if (parts.length === 0 || (parts[0] === 'printers' && parts.length === 1)) return { name: 'printers' };
  if (parts[0] === 'printers' && parts.length === 2 && /^\d+$/.test(parts[1])) return { name: 'printer', id: Number(parts[1]) };
  if (parts[0] === 'inventory' && parts.length === 1) return { name: 'inventory' };
  if (parts[0] === 'spools' && parts.length === 2 && /^\d+$/.test(parts[1])) return { name: 'spool', id: Number(parts[1]) };
  // Spoolman's own spool pages: its labels' "HTTP URL" codes open here too
  if (parts[0] === 'spool' && parts[1] === 'show' && parts.length === 3 && /^\d+$/.test(parts[2])) return { name: 'spool', id: Number(parts[2]) };
  if (parts[0] === 'labels' && parts.length === 1) return { name: 'labels' };
  if (parts[0] === 'jobs' && parts.length === 1) return { name: 'jobs' };
  if (parts[0] === 'jobs' && parts.length === 2 && /^\d+$/.test(parts[1])) return { name: 'job', id: Number(parts[1]) };
  if (parts[0] === 'stats' && parts.length === 1) return { name: 'stats' };
  if (parts[0] === 'prompts' && parts.length === 1) return { name: 'prompts' };
  if (parts[0] === 'settings' && parts.length === 1) return { name: 'settings' };
  if (parts[0] === 'settings' && parts[1] === 'users' && parts.length === 2) return { name: 'users' };
  if (parts[0] === 'settings' && parts[1] === 'tokens' && parts.length === 2) return { name: 'tokens' };
  if (parts[0] === 'settings' && parts[1] === 'thresholds' && parts.length === 2) return { name: 'thresholds' };
  if (parts[0] === 'settings' && parts[1] === 'notifications' && parts.length === 2) return { name: 'notifications' };
  if (parts[0] === 'camera' && parts.length === 1) return { name: 'cameras' };
  return { name: 'notfound' };
}

export function navigate(to: string) {
  if (to === location.pathname + location.search) return;
  history.pushState(null, '', to);
  dispatchEvent(new PopStateEvent('popstate'));
}

export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const f = () => setPath(location.pathname);
    addEventListener('popstate', f);
    return () => removeEventListener('popstate', f);
  }, []);
  return path;
}

/** A plain link that navigates without a reload (and opens a new tab on a modified click). */
export function onLinkClick(e: MouseEvent) {
  const a = (e.currentTarget as HTMLAnchorElement);
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(a.getAttribute('href') || '/');
}
