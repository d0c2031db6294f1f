#!/usr/bin/env bash
# cache_memory.sh -- how much memory the broker's response cache really costs.
#
# Issue 4's target: broker memory within 10% of the configured cache budget
# plus a fixed base. For each budget this starts a broker with
# --cache-memory BUDGET --cache-policy all (and one mock worker), fills it
# with N distinct answers through `llmq bench --unique`, and reads the
# broker's VmRSS from /proc. The same run with --cache-memory 0 (same load)
# is the reference, so what the broker holds for requests, sockets, stats
# and allocator caches cancels out:
#
#   growth = RSS(budget) - RSS(no cache);  ratio = growth / budget
#
# Usage: tests/bench/cache_memory.sh [BUDGET...]     (default: 4M 64M)
# Env:   LLMQ_BUILD_DIR=<repo>/build  where bin/llmq-broker etc. are
#        N=...            answers per run (default: enough to fill the budget
#                         twice with the answers of MOCK_TOKENS tokens)
#        MOCK_TOKENS=200  answer length of the mock worker
#        CONC=64          requests in flight
# Two broker processes differ by up to ~150 KB of RSS under the same load
# (heap layout), so a ratio of 0.97-1.02 means "the budget, exactly".
# Prints one line per budget:
#   budget=4194304 n=... rss_nocache_kb=... rss_cache_kb=... growth=... ratio=...
#   cache_bytes=... entries=... evicted_memory=...
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${LLMQ_BUILD_DIR:-$ROOT/build}/bin
MOCK_TOKENS=${MOCK_TOKENS:-200}
CONC=${CONC:-64}
WORK=$(mktemp -d)
# shellcheck disable=SC2034  # read by lib.sh
BENCH_ROOT_PID=$$
# shellcheck source-path=SCRIPTDIR
. "$ROOT/tests/bench/lib.sh"
trap 'stop_all >/dev/null 2>&1 || true; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT

to_bytes() {
    local v=$1
    case $v in
        *K | *k) echo $((${v%?} << 10)) ;;
        *M | *m) echo $((${v%?} << 20)) ;;
        *G | *g) echo $((${v%?} << 30)) ;;
        *) echo "$v" ;;
    esac
}

rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }

# run TAG BUDGET N -> sets RSS (the broker's VmRSS in KiB after the load)
# and STATS (its stats snapshot file). Runs in this shell, so the EXIT trap
# stops what it started if anything fails.
run() {
    local tag=$1 budget=$2 n=$3 line clients workers stats bpid wpid
    start_bg "$WORK/broker-$tag.log" "$BIN/llmq-broker" --clients 'tcp://127.0.0.1:*' \
        --workers 'tcp://127.0.0.1:*' --stats 'tcp://127.0.0.1:*' --stats-pub off \
        --no-monitoring --cache-memory "$budget" --cache-policy all
    bpid=$LAST_PID
    line=$(wait_line "$WORK/broker-$tag.log" 'llmq-broker: ready ' "$bpid" 10)
    clients=$(field "$line" clients)
    workers=$(field "$line" workers)
    stats=$(field "$line" stats)
    start_bg "$WORK/worker-$tag.log" "$BIN/llmq-worker" --broker "$workers" --slots 64 \
        --mock-tokens "$MOCK_TOKENS"
    wpid=$LAST_PID
    wait_line "$WORK/worker-$tag.log" 'llmq-worker: registered ' "$wpid" 10 >/dev/null
    "$BIN/llmq" bench --broker "$clients" -m mock -c "$CONC" -n "$n" --unique \
        --max-tokens "$MOCK_TOKENS" --json >"$WORK/bench-$tag.json"
    RSS=$(rss_kb "$bpid")
    "$BIN/llmq" stats --stats "$stats" --json >"$WORK/stats-$tag.json"
    STATS=$WORK/stats-$tag.json
    stop_pids "$wpid" "$bpid" >/dev/null 2>&1
}

# cache_num FILE KEY -> a number of the "cache" object of the stats snapshot
cache_num() {
    sed -n 's/.*"cache":{//p' "$1" | grep -o "\"$2\":[0-9]*" | head -n1 | cut -d: -f2
}

[ $# -gt 0 ] || set -- 4M 64M
for b in "$@"; do
    budget=$(to_bytes "$b")
    # A stored answer of T mock tokens takes ~260 + 5*T bytes (1.3 KB at
    # 200): twice the budget's worth, so the cache is full and evicting
    # when RSS is read.
    n=${N:-$((2 * budget / (260 + 5 * MOCK_TOKENS) + 2000))}
    run "nocache-$b" 0 "$n"
    rss0=$RSS
    run "cache-$b" "$budget" "$n"
    rss1=$RSS st=$STATS
    growth=$(((rss1 - rss0) * 1024))
    ratio=$(awk -v g="$growth" -v b="$budget" 'BEGIN { printf "%.3f", g / b }')
    echo "budget=$budget n=$n rss_nocache_kb=$rss0 rss_cache_kb=$rss1 growth=$growth" \
        "ratio=$ratio cache_bytes=$(cache_num "$st" bytes)" \
        "entries=$(cache_num "$st" entries) evicted_memory=$(cache_num "$st" memory)"
done
