#!/usr/bin/env bash
# Export benchmark (`PHASES=export make bench`), SQLite, 100,000 spools:
#   1. GET /api/v1/export/spools?fmt=json: time and throughput of one client (curl), against
#      nginx serving the same bytes from a file, and the daemon's CPU for it
#   2. peak RSS over idle with 1 and with 10 exports at once (RSS sampled every 20 ms)
#   3. /healthz answer times (a fresh connection every 20 ms) while 1,000 slow clients
#      (pdbench slow: one header byte a second, each from its own loopback address) and 10
#      exports run
# Spools are bulk-inserted with SQL while the daemon is stopped; vendor and filaments go
# through the API.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/out}/export
B=${PD_BENCH_BUILD:-build}; TOKEN=bench-token; PORT=29290; NGINX_PORT=29291
rm -rf "$OUT"; mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
PD=""; NG=""
cleanup() { for p in $PD $NG; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

start() {
  # room for 1,000 slow clients beside the exports and the probe
  printf '[server]\nmax_clients = 2048\n[log]\nlevel = warn\n' >"$OUT/printdeck.ini"
  PRINTDECK_TOKEN=$TOKEN "$B/printdeck" --config "$OUT/printdeck.ini" --data-dir "$OUT/data" \
    --listen "127.0.0.1:$PORT" 2>>"$OUT/printdeck.log" &
  PD=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return; sleep 0.1; done
  echo "daemon did not start"; exit 1
}
stop() { kill "$PD"; wait "$PD" 2>/dev/null || true; PD=""; }
api() { curl -sf -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "http://127.0.0.1:$PORT$1" -d "$2" >/dev/null; }

start
api /api/v1/vendor '{"name":"Polymaker"}'
for m in PLA PETG; do
  api /api/v1/filament "{\"name\":\"Poly $m\",\"vendor_id\":1,\"material\":\"$m\",\"density\":1.24,\"diameter\":1.75,\"weight\":1000}"
done
stop
sqlite3 "$OUT/data/printdeck.db" <<'SQL'
INSERT INTO spool (registered, filament_id, used_weight, initial_weight, location, lot_nr, archived, comment)
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100000)
SELECT 1700000000 + i, 1 + i % 2, (i * 37) % 1000, 1000, 'Rack ' || (i % 100), 'L' || (i % 997), 0,
       'spool ' || i FROM c;
SQL
start
sleep 1
URL="http://127.0.0.1:$PORT/api/v1/export/spools?fmt=json"
IDLE=$(rss_kb "$PD")

# 1. one export, printdeck then nginx on the same bytes; the median of three runs each
curl -s -H "Authorization: Bearer $TOKEN" "$URL" -o "$OUT/spools.json"
BYTES=$(stat -c %s "$OUT/spools.json")
mkdir -p "$OUT/nginx"; cp "$OUT/spools.json" "$OUT/nginx/spools.json"
cat >"$OUT/nginx.conf" <<NGX
${NGINX_USER-}worker_processes 1; daemon off; pid $OUT/nginx.pid; error_log $OUT/nginx-error.log;
events { worker_connections 1024; }
http { access_log off; default_type application/json;
  server { listen 127.0.0.1:$NGINX_PORT; root $OUT/nginx; location = /spools.json { } } }
NGX
nginx -c "$OUT/nginx.conf" & NG=$!; sleep 1
timed() { curl -sf -o /dev/null -w '%{time_total}\n' "$@"; }
c0=$(cpu_ticks "$PD")
PDT=$(for _ in 1 2 3; do timed -H "Authorization: Bearer $TOKEN" "$URL"; done | sort -n | sed -n 2p)
c1=$(cpu_ticks "$PD")
NGT=$(for _ in 1 2 3; do timed "http://127.0.0.1:$NGINX_PORT/spools.json"; done | sort -n | sed -n 2p)
kill "$NG"; wait "$NG" 2>/dev/null || true; NG=""
awk -v b="$BYTES" -v p="$PDT" -v n="$NGT" -v c=$((c1 - c0)) -v hz="$hz" 'BEGIN{
  printf "export of 100,000 spools (%.1f MB): printdeck %.2f s (%.1f MB/s, %.2f CPU-s each), nginx %.3f s (%.0f MB/s); ratio %.3f\n",
    b/1e6, p, b/1e6/p, c/hz/3, n, b/1e6/n, n/p }' | tee "$OUT/export.txt"

# 2. peak RSS with 1 and with 10 exports at once
peak() { # n: runs n exports at once, prints the peak RSS over idle in kB
  local pids=() peak=0 r
  for _ in $(seq "$1"); do curl -s -H "Authorization: Bearer $TOKEN" "$URL" -o /dev/null & pids+=($!); done
  while kill -0 "${pids[@]}" 2>/dev/null; do
    r=$(rss_kb "$PD"); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.02
  done
  wait "${pids[@]}" 2>/dev/null || true
  echo $((peak - IDLE))
}
P1=$(peak 1); P10=$(peak 10)
echo "RSS idle ${IDLE} kB; peak growth with 1 export ${P1} kB, with 10 at once ${P10} kB" | tee -a "$OUT/export.txt"

# 3. /healthz while 1,000 slow clients and 10 exports run
"$B/pdbench" slow --port "$PORT" --clients 1000 --seconds 25 >"$OUT/slow.txt" & SLOW=$!
sleep 3
EXPORTS=()
for _ in $(seq 10); do curl -s -H "Authorization: Bearer $TOKEN" "$URL" -o /dev/null & EXPORTS+=($!); done
"$B/pdbench" probe --port "$PORT" --seconds 15 | tee -a "$OUT/export.txt"
wait "$SLOW" 2>/dev/null || true
cat "$OUT/slow.txt" | tee -a "$OUT/export.txt"
curl -s "http://127.0.0.1:$PORT/metrics" | grep '^printdeck_loop_turn' | tee -a "$OUT/export.txt"
wait "${EXPORTS[@]}" 2>/dev/null || true  # a bare wait would wait for the daemon too
stop
