#!/usr/bin/env bash
# Cost of the codec's hot-path operations (REQUEST, DISPATCH, FINAL; encode
# and decode), from tests/bench/codec_bench.c built against $LLMQ_BUILD_DIR's
# libllmq_proto.a.
#
#   tests/bench/codec.sh                  # ns per operation (noisy machine: run twice)
#   CALLGRIND=1 tests/bench/codec.sh      # instructions per operation (exact, repeatable)
#
# Env: LLMQ_BUILD_DIR=<repo>/build (must be built), N=200000 (N=20000 under callgrind).
# Instructions per operation subtract a zero-iteration run, so they are the
# operation alone. Compare two versions of the codec by pointing LLMQ_BUILD_DIR
# at each build.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
LLMQ_BUILD_DIR=${LLMQ_BUILD_DIR:-$REPO/build}
CALLGRIND=${CALLGRIND:-0}
LIB=$LLMQ_BUILD_DIR/lib/libllmq_proto.a
[ -f "$LIB" ] || { echo "codec.sh: $LIB missing: build first (cmake --build $LLMQ_BUILD_DIR)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/llmq-codec.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
msgpack_libs=$(pkg-config --libs msgpack-c 2>/dev/null || pkg-config --libs msgpack)
${CC:-cc} -std=c11 -O2 -g -D_GNU_SOURCE -I"$REPO/proto" "$HERE/codec_bench.c" "$LIB" \
    $msgpack_libs -ljansson -lm -o "$WORK/codec_bench"

ops="encode_request decode_request encode_dispatch decode_dispatch encode_final decode_final"
if [ "$CALLGRIND" = 1 ]; then
    command -v valgrind >/dev/null || { echo "codec.sh: valgrind not installed" >&2; exit 1; }
    N=${N:-20000}
    ir() {
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$WORK/codec_bench" "$@" 2>&1 \
            | awk '/Collected/ {print $4}'
    }
    base=$(ir 0 all)
    for op in $ops; do
        total=$(ir "$N" "$op")
        printf '%-16s %8d instructions/op\n' "$op" $(( (total - base) / N ))
    done
else
    "$WORK/codec_bench" "${N:-200000}" all
fi
