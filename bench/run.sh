#!/usr/bin/env bash
# `make bench`: printdeck against reference tools on this machine, side by side.
#   1. ingest   — reports per CPU-second, printdeck (one TLS link per printer) vs mosquitto_sub
#                 (one link, device/+/report) receiving the same stream from the same broker
#   2. farm     — FARM_N printers (1,000) at 1 report/s each: printdeck CPU % and RSS; idle RSS.
#                 Each printer has its own TLS listener and certificate naming its serial, as
#                 real printers do (FARM_CERTS=shared: one listener whose certificate names all
#                 1,000 serials, which every TLS session then keeps, ~38 KB per link)
#   3. latency  — report published → SSE event received, p50/p99, at FARM_N printers
#   4. api      — GET /api/v1/printers with 100 printers under wrk vs nginx serving the same bytes
#   5. inventory — spool lists on SQLite and PostgreSQL (bench/inventory.sh)
#   6. soak     — not in the default set (10 minutes): PHASES=soak make bench (bench/soak.sh)
#   7. export   — not in the default set: GET /api/v1/export/spools over 100,000 spools vs
#                 nginx, RSS with 1 and 10 exports, /healthz beside 1,000 slow clients (bench/export.sh)
#   8. track    — not in the default set: 1,000 simulated printers printing; the share of the
#                 daemon's CPU that recording and accounting take (bench/track.sh, perf)
#   9. web      — not in the default set: the dashboard's first load on a throttled phone with
#                 200 printers, and the daemon's CPU with 20 dashboards open (bench/web.sh)
#  10. notify   — not in the default set: 1,000 printers finishing within a minute, each job's
#                 notification to a local webhook receiver and to an ntfy one: delivered once,
#                 latency, the daemon's CPU and RSS, ingest with and without it (bench/notify.sh)
#  11. camera   — not in the default set: a 720p port-6000 and a 1080p RTSPS camera relayed to
#                 1, 10 and 50 viewers: CPU, RSS, frames, latency in→out; FFmpeg beside it
#                 (bench/camera.sh)
# Results go to bench/out/; copy the summary into bench/RESULTS.md with the date.
set -euo pipefail
cd "$(dirname "$0")/.."
PD_SETUP_BENCH=1 scripts/setup.sh
OUT=bench/out; rm -rf "$OUT"; mkdir -p "$OUT"
# nginx started by root serves as nobody, who may not read a checkout under a private home;
# export.sh and inventory.sh (run from here) take it from the environment
NGINX_USER=$([ "$(id -u)" = 0 ] && echo 'user root; ' || true); export NGINX_USER
B=${PD_BENCH_BUILD:-build}  # another build tree, to compare two commits side by side
TOKEN=bench-token
# other ports when another run holds these (a second checkout benchmarking at the same time)
SIM_PORT=${SIM_PORT:-29880}; TLS_PORT=${TLS_PORT:-29883}; HTTP_PORT=${HTTP_PORT:-29090}; NGINX_PORT=${NGINX_PORT:-29091}
INGEST_RATE=${INGEST_RATE:-20000}; INGEST_SECONDS=${INGEST_SECONDS:-10}
FARM_N=${FARM_N:-1000}; FARM_SECONDS=${FARM_SECONDS:-30}; FARM_CERTS=${FARM_CERTS:-printer}; FARM_BASE_PORT=${FARM_BASE_PORT:-10000}  # below the ephemeral range, which client sockets take ports from
PHASES=${PHASES:-idle ingest farm api inventory}   # e.g. PHASES=api make bench
want() { [[ " $PHASES " == *" $1 "* ]]; }

pids=()
# 10,000 printers need 10,000 descriptors in the daemon and twice that in the broker
[ "$(id -u)" != 0 ] || ulimit -Hn 200000 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; scripts/broker.sh --dir "$OUT/broker" --stop 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }  # 0: it has exited
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)
messages() { curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk '/^printdeck_printer_messages_total/{s+=$NF} END{print s+0}'; }

