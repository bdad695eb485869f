#!/usr/bin/env bash
# Every test: unit tests (cmocka/CTest) in a normal and an ASan+UBSan build, the integration
# suite (real mosquitto over TLS, simulator, daemon, HTTP and SSE) against the sanitized
# binaries, once on SQLite and once on PostgreSQL, the dashboard's Vitest and end-to-end
# (headless Chromium) tests, and each libFuzzer target for a short run. Exits non-zero on any
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
FUZZ_SECONDS=${PD_FUZZ_SECONDS:-5}  # a smoke run per target (18 of them); the long runs are in bench/RESULTS.md
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# the Makefile's build trees; other names let a second run build beside them
export BUILD=${BUILD:-build} BUILD_ASAN=${BUILD_ASAN:-build-asan} BUILD_FUZZ=${BUILD_FUZZ:-build-fuzz}

step() { printf '\n== %s (%ds)\n' "$*" "$SECONDS"; }

# What ran on what, first: a failure seen once (a slow first start, a new library) must say
# which machine and versions it happened on.
step "environment"
first() { "$@" 2>/dev/null | head -1 || true; }
pgbin=${PD_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
printf '%-12s %s\n' \
  commit "$(first git describe --always --dirty)" \
  os "$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")" \
  kernel "$(uname -srm)" \
  cpus "$(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)" \
  memory "$(awk '/MemTotal/ {t = $2} /MemAvailable/ {a = $2} END {printf "%d MB, %d MB available", t / 1024, a / 1024}' /proc/meminfo)" \
  gcc "$(first gcc --version)" \
  clang "$(first clang --version)" \
  cmake "$(first cmake --version)" \
  node "$(first node --version)" \
  mosquitto "$(first mosquitto -h)" \
  postgres "$(first "$pgbin/postgres" --version)" \
  openssl "$(first openssl version)"
dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\n' libuv1-dev libwebsockets-dev \
  libmosquitto-dev libjansson-dev libsqlite3-dev sqlite3 libpq-dev 'postgresql-[0-9]*' libssl-dev \
  libsodium-dev libcmocka-dev mosquitto openssl nodejs 2>/dev/null |
  awk '$1 == "ii" { printf "%-24s %s\n", $2, $3 }'

# One PostgreSQL server for the whole run (scripts/pg.sh: Debian's server, loopback and a Unix
# socket in a temporary directory), stopped on every way out. PD_TEST_PG, its base URL, makes
# the store's unit tests and the integration harness run on PostgreSQL too, each test in a
# database of its own.
step "PostgreSQL server"
PG_DIR=$(mktemp -d /tmp/pd-pg-XXXXXX)
FUZZ_PID=
stop_pg() {
  [ -z "$FUZZ_PID" ] || { pkill -P "$FUZZ_PID" 2>/dev/null; kill "$FUZZ_PID" 2>/dev/null; } || true
  scripts/pg.sh --stop --dir "$PG_DIR" || true; rm -rf "$PG_DIR"
}
trap stop_pg EXIT
trap 'exit 130' INT TERM  # through the EXIT trap
PD_TEST_PG=$(scripts/pg.sh --dir "$PG_DIR")
export PD_TEST_PG
echo "$PD_TEST_PG"

step "build (RelWithDebInfo)"
make --no-print-directory all
step "build (ASan+UBSan, clang)"
make --no-print-directory asan

step "unit tests (SQLite and PostgreSQL)"
ctest --test-dir "$BUILD" --output-on-failure -j"$JOBS"
step "unit tests under ASan+UBSan (SQLite and PostgreSQL)"
ctest --test-dir "$BUILD_ASAN" --output-on-failure -j"$JOBS"

integration() { # files…
  PD_BIN="$PWD/$BUILD_ASAN/printdeck" PD_SIM="$PWD/$BUILD_ASAN/printdeck-sim" \
    node --test --test-concurrency=1 "$@"
}
# The files that bound the loop's latency run alone: beside another sanitized daemon on two
# cores they would measure the machine. The rest run on both backends side by side (each test
# has its own ports, directories and database), one log per backend and group, shown when all
# are done. The print scenarios wait mostly for simulated prints, not for a core, so they run
# as a group of their own beside the others: together they are half of the integration time.
# The files whose subject stores nothing the backends could differ on (camera relays, the
# printer link, the MQTT and HTTP wire of channels, access rules, the event stream's frames)
# run on SQLite only: on PostgreSQL they would take the longest group's time and test nothing
# more. Everything that writes or lists rows runs on both.
timed=(tests/integration/adversarial.test.mjs tests/integration/files.test.mjs tests/integration/bulk.test.mjs)
prints=(tests/integration/accounting.test.mjs tests/integration/rollover.test.mjs)
once=(tests/integration/camera.test.mjs tests/integration/camera-rtsp.test.mjs tests/integration/link.test.mjs
      tests/integration/ftps.test.mjs tests/integration/access.test.mjs tests/integration/screens.test.mjs
      tests/integration/notify-channels.test.mjs tests/integration/ha-mqtt.test.mjs)
