#!/usr/bin/env bash
# The README's main job: installs dependencies, builds llmq, starts the mock LLM
# server, a broker and two workers on this machine, sends a chat request through
# `llmq chat` (the answer streams in), shows `llmq stats`, and stops everything.
#   PROMPT="..." scripts/demo.sh     to ask something else
set -euo pipefail
cd "$(dirname "$0")/.."
PROMPT=${PROMPT:-"Explain in one sentence what a ZeroMQ broker does for LLM traffic."}

bash scripts/setup-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
BIN=$PWD/build/bin
RUN=$(mktemp -d /tmp/llmq-demo.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "demo: logs are in $RUN"
}
trap cleanup EXIT

# wait_line LOG PATTERN: waits (up to 15 s) for a log line, prints it.
wait_line() {
  for _ in $(seq 1 1500); do
    if grep -m1 -- "$2" "$1" 2>/dev/null; then return 0; fi
    sleep 0.01
  done
  echo "demo: '$2' did not appear in $1:" >&2; cat "$1" >&2; return 1
}
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }

"$BIN/llmq-mockllm" --listen 127.0.0.1:0 --ttft-ms 150 --tpot-ms 40 --tokens 24 2>"$RUN/mockllm.log" &
pids+=($!)
line=$(wait_line "$RUN/mockllm.log" "llmq-mockllm: ready")
MOCK=$(field listen "$line")

"$BIN/llmq-broker" --clients tcp://127.0.0.1:* --workers tcp://127.0.0.1:* --stats tcp://127.0.0.1:* \
  --metrics-listen 127.0.0.1:0 2>"$RUN/broker.log" &
pids+=($!)
line=$(wait_line "$RUN/broker.log" "llmq-broker: ready")
CLIENTS=$(field clients "$line"); WORKERS=$(field workers "$line"); STATS=$(field stats "$line")
STATS_PUB=$(field stats_pub "$line"); METRICS=$(field metrics "$line")
echo "demo: mock LLM at http://$MOCK/v1, broker clients=$CLIENTS workers=$WORKERS stats=$STATS"

for i in 1 2; do
  "$BIN/llmq-worker" --broker "$WORKERS" --backend openai --url "http://$MOCK/v1" \
    --model mock --slots 16 --id "worker-$i" 2>"$RUN/worker-$i.log" &
  pids+=($!)
done
for i in 1 2; do wait_line "$RUN/worker-$i.log" "llmq-worker: registered" >/dev/null; done
echo "demo: 2 workers registered"

echo
echo "\$ llmq chat -m mock \"$PROMPT\""
"$BIN/llmq" chat --broker "$CLIENTS" -m mock "$PROMPT"
echo
echo "\$ llmq chat --json --no-stream -m mock \"What is 2+2?\""
"$BIN/llmq" chat --broker "$CLIENTS" -m mock --json --no-stream "What is 2+2?"
echo
echo "\$ llmq stats"
"$BIN/llmq" stats --stats "$STATS"
echo
echo "\$ llmq top --count 1      # plain lines when stdout is not a terminal"
"$BIN/llmq" top --stats-pub "$STATS_PUB" --count 1
echo
echo "\$ curl -s http://$METRICS/metrics | grep llmq_model_requests_total"
curl -s "http://$METRICS/metrics" | grep '^llmq_model_requests_total' || true
