// A /healthz watcher in a process of its own (adversarial.test.mjs forks it): the test process
// itself is busy reading exports and holding sockets, and a watcher on its event loop would
// measure that loop's delays as the daemon's.
//   node healthwatch.mjs URL PID: polls URL every 20 ms and samples PID's RSS until the parent
//   sends 'stop', then answers {n, p99, max, rssMaxKb, rssEndKb} and exits. A request that gets
//   no answer within 2 s counts as 2,000 ms.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const [url, pid] = process.argv.slice(2);
const lat = [];
let rssMaxKb = 0, stopped = false;
const rss = () => {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
};
process.on('message', (m) => { if (m === 'stop') stopped = true; });
while (!stopped) {
  const t0 = performance.now();
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await r.text();
    lat.push(performance.now() - t0);
  } catch { lat.push(2000); }
  rssMaxKb = Math.max(rssMaxKb, rss());
  await sleep(20);
}
const s = lat.sort((a, b) => a - b);
process.send({ n: s.length, p99: s[Math.floor(s.length * 0.99)] ?? 0, max: s.at(-1) ?? 0, rssMaxKb, rssEndKb: rss() },
  () => process.disconnect());