# printers online, from /healthz: /metrics of 10,000 printers is megabytes
online() { curl -s --max-time 5 "http://127.0.0.1:$HTTP_PORT/healthz" | sed -n 's/.*"online": *\([0-9]*\).*/\1/p' | grep . || echo 0; }
fleet() { # N MODELS [shared|printer] → serials file, broker, daemon config; starts the daemon
  local n=$1 models=$2 certs=${3:-shared} listen
  "$B/printdeck-sim" --list --printers "$n" --models "$models" | cut -f1 >"$OUT/serials.txt"
  scripts/broker.sh --dir "$OUT/broker" --stop 2>/dev/null || true
  if [ "$certs" = printer ]; then
    # one key for all: a thousand RSA key generations would take minutes
    scripts/gen-certs.sh "$OUT/broker" "$(head -1 "$OUT/serials.txt")"
    "$B/pdbench" certs --dir "$OUT/broker" --serials-file "$OUT/serials.txt" >/dev/null
    listen=(--base-port "$FARM_BASE_PORT")
  else
    listen=(--shared-port "$TLS_PORT")
  fi
  BROKER_ARGS=(--dir "$OUT/broker" --serials-file "$OUT/serials.txt" "${listen[@]}"
    --sim-port "$SIM_PORT" --access-code 12345678)
  scripts/broker.sh "${BROKER_ARGS[@]}" --daemon >/dev/null
  # the fleet reports from the start, so the wait below is for printers online (connected and
  # reporting) and none goes silent while the rest connect: printdeck-sim plays it, or pdbench
  # publishes time-stamped reports at FLEET_PUBLISH reports/s until killed
  if [ -n "${FLEET_SIM:-}" ]; then
    "$B/printdeck-sim" --port "$SIM_PORT" --serials "$(paste -sd, "$OUT/serials.txt")" --log-level error \
      ${FLEET_SIM_ARGS:-} 2>>"$OUT/sim.log" &
    SIM=$!; pids+=($SIM)
  elif [ -n "${FLEET_PUBLISH:-}" ]; then
    "$B/pdbench" publish --port "$SIM_PORT" --user sim --password printdeck-sim --serials-file "$OUT/serials.txt" \
      --rate "$FLEET_PUBLISH" --seconds 100000 --stamp >/dev/null &
    PUB=$!; pids+=($PUB)
  fi
  if [ "$certs" = printer ]; then # the broker answers before its last listener is open
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$((FARM_BASE_PORT + n - 1))") 2>/dev/null && break; sleep 0.1; done
  fi
  { echo "[log]"; echo "level = warn"; printf '%b' "${FLEET_INI:-}"; i=0
    while read -r s; do i=$((i+1)); printf '[printer p%d]\nserial = %s\nhost = 127.0.0.1\nport = %d\naccess_code = 12345678\nca_file = %s\n' \
      "$i" "$s" "$([ "$certs" = printer ] && echo $((FARM_BASE_PORT + i - 1)) || echo "$TLS_PORT")" \
      "$PWD/$OUT/broker/ca.crt"; done <"$OUT/serials.txt"; } >"$OUT/printdeck.ini"
  rm -rf "$OUT/data"
  PRINTDECK_TOKEN=$TOKEN "$B/printdeck" --config "$OUT/printdeck.ini" --data-dir "$OUT/data" \
    --listen "127.0.0.1:$HTTP_PORT" 2>>"$OUT/printdeck.log" &
  PD=$!; pids+=($PD)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && break; sleep 0.1; done
  for _ in $(seq $((300 + n / 20))); do [ "$(online)" -ge "$n" ] && break; sleep 0.2; done
}
stop_daemon() { kill "$PD"; wait "$PD" 2>/dev/null || true; }
# PERF_FILE DIR...: "<samples> <those with a frame in src/DIR/ for one of the DIRs>"
perf_share() {
  local f=$1; shift
  perf script -i "$f" -F tid,ip,srcline --full-source-path 2>/dev/null | awk -v src="$PWD/src/" -v dirs="$*" '
    BEGIN { nd = split(dirs, d, " ") }
    /^ *[0-9]+ *$/ { n++; if (mine) t++; mine = 0; next }
    { for (i = 1; i <= nd; i++) if (index($0, src d[i] "/")) mine = 1 }
    END { if (mine) t++; printf "%d %d\n", n, t }'
}

