// One event stream for every screen (GET /api/v1/events). It is read with fetch rather than
// EventSource, which cannot send the Authorization header; the parser below follows the
// WHATWG event-stream rules, and the client resends the last id as Last-Event-ID.

export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

/** Incremental parser: feed it text as it arrives, get the complete events back. */
export class SseParser {
  private buf = '';
  private data: string[] = [];
  private event = '';
  private id: string | null = null;
  lastId: string | null = null;

  push(chunk: string): SseEvent[] {
    this.buf += chunk;
    const out: SseEvent[] = [];
    let nl: number;
    while ((nl = this.buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buf.slice(0, nl);
      const skip = this.buf.startsWith('\r\n', nl) ? 2 : 1;
      // a lone \r at the end may be the first half of \r\n: wait for more
      if (this.buf[nl] === '\r' && nl + 1 === this.buf.length) break;
      this.buf = this.buf.slice(nl + skip);
      if (line === '') {
        if (this.data.length) {
          out.push({ id: this.id, event: this.event || 'message', data: this.data.join('\n') });
          if (this.id !== null) this.lastId = this.id;
        }
        this.data = [];
        this.event = '';
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
      else if (field === 'id' && !value.includes('\0')) this.id = value;
    }
    return out;
  }
}

/** Reconnection delay: 1 s doubling to 30 s, with jitter so a restart of the daemon is not
 * met by every dashboard at the same instant. */
export function backoffMs(attempt: number, rand: () => number = Math.random): number {
  const base = Math.min(30000, 1000 * 2 ** Math.min(attempt, 5));
  return Math.round(base * (0.5 + rand() * 0.5));
}

export type StreamStatus = 'connecting' | 'live' | 'down' | 'unauthorized';

export interface StreamOpts {
  url: string;
  headers: () => Record<string, string>;
  onEvent: (e: SseEvent) => void;
  onStatus: (s: StreamStatus, retryAt?: number) => void;
}

export function openStream(opts: StreamOpts): () => void {
  const parser = new SseParser();
  let attempt = 0;
  let stopped = false;
  let ctl: AbortController | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;

  const retry = () => {
    if (stopped) return;
    const delay = backoffMs(attempt++);
    opts.onStatus('down', Date.now() + delay);
    timer = setTimeout(run, delay);
  };

  async function run() {
    if (stopped) return;
    opts.onStatus('connecting');
    ctl = new AbortController();
    const headers: Record<string, string> = { Accept: 'text/event-stream', ...opts.headers() };
    if (parser.lastId) headers['Last-Event-ID'] = parser.lastId;
    try {
      const res = await fetch(opts.url, { headers, signal: ctl.signal, cache: 'no-store' });
      if (res.status === 401) {
        opts.onStatus('unauthorized');
        return; // a new token restarts the stream
      }
      if (!res.ok || !res.body) throw new Error(`status ${res.status}`);
      attempt = 0;
      opts.onStatus('live');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const ev of parser.push(value)) opts.onEvent(ev);
      }
    } catch {
      if (stopped) return;
    }
    retry();
  }

  // a phone that wakes up or a laptop back on Wi-Fi reconnects at once rather than after
  // the remaining backoff
  const wake = () => {
    if (timer && navigator.onLine) {
      clearTimeout(timer);
      timer = null;
      attempt = 0;
      run();
    }
  };
  addEventListener('online', wake);
  run();
  return () => {
    stopped = true;
    removeEventListener('online', wake);
    if (timer) clearTimeout(timer);
    ctl?.abort();
  };
}
