// A /healthz watcher in a process of its own (adversarial.test.mjs forks it): the test process
// itself is busy reading exports and holding sockets, and a watcher on its event loop would
// measure that loop's delays as the daemon's.
//   node healthwatch.mjs URL PID: polls URL every 20 ms and samples PID's RSS until the parent
//   sends 'stop', then answers {n, p99, max, loopMaxMs, rssMaxKb, rssEndKb} and exits. A
//   request that gets no answer within 2 s counts as 2,000 ms. loopMaxMs is the daemon's own
//   longest loop turn (printdeck_loop_turn_max_seconds, read from /metrics every second): a
//   stall of the daemon, where the latencies also count this machine's scheduling.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const [url, pid] = process.argv.slice(2);
const lat = [];
let rssMaxKb = 0, loopMaxMs = 0, stopped = false, polls = 0;
const metricsUrl = url.replace(/\/healthz$/, '/metrics');
async function loopMax() {
  try {
    const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(2000) })).text();
    const m = /^printdeck_loop_turn_max_seconds (\S+)$/m.exec(text);
    if (m) loopMaxMs = Math.max(loopMaxMs, Number(m[1]) * 1000);
  } catch { /* the latency poll says it */ }
}
const rss = () => {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
};
process.on('message', (m) => { if (m === 'stop') stopped = true; });
// The first fetch of a process loads node's HTTP client and takes 50-150 ms of this process's
// own time; untimed, so that a short row's p99 (its slowest of 60 polls) is the daemon's.
try { await (await fetch(url, { signal: AbortSignal.timeout(2000) })).text(); } catch { /* the polls say it */ }
// at least one timed poll, however short the row
do {
  const t0 = performance.now();
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await r.text();
    lat.push(performance.now() - t0);
  } catch { lat.push(2000); }
  rssMaxKb = Math.max(rssMaxKb, rss());
  if (++polls % 40 === 0) await loopMax();
  await sleep(20);
} while (!stopped);
await loopMax();
const s = lat.sort((a, b) => a - b);
process.send({ n: s.length, p99: s[Math.floor(s.length * 0.99)] ?? 0, max: s.at(-1) ?? 0, loopMaxMs, rssMaxKb,
  rssEndKb: rss() },
  () => process.disconnect());
