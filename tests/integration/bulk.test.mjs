// The loop under bulk data (docs/testing.md): thousands of jobs listed and exported, a low-stock
// check over 100,000 spools. Each asserts that the daemon's loop never took a long turn, so the
// file runs with the latency-bound ones, alone on its cores (scripts/test.sh): beside four
// other groups a turn's wall time measures the machine's scheduler as much as the daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Daemon, SSE, sleep, assertCleanExit, databaseOf, metric, join, TOKEN, watchHealth,
  assertResponsive } from './harness.mjs';

const ALERTS = `[server]
heartbeat_s = 1
[alerts]
low_stock_margin_g = 50
`;

// 6,000 jobs (SQL written while the daemon is stopped, as the bench seeds spools): the list,
// its total and the export go through the inventory's cursors, ids read off the loop, rows
// rendered a batch at a time, so none is cut off by a statement limit and /healthz answers
// throughout.
const BULK = 6000;
const JOBS_SQL = `INSERT INTO job (origin, status, name, file, printer_name, started_at, ended_at, seen_at, progress, materials)
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ${BULK})
SELECT 'manual', 'completed', CASE WHEN i % 1000 = 0 THEN '=cmd ' || i ELSE 'bulk ' || i END, 'f.3mf', 'shelf',
       1700000000 + i * 60, 1700000000 + i * 60 + 30, 1700000000 + i * 60 + 30, 100, 'PLA' FROM c;
INSERT INTO job_pause (job_id, kind, started_at, ended_at, reason)
SELECT id, 'pause', started_at + 5, started_at + 10, 'paused by the user' FROM job WHERE id % 10 = 0;`;

test('6,000 jobs: list, total, export and pauses whole; /healthz stays responsive', { timeout: 180000 }, async () => {
  const d = new Daemon();
  let w;
  try {
    await d.start();
    const pg = databaseOf(d);
    assertCleanExit(assert, await d.stop());
    if (pg) execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', pg, '-c', JOBS_SQL]);
    else execFileSync('sqlite3', [join(d.dir, 'data', 'printdeck.db'), JOBS_SQL]);
    await d.start();
    // from a process of its own: this one is busy parsing the list and the export
    w = watchHealth(d);
    const all = await fetch(d.url('/api/v1/jobs?sort=id:asc'), { headers: { Authorization: `Bearer ${TOKEN}` },
      signal: AbortSignal.timeout(120000) });
    assert.equal(all.status, 200);
    assert.equal(all.headers.get('x-total-count'), String(BULK));
    const items = await all.json();
    assert.equal(items.length, BULK);
    assert.deepEqual([items[0].id, items[BULK - 1].id], [1, BULK]);
    assert.equal(items.filter((j) => j.pauses.length === 1).length, BULK / 10, 'every pause attached');
    assert.equal(items[9].pauses[0].reason, 'paused by the user');
    const page = await d.get('/api/v1/jobs?limit=50&offset=5990&sort=id:asc');
    assert.equal(page.headers.get('x-total-count'), String(BULK));
    assert.deepEqual(page.json.map((j) => j.id), Array.from({ length: 10 }, (_, i) => 5991 + i));
    const newest = await d.get('/api/v1/jobs?limit=1');
    assert.equal(newest.json[0].id, BULK, 'newest first by default');
    const csv = await fetch(d.url('/api/v1/jobs/export?fmt=csv'), { headers: { Authorization: `Bearer ${TOKEN}` },
      signal: AbortSignal.timeout(120000) });
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-disposition'), /jobs\.csv/);
    const lines = (await csv.text()).split('\r\n').filter(Boolean);
    assert.equal(lines.length, BULK + 1, 'a header and every job');
    assert.ok(lines.some((l) => l.includes(`"'=cmd 1000"`)), 'a formula is quoted');
    const usage = await d.get('/api/v1/usage/export?fmt=csv');
    assert.equal(usage.status, 200);
    const h = await w.stop();
    console.log(`6,000 jobs: /healthz p99 ${h.p99.toFixed(1)} ms, max ${h.max.toFixed(1)} ms, loop turns up to ` +
      `${h.loopMaxMs.toFixed(1)} ms over ${h.n} polls`);
    assertResponsive(h, '6,000 jobs listed and exported');
  } finally {
    await w?.stop();
    const r = await d.stop();
    if (r) assertCleanExit(assert, r);
  }
});

