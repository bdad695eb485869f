# Sourced by bench/run.sh (PHASES=track): what recording and accounting cost a farm that prints.
#   - TRACK_N printers (default 1,000) played by printdeck-sim with its automatic jobs at
#     TRACK_SPEEDUP × real time (1: layers and progress at a real print's pace); most are
#     printing, and jobs open, pause, fail and finish through the window (each finish is
#     accounted: no FTPS server answers here, so the 3MF fetch fails fast and the AMS remain
#     fallback charges the spools)
#   - the daemon's CPU over TRACK_SECONDS, and perf samples of it (DWARF call chains): the share
#     of samples with a frame in the recording and accounting code (src/track/, src/files/)
#     times the daemon's CPU is what they add; the rest is the printer link, the bus and SSE
# The farm phase's CPU figure is for pdbench's synthetic reports (no jobs); this one is for
# the simulator's printers, whose reports are bigger and which print.
TRACK_N=${TRACK_N:-1000}; TRACK_SECONDS=${TRACK_SECONDS:-60}; TRACK_SPEEDUP=${TRACK_SPEEDUP:-1}
# the first minute after start is not the steady state: every printer found printing has its
# job's 3MF fetched (X1/H2/P2: up to 12 tries, 5 s apart), which no server answers here
TRACK_WARMUP=${TRACK_WARMUP:-90}
echo "== 8. track: $TRACK_N printers printing (simulator ×$TRACK_SPEEDUP), recording and accounting's share of the daemon's CPU"
FLEET_SIM=1 FLEET_SIM_ARGS="--speedup $TRACK_SPEEDUP" fleet "$TRACK_N" X1C,P1S,A1,P2S,H2D shared
w0=$(cpu_ticks $PD); sleep "$TRACK_WARMUP"; w1=$(cpu_ticks $PD)
jobs_now() { curl -sf -o /dev/null -D - -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT/api/v1/jobs?limit=1$1" \
  | tr -d '\r' | awk 'tolower($1)=="x-total-count:"{print $2}'; }
usage_now() { curl -sf -o /dev/null -D - -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT/api/v1/usage?limit=1" \
  | tr -d '\r' | awk 'tolower($1)=="x-total-count:"{print $2}'; }
J0=$(jobs_now ""); U0=$(usage_now); P0=$(jobs_now "&status=printing")
c0=$(cpu_ticks $PD)
perf record -q --call-graph dwarf,16384 -F 49 -p "$PD" -o "$OUT/track.perf" -- sleep "$TRACK_SECONDS" 2>/dev/null
c1=$(cpu_ticks $PD)
J1=$(jobs_now ""); U1=$(usage_now); P1=$(jobs_now "&status=printing")
# a sample is the tracking code's when one of its frames is in src/track/ or src/files/
perf_share "$OUT/track.perf" track files >"$OUT/track-share.txt"
read -r SAMPLES MINE <"$OUT/track-share.txt"
awk -v c=$((c1 - c0)) -v hz="$hz" -v t="$TRACK_SECONDS" -v n="$TRACK_N" -v s="$SAMPLES" -v m="$MINE" \
    -v w=$((w1 - w0)) -v wt="$TRACK_WARMUP" -v j=$((J1 - J0)) -v e=$(((J1 - P1) - (J0 - P0))) -v u=$((U1 - U0)) -v p0="$P0" -v p1="$P1" -v on="$(online)" 'BEGIN{
  cpu = 100 * c / hz / t; share = s ? m / s : 0
  printf "%d printers (%d online), %d-%d printing; in %d s %d jobs opened, %d ended, %d usage rows written\n", n, on, p0, p1, t, j, e, u
  printf "first %d s after all were online (every printing job'"'"'s 3MF fetch tried): daemon CPU %.1f %% of one core\n", wt, 100 * w / hz / wt
  printf "then: daemon CPU %.1f %% of one core; recording and accounting %.1f %% of its samples (%d of %d) = %.2f %% of one core\n",
    cpu, 100 * share, m, s, cpu * share }' | tee "$OUT/track.txt"
stop_daemon
