#!/usr/bin/env bash
# The main job: install what is missing, build, and run the live demo (bots hedging through
# one segment, checked against a simulated broker's ledger). Arguments go to hedge-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
hedgeshm_deps
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
exec ./build/tools/hedge-demo "$@"
