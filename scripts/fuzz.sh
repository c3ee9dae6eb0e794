#!/usr/bin/env bash
# Builds warm's libFuzzer targets (tests/fuzz/) with Debian's clang under
# ASan+UBSan and runs each for a bounded time on a copy of its seed corpus.
# The same clang compile of the library is CI's thread-safety check
# (-DWARM_THREAD_SAFETY=ON: -Werror=thread-safety, see
# scripts/thread_safety.sh), so a thread-safety error fails this script too.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 30)
#   WARM_FUZZ_TARGETS="target_options dns_answer" bash scripts/fuzz.sh 60
#
# Fuzzers run two at a time (one per core), each with -max_total_time=N
# -timeout=10 -rss_limit_mb=2048 and killed by timeout(1) after N + 120 s (a
# hang at start-up or exit, where -max_total_time does not reach), on a copy of tests/fuzz/corpus/NAME in
# build-fuzz/run/NAME/corpus (the repository is never modified), with the
# dictionary tests/fuzz/NAME.dict when there is one. The script prints one
# line per target (executions, exec/s, cov, ft, corpus size, crashes) and
# exits non-zero if any fuzzer found a crash, leak, timeout or OOM, naming
# the reproducer (build-fuzz/run/NAME/crash-*, leak-*, timeout-*, oom-*).
# Replay one with build-fuzz/tests/fuzz/NAME_fuzzer FILE; once fixed, commit
# it to tests/fuzz/regressions/NAME/, which the ordinary builds replay
# (ctest -R fuzz_).
#
# Running longer: `bash scripts/fuzz.sh 3600` gives each target an hour. Or
# after one run, a binary directly, e.g. on all cores with a kept corpus:
#   mkdir -p /tmp/c && cp tests/fuzz/corpus/dns_answer/* /tmp/c/
#   build-fuzz/tests/fuzz/dns_answer_fuzzer -jobs=8 -workers=2 \
#     -max_total_time=3600 /tmp/c
# (add -dict=tests/fuzz/NAME.dict for a target that has one, e.g.
# tls_files; dns_answer has none).
# New inputs worth keeping can be minimized into the seeds with
# `NAME_fuzzer -merge=1 tests/fuzz/corpus/NAME /tmp/c` (keep it small).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "fuzz: SECONDS_PER_TARGET must be a positive integer, not '$seconds'" >&2
  exit 2
fi

# clang, and libclang-rt-14-dev: libFuzzer's runtime (libclang_rt.fuzzer)
# and FuzzedDataProvider.h.
bash scripts/deps.sh --clang

