#!/usr/bin/env bash
# The side-by-side benchmark (docs/comparison.md) in one command: install what is missing
# (Debian 12, with sudo when not root), build bench-compare and bench-reconcile in
# build-compare/, and run the full benchmark (about 3 minutes). Arguments go to bench-compare:
#   bash bench/run-compare.sh             tables on stdout; results and plots in bench/results/
#   bash bench/run-compare.sh --quick     the short variant (what `meson test --benchmark` runs)
#   bash bench/run-compare.sh --out DIR   results and plots somewhere else
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
hedgeshm_deps redis-server libhiredis-dev libsqlite3-dev gnuplot-nox
dir=build-compare
[ -f "$dir/build.ninja" ] || meson setup "$dir" >/dev/null
ninja -C "$dir" bench/compare/bench-compare bench/bench-reconcile >/dev/null
exec "$dir/bench/compare/bench-compare" "$@"