if want idle; then
echo "== idle RSS (no printers)"
rm -rf "$OUT/idle"; PRINTDECK_TOKEN=$TOKEN "$B/printdeck" --data-dir "$OUT/idle" --listen "127.0.0.1:$HTTP_PORT" 2>/dev/null &
PD=$!; pids+=($PD); sleep 1; IDLE_RSS=$(rss_kb $PD); stop_daemon
echo "idle RSS ${IDLE_RSS} kB" | tee "$OUT/idle.txt"
fi

if want ingest; then

echo "== 1. ingest: 100 printers, $INGEST_RATE reports/s for $INGEST_SECONDS s"
fleet 100 X1C,P1S,A1
mosquitto_sub -h 127.0.0.1 -p "$TLS_PORT" -u bblp -P 12345678 --cafile "$OUT/broker/ca.crt" --insecure \
  -t 'device/+/report' >"$OUT/sub.out" &
SUB=$!; pids+=($SUB); sleep 1
m0=$(messages); c0=$(cpu_ticks $PD); s0=$(cpu_ticks $SUB); l0=$(wc -l <"$OUT/sub.out")
"$B/pdbench" publish --port "$SIM_PORT" --user sim --password printdeck-sim --serials-file "$OUT/serials.txt" \
  --rate "$INGEST_RATE" --seconds "$INGEST_SECONDS" | tee "$OUT/publish.txt"
sleep 2
m1=$(messages); c1=$(cpu_ticks $PD); s1=$(cpu_ticks $SUB); l1=$(wc -l <"$OUT/sub.out")
kill $SUB
awk -v m=$((m1-m0)) -v c=$((c1-c0)) -v l=$((l1-l0)) -v s=$((s1-s0)) -v hz="$hz" 'BEGIN{
  pd = (c>0)? m/(c/hz) : 0; sub_ = (s>0)? l/(s/hz) : 0;
  printf "printdeck: %d reports, %.2f CPU-s, %.0f reports per CPU-second\n", m, c/hz, pd;
  printf "mosquitto_sub: %d reports, %.2f CPU-s, %.0f reports per CPU-second\n", l, s/hz, sub_;
  if (sub_>0) printf "ratio printdeck/mosquitto_sub: %.2f\n", pd/sub_ }' | tee "$OUT/ingest.txt"
stop_daemon
fi

if want farm; then
echo "== 2+3. farm: $FARM_N printers at 1 report/s each for $FARM_SECONDS s, SSE latency ($FARM_CERTS certificates)"
FLEET_PUBLISH=$FARM_N fleet "$FARM_N" X1C,P1S,A1,P2S,H2D "$FARM_CERTS"
ONLINE=$(online); R0=$(rss_kb $PD)
"$B/pdbench" sse --port "$HTTP_PORT" --token "$TOKEN" --seconds $((FARM_SECONDS + 1)) >"$OUT/latency.txt" &
LAT=$!
sleep 1
# the broker and the event-stream client are measured too: at 10,000 printers either may be
# what limits first
BRK=$(cat "$OUT/broker/mosquitto.pid")
c0=$(cpu_ticks $PD); b0=$(cpu_ticks "$BRK"); l0=$(cpu_ticks $LAT)
sleep "$FARM_SECONDS"
c1=$(cpu_ticks $PD); b1=$(cpu_ticks "$BRK"); l1=$(cpu_ticks $LAT); R1=$(rss_kb $PD)
wait $LAT || true
kill "$PUB"
awk -v c=$((c1-c0)) -v hz="$hz" -v t="$FARM_SECONDS" -v r0="$R0" -v r1="$R1" -v certs="$FARM_CERTS" -v n="$FARM_N" -v on="$ONLINE" 'BEGIN{
  printf "%d printers, %d online (%s certificates): RSS %.1f MB before, %.1f MB after; CPU %.1f %% of one core at %d reports/s\n", n, on, certs, r0/1024, r1/1024, 100*c/hz/t, n }' \
  | tee "$OUT/farm.txt"
awk -v b=$((b1-b0)) -v l=$((l1-l0)) -v hz="$hz" -v t="$FARM_SECONDS" -v fds="$(ls "/proc/$PD/fd" | wc -l)" 'BEGIN{
  printf "descriptors %d; broker (mosquitto) CPU %.1f %%, SSE client CPU %.1f %% of one core\n", fds, 100*b/hz/t, 100*l/hz/t }' \
  | tee -a "$OUT/farm.txt"
