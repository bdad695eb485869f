#!/usr/bin/env bash
# `make run`: start printdeck. With no printer configured it starts a demo: a real mosquitto
# broker over TLS standing in for three printers (X1C, P1S, A1), the simulator playing them,
# and printdeck watching them. Ctrl-C stops everything.
#   PRINTDECK_CONFIG=FILE  run with your own configuration instead of the demo
#   PRINTDECK_LISTEN       listen address (default 127.0.0.1:8080)
#   PRINTDECK_DATA_DIR     data directory (default ./data)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/printdeck
DATA=${PRINTDECK_DATA_DIR:-./data}
LISTEN=${PRINTDECK_LISTEN:-127.0.0.1:8080}
mkdir -p "$DATA"

if [ -n "${PRINTDECK_CONFIG:-}" ] || { [ -f "$DATA/printdeck.db" ] && [ ! -d "$DATA/demo" ]; }; then
  echo "printdeck: http://$LISTEN  (create a token with: $BIN --data-dir $DATA token create NAME)"
  exec "$BIN" ${PRINTDECK_CONFIG:+--config "$PRINTDECK_CONFIG"} --data-dir "$DATA" --listen "$LISTEN"
fi

mkdir -p "$DATA/demo"
DEMO=$(cd "$DATA/demo" && pwd)  # absolute: the configuration names files in it
SERIALS=(00M09A350100001 01P00A451200002 03919C461900003)
MODELS=(X1C P1S A1)
NAMES=(X1C-demo P1S-demo A1-demo)
ACCESS_CODE=demo1234
BASE_PORT=${PD_DEMO_BASE_PORT:-18883}
SIM_PORT=${PD_DEMO_SIM_PORT:-18880}

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

scripts/broker.sh --dir "$DEMO/broker" --serials "$(IFS=,; echo "${SERIALS[*]}")" --base-port "$BASE_PORT" \
  --sim-port "$SIM_PORT" --access-code "$ACCESS_CODE" &
pids+=($!)
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$SIM_PORT) 2>/dev/null && break; sleep 0.1; done

build/printdeck-sim --host 127.0.0.1 --port "$SIM_PORT" --user sim --password printdeck-sim \
  --serials "$(IFS=,; echo "${SERIALS[*]}")" --models "$(IFS=,; echo "${MODELS[*]}")" --speedup 10 &
pids+=($!)

CONF="$DEMO/printdeck.ini"
{
  echo "# written by scripts/run.sh for the demo fleet"
  for i in "${!SERIALS[@]}"; do
    echo "[printer ${NAMES[$i]}]"
    echo "serial = ${SERIALS[$i]}"
    echo "host = 127.0.0.1"
    echo "port = $((BASE_PORT + i))"
    echo "access_code = $ACCESS_CODE"
    echo "ca_file = $DEMO/broker/ca.crt"
  done
} >"$CONF"

# a small inventory to look at (Spoolman's export format), once: it is the user's after that
if [ ! -e "$DEMO/inventory-imported" ]; then
  "$BIN" --data-dir "$DATA" --log-level warn import scripts/demo-inventory.json && touch "$DEMO/inventory-imported"
fi
if [ ! -s "$DEMO/token" ]; then
  (umask 077; "$BIN" --data-dir "$DATA" token create demo >"$DEMO/token")
fi
TOKEN=$(cat "$DEMO/token")
cat <<MSG

  printdeck demo: three simulated printers (X1C, P1S, A1) behind a real MQTT broker over TLS
  open:   http://$LISTEN/?token=$TOKEN  (the dashboard; the token becomes a session once)
  API:    http://$LISTEN/api/v1/printers
  events: http://$LISTEN/api/v1/events
  spools: http://$LISTEN/api/v1/spool  (Spoolman's API, no token needed from this machine)
  token:  $TOKEN
  try:    curl -H "Authorization: Bearer $TOKEN" http://$LISTEN/api/v1/printers

MSG
"$BIN" --config "$CONF" --data-dir "$DATA" --listen "$LISTEN" &
pids+=($!)
wait "${pids[-1]}"
