#!/usr/bin/env bash
# The tools as a user drives them: hedgectl and shmdump against segments of this run's own
# (named after its pid, removed on exit), checking exit codes, output, JSON and the file in
# /dev/shm. Usage: test-tools.sh HEDGECTL SHMDUMP
set -euo pipefail

HEDGECTL=$1
SHMDUMP=$2
NAME=/hshm-tools-$$
MODE_NAME=/hshm-tools-$$-mode
GROUP_NAME=/hshm-tools-$$-group
PERM_NAME=/hshm-tools-$$-perm
JUNK_NAME=/hshm-tools-$$-junk
WORK=$(mktemp -d)
unset HEDGESHM_NAME

cleanup() {
        for n in "$NAME" "$MODE_NAME" "$GROUP_NAME" "$PERM_NAME"; do
                "$HEDGECTL" destroy --name "$n" 2>/dev/null || true
        done
        rm -f "/dev/shm${JUNK_NAME}" # not a segment: hedgectl destroy would still remove it
        rm -rf "$WORK"
}
trap cleanup EXIT

checks=0
fail() {
        echo "FAIL: $*" >&2
        echo "--- stdout" >&2
        cat "$WORK/out" >&2 || true
        echo "--- stderr" >&2
        cat "$WORK/err" >&2 || true
        exit 1
}

# expect RC CMD...: run CMD, its stdout in $WORK/out and stderr in $WORK/err; insist on RC.
expect() {
        local want=$1 rc=0
        shift
        "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
        [ "$rc" -eq "$want" ] || fail "\`$*\` exited $rc, expected $want"
        checks=$((checks + 1))
}

# out_has / err_has TEXT: the last command's stdout / stderr contains TEXT.
out_has() {
        grep -qF -- "$1" "$WORK/out" || fail "stdout lacks \"$1\""
}
err_has() {
        grep -qF -- "$1" "$WORK/err" || fail "stderr lacks \"$1\""
}

# json EXPR: evaluate a Python expression over the last stdout parsed as JSON (bound to d);
# fails unless it is true. Also proves the output is valid JSON.
json() {
        python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$WORK/out" "$1" || fail "JSON check failed: $1"
}

ctl() {
        "$HEDGECTL" "$@" --name "$NAME"
}

# ---- usage errors: exit 2, before any segment exists ---------------------------------------
expect 2 "$HEDGECTL"
expect 2 "$HEDGECTL" frobnicate
err_has 'unknown command'
expect 2 "$HEDGECTL" status G S --name noslash
err_has 'noslash'
expect 2 "$HEDGECTL" init --name "$NAME" --capacity abc
err_has '--capacity'
expect 2 "$HEDGECTL" init --name "$NAME" --capacity -1
expect 2 "$HEDGECTL" init --name "$NAME" --capacity 99999999999999999999999
expect 2 "$HEDGECTL" init --name "$NAME" --capacity 0
expect 2 "$HEDGECTL" init --name "$NAME" --capacity ' 5'
expect 2 "$HEDGECTL" init --name "$NAME" --mode 0999
expect 2 "$HEDGECTL" init --name "$NAME" --mode 0044
expect 2 "$HEDGECTL" init --name "$NAME" --group no-such-group-hshm
expect 2 "$HEDGECTL" lock G --name "$NAME"
expect 2 "$HEDGECTL" lock G S --lease 0 --name "$NAME"
expect 2 "$HEDGECTL" lock G S --lease 1.2345 --name "$NAME"
expect 2 "$HEDGECTL" lock 'G X' S --name "$NAME"
expect 2 "$HEDGECTL" activate --token 12x --ticket 1 --name "$NAME"
expect 2 "$HEDGECTL" activate --token 5 --name "$NAME"
expect 2 "$HEDGECTL" reset --token -5 --name "$NAME"
expect 2 "$HEDGECTL" list --state sleeping --name "$NAME"
expect 2 "$HEDGECTL" list --bogus --name "$NAME"
expect 2 "$HEDGECTL" status G S --lease 5 --name "$NAME"
expect 2 "$SHMDUMP" --count 2 --name "$NAME"
expect 2 "$SHMDUMP" --watch abc --name "$NAME"
expect 2 "$SHMDUMP" extra-argument

# ---- help lists options and exit codes -----------------------------------------------------
expect 0 "$HEDGECTL" --help
out_has 'Exit status'
out_has 'activate'
expect 0 "$HEDGECTL" lock --help
out_has '--lease'
out_has 'Exit status'
expect 0 "$SHMDUMP" --help
out_has '--watch'
out_has 'Exit status'

# ---- missing segment: exit 3 with a way out ------------------------------------------------
expect 3 ctl status G S
err_has "hedgectl init --name $NAME"
expect 3 ctl lock G S
expect 3 "$SHMDUMP" --name "$NAME"
err_has 'not found'

# ---- init -----------------------------------------------------------------------------------
expect 0 ctl init --capacity 16
expect 3 ctl init
err_has 'already exists'
HEDGESHM_NAME=$NAME expect 0 "$HEDGECTL" stats --json
json 'd["info"]["capacity"] == 16 and d["info"]["used"] == 0 and d["info"]["name"] == "'"$NAME"'"'
[ "$(stat -c %a "/dev/shm$NAME")" = 600 ] || fail "default mode is not 0600"

