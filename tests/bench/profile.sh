#!/usr/bin/env bash
# Instructions per request of one process of the request path, with callgrind:
# llmq bench -> llmq-broker -> llmq-worker --backend mock, C=256 (as the
# llmq-mock row of run.sh), with ONE of the three under valgrind.
#
#   tests/bench/profile.sh client|broker|worker [REQUESTS]
#   KEEP=1 tests/bench/profile.sh broker    # keep callgrind.out for callgrind_annotate
#
# The figure includes the process's start-up (a few hundred thousand
# instructions: under 2% at the default 20000 requests) and its ZeroMQ I/O
# thread, not the kernel. With the worker profiled, one worker serves all
# requests (otherwise 4, as in run.sh). A process under valgrind runs ~50x
# slower, which changes how messages batch: compare versions with the same
# command, not with run.sh's figures.
# Env: LLMQ_BUILD_DIR=<repo>/build.
set -euo pipefail

WHICH=${1:?usage: profile.sh client|broker|worker [REQUESTS]}
N=${2:-20000}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BIN=${LLMQ_BUILD_DIR:-$REPO/build}/bin
command -v valgrind >/dev/null || { echo "profile.sh: valgrind not installed" >&2; exit 1; }
case $WHICH in client|broker|worker) ;; *) echo "profile.sh: client, broker or worker" >&2; exit 2;; esac

WORK=$(mktemp -d /tmp/llmq-profile.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then echo "kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
CG=(valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out")

# wait_line FILE PATTERN -> the first line of FILE matching PATTERN (60 s at most)
wait_line() {
    for _ in $(seq 600); do
        grep -m1 "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "profile.sh: no '$2' in $1" >&2
    return 1
}

pre=(); [ "$WHICH" = broker ] && pre=("${CG[@]}")
"${pre[@]}" "$BIN/llmq-broker" --clients 'tcp://127.0.0.1:*' --workers 'tcp://127.0.0.1:*' \
    --stats 'tcp://127.0.0.1:*' 2>"$WORK/broker.log" &
pids+=($!)
line=$(wait_line "$WORK/broker.log" 'llmq-broker: ready ')
clients=$(sed 's/.* clients=\([^ ]*\).*/\1/' <<<"$line")
workers=$(sed 's/.* workers=\([^ ]*\).*/\1/' <<<"$line")

nw=4; pre=(); [ "$WHICH" = worker ] && { nw=1; pre=("${CG[@]}"); }
for i in $(seq "$nw"); do
    "${pre[@]}" "$BIN/llmq-worker" --broker "$workers" --backend mock --slots 64 \
        2>"$WORK/worker-$i.log" &
    pids+=($!)
done
for i in $(seq "$nw"); do wait_line "$WORK/worker-$i.log" 'llmq-worker: registered ' >/dev/null; done

pre=(); [ "$WHICH" = client ] && pre=("${CG[@]}")
"${pre[@]}" "$BIN/llmq" bench --broker "$clients" -m mock -c 256 -n "$N" --json \
    >"$WORK/bench.json" 2>"$WORK/bench.log"
echo "bench: $(cat "$WORK/bench.json")"
for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
total=$(callgrind_annotate "$WORK/callgrind.out" 2>/dev/null \
        | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')
echo "$WHICH: $total instructions for $N requests = $(( total / N )) per request"
