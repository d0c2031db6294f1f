# Shell helpers for tests/bench/run.sh. Source it, do not execute it.
#
# Adapted from /work/shared/bench/lib.sh (port checks, stop by PID, noise
# accounting, CPU per request). Differences: runtime state lives in $WORK (a
# temporary directory made by the caller), ports are picked per run
# (free_port) instead of a fixed range, and processes are started and tracked
# here (start_bg / stop_all) so one trap stops everything.
#
# The caller sets WORK (a directory) before sourcing, and BENCH_ROOT_PID=$$.

# ---- ports ----------------------------------------------------------------

# port_open PORT -> 0 if something accepts TCP connections on 127.0.0.1:PORT
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_port PORT [TIMEOUT_S] -> waits until the port accepts connections
wait_port() {
    local port=$1 t=${2:-5} i=0
    while ! port_open "$port"; do
        i=$((i + 1))
        if [ "$i" -gt $((t * 50)) ]; then
            echo "timeout waiting for 127.0.0.1:$port" >&2
            return 1
        fi
        sleep 0.02
    done
}

# free_port -> prints a port on 127.0.0.1 that nothing listens on (random in
# 20000-59999, checked; programs that cannot bind port 0 and report it need this)
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if ! port_open "$p"; then
            echo "$p"
            return 0
        fi
    done
    echo "no free port found" >&2
    return 1
}

# ---- processes --------------------------------------------------------------

PIDS=()          # every process started by start_bg, in start order
NGINX_PIDFILES=() # nginx masters started by the caller (stopped by pid file)

# start_bg LOG CMD... -> runs CMD in the background, stderr+stdout to LOG;
# sets LAST_PID
start_bg() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# run_fg OUTFILE CMD... -> runs a load generator with stdout to OUTFILE and waits
# for it. It runs in the background so that a SIGTERM to the script is handled at
# once (bash defers traps while a foreground child runs); stop_all stops it too.
FG_PID=
run_fg() {
    local out=$1 rc=0
    shift
    "$@" >"$out" &
    FG_PID=$!
    wait "$FG_PID" || rc=$?
    FG_PID=
    return "$rc"
}

# stop_pid PID [NAME] -> SIGTERM, wait up to 10 s, then SIGKILL. Only that PID.
stop_pid() {
    local pid=$1 name=${2:-process} i=0
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do
        i=$((i + 1))
        if [ "$i" -gt 200 ]; then
            echo "$name ($pid) did not exit after SIGTERM, sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.05
    done
    wait "$pid" 2>/dev/null || true
}

# stop_pids PID... -> SIGTERM to all at once, then waits for each (faster than
# one by one when each takes a shutdown grace)
stop_pids() {
    local p
    for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "$@"; do stop_pid "$p"; done
}

# stop_nginx PIDFILE -> graceful stop of an nginx master by its pid file
stop_nginx() {
    local pidfile=$1 pid i=0
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
    kill -QUIT "$pid"
    while kill -0 "$pid" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -eq 100 ] && kill -TERM "$pid" 2>/dev/null
        [ "$i" -gt 200 ] && { kill -KILL "$pid" 2>/dev/null; break; }
        sleep 0.05
    done
    rm -f "$pidfile"
}

# stop_all -> stops every nginx and every process started here, newest first
stop_all() {
    local i f
    [ -n "$FG_PID" ] && stop_pid "$FG_PID" load-generator
    FG_PID=
    for f in "${NGINX_PIDFILES[@]}"; do stop_nginx "$f"; done
    NGINX_PIDFILES=()
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
    PIDS=()
}

# wait_line LOG PATTERN PID [TIMEOUT_S] -> waits until LOG has a line matching
# the grep -E PATTERN; prints that line. Fails when PID exits first or on timeout.
wait_line() {
    local log=$1 pattern=$2 pid=$3 t=${4:-10} i=0 line
    while :; do
        line=$(grep -E -m1 -- "$pattern" "$log" 2>/dev/null || true)
        if [ -n "$line" ]; then
            echo "$line"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "process $pid exited before logging '$pattern'; its log:" >&2
            tail -n 20 "$log" >&2
            return 1
        fi
        i=$((i + 1))
        if [ "$i" -gt $((t * 50)) ]; then
            echo "timeout waiting for '$pattern' in $log" >&2
            tail -n 20 "$log" >&2
            return 1
        fi
        sleep 0.02
    done
}

# field LINE KEY -> the value of KEY=value in a log line
field() {
    echo "$1" | sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p"
}

# json_num FILE KEY -> a top-level number from a one-line JSON object
json_num() {
    sed -n "s/.*\"$2\":\(-\{0,1\}[0-9.eE+-]*\).*/\1/p" "$1" | head -n1
}

