// The cost of choosing a member for one call: entering the picker snapshot's
// read section, two random choices and the two members' loads by each
// PickPolicy (kInFlight 0, kPeakEwma 1, kLatency 2: the second argument).
// This is exactly what warm::Channel runs per call before handing the call to
// the member (src/pool/pool.cc, Pool::CreateCall), measured at 3, 64 and 1024
// members, on one thread and on two threads picking at once.
// BM_PickLatencySteadyClock is kLatency with steady_clock::now() in place of
// the coarse clock, the alternative the coarse clock was chosen over.

#include <benchmark/benchmark.h>
#include <grpcpp/create_channel.h>

#include <chrono>
#include <map>
#include <mutex>
#include <utility>

#include "src/call/member.h"
#include "src/call/picker.h"
#include "src/common/snapshot_cell.h"

namespace warm {
namespace internal {
namespace {

// A snapshot of `n` READY members. Their channels point at an unused Unix
// socket and never connect: the pick does not touch the network.
// Their loads look like busy members': a few calls in flight (some unary)
// and latency estimates stamped now, so the policies take their usual
// branches.
std::unique_ptr<PickerSnapshot> MakeSnapshot(int n, PickPolicy pick) {
  auto snapshot = std::make_unique<PickerSnapshot>();
  snapshot->pick = pick;
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  const int64_t now_us = SteadyMicros(std::chrono::steady_clock::now());
  for (int i = 0; i < n; ++i) {
    Address address{"unix:/nonexistent/warm-pick-bench", "bench"};
    auto load = std::make_shared<MemberLoad>();
    load->pick = pick;
    for (int call = 0; call < i % 4; ++call) {
      load->CallStarted();
      load->UnaryStarted(now_us);
    }
    load->RecordLatencyPeak(300 + i, now_us);
    load->RecordPeakEwma(300 + i, now_us);
    auto member = std::make_shared<Member>(
        i, address,
        grpc::CreateCustomChannel(address.grpc_target,
                                  grpc::InsecureChannelCredentials(), args),
        std::move(load), std::make_shared<MethodCache>());
    snapshot->ready.push_back(member);
    snapshot->all.push_back(member);
  }
  return snapshot;
}

SnapshotCell<PickerSnapshot>& CellOf(int n, PickPolicy pick) {
  static auto* cells =
      new std::map<std::pair<int, PickPolicy>, SnapshotCell<PickerSnapshot>*>();
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  auto& cell = (*cells)[{n, pick}];
  if (cell == nullptr) {
    cell = new SnapshotCell<PickerSnapshot>(MakeSnapshot(n, pick));
  }
  return *cell;
}

void BM_Pick(benchmark::State& state) {
  SnapshotCell<PickerSnapshot>& cell =
      CellOf(static_cast<int>(state.range(0)),
             static_cast<PickPolicy>(state.range(1)));
  for (auto _ : state) {
    SnapshotCell<PickerSnapshot>::Reader snapshot(cell);
    benchmark::DoNotOptimize(Pick(*snapshot, ThreadRandom()));
  }
}
BENCHMARK(BM_Pick)->ArgsProduct({{3, 64, 1024}, {0, 1, 2}});
BENCHMARK(BM_Pick)->ArgsProduct({{3, 64, 1024}, {0, 1, 2}})->Threads(2);

void BM_PickLatencySteadyClock(benchmark::State& state) {
  SnapshotCell<PickerSnapshot>& cell =
      CellOf(static_cast<int>(state.range(0)), PickPolicy::kLatency);
  for (auto _ : state) {
    SnapshotCell<PickerSnapshot>::Reader snapshot(cell);
    benchmark::DoNotOptimize(
        PickAt(*snapshot, ThreadRandom(),
               SteadyMicros(std::chrono::steady_clock::now())));
  }
}
BENCHMARK(BM_PickLatencySteadyClock)->Arg(3)->Arg(64)->Arg(1024);
BENCHMARK(BM_PickLatencySteadyClock)->Arg(3)->Arg(64)->Arg(1024)->Threads(2);

}  // namespace
}  // namespace internal
}  // namespace warm

BENCHMARK_MAIN();
