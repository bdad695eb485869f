// The dashboard's service worker: keeps the shell (index.html and the hashed assets it
// names) so printdeck opens without the network; the app then shows its last saved state,
// marked stale. The API is never cached here: live data is live or clearly not. It also shows
// the daemon's Web Push messages (docs/notify.md, "Web Push"), and a tap on one opens the page
// it names in the dashboard.
const CACHE = 'printdeck-shell-v1';

self.addEventListener('install', (e) => {
  e.waitUntil(
    caches.open(CACHE).then(async (c) => {
      const res = await fetch('/', { cache: 'no-cache' });
      const html = await res.clone().text();
      await c.put('/', res);
      const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
      await c.addAll(['/manifest.webmanifest', '/icon.svg', '/icon-192.png', ...assets]);
    }).then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (e) => {
  e.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (e) => {
  const req = e.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  if (req.mode === 'navigate') {
    // the page: fresh when online (a new build shows at once), the kept shell when not
    e.respondWith(
      fetch(req)
        .then((res) => {
          if (res.ok) caches.open(CACHE).then((c) => c.put('/', res.clone()));
          return res;
        })
        .catch(() => caches.match('/')),
    );
    return;
  }
  // hashed assets never change under their name: the cache first, kept as they are fetched
  e.respondWith(
    caches.match(req).then(
      (hit) =>
        hit ||
        fetch(req).then((res) => {
          if (res.ok && url.pathname.startsWith('/assets/')) {
            const copy = res.clone();
            caches.open(CACHE).then((c) => c.put(req, copy));
          }
          return res;
        }),
    ),
  );
});

// A push: the daemon's JSON {title, body, tag, url, …}, decrypted by the browser. Every push
// must show a notification (userVisibleOnly), so one that cannot be read still says something.
self.addEventListener('push', (e) => {
  let m = {};
  try {
    m = e.data ? e.data.json() : {};
  } catch {
    m = { body: e.data ? e.data.text() : '' };
  }
  e.waitUntil(
    self.registration.showNotification(m.title || 'printdeck', {
      body: m.body || '',
      tag: m.tag || undefined,
      icon: '/icon-192.png',
      badge: '/icon-192.png',
      timestamp: m.ts ? m.ts * 1000 : Date.now(),
      data: { url: m.url || '/' },
    }),
  );
});

// A tap: a dashboard window already open goes to the page and comes forward, else a new one
// opens on it.
self.addEventListener('notificationclick', (e) => {
  e.notification.close();
  const url = new URL((e.notification.data && e.notification.data.url) || '/', self.location.origin);
  if (url.origin !== self.location.origin) return;
  e.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(async (wins) => {
      const win = wins.find((w) => new URL(w.url).origin === url.origin);
      if (!win) return self.clients.openWindow(url.href);
      await win.focus();
      // navigate() works on a window this worker controls; any other gets a window of its own
      return win.url === url.href ? win : win.navigate(url.href).catch(() => self.clients.openWindow(url.href));
    }),
  );
});
