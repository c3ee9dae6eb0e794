#!/usr/bin/env bash
# Installs the Debian 12 packages warm needs to build and run its demo, with
# --test also the tools its tests run (Prometheus and promtool, headless
# Chromium, Node.js and npm for the grpc-js backend in tests/js, nftables and
# iproute2 for the hosts in network namespaces), and with --clang Debian's
# clang for the thread-safety check and the fuzzers (scripts/thread_safety.sh,
# scripts/fuzz.sh).
# Usage: bash scripts/deps.sh [--test] [--clang]
#        (as root, or with sudo available)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev libabsl-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libc-ares-dev libssl-dev grpc-proto libcpp-httplib-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  dnsmasq-base
)
for arg in "$@"; do
  case "$arg" in
    # libclang-rt-14-dev: FuzzedDataProvider.h, which the fuzz targets'
    # replay tests include (tests/fuzz/CMakeLists.txt), and with --clang
    # libFuzzer itself (scripts/fuzz.sh).
    --test) packages+=(prometheus chromium nftables iproute2 libclang-rt-14-dev)
            # Debian's nodejs and npm, unless an npm is there already (a
            # NodeSource nodejs bundles npm and conflicts with Debian's).
            command -v npm >/dev/null 2>&1 || packages+=(nodejs npm) ;;
    --clang) packages+=(clang libclang-rt-14-dev) ;;
    *) echo "deps: unknown option $arg (usage: deps.sh [--test] [--clang])" >&2
       exit 2 ;;
  esac
done

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages already installed"
  exit 0
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
