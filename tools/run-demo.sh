#!/usr/bin/env bash
# The main job: install what is missing, build, and run the live demo (bots hedging through
# one segment, checked against a simulated broker's ledger). Arguments go to hedge-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
hedgeshm_deps
# Quiet when all is well, the whole output when not.
quietly() { local out; out=$("$@" 2>&1) || { echo "$out" >&2; return 1; }; }
[ -f build/build.ninja ] || quietly meson setup build
quietly ninja -C build
exec ./build/tools/hedge-demo "$@"
