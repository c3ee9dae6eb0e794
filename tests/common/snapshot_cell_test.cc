#include "src/common/snapshot_cell.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace warm {
namespace internal {
namespace {

// Counts live instances so tests can see what was freed.
struct Tracked {
  static std::atomic<int> live;
  explicit Tracked(int v) : value(v) { live++; }
  ~Tracked() { live--; }
  int value;
};
std::atomic<int> Tracked::live{0};

// Keeps reader loops from being optimized away.
std::atomic<int64_t> benchmark_sink_{0};

TEST(SnapshotCellTest, ReaderSeesCurrentSnapshot) {
  SnapshotCell<Tracked> cell(std::make_unique<Tracked>(1));
  {
    SnapshotCell<Tracked>::Reader reader(cell);
    EXPECT_EQ(reader->value, 1);
  }
  cell.Publish(std::make_unique<Tracked>(2));
  SnapshotCell<Tracked>::Reader reader(cell);
  EXPECT_EQ(reader->value, 2);
}

TEST(SnapshotCellTest, OldSnapshotIsFreedWhenNoReaderHoldsIt) {
  const int before = Tracked::live;
  SnapshotCell<Tracked> cell(std::make_unique<Tracked>(1));
  EXPECT_FALSE(cell.Publish(std::make_unique<Tracked>(2)));
  EXPECT_EQ(cell.retired(), 0u);
  EXPECT_EQ(Tracked::live, before + 1);
}

TEST(SnapshotCellTest, HeldSnapshotSurvivesUntilItsReaderLeaves) {
  SnapshotCell<Tracked> cell(std::make_unique<Tracked>(1));
  auto reader = std::make_unique<SnapshotCell<Tracked>::Reader>(cell);
  EXPECT_TRUE(cell.Publish(std::make_unique<Tracked>(2)));
  EXPECT_TRUE(cell.Publish(std::make_unique<Tracked>(3)));
  EXPECT_EQ((*reader)->value, 1);  // still valid: not freed
  EXPECT_TRUE(cell.Reclaim());
  reader.reset();
  EXPECT_FALSE(cell.Reclaim());
  EXPECT_EQ(cell.retired(), 0u);
}

TEST(SnapshotCellTest, ConcurrentReadersAndPublisher) {
  // Under ThreadSanitizer/AddressSanitizer this catches a reader touching a
  // freed snapshot.
  SnapshotCell<Tracked> cell(std::make_unique<Tracked>(0));
  constexpr int kReaders = 3;
  std::atomic<bool> stop{false};
  std::atomic<int> started{0};
  std::atomic<int64_t> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < kReaders; ++t) {
    readers.emplace_back([&] {
      started++;
      int last = 0;
      while (!stop.load()) {
        SnapshotCell<Tracked>::Reader reader(cell);
        int value = reader->value;
        EXPECT_GE(value, last) << "snapshots go forward";
        last = value;
        reads++;
      }
    });
  }
  while (started.load() < kReaders) std::this_thread::yield();
  // Publish while the readers read: at least 20000 snapshots and until the
  // readers have made 20000 reads (bounded: 2 million publishes at most).
  int published = 0;
  while (published < 2000000 && (published < 20000 || reads.load() < 20000)) {
    cell.Publish(std::make_unique<Tracked>(++published));
  }
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_FALSE(cell.Reclaim());
  EXPECT_GE(reads.load(), 20000);
}

TEST(SnapshotCellTest, RetiredSnapshotIsFreedUnderSteadyReads) {
  // Readers never stop, so a reader counter is rarely zero at any instant;
  // the epoch flip in Reclaim() must still let each counter drain in turn.
  SnapshotCell<Tracked> cell(std::make_unique<Tracked>(0));
  std::atomic<bool> stop{false};
  std::atomic<int> started{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      started++;
      while (!stop.load()) {
        SnapshotCell<Tracked>::Reader reader(cell);
        for (int spin = 0; spin < 100; ++spin) {
          benchmark_sink_ += reader->value;
        }
      }
    });
  }
  while (started.load() < 2) std::this_thread::yield();
  bool pending = cell.Publish(std::make_unique<Tracked>(1));
  // Bounded: the pool retries every 20 ms; here 2000 tries, 1 ms apart.
  for (int tries = 0; pending && tries < 2000; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    pending = cell.Reclaim();
  }
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_FALSE(pending) << "a retired snapshot was never freed";
}

}  // namespace
}  // namespace internal
}  // namespace warm
