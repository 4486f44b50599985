#!/usr/bin/env bash
# Installs the Debian 12 packages the build, tests and benchmarks need, when any is missing.
# Sourced by run-demo.sh and run-tests.sh; uses sudo when not root.
set -euo pipefail

hedgeshm_deps() {
        local pkgs=(gcc pkg-config meson ninja-build liburcu-dev libcmocka-dev python3 python3-dev spin "$@")
        local missing=()
        for p in "${pkgs[@]}"; do
                dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
                        missing+=("$p")
        done
        [ ${#missing[@]} -eq 0 ] && return 0
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        echo "installing: ${missing[*]}" >&2
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}
