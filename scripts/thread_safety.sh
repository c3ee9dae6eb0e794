#!/usr/bin/env bash
# Builds the warm library with Debian's clang and its thread-safety analysis
# as errors (-Wthread-safety -Werror=thread-safety, CMake option
# WARM_THREAD_SAFETY): a member declared ABSL_GUARDED_BY(mu_) touched without
# mu_ held, or a method marked ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) called
# without it, fails the build (src/common/mutex.h). Only the library target is
# built, in build-clang/, as Debug (the analysis needs no optimizer, and -O0
# compiles fastest); tests, examples and benchmarks are not needed for a
# compile-time check. gRPC's and abseil's headers are in /usr/include, a
# system directory, so they never warn.
#
#   bash scripts/thread_safety.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh --clang

build_dir=build-clang
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_COMPILER=clang++ -DWARM_THREAD_SAFETY=ON \
  -DWARM_BUILD_TESTS=OFF -DWARM_BUILD_EXAMPLES=OFF -DWARM_BUILD_BENCH=OFF
cmake --build "$build_dir" -j "$(nproc)" --target warm
echo "thread-safety: the warm library builds with clang -Werror=thread-safety"
