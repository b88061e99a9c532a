#!/usr/bin/env bash
# Runs a command and, when stdout is not a terminal (a CI log), prints
#
#   … still running <what> (<N>s)
#
# on stdout every DEPLOYER_HEARTBEAT_SECS seconds (default 30) during which
# the command printed nothing, so a long silent step (a cold build, a quiet
# install, one long test) does not look hung. On a terminal it only runs the
# command. Exits with the command's status; the ticker stops with it.
#
#   bash scripts/heartbeat.sh "the kube-apiserver build" bash scripts/kube-apiserver/build.sh
#
# The command's stdout and stderr still go to this script's stdout and
# stderr, line by line (through one relay when both are the same pipe or
# file, `2>&1`, so their lines keep their order).
set -euo pipefail

if (($# < 2)); then
    echo "usage: $0 WHAT COMMAND [ARG...]" >&2
    exit 2
fi
what=$1
shift

if [[ -t 1 ]]; then
    exec "$@"
fi

interval=${DEPLOYER_HEARTBEAT_SECS:-30}
if [[ ! "$interval" =~ ^[1-9][0-9]*$ ]]; then
    echo "$0: DEPLOYER_HEARTBEAT_SECS must be a whole number of seconds, not '$interval'" >&2
    exit 2
fi

# Each line the command prints passes a relay that stamps a file (a builtin
# redirection: no process per line); the ticker prints when the stamp is
# older than the interval.
work=$(mktemp -d)
stamp="$work/last-output"
mkfifo "$work/stdout" "$work/stderr"
: >"$stamp"
start=$SECONDS

relay() { # FIFO: copy its lines through, stamping each
    local line
    while IFS= read -r line || [[ -n "$line" ]]; do
        printf '%s\n' "$line"
        : >"$stamp"
    done <"$1"
}

# Milliseconds: whole seconds would count a line printed at 10.9 s as a
# second old at 11.0 s.
export LC_NUMERIC=C
ticker() {
    local last now
    while sleep 1; do
        last=$(stat -c %.3Y "$stamp" 2>/dev/null) || exit 0
        now=${EPOCHREALTIME/./}
        if ((${now:0:-3} - ${last/./} >= interval * 1000)); then
            printf '… still running %s (%ds)\n' "$what" "$((SECONDS - start))"
            : >"$stamp"
        fi
    done
}

relay "$work/stdout" &
relay_out=$!
# stdout and stderr the same pipe or file (`2>&1`): one relay for both.
same=false
if [[ /dev/fd/1 -ef /dev/fd/2 ]]; then
    same=true
    relay_err=$relay_out
else
    relay "$work/stderr" >&2 &
    relay_err=$!
fi
ticker &
ticker_pid=$!

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    kill "$ticker_pid" 2>/dev/null || true
    # A daemon the command left running may still hold the FIFOs open:
    # give the relays a few seconds to drain, then stop them.
    local tries=0
    while kill -0 "$relay_out" 2>/dev/null || kill -0 "$relay_err" 2>/dev/null; do
        if ((tries++ >= 50)); then
            kill "$relay_out" "$relay_err" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

status=0
if [[ "$same" == true ]]; then
    "$@" >"$work/stdout" 2>&1 || status=$?
else
    "$@" >"$work/stdout" 2>"$work/stderr" || status=$?
fi
exit "$status"
