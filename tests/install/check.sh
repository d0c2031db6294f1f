#!/bin/sh
# check.sh BUILD_DIR -- installs libllmq from a built tree into a temporary
# prefix and proves a program outside the tree can use it:
#
#   1. `cmake --install BUILD_DIR --component client --prefix TMP`;
#   2. libllmq.so exports exactly the functions llmq.h declares (the codec
#      linked into it stays hidden), and llmq.h compiles alone as C99 and C++;
#   3. consumer.c builds and runs through pkg-config (shared, and with
#      libllmq.a plus the libraries llmq.pc's Requires.private names);
#   4. consumer.c builds and runs through find_package(llmq) (llmq::llmq and
#      llmq::llmq_static), from this directory's CMakeLists.txt;
#   5. the installed `llmq` command runs.
#
# Exit status 0 when all hold; the first failure is printed and exits 1.
set -eu

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/llmq-install.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
prefix=$work/prefix
cc=${CC:-cc}

fail () {
    echo "check.sh: FAIL: $*" >&2
    exit 1
}
step () {
    echo "check.sh: $*"
}

step "installing into $prefix"
cmake --install "$build" --component client --prefix "$prefix" >"$work/install.log" \
    || { cat "$work/install.log" >&2; fail "cmake --install"; }
so=$(find "$prefix" -name 'libllmq.so' | head -n 1)
[ -n "$so" ] || fail "no libllmq.so installed"
libdir=$(dirname "$so")
for f in "$prefix/include/llmq.h" "$libdir/libllmq.a" "$libdir/pkgconfig/llmq.pc" \
         "$libdir/cmake/llmq/llmqConfig.cmake" "$libdir/cmake/llmq/llmqConfigVersion.cmake" \
         "$prefix/bin/llmq"; do
    [ -e "$f" ] || fail "missing $f"
done

step "checking the exported symbols"
grep -o '^LLMQ_EXPORT [^(]*(' "$prefix/include/llmq.h" | sed 's/ *($//; s/.*[ *]//' \
    | sort >"$work/declared"
nm -D --defined-only "$so" | awk '$2 == "T" { print $3 }' | sort >"$work/exported"
if ! cmp -s "$work/declared" "$work/exported"; then
    diff "$work/declared" "$work/exported" >&2 || true
    fail "libllmq.so exports differ from llmq.h (< declared, > exported)"
fi
nm -D --defined-only "$so" | awk '$2 != "T" && $2 != "A" { print }' >"$work/other"
[ ! -s "$work/other" ] || { cat "$work/other" >&2; fail "libllmq.so exports data symbols"; }

step "compiling llmq.h alone (C99 pedantic, C++)"
echo '#include <llmq.h>' | $cc -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only \
    -I"$prefix/include" -x c - || fail "llmq.h as C99"
if command -v c++ >/dev/null 2>&1; then
    echo '#include <llmq.h>' | c++ -Wall -Wextra -Werror -fsyntax-only \
        -I"$prefix/include" -x c++ - || fail "llmq.h as C++"
fi

step "building through pkg-config"
export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
[ "$(pkg-config --modversion llmq)" = "$(sed -n 's/^#define LLMQ_CLIENT_VERSION "\(.*\)"/\1/p' \
    "$prefix/include/llmq.h")" ] || fail "llmq.pc version differs from LLMQ_CLIENT_VERSION"
# shellcheck disable=SC2046
$cc -std=c99 -Wall -Wextra -Werror "$here/consumer.c" -o "$work/consumer_pc" \
    $(pkg-config --cflags --libs llmq) -Wl,-rpath,"$libdir" || fail "pkg-config shared build"
ldd "$work/consumer_pc" | grep -q "$libdir/libllmq.so" \
    || fail "the pkg-config build does not use the installed libllmq.so"
"$work/consumer_pc" || fail "pkg-config shared consumer"
# libllmq.a with the (shared) libraries its Requires.private names. Not
# `pkg-config --static`: Debian's libzmq.pc lists a libprotokit.a that is
# not installed, which would fail this check for a reason not ours.
# shellcheck disable=SC2046
static_libs="$libdir/libllmq.a $(pkg-config --libs $(pkg-config --print-requires-private llmq))"
# shellcheck disable=SC2046,SC2086
$cc -std=c99 -Wall -Wextra -Werror "$here/consumer.c" -o "$work/consumer_pc_static" \
    $(pkg-config --cflags llmq) $static_libs || fail "pkg-config static build"
if ldd "$work/consumer_pc_static" | grep -q libllmq; then
    fail "the static build still needs libllmq.so"
fi
"$work/consumer_pc_static" || fail "pkg-config static consumer"

step "building through find_package(llmq)"
cmake -S "$here" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
    >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log" >&2; fail "find_package configure"; }
cmake --build "$work/cmake" >"$work/build.log" 2>&1 \
    || { cat "$work/build.log" >&2; fail "find_package build"; }
"$work/cmake/consumer_shared" || fail "find_package llmq::llmq consumer"
"$work/cmake/consumer_static" || fail "find_package llmq::llmq_static consumer"

step "running the installed llmq command"
"$prefix/bin/llmq" --version >/dev/null || fail "llmq --version"

step "all good"