all_targets=$(ls tests/fuzz/*_fuzzer.cc | sed 's|.*/||; s|_fuzzer\.cc$||')
targets=${WARM_FUZZ_TARGETS:-$all_targets}
for t in $targets; do
  if [ ! -f "tests/fuzz/${t}_fuzzer.cc" ]; then
    echo "fuzz: no target '$t' (have: $(echo $all_targets))" >&2
    exit 2
  fi
done

# -O1: compiles about as fast as -O0 and runs the fuzzers several times
# faster; asserts stay on (no NDEBUG). -gline-tables-only: enough for
# sanitizer stack traces with file:line, and quicker to compile and link
# than full -g.
build_dir=build-fuzz
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -gline-tables-only" -DCMAKE_CXX_COMPILER=clang++ \
  -DWARM_BUILD_FUZZERS=ON -DWARM_SANITIZE=address -DWARM_THREAD_SAFETY=ON \
  -DWARM_BUILD_TESTS=OFF -DWARM_BUILD_EXAMPLES=OFF -DWARM_BUILD_BENCH=OFF
build_targets=(warm)
for t in $targets; do build_targets+=("${t}_fuzzer"); done
cmake --build "$build_dir" -j "$(nproc)" --target "${build_targets[@]}"
echo "fuzz: the warm library builds with clang -Werror=thread-safety"

run_dir=$build_dir/run
# One fuzzer: a fresh copy of its seeds, its output in run/NAME/log. Every
# way it can fail leaves run/NAME/rc (the exit status) and a log saying why,
# for the summary below.
run_one() {
  local t=$1 dir=$run_dir/$1
  # Not under set -e: a failing step must reach the rc file, not end the
  # subshell silently.
  set +e
  rm -rf "$dir"
  if ! mkdir -p "$dir/corpus"; then
    echo "fuzz: cannot create $dir/corpus" >&2
    return 1
  fi
  if ! cp tests/fuzz/corpus/"$t"/* "$dir/corpus/" 2>"$dir/log"; then
    echo "fuzz: cannot copy the seeds tests/fuzz/corpus/$t/* to $dir/corpus" \
      >>"$dir/log"
    echo 1 >"$dir/rc"
    return 1
  fi
  local dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  # detect_leaks: LSan at exit and after each input that grew the heap.
  # timeout: -max_total_time is checked between inputs only; a hang while
  # loading the corpus or at exit would otherwise hang CI. 124 (or 137 after
  # -k) in rc means it was killed.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    timeout -k 30 $((seconds + 120)) \
    "$build_dir/tests/fuzz/${t}_fuzzer" -max_total_time="$seconds" \
      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$dir/" "${dict[@]}" "$dir/corpus" >"$dir/log" 2>&1
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "$rc" >"$dir/rc"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
      echo "fuzz: $t killed after $((seconds + 120))s (exit $rc)" >>"$dir/log"
    fi
  fi
  return 0
}

# Fuzzers still running when the script ends (an error, ^C, a kill) are
# stopped with it rather than left behind on the machine.
fuzzer_pids=()
stop_fuzzers() {
  local pid
  # Children first (timeout(1), which passes the signal on to its fuzzer),
  # while they are still the children of run_one's subshell.
  for pid in "${fuzzer_pids[@]}"; do
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
}
trap stop_fuzzers EXIT
trap 'stop_fuzzers; exit 130' INT
trap 'stop_fuzzers; exit 143' TERM

jobs=$(nproc)
[ "$jobs" -gt 2 ] && jobs=2
running=0
for t in $targets; do
  echo "fuzz: running $t for ${seconds}s"
  run_one "$t" &
  fuzzer_pids+=($!)
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true
fuzzer_pids=()  # all ended: nothing for the EXIT trap to stop

# The figures from libFuzzer's last status line and its final stats.
failed=0
printf '\n%-18s %12s %9s %7s %7s %8s %8s\n' target executions exec/s cov ft \
  corpus crashes
for t in $targets; do
  dir=$run_dir/$t
  log=$dir/log
  if [ ! -f "$log" ]; then
    printf '%-18s %s\n' "$t" "no log: it did not start (see above)"
    failed=1
    continue
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corpus=$(find "$dir/corpus" -type f 2>/dev/null | wc -l)
  artifacts=$(find "$dir" -maxdepth 1 -type f \
    \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
       -o -name 'oom-*' -o -name 'slow-unit-*' \) | grep -v slow-unit || true)
  crashes=$(grep -c . <<<"$artifacts" || true)
  printf '%-18s %12s %9s %7s %7s %8s %8s\n' "$t" "${execs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "$corpus" "$crashes"
  if [ -f "$dir/rc" ] || [ "$crashes" -gt 0 ]; then
    failed=1
    echo "  FAILED (exit $(cat "$dir/rc" 2>/dev/null || echo 0)); log $log" >&2
    for a in $artifacts; do echo "  reproducer: $a" >&2; done
    grep -E 'ERROR: |SUMMARY: |runtime error|_fuzzer: |^fuzz: ' "$log" | head -5 >&2 ||
      true
  fi
done
if [ "$failed" -ne 0 ]; then
  echo "fuzz: FAILED; replay with $build_dir/tests/fuzz/NAME_fuzzer FILE" >&2
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a finding"
