// The cost of choosing a member for one call: entering the picker snapshot's
// read section, two random choices and two in-flight loads. This is exactly
// what warm::Channel runs per call before handing the call to the member
// (src/pool/pool.cc, Pool::CreateCall), measured at 3, 64 and 1024 members, on one
// thread and on two threads picking at once.

#include <benchmark/benchmark.h>
#include <grpcpp/create_channel.h>

#include "src/call/member.h"
#include "src/call/picker.h"
#include "src/common/snapshot_cell.h"

namespace warm {
namespace internal {
namespace {

// A snapshot of `n` READY members. Their channels point at an unused Unix
// socket and never connect: the pick does not touch the network.
std::unique_ptr<PickerSnapshot> MakeSnapshot(int n) {
  auto snapshot = std::make_unique<PickerSnapshot>();
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  for (int i = 0; i < n; ++i) {
    Address address{"unix:/nonexistent/warm-pick-bench", "bench"};
    auto member = std::make_shared<Member>(
        i, address,
        grpc::CreateCustomChannel(address.grpc_target,
                                  grpc::InsecureChannelCredentials(), args),
        std::make_shared<MemberLoad>(), std::make_shared<MethodCache>());
    snapshot->ready.push_back(member);
    snapshot->all.push_back(member);
  }
  return snapshot;
}

SnapshotCell<PickerSnapshot>& CellOf(int n) {
  static auto* cells = new std::map<int, SnapshotCell<PickerSnapshot>*>();
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  auto& cell = (*cells)[n];
  if (cell == nullptr) cell = new SnapshotCell<PickerSnapshot>(MakeSnapshot(n));
  return *cell;
}

void BM_Pick(benchmark::State& state) {
  SnapshotCell<PickerSnapshot>& cell = CellOf(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    SnapshotCell<PickerSnapshot>::Reader snapshot(cell);
    benchmark::DoNotOptimize(Pick(*snapshot, ThreadRandom()));
  }
}
BENCHMARK(BM_Pick)->Arg(3)->Arg(64)->Arg(1024);
BENCHMARK(BM_Pick)->Arg(3)->Arg(64)->Arg(1024)->Threads(2);

}  // namespace
}  // namespace internal
}  // namespace warm

BENCHMARK_MAIN();
