#!/usr/bin/env bash
# The demo: three local greeter backends on 127.0.0.1-3 (the third answers
# 5 ms slower; the second reports NOT_SERVING to health checks from 5 s to
# 10 s after start), and a client sending calls through one warm channel from
# 8 threads, printing every second how the calls spread over the backends,
# the channel's health and each member's state, health and calls in flight,
# and warm's events as they happen (the second backend's member unhealthy,
# evicted and replaced, then a member back on it). The client serves warm's
# diagnostics page (and /metrics, /channels.json) on 127.0.0.1:8080 and
# prints its URL; from a terminal the page stays up after the run until Enter.
#
#   bash scripts/demo.sh
#
# Environment: WARM_DEMO_PORT (default 50051), WARM_DEMO_SECONDS (default 15),
# WARM_DEMO_DIAGNOSTICS (default 127.0.0.1:8080).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cmake -S . -B build-demo -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWARM_BUILD_TESTS=OFF -DWARM_BUILD_BENCH=OFF -DWARM_BUILD_EXAMPLES=ON
cmake --build build-demo -j "$(nproc)" --target greeter_server greeter_client

port="${WARM_DEMO_PORT:-50051}"
seconds="${WARM_DEMO_SECONDS:-15}"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

./build-demo/examples/greeter_server "127.0.0.1:$port" & pids+=($!)
./build-demo/examples/greeter_server "127.0.0.2:$port" --not_serving 5:10 &
pids+=($!)
./build-demo/examples/greeter_server "127.0.0.3:$port" --delay_ms 5 & pids+=($!)

# Start the client once every backend listens (bounded: 10 s), so that the
# demo shows steady operation rather than members failing their first checks.
for host in 127.0.0.1 127.0.0.2 127.0.0.3; do
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && break
    sleep 0.1
  done
done

./build-demo/examples/greeter_client \
  --target "ipv4:127.0.0.1:$port,127.0.0.2:$port,127.0.0.3:$port" \
  --threads 8 --seconds "$seconds" \
  --diagnostics "${WARM_DEMO_DIAGNOSTICS:-127.0.0.1:8080}"