mapfile -t rest < <(ls tests/integration/*.test.mjs | grep -v -e adversarial -e /files.test -e /bulk.test -e /accounting.test \
  -e /rollover.test -e /camera.test -e /camera-rtsp.test -e /link.test -e /ftps.test -e /access.test \
  -e /screens.test -e /notify-channels.test -e /ha-mqtt.test)
# The fuzz targets' build and their smoke runs take a core for three or four minutes; the
# latency-bound files below run one daemon and leave the other core idle, so the fuzzing runs
# beside them at the lowest priority, where it takes only what they leave.
fuzz_all() {
  nice -n 19 make --no-print-directory fuzz >/dev/null || { echo "fuzz build: FAILED"; return 1; }
  for f in "$BUILD_FUZZ"/fuzz_*; do
    [ -x "$f" ] || continue
    local name corpus work
    name=$(basename "$f")
    corpus=tests/fuzz/corpus/${name#fuzz_}
    work=$(mktemp -d)
    [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
    nice -n 19 "$f" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -print_final_stats=0 "$work" >"$work.log" 2>&1 \
      || { tail -50 "$work.log"; echo "$name: FAILED"; return 1; }
    echo "$name: $(grep -c '' "$work.log") log lines, no crash"
    rm -rf "$work" "$work.log"
  done
}

step "dashboard: logic (Vitest)"
(cd web && npx vitest run)

# Headless Chromium against the sanitized daemon, broker and simulator, one file at a time;
# screenshots of every screen at phone and desktop sizes land in $BUILD/screenshots. The
# files wait for pages and simulated printers more than they compute, as the integration
# groups do, so they run as a fifth group beside them, after the files run on SQLite only
# (which would make the SQLite group the longest).
e2e() {
  PD_TEST_PG="" PD_SCREENSHOTS="$PWD/$BUILD/screenshots" PD_BIN="$PWD/$BUILD_ASAN/printdeck" \
    PD_SIM="$PWD/$BUILD_ASAN/printdeck-sim" node --test --test-concurrency=1 tests/e2e/
}
step "integration tests on SQLite and on PostgreSQL, and the dashboard end to end (Playwright, Chromium), side by side"
LOGS=$(mktemp -d /tmp/pd-int-XXXXXX)
groups=()
# group NAME COMMAND…: runs in the background, its output in NAME.log and its status in NAME.rc
group() {
  local name=$1
  shift
  ("$@" >"$LOGS/$name.log" 2>&1 && echo 0 >"$LOGS/$name.rc" || echo $? >"$LOGS/$name.rc") &
  groups+=($!)
}
on_sqlite() { PD_TEST_PG="" integration "$@"; }
once_then_e2e() { on_sqlite "${once[@]}" && e2e; }
group sqlite on_sqlite "${rest[@]}"
group postgresql integration "${rest[@]}"
group sqlite-prints on_sqlite "${prints[@]}"
group postgresql-prints integration "${prints[@]}"
group sqlite-once-and-end-to-end once_then_e2e
wait "${groups[@]}" || true  # each one's status is in its .rc
failed=0
for b in sqlite postgresql sqlite-prints postgresql-prints sqlite-once-and-end-to-end; do
  echo "-- $b"; cat "$LOGS/$b.log"
  [ "$(cat "$LOGS/$b.rc")" = 0 ] || { echo "$b: FAILED"; failed=1; }
done
rm -rf "$LOGS"
[ "$failed" = 0 ]

FUZZ_LOG=$(mktemp /tmp/pd-fuzz-XXXXXX)
fuzz_all >"$FUZZ_LOG" 2>&1 &
FUZZ_PID=$!
step "integration tests that bound the loop's latency, alone (SQLite, then PostgreSQL; the fuzz targets beside them at nice 19)"
on_sqlite "${timed[@]}"
integration "${timed[@]}"
step "fuzz targets (${FUZZ_SECONDS}s each)"
wait "$FUZZ_PID" && fuzz_rc=0 || fuzz_rc=$?
cat "$FUZZ_LOG"
rm -f "$FUZZ_LOG"
[ "$fuzz_rc" = 0 ] || { echo "fuzz targets: FAILED"; exit 1; }

echo
echo "all tests passed (${SECONDS}s)"
