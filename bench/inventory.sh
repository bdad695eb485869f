#!/usr/bin/env bash
# Inventory benchmarks (`PHASES=inventory make bench`), on SQLite and on PostgreSQL:
#   1. GET /api/v1/spool returning 1,000 spools under wrk, vs nginx serving the same bytes
#   2. a filtered, sorted, paged list over 100,000 spools: latency p50/p99 of one client (wrk
#      -c1: the time a request takes, not a queue behind others), with the
#      filter and page varied per request (bench/inventory.lua) so no reply is reused
#   3. GET /api/v1/spool/group over the same 100,000 spools, by location and by filament, and
#      GET /api/v1/search over them: p99 of one client, a different query per request
#      (bench/group.lua), so each one aggregates or searches again
#   4. Spoolman's gauges on /metrics ([inventory] metrics) over the same spools: how long the
#      first read takes after start, then one gzip-accepting scraper back to back vs nginx
#      gzipping the same text, with /healthz timed by a second client meanwhile
# Spools are bulk-inserted with SQL while the daemon is stopped (the API would take minutes
# for 100,000); vendors and filaments go through the API.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/out}/inventory
B=${PD_BENCH_BUILD:-build}; TOKEN=bench-token; PORT=29190; NGINX_PORT=29191
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
PD=""; PG_DIR=$(mktemp -d)  # not under the checkout, which the postgres user may not enter
cleanup() { [ -n "$PD" ] && kill "$PD" 2>/dev/null; scripts/pg.sh --stop --dir "$PG_DIR" >/dev/null 2>&1 || true; rm -rf "$PG_DIR"; }
trap cleanup EXIT

start() { # url
  PRINTDECK_DATABASE_URL=$1 PRINTDECK_TOKEN=$TOKEN "$B/printdeck" --data-dir "$OUT/data" \
    --listen "127.0.0.1:$PORT" --log-level warn 2>>"$OUT/printdeck.log" &
  PD=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return; sleep 0.1; done
  echo "daemon did not start"; exit 1
}
stop() { kill "$PD"; wait "$PD" 2>/dev/null || true; PD=""; }
api() { curl -sf -X "$1" -H 'Content-Type: application/json' "http://127.0.0.1:$PORT$2" -d "$3"; }

# spools FROM..TO (ids of the generated rows) spread over 100 locations and both filaments
spools_sql() {
  cat <<SQL
INSERT INTO spool (registered, filament_id, used_weight, initial_weight, location, lot_nr, archived, last_used)
WITH RECURSIVE c(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM c WHERE i < $2)
SELECT 1700000000 + i, 1 + i % 2, (i * 37) % 1000, 1000, 'Rack ' || (i % 100), 'L' || (i % 997),
       CASE WHEN i % 50 = 0 THEN 1 ELSE 0 END, 1700000000 + (i * 7919) % 10000000 FROM c;
SQL
}

# On PostgreSQL the rows are then vacuumed and analysed, as autovacuum does within a minute of
# such a load on a real install: 100,000 inserts in one transaction leave 100,000 dead versions
# of the few spool_sum rows their trigger updated (a grouped list 20 ms instead of 0.4).
bulk() { # backend url sql
  if [ "$1" = sqlite ]; then sqlite3 "$OUT/data/printdeck.db" <<<"$3"; else psql -q "$2" <<<"$3 VACUUM ANALYZE;" >/dev/null; fi
}

rps() { awk '/Requests\/sec/{print $2}' "$1"; }
pct() { awk -v p="$2" '$1==p{print $2}' "$1"; }

