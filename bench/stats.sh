#!/usr/bin/env bash
# Statistics over 1,000,000 jobs (`bench/stats.sh [OUT]`), on SQLite and on PostgreSQL:
# 1,000,000 jobs on 20 printers over two years and one filament_usage row each are generated
# with SQL while the daemon is stopped, and their summaries computed by `printdeck stats rebuild`
# (timed); then GET /api/v1/stats (no filter: every row) and a
# filtered one (one printer, one material, a quarter, by week) are timed one at a time, 50 calls
# each (p50/p99 of curl's total time), and the loop's longest turn meanwhile is read from
# /metrics: the queries run in the reader pool, so the loop must stay quick.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/out}/stats
B=${PD_BENCH_BUILD:-build}; TOKEN=bench-token; PORT=29390; N=${PD_BENCH_JOBS:-1000000}; CALLS=50
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
PD=""; PG_DIR=$(mktemp -d)  # not under the checkout, which the postgres user may not enter
cleanup() { [ -n "$PD" ] && kill "$PD" 2>/dev/null; scripts/pg.sh --stop --dir "$PG_DIR" >/dev/null 2>&1 || true; rm -rf "$PG_DIR"; }
trap cleanup EXIT

start() { # url
  PRINTDECK_DATABASE_URL=$1 PRINTDECK_TOKEN=$TOKEN "$B/printdeck" --data-dir "$OUT/data" \
    --listen "127.0.0.1:$PORT" --log-level warn 2>>"$OUT/printdeck.log" &
  PD=$!
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return; sleep 0.1; done
  echo "daemon did not start"; exit 1
}
stop() { kill "$PD"; wait "$PD" 2>/dev/null || true; PD=""; }

# jobs: 20 printers, a start every ~63 s over two years, 80 % completed, 12 % failed (5 reasons),
# 8 % cancelled, all accounted; one usage row per job from 200 spools of 6 materials
data_sql() {
  cat <<SQL
INSERT INTO vendor (registered, name) VALUES (1700000000, 'Bench');
INSERT INTO filament (registered, vendor_id, material, density, diameter, weight, price)
  VALUES (1700000000, 1, 'PLA', 1.24, 1.75, 1000, 20), (1700000000, 1, 'PETG', 1.27, 1.75, 1000, 22),
         (1700000000, 1, 'ABS', 1.04, 1.75, 1000, 21), (1700000000, 1, 'ASA', 1.07, 1.75, 1000, 25),
         (1700000000, 1, 'TPU', 1.21, 1.75, 1000, 30), (1700000000, 1, 'PA6-CF', 1.12, 1.75, 1000, 60);
INSERT INTO printer (name, serial, host, access_code, created_at)
  WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20)
  SELECT 'P' || i, 'BENCH' || (10000 + i), '192.0.2.' || i, '12345678', 1700000000 FROM c;
INSERT INTO spool (registered, filament_id, used_weight, initial_weight, archived)
  WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 200)
  SELECT 1700000000, 1 + i % 6, 0, 1000, 0 FROM c;
INSERT INTO job (printer_id, name, origin, status, started_at, ended_at, materials, reason, seen_at, accounted_at)
  WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $N)
  SELECT 1 + i % 20, 'job ' || i, 'printer',
         CASE WHEN i % 25 < 20 THEN 'completed' WHEN i % 25 < 23 THEN 'failed' ELSE 'cancelled' END,
         1672531200 + i * 63, 1672531200 + i * 63 + 600 + ((i % 20000) * 7919) % 20000,
         CASE (i % 6) WHEN 0 THEN 'PLA' WHEN 1 THEN 'PETG' WHEN 2 THEN 'ABS' WHEN 3 THEN 'ASA' WHEN 4 THEN 'TPU' ELSE 'PA6-CF' END,
         CASE WHEN i % 25 BETWEEN 20 AND 22 THEN 'reason ' || (i % 5) WHEN i % 25 > 22 THEN 'stopped by the user' END,
         1672531200 + i * 63, 1672531200 + i * 63 + 600 + ((i % 20000) * 7919) % 20000 FROM c;
INSERT INTO filament_usage (job_id, spool_id, printer_id, unit, slot, grams, meters, source, material, cost, at)
  SELECT id, 1 + id % 200, printer_id, 0, id % 4, 5 + id % 90, (5 + id % 90) / 3.0, '3mf', materials,
         (5 + id % 90) * 0.02, ended_at FROM job;
SQL
}

bulk() { # backend url
  if [ "$1" = sqlite ]; then sqlite3 "$OUT/data/printdeck.db"; else psql -q "$2" >/dev/null; fi
}

timed() { # path → p50 p99 (ms) and the loop's longest turn (ms) over the calls
  local f=$OUT/times.txt; : >"$f"
  curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$1" >/dev/null   # warm the caches
  for _ in $(seq $CALLS); do
    curl -sf -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$1" >>"$f"
  done
  local loop; loop=$(curl -sf "http://127.0.0.1:$PORT/metrics" -H "Authorization: Bearer $TOKEN" |
    awk '/^printdeck_loop_turn_max_seconds /{printf "%.1f", $2 * 1000}')
  sort -n "$f" | awk -v l="$loop" '{v[NR]=$1*1000} END{printf "p50 %.1f ms, p99 %.1f ms, loop max %s ms", v[int(NR*0.5)+1], v[int(NR*0.99)+ (NR*0.99>int(NR*0.99))], l}'
}

run_backend() { # name url
  local name=$1 url=$2
  rm -rf "$OUT/data"; start "$url"; stop
  local t0=$SECONDS
  data_sql | bulk "$name" "$url"
  # the rows went in behind the daemon's back: its summaries are computed again from them
  local fill=$((SECONDS - t0)); t0=$SECONDS
  PRINTDECK_DATABASE_URL=$url "$B/printdeck" --data-dir "$OUT/data" --log-level warn stats rebuild >/dev/null
  local migrate=$((SECONDS - t0))
  [ "$name" = sqlite ] && sqlite3 "$OUT/data/printdeck.db" 'ANALYZE;' || psql -q "$url" -c 'ANALYZE' >/dev/null
  start "$url"
  local all one
  all=$(timed '/api/v1/stats')
  one=$(timed '/api/v1/stats?printer_id=3&material=PETG&from=2024-01-01&to=2024-04-01&period=week')
  curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/stats" >"$OUT/stats-$name.json"
  stop
  echo "$name: $N jobs + $N usage rows (filled in ${fill}s, summaries rebuilt in ${migrate}s); GET /api/v1/stats all: $all; one printer+material+quarter: $one" |
    tee -a "$OUT/../stats.txt"
}

rm -f "$OUT/../stats.txt"
run_backend sqlite ""
if [ -z "${PD_BENCH_SQLITE_ONLY:-}" ]; then
  PG_URL=$(scripts/pg.sh --dir "$PG_DIR" --port 29392)
  psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS pd_bench_stats" -c "CREATE DATABASE pd_bench_stats" >/dev/null
  run_backend postgresql "${PG_URL%/*}/pd_bench_stats"
fi
