# Sourced by bench/run.sh (PHASES=web): the dashboard's cost, to a phone and to the daemon.
#   1. 200 printers played by printdeck-sim: the first load of `/`, cold and warm (service
#      worker and HTTP cache), on a throttled phone (bench/web.mjs load)
#   2. 1,000 printers at 1 report/s each (pdbench publish): the daemon's CPU over WEB_SECONDS
#      with no dashboard open, then with 20 (Chromium pages on `/`, each with its event stream)
WEB_SECONDS=${WEB_SECONDS:-30}
echo "== 9. web: first load with 200 printers; daemon CPU with 20 dashboards on 1,000 printers"
FLEET_SIM=1 fleet 200 X1C,P1S,A1,P2S,H2D shared
node bench/web.mjs load "http://127.0.0.1:$HTTP_PORT" "$TOKEN" 200 | tee "$OUT/web.txt"
stop_daemon; kill "$SIM"
FLEET_PUBLISH=1000 fleet 1000 X1C,P1S,A1,P2S,H2D shared
sleep 5
c0=$(cpu_ticks $PD); sleep "$WEB_SECONDS"; c1=$(cpu_ticks $PD)
coproc DASH { node bench/web.mjs dashboards "http://127.0.0.1:$HTTP_PORT" "$TOKEN" 20 $((WEB_SECONDS + 10)); }
read -r line <&"${DASH[0]}"   # "open": every dashboard shows its cards
sleep 5
d0=$(cpu_ticks $PD); sleep "$WEB_SECONDS"; d1=$(cpu_ticks $PD)
read -r line <&"${DASH[0]}" || true
wait "$DASH_PID" 2>/dev/null || true
awk -v a=$((c1 - c0)) -v b=$((d1 - d0)) -v hz="$hz" -v t="$WEB_SECONDS" 'BEGIN{
  printf "1000 printers at 1 report/s: daemon CPU %.1f %% of one core with no dashboard, %.1f %% with 20 open (+%.1f %%)\n",
    100*a/hz/t, 100*b/hz/t, 100*(b-a)/hz/t }' | tee -a "$OUT/web.txt"
stop_daemon; kill "$PUB"