# ---- CPU cost per request -----------------------------------------------------

# cpu_jiffies PID... -> summed utime+stime (all threads) of the given live processes
cpu_jiffies() {
    local p sum=0 v
    for p in "$@"; do
        v=$(awk '{s = $0; sub(/^.*\) /, "", s); split(s, a, " "); print a[12] + a[13]}' "/proc/$p/stat" 2>/dev/null || echo 0)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

# cpu_us_per_req JIFFIES_DELTA REQUESTS -> CPU microseconds per request ("-" if unknown)
cpu_us_per_req() {
    awk -v j="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        if (n > 0 && j != "") printf "%.1f", j * 1e6 / hz / n; else printf "-" }'
}

# ---- noise accounting (from the shared kit) -----------------------------------
# The machine is shared. For each row we record "foreign": CPU used by processes
# that are NOT descendants of $BENCH_ROOT_PID or of our nginx masters, in cores.

our_roots() {
    local r=${BENCH_ROOT_PID:-$$} f
    for f in "${NGINX_PIDFILES[@]}"; do
        [ -f "$f" ] && r="$r $(cat "$f")"
    done
    echo "$r"
}

# proc_snapshot FILE -> "pid ours cpu_jiffies comm" for every process, first line "T uptime"
proc_snapshot() {
    local file=$1
    {
        awk '{print "T", $1}' /proc/uptime
        { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v roots="$(our_roots)" '
            BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) root[r[i]] = 1 }
            {
                pid = $1; c = $0; sub(/^[0-9]+ \(/, "", c); sub(/\) [A-Za-z] .*$/, "", c)
                s = $0; sub(/^.*\) /, "", s); split(s, a, " ")
                ppid[pid] = a[2]; cpu[pid] = a[12] + a[13]; gsub(/[^A-Za-z0-9_.:-]/, "_", c); comm[pid] = c
            }
            END {
                for (p in cpu) {
                    q = p; ours = 0
                    for (d = 0; d < 64 && q > 1; d++) { if (q in root) { ours = 1; break }; q = ppid[q] }
                    print p, ours, cpu[p], comm[p]
                }
            }'
    } >"$file"
}

# noise_report SNAP_BEFORE SNAP_AFTER -> "foreign=X top_foreign=comm:cores,..."
noise_report() {
    awk -v hz="$(getconf CLK_TCK)" '
        NR == FNR { if ($1 == "T") t0 = $2; else a[$1] = $3; next }
        $1 == "T" { t1 = $2; next }
        ($1 in a) && $2 == 0 { d = $3 - a[$1]; if (d > 0) { tot += d; by[$4] += d } }
        END {
            w = t1 - t0; if (w <= 0) w = 1
            top = ""
            for (k = 0; k < 3; k++) {
                best = ""; bv = 0
                for (c in by) if (by[c] > bv) { bv = by[c]; best = c }
                if (best == "" || bv / hz / w < 0.01) break
                top = top (top == "" ? "" : ",") best ":" sprintf("%.2f", bv / hz / w)
                delete by[best]
            }
            printf "foreign=%.2f top_foreign=%s\n", tot / hz / w, (top == "" ? "-" : top)
        }' "$1" "$2"
}

noise_begin() { proc_snapshot "$WORK/.snap0"; }
noise_end() {
    proc_snapshot "$WORK/.snap1"
    noise_report "$WORK/.snap0" "$WORK/.snap1"
}

# wait_quiet -> before a measured row, wait (up to QUIET_WAIT s, default 20; 0 = off)
# until other people's processes use less than QUIET_THRESHOLD cores (default 0.15)
# over a QUIET_SAMPLE s sample (default 1)
wait_quiet() {
    local max=${QUIET_WAIT:-20} thr=${QUIET_THRESHOLD:-0.15} smp=${QUIET_SAMPLE:-1} waited=0 r f
    [ "$max" -gt 0 ] || return 0
    while :; do
        noise_begin
        sleep "$smp"
        r=$(noise_end)
        f=$(echo "$r" | sed -n 's/^foreign=\([0-9.]*\).*/\1/p')
        if awk -v f="$f" -v t="$thr" 'BEGIN { exit !(f != "" && f + 0 < t + 0) }'; then
            [ "$waited" -gt 0 ] && echo "  (waited ${waited}s for the machine to be quiet)"
            return 0
        fi
        waited=$((waited + smp))
        if [ "$waited" -ge "$max" ]; then
            echo "  (machine still busy after ${waited}s: $r; measuring anyway)"
            return 0
        fi
    done
}
