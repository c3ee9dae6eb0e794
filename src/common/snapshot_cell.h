// SnapshotCell<T>: publishes immutable snapshots to lock-free readers.
//
// The picker snapshot is read on every call and replaced only when the pool
// changes, so reads must cost little and take no lock. std::atomic<shared_ptr>
// is C++20, and libstdc++'s atomic_load(shared_ptr) takes a spinlock; instead
// readers announce themselves in one of two counters and read a raw pointer:
//
//   reader:  e = epoch; readers[e % 2]++; (retry if epoch moved); p = current;
//            ... use *p ...; readers[e % 2]--
//   writer:  old = current.exchange(new); retire old
//
// A reader that can still see `old` loaded it before the exchange, so it was
// already counted in readers[0] or readers[1] and stays counted until done.
// Hence `old` may be freed once each counter has been seen at zero at some
// moment after the exchange.
//
// Each of the two counters is striped over kStripes cache lines, chosen by
// the CPU the reader runs on, so that readers on different cores do not
// bounce one cache line on every call (measured on 2 cores: a read section
// costs 5 ns on each of two threads at once when striped, 50 ns when they
// share one counter). A reader decrements the counter it incremented, so
// moving to another CPU meanwhile is harmless. The argument above holds per
// (parity, stripe) counter. While snapshots wait to be freed, each Reclaim()
// flips the epoch once, so new readers go to the other counter and the one
// they used drains; call Reclaim() again a little later to finish.
//
// Thread safety: any number of readers; Publish() and Reclaim() must be
// serialized by the caller (the pool's mutex).

#ifndef WARM_SRC_COMMON_SNAPSHOT_CELL_H_
#define WARM_SRC_COMMON_SNAPSHOT_CELL_H_

#include <sched.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace warm {
namespace internal {

template <typename T>
class SnapshotCell {
 public:
  explicit SnapshotCell(std::unique_ptr<const T> initial)
      : current_(initial.release()) {}
  ~SnapshotCell() {
    // No reader may be active: the owner is being destroyed.
    delete current_.load(std::memory_order_relaxed);
  }
  SnapshotCell(const SnapshotCell&) = delete;
  SnapshotCell& operator=(const SnapshotCell&) = delete;

  // A read section. `get()` stays valid until the Reader is destroyed.
  class Reader {
   public:
    explicit Reader(const SnapshotCell& cell) : cell_(cell) {
      const size_t stripe = ThreadStripe();
      for (;;) {
        const size_t parity = cell_.epoch_.load(std::memory_order_seq_cst) & 1;
        counter_ = &cell_.readers_[parity][stripe].count;
        counter_->fetch_add(1, std::memory_order_seq_cst);
        if ((cell_.epoch_.load(std::memory_order_seq_cst) & 1) == parity) break;
        counter_->fetch_sub(1, std::memory_order_release);
      }
      snapshot_ = cell_.current_.load(std::memory_order_seq_cst);
    }
    ~Reader() { counter_->fetch_sub(1, std::memory_order_release); }
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    const T& operator*() const { return *snapshot_; }
    const T* operator->() const { return snapshot_; }
    const T* get() const { return snapshot_; }

   private:
    const SnapshotCell& cell_;
    std::atomic<int64_t>* counter_;
    const T* snapshot_;
  };

  // Replaces the snapshot. The old one is freed by a later Reclaim() (this one
  // tries at once). Returns true when retired snapshots remain to be freed.
  bool Publish(std::unique_ptr<const T> next) {
    const T* old = current_.exchange(next.release(), std::memory_order_seq_cst);
    retired_.push_back(Retired{std::unique_ptr<const T>(old), 0});
    return Reclaim();
  }

  // Frees every retired snapshot no reader can still see. Returns true when
  // some remain (call again later).
  bool Reclaim() {
    if (retired_.empty()) return false;
    uint32_t zero = 0;  // bit (parity * kStripes + stripe): counter is zero
    for (size_t parity = 0; parity < 2; ++parity) {
      for (size_t stripe = 0; stripe < kStripes; ++stripe) {
        if (readers_[parity][stripe].count.load(std::memory_order_seq_cst) ==
            0) {
          zero |= uint32_t{1} << (parity * kStripes + stripe);
        }
      }
    }
    std::vector<Retired> keep;
    for (Retired& r : retired_) {
      r.seen_zero |= zero;
      if (r.seen_zero != kAllSeen) keep.push_back(std::move(r));
    }
    retired_ = std::move(keep);
    // Send new readers to the other counters, so that the ones they used
    // until now drain by the next call. Flip once per call: flipping twice
    // would send them straight back, and under steady traffic no counter of
    // theirs would ever be seen at zero.
    if (!retired_.empty()) epoch_.fetch_add(1, std::memory_order_seq_cst);
    return !retired_.empty();
  }

  // Retired snapshots not yet freed (for tests).
  size_t retired() const { return retired_.size(); }

 private:
  static constexpr size_t kStripes = 8;
  static constexpr uint32_t kAllSeen = (uint32_t{1} << (2 * kStripes)) - 1;

  struct alignas(64) Counter {
    std::atomic<int64_t> count{0};
  };
  struct Retired {
    std::unique_ptr<const T> snapshot;
    uint32_t seen_zero;  // counters seen at zero since retirement
  };

  // The stripe for the calling thread now: its CPU (glibc reads it from
  // rseq, no system call), or 0 where the CPU is unknown.
  static size_t ThreadStripe() {
    const int cpu = sched_getcpu();
    return cpu < 0 ? 0 : static_cast<size_t>(cpu) % kStripes;
  }

  // Read by every reader; retired_ (written only on publish) shares the line.
  alignas(64) std::atomic<uint64_t> epoch_{0};
  std::atomic<const T*> current_;
  std::vector<Retired> retired_;  // writer only
  mutable Counter readers_[2][kStripes];
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_COMMON_SNAPSHOT_CELL_H_
