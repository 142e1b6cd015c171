#!/usr/bin/env bash
# Runs the native shim's suites with the shim built under AddressSanitizer, then rebuilds it normally.
#
# Usage (root, for the namespace suites): scripts/shim-sanitize.sh [test files...]
# Default suites: src/native/tcp.test.ts (TCP handles, poller, finaliser, fd accounting) and
# test/native/{shim,tap,tap-offload}.test.ts (tap reads both paths, sends with checksum places,
# the retried batch, fd accounting).
#
# How: node-gyp builds build/Release/bindery_native.node with -fsanitize=address; node runs with
# gcc's libasan preloaded (node itself is not instrumented, so only the shim's memory accesses
# are checked; leak detection is off because node does not free everything at exit). ASan
# writes a report file per process that hit an error into $OUT; none means no invalid read or
# write in the shim. The normal build is restored on exit, whatever happened.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-$(mktemp -d /tmp/bindery-asan.XXXXXX)}
LIBASAN=$(gcc -print-file-name=libasan.so)
[ -e "$LIBASAN" ] || { echo "no libasan ($LIBASAN): apt-get install libgcc-12-dev" >&2; exit 2; }
SUITES=("$@")
[ ${#SUITES[@]} -gt 0 ] || SUITES=(src/native/tcp.test.ts test/native/shim.test.ts
  test/native/tap.test.ts test/native/tap-offload.test.ts)

rebuild() { npm_config_nodedir=/usr npx node-gyp rebuild >"$OUT/build-normal.log" 2>&1; }
trap 'rebuild || echo "normal rebuild failed: see $OUT/build-normal.log" >&2' EXIT

echo "building the shim with AddressSanitizer (log $OUT/build-asan.log)"
CFLAGS="-fsanitize=address -fno-omit-frame-pointer -g -O1" LDFLAGS="-fsanitize=address" \
  npm_config_nodedir=/usr npx node-gyp rebuild >"$OUT/build-asan.log" 2>&1

nm -D build/Release/bindery_native.node | grep -q __asan_report \
  || { echo "the shim was not built with ASan (see $OUT/build-asan.log)" >&2; exit 2; }

# Each file runs in one node process (node:test runs in-process without --test) with libasan
# preloaded; the first import drops LD_PRELOAD so that ip, python3 and the other helpers the
# suites spawn run uninstrumented.
DROP='data:text/javascript,delete process.env.LD_PRELOAD'
status=0
for f in "${SUITES[@]}"; do
  echo "running $f"
  rc=0
  LD_PRELOAD="$LIBASAN" \
    ASAN_OPTIONS="detect_leaks=0:log_path=$OUT/asan:handle_segv=0:allow_user_segv_handler=1:detect_odr_violation=0" \
    node --import "$DROP" --import tsx "$f" >"$OUT/$(basename "$f").log" 2>&1 || rc=$?
  grep -E '^# (tests|pass|fail|skipped)' "$OUT/$(basename "$f").log" | tr '\n' ' ' || true
  echo "(exit $rc)"
  [ $rc -eq 0 ] || status=1
done

reports=("$OUT"/asan.*)
if [ -e "${reports[0]}" ]; then
  echo "AddressSanitizer reports (${#reports[@]}):"
  grep -h -E 'ERROR: AddressSanitizer|#[0-9]+ .*bindery_native' "${reports[@]}" | head -40
  status=1
else
  echo "AddressSanitizer: no reports (no invalid read or write in the shim)"
fi
echo "logs in $OUT"
exit $status
