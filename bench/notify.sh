# Sourced by bench/run.sh (PHASES=notify): issue 13's notification burst.
#   - NOTIFY_N printers (default 1,000) played by printdeck-sim without automatic jobs; each is
#     given a job (`nb-<serial>`, 10 hours long) by its control topic, and after a warm-up each
#     job is finished by a `finish` command at its own time, drawn evenly within
#     NOTIFY_SPREAD seconds (60)
#   - one channel per run, of each type in NOTIFY_TYPES (webhook, then ntfy), with the daemon's
#     default [notify] settings, pointed at bench/notify-recv.mjs on 127.0.0.1, which checks
#     the webhook's signature and records each request's receive time and the job it tells of
#   - reported per run: delivered, duplicates and missing (each finished job once); the time
#     from the finish command to the request's arrival (p50/p99/max); the daemon's CPU and
#     peak RSS over the burst, and src/notify/'s share of it (perf samples with a frame there,
#     bench/track.sh's way); the loop thread's wait for a CPU (a shared box's share of the
#     latency) and /healthz's answer time meanwhile; and the farm's ingest figure (reports the
#     daemon counted per second and per CPU-second) over NOTIFY_SPREAD seconds before the
#     burst and during it.
# The latency is measured from the finish command (the simulator's reaction, the broker and
# the daemon) and from the FINISH report reaching the broker's subscribers (mosquitto_sub
# beside the daemon: the daemon's own share, event to delivery). All read the same machine's
# wall clock (pdbench CLOCK_REALTIME, mosquitto_sub's %U, the receiver's
# performance.timeOrigin + performance.now()).
NOTIFY_N=${NOTIFY_N:-1000}; NOTIFY_SPREAD=${NOTIFY_SPREAD:-60}; NOTIFY_TYPES=${NOTIFY_TYPES:-webhook ntfy}
# every started job has its 3MF fetched (X1/H2/P2: up to 12 tries, 5 s apart), which no
# server answers here: the baseline waits for that to pass (bench/track.sh's warm-up)
NOTIFY_WARMUP=${NOTIFY_WARMUP:-75}
RECV_PORT=29092; NB_SECRET=printdeck-bench-secret
echo "== notify: $NOTIFY_N printers finishing within $NOTIFY_SPREAD s, a local receiver ($NOTIFY_TYPES)"
FLEET_SIM=1 FLEET_SIM_ARGS="--no-auto-jobs" fleet "$NOTIFY_N" X1C,P1S,A1,P2S,H2D shared
nb_api() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
nb_sim() { "$B/pdbench" control --port "$SIM_PORT" --user sim --password printdeck-sim --serials-file "$OUT/serials.txt" "$@"; }
nb_printing() { nb_api -o /dev/null -D - "http://127.0.0.1:$HTTP_PORT/api/v1/jobs?limit=1&status=printing" \
  | tr -d '\r' | awk 'tolower($1)=="x-total-count:"{print $2+0}'; }
