#!/usr/bin/env bash
# All tests: install what is missing, then build and run every suite twice, once as built
# normally (with -Werror) and once with AddressSanitizer + UndefinedBehaviorSanitizer, and
# the threaded suite a third time under ThreadSanitizer.
# The benchmark suite runs in its short form, to prove it builds and runs, not to time it.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
hedgeshm_deps

run_suites() {
        local dir=$1
        shift
        [ -f "$dir/build.ninja" ] || meson setup "$dir" -Dwerror=true "$@"
        ninja -C "$dir"
        meson test -C "$dir" --print-errorlogs --num-processes 2
        meson test -C "$dir" --benchmark --suite bench --print-errorlogs
}

echo "== build and test (normal)"
run_suites build-test
echo "== build and test (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        run_suites build-asan -Db_sanitize=address,undefined -Db_lundef=false
echo "== threaded tests under ThreadSanitizer"
[ -f build-tsan/build.ninja ] || meson setup build-tsan -Dwerror=true -Db_sanitize=thread
ninja -C build-tsan tests/threads/test_threads
TSAN_OPTIONS=halt_on_error=1 meson test -C build-tsan --no-rebuild --suite threads --print-errorlogs
echo "all tests passed"