run_backend() { # name url
  local name=$1 url=$2
  rm -rf "$OUT/data"; start "$url"
  api POST /api/v1/vendor '{"name":"Polymaker","empty_spool_weight":140}' >/dev/null
  api POST /api/v1/filament '{"name":"PolyTerra Black","vendor_id":1,"material":"PLA","density":1.24,"diameter":1.75,"weight":1000,"color_hex":"2C3232"}' >/dev/null
  api POST /api/v1/filament '{"name":"PolyLite PETG","vendor_id":1,"material":"PETG","density":1.27,"diameter":1.75,"weight":1000,"color_hex":"0000FF"}' >/dev/null
  stop; bulk "$name" "$url" "$(spools_sql 1 1000)"; start "$url"
  curl -sf "http://127.0.0.1:$PORT/api/v1/spool?allow_archived=true" >"$OUT/spools-$name.json"
  mkdir -p "$OUT/nginx"; cp "$OUT/spools-$name.json" "$OUT/nginx/spool.json"
  cat >"$OUT/nginx.conf" <<NGX
${NGINX_USER-}worker_processes 1; daemon off; pid $OUT/nginx.pid; error_log $OUT/nginx-error.log;
events { worker_connections 1024; }
http { access_log off; default_type application/json;
  server { listen 127.0.0.1:$NGINX_PORT; root $OUT/nginx; location = /api/v1/spool { try_files /spool.json =404; } } }
NGX
  nginx -c "$OUT/nginx.conf" & local NG=$!; sleep 1
  wrk -t2 -c32 -d10s "http://127.0.0.1:$NGINX_PORT/api/v1/spool" >"$OUT/wrk-nginx-$name.txt"
  kill $NG; wait $NG 2>/dev/null || true
  wrk -t2 -c32 -d10s "http://127.0.0.1:$PORT/api/v1/spool?allow_archived=true" >"$OUT/wrk-list-$name.txt"
  stop; bulk "$name" "$url" "$(spools_sql 1001 100000)"; start "$url"
  wrk -t1 -c1 -d15s --latency -s bench/inventory.lua "http://127.0.0.1:$PORT" >"$OUT/wrk-100k-$name.txt"
  for by in location filament search; do
    wrk -t1 -c1 -d10s --latency -s bench/group.lua "http://127.0.0.1:$PORT" -- "$by" >"$OUT/wrk-group-$by-$name.txt"
  done
  stop; PRINTDECK_INVENTORY_METRICS=true start "$url"
  local t0; t0=$(date +%s%N)
  until curl -sf "http://127.0.0.1:$PORT/metrics" -o "$OUT/metrics-$name.txt" &&
        grep -q '^spoolman_spool_weight_used{' "$OUT/metrics-$name.txt"; do sleep 0.05; done
  local first_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  gauges_vs_nginx "$name"
  stop
  awk -v n="$name" -v b="$(wc -c <"$OUT/spools-$name.json")" -v p="$(rps "$OUT/wrk-list-$name.txt")" \
      -v g="$(rps "$OUT/wrk-nginx-$name.txt")" -v p50="$(pct "$OUT/wrk-100k-$name.txt" 50%)" \
      -v p99="$(pct "$OUT/wrk-100k-$name.txt" 99%)" -v q="$(rps "$OUT/wrk-100k-$name.txt")" \
      -v gl="$(pct "$OUT/wrk-group-location-$name.txt" 99%)" -v gf="$(pct "$OUT/wrk-group-filament-$name.txt" 99%)" \
      -v gs="$(pct "$OUT/wrk-group-search-$name.txt" 99%)" 'BEGIN{
    printf "%s: 1,000 spools (%d bytes) %.0f req/s vs nginx %.0f (ratio %.2f); 100,000 spools filtered+sorted: p50 %s, p99 %s (%.0f req/s); grouped by location p99 %s, by filament p99 %s; search p99 %s\n",
      n, b, p, g, p/g, p50, p99, q, gl, gf, gs }' | tee -a "$OUT/../inventory.txt"
  awk -v n="$name" -v b="$(wc -c <"$OUT/metrics-$name.txt")" -v f="$first_ms" \
      -v m50="$(pct "$OUT/wrk-metrics-$name.txt" 50%)" -v m99="$(pct "$OUT/wrk-metrics-$name.txt" 99%)" \
      -v g50="$(pct "$OUT/wrk-metrics-nginx-$name.txt" 50%)" -v g99="$(pct "$OUT/wrk-metrics-nginx-$name.txt" 99%)" \
      -v h99="$(pct "$OUT/wrk-metrics-healthz-$name.txt" 99%)" -v hmax="$(awk '/Latency/{print $4}' "$OUT/wrk-metrics-healthz-$name.txt")" 'BEGIN{
    printf "%s: Spoolman gauges over 100,000 spools (/metrics %d bytes): first read %d ms after start; gzip scrape p50 %s, p99 %s vs nginx p50 %s, p99 %s; /healthz meanwhile p99 %s, max %s\n",
      n, b, f, m50, m99, g50, g99, h99, hmax }' | tee -a "$OUT/../inventory.txt"
}

# The scraped text from nginx, gzipped as printdeck does (level 6), then from printdeck, each
# by one client that asks for gzip, back to back; /healthz is timed beside printdeck's.
gauges_vs_nginx() { # name
  local name=$1
  mkdir -p "$OUT/nginx"; cp "$OUT/metrics-$name.txt" "$OUT/nginx/metrics.txt"
  cat >"$OUT/nginx.conf" <<NGX
${NGINX_USER-}worker_processes 1; daemon off; pid $OUT/nginx.pid; error_log $OUT/nginx-error.log;
events { worker_connections 1024; }
http { access_log off; default_type text/plain; gzip on; gzip_comp_level 6; gzip_types text/plain;
  server { listen 127.0.0.1:$NGINX_PORT; root $OUT/nginx; location = /metrics { try_files /metrics.txt =404; } } }
NGX
  nginx -c "$OUT/nginx.conf" & local NG=$!; sleep 1
  wrk -t1 -c1 -d10s --latency -H 'Accept-Encoding: gzip' "http://127.0.0.1:$NGINX_PORT/metrics" >"$OUT/wrk-metrics-nginx-$name.txt"
  kill $NG; wait $NG 2>/dev/null || true
  wrk -t1 -c1 -d10s --latency "http://127.0.0.1:$PORT/healthz" >"$OUT/wrk-metrics-healthz-$name.txt" & local H=$!
  wrk -t1 -c1 -d10s --latency -H 'Accept-Encoding: gzip' "http://127.0.0.1:$PORT/metrics" >"$OUT/wrk-metrics-$name.txt"
  wait $H
}

rm -f "$OUT/../inventory.txt"
run_backend sqlite ""
PG_URL=$(scripts/pg.sh --dir "$PG_DIR" --port 29192)
psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS pd_bench" -c "CREATE DATABASE pd_bench" >/dev/null
run_backend postgresql "${PG_URL%/*}/pd_bench"
