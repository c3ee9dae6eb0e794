#!/usr/bin/env bash
# Builds the chaos soak (tests/soak/) and runs it, printing its summary.
#
#   bash scripts/soak.sh [duration [seed]] [warm_soak flags...]
#   WARM_SANITIZE=address bash scripts/soak.sh 90s     # ASan+UBSan+LSan
#   WARM_SANITIZE=thread bash scripts/soak.sh 90s      # TSan
#
# The build directory and its flags are scripts/test.sh's (build/,
# build-address/, build-thread/), so after the test suite only warm_soak and
# warm_test_backend are (re)built. Duration: 60s by default (1500ms, 60s,
# 10m); seed: drawn at random and printed unless given. The summary also goes
# to <build dir>/soak-report.txt. Exit status: warm_soak's (0: no
# violations; 1: violations, interrupted or watchdog, with the replay line;
# 2: bad flags or setup). Any other status is not warm_soak's verdict but
# its death: a sanitizer's report (TSan exits 66), an abort (134, e.g. ASan
# with abort_on_error=1, or a failed helper), a signal (128 + N).
set -euo pipefail
cd "$(dirname "$0")/.."

# Positional duration and seed are optional: an argument starting with "--"
# ends them and is passed on as a flag (soak.sh 90s --no-netns: no seed).
duration=60s
seed=""
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then duration="$1"; shift; fi
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then seed="$1"; shift; fi

sanitize="${WARM_SANITIZE:-}"
case "$sanitize" in
  ""|address|thread) ;;
  *) echo "soak.sh: WARM_SANITIZE must be address, thread or empty, not" \
          "'$sanitize'" >&2
     exit 2 ;;
esac
build_dir="build${sanitize:+-$sanitize}"
build_type=RelWithDebInfo
[ -n "$sanitize" ] && build_type=Debug

if [ ! -f "$build_dir/build.ninja" ]; then
  bash scripts/deps.sh --test
fi
# The same cache as scripts/test.sh: re-running it changes nothing.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" \
  -DWARM_SANITIZE="$sanitize" -DWARM_BUILD_TESTS=ON -DWARM_BUILD_BENCH=ON \
  -DWARM_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target warm_soak warm_test_backend

# The sanitizer settings of the test suite (CMakeLists.txt, WARM_TEST_ENV).
case "$sanitize" in
  address) export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" ;;
  thread) export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp:halt_on_error=1:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}" ;;
esac

exec "$build_dir/tests/soak/warm_soak" --duration="$duration" \
  ${seed:+--seed="$seed"} --report="$build_dir/soak-report.txt" "$@"