# The mode is what --mode says, whatever the umask.
(umask 077 && expect 0 "$HEDGECTL" init --name "$MODE_NAME" --mode 0640 --capacity 1)
[ "$(stat -c %a "/dev/shm$MODE_NAME")" = 640 ] || fail "--mode 0640 under umask 077 gave $(stat -c %a "/dev/shm$MODE_NAME")"
checks=$((checks + 1))

# Sharing with a group: mode 0660 and the group we are in.
mygroup=$(id -gn)
expect 0 "$HEDGECTL" init --name "$GROUP_NAME" --mode 0660 --group "$mygroup" --capacity 1
[ "$(stat -c '%a %G' "/dev/shm$GROUP_NAME")" = "660 $mygroup" ] || fail "--group: $(stat -c '%a %G' "/dev/shm$GROUP_NAME")"
expect 0 "$HEDGECTL" destroy --name "$GROUP_NAME"
[ ! -e "/dev/shm$GROUP_NAME" ] || fail "destroy left the file"

# ---- lock, activate, reset: the token is the lock --------------------------------------------
expect 0 ctl lock G1 EURUSD.pro
token=$(cat "$WORK/out")
[[ $token =~ ^[0-9]+$ ]] || fail "lock printed \"$token\", not a token"
expect 1 ctl lock G1 EURUSD.pro
err_has 'busy'
expect 0 ctl status G1 EURUSD.pro --json
json 'd["state"] == "HEDGING" and d["token"] == '"$token"' and d["owner"]["pid"] > 0'
# The owner is the hedgectl that took the lock, identified well enough to tell a reused pid.
json 'd["owner"]["start_ticks"] > 0 and d["owner"]["boot_id"] != "0" * 32'
# CLI locks carry a 300 s lease, recorded and not expired.
json 'd["lease_expired"] is False and 290000 < d["lease_left_ms"] <= 300000'

expect 1 ctl activate --token $((token + 1000)) --ticket 42
expect 1 ctl reset --token $((token + 1))
expect 0 ctl activate --token "$token" --ticket 98765 --hedge-symbol GBPUSD
expect 1 ctl activate --token "$token" --ticket 98765
expect 0 ctl status G1 EURUSD.pro --json
json 'd["state"] == "ACTIVE" and d["ticket"] == 98765 and d["hedge_symbol"] == "GBPUSD" and d["generation"] == '"$token"' + 1'
expect 0 ctl status G1 EURUSD.pro
out_has 'ACTIVE'
out_has '98765'
out_has 'GBPUSD'
expect 0 ctl reset --token "$token"
expect 1 ctl reset --token "$token"
err_has 'stale'
expect 0 ctl status G1 EURUSD.pro --json
json 'd["state"] == "AVAILABLE"'
expect 1 ctl status G1 NEVERUSED
expect 0 ctl lock G1 EURUSD.pro --lease 600
token2=$(cat "$WORK/out")
[ "$token2" != "$token" ] || fail "a new lock reused the token"
expect 1 ctl activate --token "$token" --ticket 1
err_has 'stale'

# ---- error and clear ---------------------------------------------------------------------------
expect 0 ctl error G2 '#AAPL' 'broker rejected "the" order'
expect 1 ctl error G2 '#AAPL' again
expect 1 ctl lock G2 '#AAPL'
expect 0 ctl status G2 '#AAPL' --json
json 'd["state"] == "ERROR" and d["reason"] == "broker rejected \"the\" order"'
expect 0 ctl error G1 EURUSD.pro 'manual stop'
expect 1 ctl reset --token "$token2"
expect 0 ctl clear G1 EURUSD.pro
expect 1 ctl clear G1 EURUSD.pro
expect 1 ctl clear G1 NEVERUSED

# ---- list -----------------------------------------------------------------------------------------
expect 0 ctl lock G3 US30Cash
expect 0 ctl list
out_has 'US30Cash'
out_has '#AAPL'
out_has 'EURUSD.pro'
expect 0 ctl list --json
json 'len(d) == 3 and {s["symbol"] for s in d} == {"EURUSD.pro", "#AAPL", "US30Cash"}'
expect 0 ctl list --json --state hedging
json '[s["symbol"] for s in d] == ["US30Cash"]'
expect 0 ctl list --state ERROR
out_has '#AAPL'
if grep -q US30Cash "$WORK/out"; then fail "--state ERROR listed a HEDGING slot"; fi
expect 0 ctl list --json --state active
json 'd == []'
expect 0 ctl stats --json
json 'd["stats"]["locks_won"] == 3 and d["stats"]["errors"] == 2 and d["stats"]["clears"] == 1 and d["info"]["used"] == 3'

# ---- leases: recorded, and flagged once expired ----------------------------------------------------
expect 0 ctl lock G4 XAUUSD --lease 0.05
sleep 0.2
expect 0 ctl status G4 XAUUSD --json
json 'd["lease_expired"] is True and d["lease_left_ms"] < 0'
expect 0 "$SHMDUMP" --name "$NAME"
out_has 'expired'

