# Sourced by bench/run.sh (PHASES=soak): a fleet kept under disruption for SOAK_SECONDS.
#   - SOAK_N printers (default 1,000), each behind its own TLS listener and certificate, played
#     by printdeck-sim (jobs, AMS, HMS; about one report per second while printing)
#   - the broker is stopped and started again every 30 s
#   - 15 s after each restart, a random tenth of the printer links are cut (`ss -K` on the
#     daemon's sockets: the kernel aborts them as a dropped network would)
#   - 10 commands per second go to random printers; every one must end with an answer
#     (acknowledged, refused, offline or timed out), none may hang
# Every 5 s: RSS, open descriptors and printers online. Reported: the RSS and descriptor slopes
# over the run after its first minute (a leak shows as a steady slope), the slowest recovery
# to all printers online after each disruption against the reconnect cap, the commands'
# outcomes, and the commands still pending at the end.
SOAK_N=${SOAK_N:-1000}; SOAK_SECONDS=${SOAK_SECONDS:-600}; SOAK_CAP_MS=10000
echo "== 6. soak: $SOAK_N printers for $SOAK_SECONDS s; broker restarted every 30 s, a tenth of the links cut 15 s later"
FLEET_SIM=1 FLEET_INI="[mqtt]\nreconnect_max_ms = $SOAK_CAP_MS\n" fleet "$SOAK_N" X1C,P1S,A1,P2S,H2D printer
mapfile -t SOAK_SERIALS <"$OUT/serials.txt"

command_one() { # serial: one command, its HTTP status (000: no answer within 60 s) to cmd.log
  curl -s -o /dev/null -w '%{http_code}\n' --max-time 60 -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d '{"command":"light","on":true}' \
    "http://127.0.0.1:$HTTP_PORT/api/v1/printers/$1/commands" >>"$OUT/soak-cmd.log"
}
cut_links() { # a random tenth of the daemon's printer sockets (their peer port is the printer's)
  local expr="" p
  for p in $(shuf -i "$FARM_BASE_PORT-$((FARM_BASE_PORT + SOAK_N - 1))" -n $((SOAK_N / 10))); do
    expr+="${expr:+ or }dport = :$p"
  done
  ss -K -t "( $expr )" >/dev/null 2>&1 || true
}

: >"$OUT/soak-cmd.log"; : >"$OUT/soak-samples.txt"; : >"$OUT/soak-recovery.txt"
# a broker restart takes seconds, so events are due at times rather than at exact ticks
start=$SECONDS; next_restart=30; next_cut=15; next_sample=0
disrupted=""; dropped=0; since=0
while [ $((SECONDS - start)) -lt "$SOAK_SECONDS" ]; do
  t=$((SECONDS - start))
  if [ "$t" -ge "$next_restart" ]; then
    [ -z "$disrupted" ] || echo "$disrupted unrecovered" >>"$OUT/soak-recovery.txt"
    scripts/broker.sh --dir "$OUT/broker" --stop >/dev/null 2>&1 || true
    scripts/broker.sh "${BROKER_ARGS[@]}" --daemon >/dev/null
    # recovery counts from when the broker listens again: the daemon cannot connect before
    disrupted=restart; dropped=0; since=$(date +%s%N); next_restart=$((next_restart + 30))
  elif [ "$t" -ge "$next_cut" ]; then
    [ -z "$disrupted" ] || echo "$disrupted unrecovered" >>"$OUT/soak-recovery.txt"
    cut_links; disrupted=cut; dropped=0; since=$(date +%s%N); next_cut=$((next_cut + 30))
  fi
  for _ in $(seq 10); do command_one "${SOAK_SERIALS[RANDOM % SOAK_N]}" & done
  n=$(online)
  # a recovery counts once the daemon has seen the disruption (some printers offline)
  [ "$n" -ge "$SOAK_N" ] || dropped=1
  if [ -n "$disrupted" ] && [ "$dropped" = 1 ] && [ "$n" -ge "$SOAK_N" ]; then
    echo "$disrupted $(( ($(date +%s%N) - since) / 1000000 ))" >>"$OUT/soak-recovery.txt"; disrupted=""
  fi
  if [ "$t" -ge "$next_sample" ]; then
    echo "$t $(rss_kb "$PD") $(ls "/proc/$PD/fd" | wc -l) $n" >>"$OUT/soak-samples.txt"
    next_sample=$((next_sample + 5))
  fi
  sleep 1
done
[ -z "$disrupted" ] || echo "$disrupted unrecovered" >>"$OUT/soak-recovery.txt"
wait_commands() { while [ "$(jobs -rp | grep -vxF -e "$PD" -e "$SIM" | wc -l)" -gt 0 ]; do sleep 1; done; }
wait_commands
for _ in $(seq 150); do [ "$(online)" -ge "$SOAK_N" ] && break; sleep 0.2; done
pending=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" |
  awk '/^printdeck_printer_commands_pending\{/{s+=$NF; n++} END{print n ? s : "metric missing"}')
slope() { # FROM: RSS and descriptor slopes over the samples from FROM seconds on
  awk -v from="$1" '$1>=from { n++; sx+=$1; sy+=$2; sz+=$3; sxx+=$1*$1; sxy+=$1*$2; sxz+=$1*$3
         if (!min || $2<min) min=$2; if ($2>max) max=$2; if (!fmin || $3<fmin) fmin=$3; if ($3>fmax) fmax=$3 }
       END { d=n*sxx-sx*sx; if (d==0) d=1
         printf "from %d s: RSS %.1f-%.1f MB, slope %+.1f kB/min; descriptors %d-%d, slope %+.2f/min (%d samples)\n",
           from, min/1024, max/1024, 60*(n*sxy-sx*sy)/d, fmin, fmax, 60*(n*sxz-sx*sz)/d, n }' "$OUT/soak-samples.txt"
}
{
  slope 60                      # after the first minute
  slope $((SOAK_SECONDS / 2))   # the second half: a leak keeps its slope, warm-up does not
  # descriptors follow the printers online; compared when all are, a leaked one shows
  awk -v n="$SOAK_N" '$4==n { c++; if (!lo || $3<lo) lo=$3; if ($3>hi) hi=$3; if (!first) first=$3; last=$3 }
       END { printf "descriptors with all %d online: %d-%d over %d samples (first %d, last %d)\n", n, lo, hi, c, first, last }' \
    "$OUT/soak-samples.txt"
  awk -v cap="$SOAK_CAP_MS" '$2=="unrecovered"{u++; next} {n[$1]++; if ($2>m[$1]) m[$1]=$2}
       END { printf "back to all %s online: after broker restarts max %d ms (%d), after cut links max %d ms (%d); reconnect cap %d ms; unrecovered %d\n",
         "'"$SOAK_N"'", m["restart"], n["restart"], m["cut"], n["cut"], cap, u }' "$OUT/soak-recovery.txt"
  sort "$OUT/soak-cmd.log" | uniq -c | awk '{s=s sep $2 ": " $1; sep=", "} END {print "commands by HTTP status: " s " (000 = no answer)"}'
  echo "commands pending at the end: $pending"
  echo "RSS at the end: $(( $(rss_kb "$PD") / 1024 )) MB"
} | tee "$OUT/soak.txt"
stop_daemon
kill "$SIM" 2>/dev/null || true