echo "latency (SSE, $FARM_N printers): $(cat "$OUT/latency.txt")" | tee -a "$OUT/farm.txt"
# the slot map of the whole farm: every printer's live trays beside the stored slots, after one
# full report each from an H2D with 6 AMS units (18 trays) and the external holder
"$B/pdbench" publish --port "$SIM_PORT" --user sim --password printdeck-sim --serials-file "$OUT/serials.txt" \
  --rate "$FARM_N" --seconds 1 --payload-file tests/fixtures/samples/h2d_pushall_running_extspool_1.json >/dev/null
sleep 2
for i in 1 2 3; do
  curl -s -o "$OUT/ams.json" -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT/api/v1/ams"
done | sort -n | awk -v n="$FARM_N" 'NR==2{printf "GET /api/v1/ams (%d printers): median of 3 %.1f ms\n", n, $1*1000}' | tee -a "$OUT/farm.txt"
grep -o '"printer_id"' "$OUT/ams.json" | wc -l | awk '{print "  slots in the reply: " $1}' | tee -a "$OUT/farm.txt"
stop_daemon
fi

if want api; then
echo "== 4. api: GET /api/v1/printers with 100 printers vs nginx"
fleet 100 X1C,P1S,A1
"$B/printdeck-sim" --port "$SIM_PORT" --serials "$(paste -sd, "$OUT/serials.txt")" --no-auto-jobs --log-level warn &
pids+=($!)
sleep 4
kill "${pids[-1]}"   # freeze the fleet so both servers send identical bytes
sleep 1
curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT/api/v1/printers" >"$OUT/printers.json"
mkdir -p "$OUT/nginx"; cp "$OUT/printers.json" "$OUT/nginx/printers.json"
for workers in 1 2; do
  cat >"$OUT/nginx.conf" <<NGX
${NGINX_USER}worker_processes $workers; daemon off; pid $PWD/$OUT/nginx.pid; error_log $PWD/$OUT/nginx-error.log;
events { worker_connections 1024; }
http { access_log off; default_type application/json;
  server { listen 127.0.0.1:$NGINX_PORT; root $PWD/$OUT/nginx; location = /api/v1/printers { try_files /printers.json =404; } } }
NGX
  nginx -c "$PWD/$OUT/nginx.conf" & NG=$!; sleep 1
  wrk -t2 -c32 -d10s "http://127.0.0.1:$NGINX_PORT/api/v1/printers" >"$OUT/wrk-nginx-$workers.txt"
  kill $NG; wait $NG 2>/dev/null || true
done
wrk -t2 -c32 -d10s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT/api/v1/printers" >"$OUT/wrk-printdeck.txt"
rps() { awk '/Requests\/sec/{print $2}' "$1"; }
P=$(rps "$OUT/wrk-printdeck.txt"); N1=$(rps "$OUT/wrk-nginx-1.txt"); N2=$(rps "$OUT/wrk-nginx-2.txt")
awk -v p="$P" -v n1="$N1" -v n2="$N2" -v b="$(wc -c <"$OUT/printers.json")" 'BEGIN{
  printf "body %d bytes; printdeck %.0f req/s; nginx 1 worker %.0f (ratio %.2f); nginx 2 workers %.0f (ratio %.2f)\n", b, p, n1, p/n1, n2, p/n2 }' \
  | tee "$OUT/api.txt"
stop_daemon
fi
if want inventory; then
echo "== 5. inventory: spool lists on SQLite and PostgreSQL"
bench/inventory.sh "$OUT"
fi
if want export; then
echo "== 7. export: 100,000 spools"
bench/export.sh "$OUT"
fi
if want soak; then
. bench/soak.sh
fi
if want track; then
. bench/track.sh
fi
if want web; then
. bench/web.sh
fi
if want notify; then
. bench/notify.sh
fi
if want camera; then
. bench/camera.sh
fi
echo; echo "== summary"; cat "$OUT"/{idle,ingest,farm,api,inventory,soak,track,web,notify,camera}.txt "$OUT"/export/export.txt 2>/dev/null || true