// 100,000 spools, 50,000 of one filament: the stock checks read off the loop, so a spool used
// never stalls it (docs/alerts.md), and the crossing still alerts once. The spools are made by
// SQL while the daemon is stopped, as adversarial.test.mjs row 5 does; on PostgreSQL in the
// database the harness gave the daemon.
test('low stock over 100,000 spools: checked off the loop, raised once', { timeout: 240000 }, async () => {
  const d = new Daemon({ config: ALERTS });
  let pgUrl = '';  // the harness's database for this daemon, known once it has started
  const sql = (q) => String(pgUrl ? execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', pgUrl, '-c', q])
    : execFileSync('sqlite3', [join(d.dir, 'data', 'printdeck.db'), q])).trim();
  let events;
  try {
    await d.start();
    pgUrl = databaseOf(d);
    const mk = async (name) => (await d.req('POST', '/api/v1/filament', { name, material: 'PLA', density: 1.24,
      diameter: 1.75, weight: 1000 })).json.id;
    const big = await mk('Bulk'), other = await mk('Other');
    assertCleanExit(assert, await d.stop());
    sql(`INSERT INTO spool (registered, filament_id, used_weight, initial_weight, archived)
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100000)
SELECT 1700000000 + i, CASE WHEN i % 2 = 0 THEN ${big} ELSE ${other} END, (i * 37) % 1000, 1000,
       CASE WHEN i % 50 = 0 THEN 1 ELSE 0 END FROM c`);
    const total = Number(sql(`SELECT SUM(1000 - used_weight) FROM spool WHERE filament_id = ${big} AND archived = 0`));
    const spools = sql(`SELECT id FROM spool WHERE filament_id = ${big} AND archived = 0 AND used_weight <= 400 ` +
      'ORDER BY id LIMIT 5').split('\n').map(Number);
    assert.equal(spools.length, 5);
    await d.start();
    events = await new SSE(d).open();
    // 2,200 g under the stock: four spools used by 500 g keep it above, the fifth crosses
    const threshold = total - 2200;
    const r = await d.req('PATCH', `/api/v1/filament/${big}`, { low_stock_weight: threshold });
    assert.equal(r.status, 200, r.text);
    const raised = () => events.events.filter((e) => e.event === 'alert.raised' && e.json?.filament_id === big);
    for (const id of spools.slice(0, 4))
      assert.equal((await d.req('PUT', `/api/v1/spool/${id}/use`, { use_weight: 500 })).status, 200);
    await sleep(1500);
    assert.equal(raised().length, 0, 'still above the threshold');
    assert.equal((await d.req('PUT', `/api/v1/spool/${spools[4]}/use`, { use_weight: 500 })).status, 200);
    const a = await events.waitFor((e) => e.event === 'alert.raised' && e.json?.filament_id === big, 20000, 'low stock');
    assert.equal(a.json.kind, 'low_stock_filament');
    assert.equal(a.json.data.remaining_g, total - 2500);
    assert.equal(a.json.data.spools, 48000);  // 2 % archived
    for (const id of spools)  // lower still, in a burst: no second alert
      await d.req('PUT', `/api/v1/spool/${id}/use`, { use_weight: 10 });
    await sleep(1500);
    assert.equal(raised().length, 1);
    const open = (await d.get(`/api/v1/alerts?kind=low_stock_filament&filament_id=${big}&state=open`)).json;
    assert.equal(open.length, 1);
    const max = metric((await d.get('/metrics')).text, 'printdeck_loop_turn_max_seconds');
    console.log(`low stock over 100,000 spools: longest loop turn ${(max * 1000).toFixed(1)} ms in the last minute`);
    assert.ok(max > 0 && max < 0.1, `the loop took a turn of ${(max * 1000).toFixed(1)} ms`);
  } finally {
    events?.close();
    const r = await d.stop();
    if (r) assertCleanExit(assert, r);
  }
});
