#!/usr/bin/env bash
# Every test: unit tests (cmocka/CTest) in a normal and an ASan+UBSan build, the integration
# suite (real mosquitto over TLS, simulator, daemon, HTTP and SSE) against the sanitized
# binaries, and each libFuzzer target for a short run. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
FUZZ_SECONDS=${PD_FUZZ_SECONDS:-20}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

step() { printf '\n== %s\n' "$*"; }

step "build (RelWithDebInfo)"
make --no-print-directory all
step "build (ASan+UBSan, clang)"
make --no-print-directory asan

step "unit tests"
ctest --test-dir build --output-on-failure -j"$JOBS"
step "unit tests under ASan+UBSan"
ctest --test-dir build-asan --output-on-failure -j"$JOBS"

step "integration tests (sanitized daemon + simulator, real broker)"
PD_BIN="$PWD/build-asan/printdeck" PD_SIM="$PWD/build-asan/printdeck-sim" \
  node --test --test-concurrency=1 tests/integration/

step "fuzz targets (${FUZZ_SECONDS}s each)"
make --no-print-directory fuzz
for f in build-fuzz/fuzz_*; do
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
echo "all tests passed"