# ---- shmdump ------------------------------------------------------------------------------------
expect 0 "$SHMDUMP" --name "$NAME"
out_has "$NAME"
out_has 'used of 16'
out_has 'locks won 4'
out_has 'US30Cash'
expect 0 "$SHMDUMP" --name "$NAME" --json
python3 -m json.tool "$WORK/out" >/dev/null || fail "shmdump --json is not JSON"
json 'set(d) == {"info", "stats", "sync", "slots"} and d["sync"]["health"] == "absent" and len(d["slots"]) == 4 and d["info"]["read_only"]'
expect 0 "$SHMDUMP" --name "$NAME" --json --state hedging
json 'sorted(s["symbol"] for s in d["slots"]) == ["US30Cash", "XAUUSD"]'
HEDGESHM_NAME=$NAME expect 0 "$SHMDUMP" --json --watch 0.05 --count 3
[ "$(wc -l <"$WORK/out")" -eq 3 ] || fail "--watch --count 3 --json printed $(wc -l <"$WORK/out") lines"
while read -r line; do
        printf '%s\n' "$line" | python3 -m json.tool >/dev/null || fail "--watch line is not JSON"
done <"$WORK/out"
expect 0 "$SHMDUMP" --name "$NAME" --watch 0.05 --count 2
[ "$(grep -c '^SLOT' "$WORK/out")" -eq 2 ] || fail "--watch --count 2 drew $(grep -c '^SLOT' "$WORK/out") tables"

# --watch stops cleanly on SIGTERM.
"$SHMDUMP" --name "$NAME" --watch 10 >"$WORK/out" 2>"$WORK/err" &
pid=$!
sleep 0.3
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "shmdump --watch exited $rc on SIGTERM"
checks=$((checks + 1))

# shmdump needs only read permission: it maps read-only.
expect 0 "$SHMDUMP" --name "$MODE_NAME"
out_has '0 used of 1'

# Permissions as another user sees them (only when root can become one).
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
        other() {
                setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
        }
        expect 0 "$HEDGECTL" init --name "$PERM_NAME" --mode 0644 --capacity 2
        expect 0 "$HEDGECTL" lock A B --name "$PERM_NAME"
        expect 0 other "$SHMDUMP" --name "$PERM_NAME"
        out_has 'HEDGING'
        expect 0 other "$HEDGECTL" status A B --name "$PERM_NAME"
        expect 3 other "$HEDGECTL" lock A C --name "$PERM_NAME"
        err_has 'permission denied'
        expect 0 "$HEDGECTL" destroy --name "$PERM_NAME"
        expect 0 "$HEDGECTL" init --name "$PERM_NAME" --mode 0600 --capacity 2
        expect 3 other "$SHMDUMP" --name "$PERM_NAME"
        err_has 'permission denied'
fi

# ---- a corrupt slot: shown in place, the rest still listed, exit 3 --------------------------------
python3 - "/dev/shm$NAME" <<'EOF'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(48)
    slots_offset, = struct.unpack("<Q", f.read(8))
    f.seek(slots_offset)
    # A state word with bits set that no state word has: malformed, not merely busy.
    f.write(struct.pack("<Q", 0x7f << 13 | 1))
EOF
expect 3 "$SHMDUMP" --name "$NAME"
out_has 'corrupt'
out_has 'US30Cash'
err_has 'slot 0'
expect 3 "$SHMDUMP" --name "$NAME" --json
json 'd["slots"][0]["problem"] == "corrupt" and len(d["slots"]) == 4'
expect 3 ctl list
out_has 'US30Cash'
expect 3 ctl status G1 EURUSD.pro

# ---- strings from the segment: UTF-8 kept, controls escaped, JSON always valid -------------------
expect 0 ctl error G5 SYM $'tab\there \xc3\xa9 \x1b[31m'
expect 0 ctl status G5 SYM --json
json 'd["reason"] == "tab\there \u00e9 \x1b[31m"'
expect 0 ctl status G5 SYM
out_has 'tab?here '
if grep -q $'\x1b' "$WORK/out"; then fail "an escape byte reached the terminal"; fi

# ---- not a segment at all: a clear message, exit 3, no crash --------------------------------------
head -c 100000 /dev/urandom >"/dev/shm$JUNK_NAME"
expect 3 "$SHMDUMP" --name "$JUNK_NAME"
err_has 'not a hedgeshm segment'
expect 3 "$SHMDUMP" --name "$JUNK_NAME" --json
expect 3 "$HEDGECTL" list --name "$JUNK_NAME"
head -c 10 /dev/urandom >"/dev/shm$JUNK_NAME"
expect 3 "$SHMDUMP" --name "$JUNK_NAME"
: >"/dev/shm$JUNK_NAME"
expect 3 "$SHMDUMP" --name "$JUNK_NAME"

# ---- destroy ---------------------------------------------------------------------------------------
expect 0 ctl destroy
expect 3 ctl destroy
expect 3 ctl list

echo "tools: $checks checks passed"
