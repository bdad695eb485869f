# Sourced by bench/run.sh (PHASES=web): the dashboard's cost, to a phone and to the daemon.
#   1. 200 printers played by printdeck-sim: the first load of `/`, cold and warm (service
#      worker and HTTP cache), on a throttled phone (bench/web.mjs load); the bytes of 10 s of
#      the event stream, whole objects and patches, plain and gzipped
#   2. 1,000 printers at 1 report/s each (pdbench publish): the daemon's CPU over WEB_SECONDS
#      with no dashboard open, then with 20. A dashboard costs the daemon its first load (the
#      page, the printer list, the slot map) and then its event stream, gzipped and with
#      ?patch=1&batch=1 as the dashboard asks for it: curl plays those requests, because twenty
#      Chromium pages of a thousand cards would take both cores of this machine from the
#      daemon they are meant to measure
WEB_SECONDS=${WEB_SECONDS:-30}
echo "== 9. web: first load with 200 printers; daemon CPU with 20 dashboards on 1,000 printers"
FLEET_SIM=1 fleet 200 X1C,P1S,A1,P2S,H2D shared
node bench/web.mjs load "http://127.0.0.1:$HTTP_PORT" "$TOKEN" 200 | tee "$OUT/web.txt"
for q in "" "?patch=1"; do # what one dashboard's stream costs the link, whole objects or patches
  for enc in "" --compressed; do
    curl -s $enc -N --max-time 10 -H "Authorization: Bearer $TOKEN" -o /dev/null -w "%{size_download}\n" \
      "http://127.0.0.1:$HTTP_PORT/api/v1/events$q" || true
  done
done | paste -sd' ' | awk '{printf "event stream of 200 printers, 10 s (snapshot included): whole objects %.0f KB (%.0f KB gzipped), ?patch=1 %.0f KB (%.0f KB gzipped)\n", $1/1024, $2/1024, $3/1024, $4/1024}' | tee -a "$OUT/web.txt"
stop_daemon; kill "$SIM"
FLEET_PUBLISH=1000 fleet 1000 X1C,P1S,A1,P2S,H2D shared
sleep 5
c0=$(cpu_ticks $PD); sleep "$WEB_SECONDS"; c1=$(cpu_ticks $PD)
dash() { # one dashboard: its first load, then its event stream for the window
  local h=(-s -o /dev/null --compressed -H "Authorization: Bearer $TOKEN")
  curl "${h[@]}" "http://127.0.0.1:$HTTP_PORT/"; curl "${h[@]}" "http://127.0.0.1:$HTTP_PORT/api/v1/printers"
  curl "${h[@]}" "http://127.0.0.1:$HTTP_PORT/api/v1/ams"
  curl "${h[@]}" -N --max-time $((WEB_SECONDS + 10)) "http://127.0.0.1:$HTTP_PORT/api/v1/events?patch=1&batch=1" || true
}
DASHES=(); for _ in $(seq 20); do dash & DASHES+=($!); done
sleep 5
d0=$(cpu_ticks $PD); sleep "$WEB_SECONDS"; d1=$(cpu_ticks $PD)
wait "${DASHES[@]}" 2>/dev/null || true
awk -v a=$((c1 - c0)) -v b=$((d1 - d0)) -v hz="$hz" -v t="$WEB_SECONDS" 'BEGIN{
  printf "1000 printers at 1 report/s: daemon CPU %.1f %% of one core with no dashboard, %.1f %% with 20 open (+%.1f %%)\n",
    100*a/hz/t, 100*b/hz/t, 100*(b-a)/hz/t }' | tee -a "$OUT/web.txt"
stop_daemon; kill "$PUB"
