#!/usr/bin/env bash
# A real mosquitto broker standing in for the brokers that Bambu printers run themselves
# (docs/simulator.md). printdeck connects to it exactly as to printers: TLS 1.2, a
# certificate naming the serial, user bblp with the LAN access code. printdeck-sim joins
# on a plain loopback port and plays the printers.
#
#   broker.sh --dir DIR --serials S1,S2,…|--serials-file F --sim-port Q [--base-port P]
#             [--shared-port P2] [--access-code CODE] [--daemon]
#   broker.sh --dir DIR --stop
#
#   --serials-file F  one serial per line (a farm's list is too long for one argument)
#   --base-port P     one TLS listener per printer: serial i (0-based) on port P+i, with
#                     that serial's certificate, like one printer per address
#   --shared-port P2  one TLS listener whose certificate names every serial (farms of
#                     hundreds of printers without hundreds of ports)
#   --sim-port Q      plain MQTT for printdeck-sim (user sim, password printdeck-sim)
#   --access-code C   password of user bblp (default 12345678)
#   --daemon          run in the background, write DIR/mosquitto.pid, return once mosquitto
#                     logs that every listener is bound (exit 1 with its log if it fails)
# Certificates are made by gen-certs.sh in DIR (ca.crt is what printdeck should trust).
# Everything binds to 127.0.0.1 only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SIM_USER=sim
SIM_PASSWORD=printdeck-sim

usage() { sed -n '7,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }
die() { echo "broker.sh: $*" >&2; exit 2; }
port_ok() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }

dir="" serials="" base="" shared="" simport="" code=12345678 daemon=0 stop=0
while [ $# -gt 0 ]; do
  case $1 in
    --daemon) daemon=1; shift; continue ;;
    --stop) stop=1; shift; continue ;;
    -h|--help) usage 0 ;;
  esac
  [ $# -ge 2 ] || die "$1 needs a value"
  case $1 in
    --dir) dir=$2 ;;
    --serials) serials=$2 ;;
    --serials-file) [ -r "$2" ] || die "cannot read $2"; serials=$(paste -sd, "$2") ;;
    --base-port) base=$2 ;;
    --shared-port) shared=$2 ;;
    --sim-port) simport=$2 ;;
    --access-code) code=$2 ;;
    *) die "unknown option $1" ;;
  esac
  shift 2
done
[ -n "$dir" ] || usage
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
pidfile=$dir/mosquitto.pid

if [ "$stop" = 1 ]; then
  [ -s "$pidfile" ] || die "no $pidfile"
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
  die "mosquitto $pid did not stop"
fi

IFS=, read -r -a list <<<"$serials"
[ ${#list[@]} -gt 0 ] || die "--serials is required"
port_ok "${simport:-x}" || die "--sim-port is required (1-65535)"
[ -n "$base$shared" ] || die "give --base-port and/or --shared-port"
[ -z "$base" ] || { port_ok "$base" && port_ok $((base + ${#list[@]} - 1)); } || die "bad --base-port"
[ -z "$shared" ] || port_ok "$shared" || die "bad --shared-port"
[[ $code =~ ^[^:[:space:]]+$ ]] || die "bad --access-code"
command -v mosquitto >/dev/null || die "mosquitto not installed (scripts/setup.sh)"
# a second start on the same DIR would fail to bind and, worse, drop the running one's pid file
if [ "$daemon" = 1 ] && [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  die "mosquitto already runs on $dir (pid $(cat "$pidfile")); stop it with --stop"
fi

[ -z "$base" ] || "$here/gen-certs.sh" "$dir" "${list[@]}"
[ -z "$shared" ] || "$here/gen-certs.sh" --shared "$dir" "${list[@]}"

rm -f "$dir/passwd"
(umask 077 && touch "$dir/passwd")
mosquitto_passwd -b "$dir/passwd" bblp "$code"
mosquitto_passwd -b "$dir/passwd" "$SIM_USER" "$SIM_PASSWORD"

tls_listener() { # port cert-name
  printf '\nlistener %s 127.0.0.1\ncafile %s/ca.crt\ncertfile %s/%s.crt\nkeyfile %s/%s.key\n' \
    "$1" "$dir" "$dir" "$2" "$dir" "$2"
  printf 'require_certificate false\ntls_version tlsv1.2\n'
}

conf=$dir/mosquitto.conf
{
  echo "# written by scripts/broker.sh"
  echo "per_listener_settings false"
  echo "allow_anonymous false"
  echo "password_file $dir/passwd"
  echo "persistence false"
  # a farm's worth of reports must not be dropped while printdeck catches up
  echo "max_queued_messages 100000"
  echo "set_tcp_nodelay true"
  echo "log_dest file $dir/mosquitto.log"
  echo "log_type error"
  echo "log_type warning"
  echo "log_type notice"
  echo "log_type information"
  echo "connection_messages true"
  echo "pid_file $pidfile"
  # as root, mosquitto would drop to user "mosquitto", who cannot read the 0600 keys
  [ "$(id -u)" != 0 ] || echo "user root"
  printf '\nlistener %s 127.0.0.1\nprotocol mqtt\n' "$simport"
  if [ -n "$base" ]; then
    for i in "${!list[@]}"; do tls_listener $((base + i)) "${list[$i]}"; done
  fi
  [ -z "$shared" ] || tls_listener "$shared" shared
} >"$conf"

# one descriptor per printdeck connection: a farm needs more than the default 1024
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

summary="simulator on 127.0.0.1:$simport"
[ -z "$base" ] || summary+=", printers on 127.0.0.1:$base-$((base + ${#list[@]} - 1))"
[ -z "$shared" ] || summary+=", all printers on 127.0.0.1:$shared"

log=$dir/mosquitto.log
if [ "$daemon" = 0 ]; then
  # not ready yet: mosquitto logs "mosquitto version V running" once every listener is bound
  echo "broker: starting ($summary); log $log" >&2
  exec mosquitto -c "$conf"
fi

# Ready is what mosquitto itself says once every listener is bound; a port that is taken makes
# it log "Error: Address already in use" and exit (after -d forks, so only its log tells).
# Bounded, but generously: a busy machine can be slow to start anything.
from=$(stat -c %s "$log" 2>/dev/null || echo 0)
this_start() { tail -c +$((from + 1)) "$log" 2>/dev/null; }
rm -f "$pidfile"
mosquitto -c "$conf" -d || die "mosquitto -c $conf -d exited with status $?"
for _ in $(seq 600); do
  t=$(this_start)
  if grep -q '^[0-9]*: mosquitto version .* running' <<<"$t"; then
    echo "broker: listening ($summary), pid $(cat "$pidfile"); log $log" >&2
    exit 0
  fi
  grep -q '^[0-9]*: Error: ' <<<"$t" && break
  { [ -s "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; } && break
  sleep 0.1
done
[ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
{ echo "broker.sh: mosquitto did not start; $log says:"; this_start; } >&2
exit 1
