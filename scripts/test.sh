#!/usr/bin/env bash
# Installs dependencies, builds warm and runs its test suite with ctest.
#
#   bash scripts/test.sh                          # normal build, in build/
#   WARM_SANITIZE=address bash scripts/test.sh    # ASan+UBSan, in build-address/
#   WARM_SANITIZE=thread bash scripts/test.sh     # TSan, in build-thread/
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh --test
# The npm packages of the grpc-js test backend, as tests/js/package-lock.json
# pins them (tests/health/keepalive_test.cc skips its grpc-js tests without).
if command -v npm >/dev/null 2>&1; then
  npm ci --prefix tests/js --ignore-scripts --no-audit --no-fund \
    --loglevel=error ||
    echo "test.sh: npm ci in tests/js failed; the grpc-js tests will skip" >&2
fi

sanitize="${WARM_SANITIZE:-}"
build_dir="build${sanitize:+-$sanitize}"
build_type=RelWithDebInfo
exclude=""
if [ -n "$sanitize" ]; then
  build_type=Debug
  exclude="install_consumer_test"  # packaging is checked by the normal build
fi

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" \
  -DWARM_SANITIZE="$sanitize" -DWARM_BUILD_TESTS=ON -DWARM_BUILD_BENCH=ON \
  -DWARM_BUILD_EXAMPLES=ON
cmake --build "$build_dir" -j "$(nproc)"
cd "$build_dir"
ctest -j "$(nproc)" --output-on-failure ${exclude:+-E "$exclude"}
