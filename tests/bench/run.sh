#!/usr/bin/env bash
# llmq benchmark: llmq next to its references, measured in ONE run on this machine.
#
#   tests/bench/run.sh                 # ~2-4 min; prints a table and the ratios
#   OUT=bench.txt tests/bench/run.sh   # also append everything to bench.txt
#
# Rows (everything on 127.0.0.1, ports picked per run, W=4 workers everywhere):
#   zlbbroker    raw ZeroMQ ROUTER<->ROUTER broker with credits (256 per echo worker),
#                zloadgen C=256                       -- the ZeroMQ ceiling for a broker
#   llmq-mock    llmq-broker + 4 llmq-worker --backend mock (64 slots each),
#                llmq bench -m mock -c 256            -- the broker's own cost
#   zproxy       zmq_proxy(ROUTER, DEALER) + 4 echo workers, zloadgen C=256
#   mockllm      wrk C=64 straight to llmq-mockllm     -- what the backend alone serves
#   nginx-proxy  wrk C=64 -> nginx reverse proxy -> the same llmq-mockllm
#   llmq-cache   llmq-broker --cache-policy all + 4 mock workers, llmq bench --repeat -c 256:
#                one prompt, so all but the first answers are cache hits (no worker hop);
#                then the cache's memory next to its budget (see row_llmq_cache)
#   llmq-openai  llmq-broker + 4 llmq-worker --backend openai (16 slots each) -> the same
#                llmq-mockllm, llmq bench -c 64       -- llmq as an HTTP-backend gateway
# Ratios printed at the end:
#   llmq-mock rps / zlbbroker rps (C=256)  and  llmq-openai rps / nginx-proxy rps (C=64)
#   llmq-cache rps / zproxy rps (C=256; target >= 1, a hit skips a hop)
#
# The reference programs are the project's own copies in tests/bench/ref/ (see its
# README: copied from /work/shared/bench); they are built with make into a temporary
# directory. llmq binaries come from $LLMQ_BUILD_DIR/bin (built there with CMake when
# missing). Every process is started by this script, waited for by its readiness line
# (llmq) or its listening port (references), and stopped by PID on exit (trap).
#
# Env (defaults):
#   LLMQ_BUILD_DIR=<repo>/build   where bin/llmq-broker etc. are (AUTO_BUILD=1 builds them)
#   DUR=10                         seconds per llmq bench / wrk row
#   ZMQ_DUR=5 ZMQ_WARM=1           zloadgen measured and warm-up seconds
#   MOCK_THREADS=2                 llmq-mockllm HTTP threads
#   PROXY_WORKERS=auto             nginx worker_processes
#   QUIET_WAIT=20 QUIET_THRESHOLD=0.15
#                                  before each row wait (up to QUIET_WAIT s) for other
#                                  people's processes to use < QUIET_THRESHOLD cores
#   SKIP_LLMQ=1 / SKIP_REF=1       leave out the llmq rows / the reference rows
#   KEEP=1                         keep the temporary directory with every log
#   OUT=FILE                       also append the output to FILE
# Exit status: 0 when every row ran, 1 when a row failed (the others still run).
#
# Reading the numbers: the load generator, the hop under test, the workers and the mock
# share the same 2 vCPUs, so rows are "whole pipeline on this machine". The shared kit
# measured run-to-run swings of up to 50 % in req/s on this VM: compare rows of the
# same run only, and do not trust ratio differences below ~30 %. `foreign` = cores used
# by processes that are not ours during the row (above ~0.1: noisy row).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
LLMQ_BUILD_DIR=${LLMQ_BUILD_DIR:-$REPO/build}
BIN=$LLMQ_BUILD_DIR/bin
DUR=${DUR:-10}
ZMQ_DUR=${ZMQ_DUR:-5}
ZMQ_WARM=${ZMQ_WARM:-1}
MOCK_THREADS=${MOCK_THREADS:-2}
PROXY_WORKERS=${PROXY_WORKERS:-auto}
AUTO_BUILD=${AUTO_BUILD:-1}
SKIP_LLMQ=${SKIP_LLMQ:-0}
SKIP_REF=${SKIP_REF:-0}
KEEP=${KEEP:-0}
W=4                 # workers behind every broker
C_ZMQ=256           # concurrency of the broker-cost rows
C_HTTP=64           # concurrency of the HTTP-backend rows

