#!/usr/bin/env bash
# stats_cost_callgrind.sh -- the monitoring hot path in instructions, which a
# noisy shared machine cannot blur: the broker runs under callgrind while
# llmq bench sends N requests (one mock worker); the instructions spent in
# broker_monitor_accept + broker_monitor_final (everything monitoring does per
# request) are set against the broker's instructions per request. The stats
# tick (PUB snapshot, /metrics text) is pushed out of the run with a long
# --stats-interval-ms: it costs per second, not per request.
#
#   LLMQ_BUILD_DIR=/tmp/build-release N=20000 tests/bench/stats_cost_callgrind.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${LLMQ_BUILD_DIR:-$ROOT/build}/bin
N=${N:-20000}
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 1; }
WORK=$(mktemp -d)
BROKER_PID=; WORKER_PID=
cleanup() {
  [ -n "$WORKER_PID" ] && kill "$WORKER_PID" 2>/dev/null
  [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" "$BIN/llmq-broker" \
  --clients 'tcp://127.0.0.1:*' --workers 'tcp://127.0.0.1:*' --stats 'tcp://127.0.0.1:*' \
  --stats-interval-ms 3600000 --metrics-listen 127.0.0.1:0 2>"$WORK/broker.log" &
BROKER_PID=$!
for ((i = 0; i < 300; i++)); do grep -q "llmq-broker: ready" "$WORK/broker.log" 2>/dev/null && break; sleep 0.1; done
field() { grep -o " $1=[^ ]*" "$WORK/broker.log" | head -1 | cut -d= -f2-; }
"$BIN/llmq-worker" --broker "$(field workers)" --id cg --model mock --backend mock --slots 64 \
  2>"$WORK/worker.log" &
WORKER_PID=$!
for ((i = 0; i < 300; i++)); do grep -q "registered" "$WORK/worker.log" 2>/dev/null && break; sleep 0.1; done
"$BIN/llmq" bench --broker "$(field clients)" -c 32 -n "$N" --json >"$WORK/bench.json"
kill "$WORKER_PID"; WORKER_PID=
kill -INT "$BROKER_PID"; wait "$BROKER_PID" || true; BROKER_PID=

total=$(grep -o "summary: [0-9]*" "$WORK/cg.out" | cut -d' ' -f2)
incl() { callgrind_annotate --inclusive=yes --threshold=100 "$WORK/cg.out" 2>/dev/null \
           | grep -E "[?]+:$1 " | head -1 | awk '{gsub(",", "", $1); print $1}'; }
accept=$(incl broker_monitor_accept); final=$(incl broker_monitor_final)
awk -v t="$total" -v a="${accept:-0}" -v f="${final:-0}" -v n="$N" 'BEGIN {
  printf "broker: %.0f instructions per request (%d requests)\n", t / n, n
  printf "monitoring: %.0f per request (accept %.0f, end %.0f) = %.2f%%\n",
         (a + f) / n, a / n, f / n, (a + f) / t * 100 }'
