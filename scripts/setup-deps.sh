#!/usr/bin/env bash
# Installs what llmq needs to build, test and benchmark on Debian 12.
# Safe to run again: apt-get skips what is installed. Uses sudo when not root.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  build-essential cmake pkg-config git
  libzmq3-dev libczmq-dev libmsgpack-dev libcurl4-openssl-dev
  libmicrohttpd-dev libjansson-dev libxxhash-dev libcriterion-dev
  libyaml-dev                               # broker --config (YAML)
  libhiredis-dev redis-server              # response cache: Redis tier and its tests
  clang libclang-rt-14-dev                  # fuzzing and the sanitizer build
  curl nginx-light wrk python3              # benchmarks and test helpers
  valgrind                                  # tests/bench/codec.sh CALLGRIND=1, profile.sh
  python3-prometheus-client bsdutils        # /metrics parser, script(1) for llmq top tests
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