WORK=$(mktemp -d /tmp/llmq-bench.XXXXXX)
export BENCH_ROOT_PID=$$
. "$HERE/lib.sh"
ROWS=$WORK/rows
BROKER_EXTRA=()     # extra llmq-broker flags of the next llmq row
BENCH_EXTRA=()      # extra llmq bench flags of the next llmq row
: >"$ROWS"
FAILED=0

cleanup() {
    set +e
    stop_all
    if [ "$KEEP" = 1 ] || [ "$FAILED" = 1 ]; then
        echo "logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${OUT:-}" ]; then
    exec > >(tee -a "$OUT") 2>&1
fi

# ------------------------------------------------------------------- results

# record LABEL CONC RPS P50 P90 P99 P999 MAX ERRORS CPU_US NOISE...
record() {
    echo "$*" >>"$ROWS"
    echo "  -> rps=$3 p50_us=$4 p99_us=$6 errors=$9 cpu_us/req=${10}"
}

# run_row LABEL CONC FUNCTION ARGS... -> runs one row; whatever it started is
# stopped afterwards, a failure is recorded and the run goes on
run_row() {
    local label=$1 conc=$2 mark=${#PIDS[@]}
    shift 2
    echo
    echo "### $label (C=$conc)"
    if ! "$@"; then
        FAILED=1
        echo "  row $label FAILED"
        echo "$label $conc failed - - - - - - - -" >>"$ROWS"
    fi
    for f in "${NGINX_PIDFILES[@]}"; do stop_nginx "$f"; done
    NGINX_PIDFILES=()
    local i stop=()
    for ((i = ${#PIDS[@]} - 1; i >= mark; i--)); do stop+=("${PIDS[i]}"); done
    [ ${#stop[@]} -gt 0 ] && stop_pids "${stop[@]}"
    PIDS=("${PIDS[@]:0:mark}")
}

# --------------------------------------------------------------- zmq references

# measure_zmq LABEL CONC SRV_PID ENDPOINT -> one zloadgen run
measure_zmq() {
    local label=$1 conc=$2 srv=$3 ep=$4 out j0 j1 noise
    wait_quiet
    noise_begin
    j0=$(cpu_jiffies "$srv")
    run_fg "$WORK/$label.out" timeout -k 5 $((ZMQ_DUR + ZMQ_WARM + 30)) "$WORK/zmq/zloadgen" \
        -e "$ep" -c "$conc" -d "$ZMQ_DUR" -w "$ZMQ_WARM" -p 300 -l "$label" || true
    out=$(cat "$WORK/$label.out")
    j1=$(cpu_jiffies "$srv")
    noise=$(noise_end)
    echo "  $out"
    echo "$out" | grep -q '^ZMQSUM ' || { echo "  zloadgen printed no summary" >&2; return 1; }
    local line rps total errs
    line=$(echo "$out" | grep '^ZMQSUM ')
    rps=$(field "$line" rps)
    total=$(field "$line" total)
    errs=$(( $(field "$line" lost) + $(field "$line" bad) ))
    record "$label" "$conc" "$rps" "$(field "$line" p50_us)" "$(field "$line" p90_us)" \
        "$(field "$line" p99_us)" "$(field "$line" p999_us)" "$(field "$line" max_us)" \
        "$errs" "$(cpu_us_per_req $((j1 - j0)) "$total")" "$noise"
}

# row_zmq_broker PROGRAM WORKER_FLAGS... -> PROGRAM FRONT BACK, W echo workers
row_zmq_broker() {
    local prog=$1 front back broker i
    shift
    front=$(free_port) || return 1
    back=$(free_port) || return 1
    [ "$front" != "$back" ] || back=$(free_port) || return 1
    start_bg "$WORK/$prog.log" "$WORK/zmq/$prog" "tcp://127.0.0.1:$front" "tcp://127.0.0.1:$back"
    broker=$LAST_PID
    wait_port "$front" 5 && wait_port "$back" 5 || return 1
    for ((i = 1; i <= W; i++)); do
        start_bg "$WORK/$prog-worker$i.log" "$WORK/zmq/zworker" -t dealer "$@" -c "tcp://127.0.0.1:$back"
    done
    # workers connect (and send their credits) during zloadgen's warm-up
    measure_zmq "$prog" "$C_ZMQ" "$broker" "tcp://127.0.0.1:$front"
}

# ------------------------------------------------------------------- llmq rows

# start_broker -> sets BROKER_PID, CLIENTS_EP, WORKERS_EP
start_broker() {
    local line
    start_bg "$WORK/broker-$1.log" "$BIN/llmq-broker" --clients 'tcp://127.0.0.1:*' \
        --workers 'tcp://127.0.0.1:*' --stats 'tcp://127.0.0.1:*' "${BROKER_EXTRA[@]}"
    BROKER_PID=$LAST_PID
    line=$(wait_line "$WORK/broker-$1.log" 'llmq-broker: ready ' "$BROKER_PID" 10) || return 1
    CLIENTS_EP=$(field "$line" clients)
    WORKERS_EP=$(field "$line" workers)
}

# start_workers TAG WORKER_FLAGS... -> W workers, each waited for until registered
start_workers() {
    local tag=$1 i pids=()
    shift
    for ((i = 1; i <= W; i++)); do
        start_bg "$WORK/worker-$tag-$i.log" "$BIN/llmq-worker" --broker "$WORKERS_EP" "$@"
        pids+=("$LAST_PID")
    done
    for ((i = 1; i <= W; i++)); do
        wait_line "$WORK/worker-$tag-$i.log" 'llmq-worker: registered ' "${pids[i - 1]}" 10 \
            >/dev/null || return 1
    done
}

# row_llmq LABEL CONC WORKER_FLAGS... -> broker + W workers, llmq bench
row_llmq() {
    local label=$1 conc=$2 json j0 j1 noise rc=0
    shift 2
    start_broker "$label" || return 1
    start_workers "$label" "$@" || return 1
    json=$WORK/$label.json
    wait_quiet
    noise_begin
    j0=$(cpu_jiffies "$BROKER_PID")
    run_fg "$json" timeout -k 5 $((DUR + 60)) "$BIN/llmq" bench --broker "$CLIENTS_EP" -m mock \
        -c "$conc" -d "$DUR" --json "${BENCH_EXTRA[@]}" 2>"$WORK/$label.bench.log" || rc=$?
    j1=$(cpu_jiffies "$BROKER_PID")
    noise=$(noise_end)
    echo "  $(cat "$json")"
    if [ "$rc" -ne 0 ] || [ -z "$(json_num "$json" rps)" ]; then
        echo "  llmq bench failed (exit $rc):" >&2
        tail -n 5 "$WORK/$label.bench.log" >&2
        return 1
    fi
    record "$label" "$conc" "$(json_num "$json" rps)" "$(json_num "$json" p50_us)" \
        "$(json_num "$json" p90_us)" "$(json_num "$json" p99_us)" "$(json_num "$json" p999_us)" \
        "$(json_num "$json" max_us)" "$(json_num "$json" errors)" \
        "$(cpu_us_per_req $((j1 - j0)) "$(json_num "$json" requests)")" "$noise"
}

# cache_fill_growth MEM -> a broker with --cache-memory MEM and W mock workers answers
# CACHE_FILL (30000) distinct prompts (~300 B answers, ~10 MB in all); sets GROWTH to how
# much its resident memory grew, in KiB (not run in $(...): its processes must stay in
# PIDS to be stopped)
cache_fill_growth() {
    local rss0 rss1
    BROKER_EXTRA=(--cache-policy all --cache-memory "$1")
    start_broker "fill-$1" || return 1
    BROKER_EXTRA=()
    start_workers "fill-$1" --backend mock --model mock --slots 16 || return 1
    rss0=$(awk '/VmRSS/ { print $2 }' /proc/"$BROKER_PID"/status)
    timeout -k 5 300 "$BIN/llmq" bench --broker "$CLIENTS_EP" -m mock -c 64 \
        -n "${CACHE_FILL:-30000}" --unique --json >"$WORK/cache-fill-$1.json" 2>&1 || return 1
    rss1=$(awk '/VmRSS/ { print $2 }' /proc/"$BROKER_PID"/status)
    GROWTH=$((rss1 - rss0))
}

# row_llmq_cache -> the cache-hit path: one repeated prompt, every request cacheable.
# Then the memory bound: the same distinct answers through a broker without and with a
# 4 MiB cache; the difference in RSS growth is what the cache costs (target: at most
# the budget + 10%). Both include the same fixed part (resend window, tables).
row_llmq_cache() {
    local rc=0 g0 g4
    BROKER_EXTRA=(--cache-policy all)
    BENCH_EXTRA=(--repeat)
    row_llmq llmq-cache "$C_ZMQ" --backend mock --model mock --slots $((C_ZMQ / W)) || rc=1
    BROKER_EXTRA=()
    BENCH_EXTRA=()
    [ "$rc" = 0 ] || return 1
    cache_fill_growth 0 || return 1
    g0=$GROWTH
    cache_fill_growth 4M || return 1
    g4=$GROWTH
    echo "  cache memory: RSS growth over ${CACHE_FILL:-30000} distinct answers: ${g0} KiB" \
         "without a cache, ${g4} KiB with --cache-memory 4M: the cache costs" \
         "$((g4 - g0)) KiB for a 4096 KiB budget (target <= 4506)"
}

# ------------------------------------------------------------------- HTTP rows

# start_mockllm -> sets MOCK_PID, MOCK_PORT
start_mockllm() {
    local line listen
    start_bg "$WORK/mockllm.log" "$BIN/llmq-mockllm" --listen 127.0.0.1:0 --threads "$MOCK_THREADS"
    MOCK_PID=$LAST_PID
    line=$(wait_line "$WORK/mockllm.log" 'llmq-mockllm: ready listen=' "$MOCK_PID" 10) || return 1
    listen=$(field "$line" listen)
    MOCK_PORT=${listen##*:}
}

# row_wrk LABEL URL CONC SRV_PID... -> one wrk run with the chat POST body
row_wrk() {
    local label=$1 url=$2 conc=$3 out j0 j1 noise line errs
    shift 3
    wait_quiet
    noise_begin
    j0=$(cpu_jiffies "$@")
    run_fg "$WORK/$label.out" timeout -k 5 $((DUR + 30)) wrk -t2 -c"$conc" -d"${DUR}s" --latency \
        -s "$HERE/ref/http/chat.lua" "$url" 2>"$WORK/$label.err" || true
    out=$(cat "$WORK/$label.out" "$WORK/$label.err")
    j1=$(cpu_jiffies "$@")
    noise=$(noise_end)
    line=$(echo "$out" | grep '^WRKSUM ' || true)
    if [ -z "$line" ]; then
        echo "$out" | tail -n 5 >&2
        return 1
    fi
    echo "  $line"
    errs=$(( $(field "$line" err_connect) + $(field "$line" err_read) + $(field "$line" err_write) \
           + $(field "$line" err_status) + $(field "$line" err_timeout) ))
    record "$label" "$conc" "$(field "$line" rps)" "$(field "$line" p50_us)" "$(field "$line" p90_us)" \
        "$(field "$line" p99_us)" "$(field "$line" p999_us)" "$(field "$line" max_us)" "$errs" \
        "$(cpu_us_per_req $((j1 - j0)) "$(field "$line" requests)")" "$noise"
}

# check_chat URL -> one POST must come back 200 with a chat.completion
check_chat() {
    curl -sf -m 5 -H 'Content-Type: application/json' \
        -d '{"model":"mock","messages":[{"role":"user","content":"ping"}]}' "$1" \
        | grep -q '"object":"chat.completion"' || { echo "  no chat.completion from $1" >&2; return 1; }
}

row_mockllm_direct() {
    local url=http://127.0.0.1:$MOCK_PORT/v1/chat/completions
    check_chat "$url" || return 1
    row_wrk mockllm "$url" "$C_HTTP" "$MOCK_PID"
}

row_nginx_proxy() {
    local port dir=$WORK/nginx master
    port=$(free_port) || return 1
    mkdir -p "$dir/tmp"
    sed -e "s/@LISTEN_PORT@/$port/" -e "s/@UPSTREAM_PORT@/$MOCK_PORT/" \
        "$HERE/ref/nginx-proxy/nginx.conf.in" >"$dir/nginx.conf"
    NGINX_PIDFILES+=("$dir/nginx.pid")
    nginx -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" \
        -g "worker_processes $PROXY_WORKERS;" || return 1
    wait_port "$port" 5 || return 1
    master=$(cat "$dir/nginx.pid")
    check_chat "http://127.0.0.1:$port/v1/chat/completions" || return 1
    # shellcheck disable=SC2046
    row_wrk nginx-proxy "http://127.0.0.1:$port/v1/chat/completions" "$C_HTTP" \
        "$master" $(pgrep -P "$master")
}

# ------------------------------------------------------------------- report

print_table() {
    echo
    echo "==================================================================================================="
    echo "results (rps = answers/s; latencies in us; cpu/req = CPU us per request of the hop under test:"
    echo "the broker process, nginx master+workers, or llmq-mockllm for the direct row)"
    echo "==================================================================================================="
    awk 'BEGIN { printf "%-12s %5s %9s %8s %8s %8s %9s %9s %6s %8s  %s\n",
                 "row", "conc", "rps", "p50", "p90", "p99", "p99.9", "max", "errors", "cpu/req", "noise" }
         { noise = ""; for (i = 11; i <= NF; i++) noise = noise " " $i
           printf "%-12s %5s %9s %8s %8s %8s %9s %9s %6s %8s %s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, noise }' "$ROWS"
    echo
    ratio "llmq-mock rps / zlbbroker rps (C=$C_ZMQ, broker cost alone)" llmq-mock zlbbroker 3
    ratio "llmq-mock cpu/req / zlbbroker cpu/req (broker CPU per request)" llmq-mock zlbbroker 10
    ratio "llmq-openai rps / nginx-proxy rps (C=$C_HTTP, HTTP backend)" llmq-openai nginx-proxy 3
    ratio "llmq-cache rps / zproxy rps (C=$C_ZMQ, cache hits; target >= 1)" llmq-cache zproxy 3
}

# ratio TEXT ROW_A ROW_B COLUMN -> A/B of a column, or n/a
ratio() {
    awk -v text="$1" -v a="$2" -v b="$3" -v col="$4" '
        $1 == a { va = $col } $1 == b { vb = $col }
        END {
            if (va + 0 > 0 && vb + 0 > 0) printf "%-64s %.2f\n", text, va / vb
            else printf "%-64s n/a\n", text
        }' "$ROWS"
}

# ------------------------------------------------------------------- main

have_llmq() {
    local b
    for b in llmq-broker llmq-worker llmq llmq-mockllm; do
        [ -x "$BIN/$b" ] || return 1
    done
}

echo "======================================================================"
echo "llmq tests/bench/run.sh  $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "host: $(uname -srm), $(nproc) CPUs, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
echo "versions: $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(wrk --version 2>&1 | head -1 | awk '{print "wrk", $2}'), libzmq $(pkg-config --modversion libzmq 2>/dev/null || echo '?')"
echo "settings: DUR=${DUR}s ZMQ_DUR=${ZMQ_DUR}s+${ZMQ_WARM}s W=$W C_ZMQ=$C_ZMQ C_HTTP=$C_HTTP MOCK_THREADS=$MOCK_THREADS PROXY_WORKERS=$PROXY_WORKERS"
echo "======================================================================"

cp -r "$HERE/ref/zmq" "$WORK/zmq"
make -s -C "$WORK/zmq" >"$WORK/make.log" 2>&1 || { cat "$WORK/make.log"; FAILED=1; exit 1; }

if [ "$SKIP_LLMQ" != 1 ] && ! have_llmq && [ "$AUTO_BUILD" = 1 ]; then
    echo "building llmq in $LLMQ_BUILD_DIR"
    cmake -S "$REPO" -B "$LLMQ_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$WORK/cmake.log" 2>&1 \
        && cmake --build "$LLMQ_BUILD_DIR" -j2 >>"$WORK/cmake.log" 2>&1 \
        || { tail -n 20 "$WORK/cmake.log"; echo "llmq build failed" >&2; }
fi
if [ "$SKIP_LLMQ" != 1 ] && ! have_llmq; then
    echo "llmq binaries missing in $BIN: the llmq rows are skipped" >&2
    SKIP_LLMQ=1
    FAILED=1
fi
echo "llmq binaries: $BIN"

# Pairs that are compared run next to each other.
[ "$SKIP_REF" = 1 ] || run_row zlbbroker "$C_ZMQ" row_zmq_broker zlbbroker -r 256
[ "$SKIP_LLMQ" = 1 ] || run_row llmq-mock "$C_ZMQ" row_llmq llmq-mock "$C_ZMQ" \
    --backend mock --model mock --slots $((C_ZMQ / W))
[ "$SKIP_REF" = 1 ] || run_row zproxy "$C_ZMQ" row_zmq_broker zproxy
[ "$SKIP_LLMQ" = 1 ] || run_row llmq-cache "$C_ZMQ" row_llmq_cache

if [ -x "$BIN/llmq-mockllm" ] && start_mockllm; then
    [ "$SKIP_REF" = 1 ] || run_row mockllm "$C_HTTP" row_mockllm_direct
    [ "$SKIP_REF" = 1 ] || run_row nginx-proxy "$C_HTTP" row_nginx_proxy
    [ "$SKIP_LLMQ" = 1 ] || run_row llmq-openai "$C_HTTP" row_llmq llmq-openai "$C_HTTP" \
        --backend openai --url "http://127.0.0.1:$MOCK_PORT/v1" --model mock --slots $((C_HTTP / W))
    stop_pid "$MOCK_PID" llmq-mockllm
else
    echo "llmq-mockllm not available: the HTTP rows are skipped" >&2
    FAILED=1
fi

print_table
[ "$FAILED" = 0 ]