: >"$OUT/notify.txt"; prev=""
for type in $NOTIFY_TYPES; do
  secret=(); [ "$type" != webhook ] || secret=(--secret "$NB_SECRET")
  node bench/notify-recv.mjs serve --port "$RECV_PORT" --out "$OUT/notify-$type-got.txt" "${secret[@]}" &
  RECV=$!; pids+=($RECV)
  [ -z "$prev" ] || nb_api -X PATCH -d '{"enabled":false}' "http://127.0.0.1:$HTTP_PORT/api/v1/notifications/channels/$prev" >/dev/null
  case $type in
    webhook) ch="{\"type\":\"webhook\",\"name\":\"bench\",\"url\":\"http://127.0.0.1:$RECV_PORT/hook\",\"secret\":\"$NB_SECRET\"}" ;;
    ntfy) ch="{\"type\":\"ntfy\",\"name\":\"bench-ntfy\",\"server\":\"http://127.0.0.1:$RECV_PORT\",\"topic\":\"bench\"}" ;;
  esac
  prev=$(nb_api -d "$ch" "http://127.0.0.1:$HTTP_PORT/api/v1/notifications/channels" | jq .id)
  nb_sim --json '{"action":"start_job","name":"nb-{serial}","minutes":600}' --spread 5 >/dev/null
  for _ in $(seq 150); do [ "$(nb_printing)" -ge "$NOTIFY_N" ] && break; sleep 0.2; done
  P0=$(nb_printing); sleep "$NOTIFY_WARMUP"
  m0=$(messages); c0=$(cpu_ticks $PD); sleep "$NOTIFY_SPREAD"; m1=$(messages); c1=$(cpu_ticks $PD)
  # when each printer's FINISH report reached the broker's subscribers (the daemon among them):
  # the moment the daemon could see the event, so the latency splits into the simulator's and
  # broker's share and the daemon's
  mosquitto_sub -p "$SIM_PORT" -u sim -P printdeck-sim -t 'device/+/report' -F '%U %t %p' \
    > >(awk '/"gcode_state": *"FINISH"/ { split($2, t, "/"); print t[2], $1; fflush() }' >"$OUT/notify-$type-seen.txt") &
  SEEN=$!; pids+=($SEEN)
  # the burst: RSS sampled each second while the finish commands go out
  nb_sim --json '{"action":"finish"}' --spread "$NOTIFY_SPREAD" >"$OUT/notify-$type-sent.txt" &
  FIN=$!; rss_max=0; t0=$(date +%s%N); read -r run0 wait0 _ <"/proc/$PD/task/$PD/schedstat"
  # the loop's answers meanwhile: a stall of the whole loop shows here too
  "$B/pdbench" probe --port "$HTTP_PORT" --seconds "$NOTIFY_SPREAD" --interval-ms 50 >"$OUT/notify-$type-probe.txt" &
  PROBE=$!
  perf record -q --call-graph dwarf,16384 -F 49 -p "$PD" -o "$OUT/notify-$type.perf" -- sleep "$NOTIFY_SPREAD" 2>/dev/null &
  PERF=$!
  while kill -0 $FIN 2>/dev/null; do r=$(rss_kb $PD); [ "$r" -le "$rss_max" ] || rss_max=$r; sleep 1; done
  wait $FIN || true
  m2=$(messages); c2=$(cpu_ticks $PD); t2=$(( ($(date +%s%N) - t0) / 1000000 ))
  read -r run1 wait1 _ <"/proc/$PD/task/$PD/schedstat"; wait $PROBE $PERF || true
  for _ in $(seq 300); do [ "$(wc -l <"$OUT/notify-$type-got.txt")" -ge "$NOTIFY_N" ] && break; sleep 0.1; done
  sleep 2; kill $RECV $SEEN; wait $RECV $SEEN 2>/dev/null || true
  read -r SAMPLES MINE < <(perf_share "$OUT/notify-$type.perf" notify)
  {
    echo "$type: $NOTIFY_N printers, $P0 printing; finishes spread over $NOTIFY_SPREAD s"
    node bench/notify-recv.mjs report --sent "$OUT/notify-$type-sent.txt" --got "$OUT/notify-$type-got.txt" \
      --seen "$OUT/notify-$type-seen.txt"
    awk -v c1=$((c1 - c0)) -v m1=$((m1 - m0)) -v c2=$((c2 - c1)) -v m2=$((m2 - m1)) -v hz="$hz" -v t="$NOTIFY_SPREAD" -v t2="$t2" \
        -v r="$rss_max" -v rr="$(rss_kb $PD)" \
        -v r0="$run0" -v r1="$run1" -v w0="$wait0" -v w1="$wait1" -v s="$SAMPLES" -v mine="$MINE" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN{
      printf "daemon over the burst: CPU %.1f %% of one core, RSS peak %.1f MB (%.1f MB after)\n", 100*c2/hz/(t2/1000), r/1024, rr/1024
      printf "src/notify/ in %d of %d perf samples of the daemon over the burst: %.2f %% of one core\n", mine, s, s ? 100*c2/hz/(t2/1000)*mine/s : 0
      printf "the loop thread over the burst: ran %.1f s, waited %.1f s for a CPU (the box: load %s)\n", (r1-r0)/1e9, (w1-w0)/1e9, load
      printf "ingest without the burst: %.0f reports/s, %.1f %% of one core, %.0f reports per CPU-second\n", m1/t, 100*c1/hz/t, c1 ? m1/(c1/hz) : 0
      printf "ingest during the burst:  %.0f reports/s, %.1f %% of one core, %.0f reports per CPU-second\n", m2/(t2/1000), 100*c2/hz/(t2/1000), c2 ? m2/(c2/hz) : 0 }'
    sed 's/^/meanwhile GET \/healthz every 50 ms: /' "$OUT/notify-$type-probe.txt"
    nb_api "http://127.0.0.1:$HTTP_PORT/api/v1/notifications/log?channel_id=$prev&limit=5000" \
      | jq -r '"delivery log: \(length) attempts, \(map(select(.ok)) | length) delivered, \(map(select(.ok | not)) | length) failed" +
               ([.[] | select(.ok | not) | .error] | unique | if length > 0 then " (" + join("; ") + ")" else "" end)'
  } | tee -a "$OUT/notify.txt"
done
stop_daemon
kill "$SIM" 2>/dev/null || true
