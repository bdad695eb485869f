#!/usr/bin/env bash
# Every test: unit tests (cmocka/CTest) in a normal and an ASan+UBSan build, the integration
# suite (real mosquitto over TLS, simulator, daemon, HTTP and SSE) against the sanitized
# binaries, once on SQLite and once on PostgreSQL, and each libFuzzer target for a short run.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
FUZZ_SECONDS=${PD_FUZZ_SECONDS:-20}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# the Makefile's build trees; other names let a second run build beside them
export BUILD=${BUILD:-build} BUILD_ASAN=${BUILD_ASAN:-build-asan} BUILD_FUZZ=${BUILD_FUZZ:-build-fuzz}

step() { printf '\n== %s (%ds)\n' "$*" "$SECONDS"; }

# One PostgreSQL server for the whole run (scripts/pg.sh: Debian's server, loopback and a Unix
# socket in a temporary directory), stopped on every way out. PD_TEST_PG, its base URL, makes
# the store's unit tests and the integration harness run on PostgreSQL too, each test in a
# database of its own.
step "PostgreSQL server"
PG_DIR=$(mktemp -d /tmp/pd-pg-XXXXXX)
stop_pg() { scripts/pg.sh --stop --dir "$PG_DIR" || true; rm -rf "$PG_DIR"; }
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

integration() {
  PD_BIN="$PWD/$BUILD_ASAN/printdeck" PD_SIM="$PWD/$BUILD_ASAN/printdeck-sim" \
    node --test --test-concurrency=1 tests/integration/
}
step "integration tests on SQLite (sanitized daemon + simulator, real broker)"
PD_TEST_PG="" integration
step "integration tests on PostgreSQL"
integration

step "fuzz targets (${FUZZ_SECONDS}s each)"
make --no-print-directory fuzz
for f in "$BUILD_FUZZ"/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  corpus=tests/fuzz/corpus/${name#fuzz_}
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
  "$f" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -print_final_stats=0 "$work" >"$work.log" 2>&1 \
    || { tail -50 "$work.log"; echo "$name: FAILED"; exit 1; }
  echo "$name: $(grep -c '' "$work.log") log lines, no crash"
  rm -rf "$work" "$work.log"
done
echo
echo "all tests passed (${SECONDS}s)"
