#!/usr/bin/env bash
# The README's test command: installs dependencies, builds llmq, and runs
#   1. every unit and integration test (ctest) on a normal build,
#   2. the same tests on an AddressSanitizer + UndefinedBehaviorSanitizer build,
#   3. a short libFuzzer run of every decoder (when clang is present),
#   4. the install check (libllmq consumed through pkg-config and find_package).
# Exits non-zero when anything fails. Build trees: build/, build-asan/, build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}   # per target; 3 targets = ~60 s in all
start=$(date +%s)

bash scripts/setup-deps.sh

# run_ctest DIR: every test verbosely into DIR/ctest.log; shows one line per test
# executable with Criterion's counts, and the whole log of any failure.
run_ctest() {
  local rc=0
  ctest --test-dir "$1" -V >"$1/ctest.log" 2>&1 || rc=$?
  grep -E "Synthesis:|tests passed|Test +#[0-9]+:" "$1/ctest.log" | sed 's/^[0-9]*: //' || true
  if [ $rc -ne 0 ]; then
    echo "---- $1/ctest.log (failures) ----"
    grep -vE "^\s*$" "$1/ctest.log" | grep -E -B2 -A30 "FAIL|Failed|\[----\]|ERROR|Sanitizer" | head -400
    return $rc
  fi
}

section() { printf '\n==== %s (%ds) ====\n' "$1" $(( $(date +%s) - start )); }

section "build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"

section "tests"
run_ctest build

section "sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLLMQ_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$JOBS"
section "tests under sanitizers"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_ctest build-asan

if command -v clang >/dev/null; then
  section "fuzz smoke run (${FUZZ_SECONDS}s per target)"
  cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DLLMQ_FUZZ=ON -DLLMQ_TESTS=OFF >/dev/null
  fuzz_targets=$(for f in tests/fuzz/fuzz_*.c; do basename "$f" .c; done)
  # shellcheck disable=SC2086
  cmake --build build-fuzz -j"$JOBS" --target $fuzz_targets
  for fuzzer in build-fuzz/bin/fuzz_*; do
    name=$(basename "$fuzzer")
    work="build-fuzz/corpus-run/$name"
    mkdir -p "$work"
    echo "fuzz: $name"
    "$fuzzer" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -artifact_prefix="build-fuzz/" \
      "$work" "tests/fuzz/corpus/$name" 2>&1 | grep -E "^(stat::number_of_executed_units|Done|==)" || true
    test "${PIPESTATUS[0]}" -eq 0 || { echo "fuzz: $name FAILED"; exit 1; }
  done
else
  section "fuzz smoke run skipped: clang not found"
fi

if [ -x tests/install/check.sh ]; then
  section "install check"
  bash tests/install/check.sh "$ROOT/build"
fi

section "summary"
# Criterion counts of both ctest runs (each test executable prints "Synthesis: ...").
count() { grep -h "Synthesis:" "$@" 2>/dev/null | sed -n 's/.*Tested: \([0-9]*\).*Passing: \([0-9]*\).*Failing: \([0-9]*\).*/\1 \2 \3/p' \
          | awk '{t+=$1; p+=$2; f+=$3} END {printf "%d %d %d", t, p, f}'; }
read -r _ normal_pass normal_fail <<<"$(count build/ctest.log)"
read -r _ asan_pass asan_fail <<<"$(count build-asan/ctest.log)"
echo "normal build: $normal_pass Criterion tests passed; sanitizer build: $asan_pass passed"
echo "all test stages passed in $(( $(date +%s) - start )) s"
echo "tests: $(( normal_pass + asan_pass )) passed, $(( normal_fail + asan_fail )) failed"
