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
// moment after the exchange. While snapshots wait to be freed, each Reclaim()
// flips the epoch once, so new readers go to the other counter and the one
// they used drains; call Reclaim() again a little later to finish.
//
// Thread safety: any number of readers; Publish() and Reclaim() must be
// serialized by the caller (the pool's mutex).

#ifndef WARM_SRC_SNAPSHOT_CELL_H_
#define WARM_SRC_SNAPSHOT_CELL_H_

#include <atomic>
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
      for (;;) {
        slot_ = cell_.epoch_.load(std::memory_order_seq_cst) & 1;
        cell_.readers_[slot_].count.fetch_add(1, std::memory_order_seq_cst);
        if ((cell_.epoch_.load(std::memory_order_seq_cst) & 1) == slot_) break;
        cell_.readers_[slot_].count.fetch_sub(1, std::memory_order_release);
      }
      snapshot_ = cell_.current_.load(std::memory_order_seq_cst);
    }
    ~Reader() {
      cell_.readers_[slot_].count.fetch_sub(1, std::memory_order_release);
    }
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    const T& operator*() const { return *snapshot_; }
    const T* operator->() const { return snapshot_; }
    const T* get() const { return snapshot_; }

   private:
    const SnapshotCell& cell_;
    uint64_t slot_;
    const T* snapshot_;
  };

  // Replaces the snapshot. The old one is freed by a later Reclaim() (this one
  // tries at once). Returns true when retired snapshots remain to be freed.
  bool Publish(std::unique_ptr<const T> next) {
    const T* old = current_.exchange(next.release(), std::memory_order_seq_cst);
    retired_.push_back(Retired{std::unique_ptr<const T>(old), false, false});
    return Reclaim();
  }

  // Frees every retired snapshot no reader can still see. Returns true when
  // some remain (call again later).
  bool Reclaim() {
    if (retired_.empty()) return false;
    const bool zero[2] = {
        readers_[0].count.load(std::memory_order_seq_cst) == 0,
        readers_[1].count.load(std::memory_order_seq_cst) == 0};
    std::vector<Retired> keep;
    for (Retired& r : retired_) {
      r.seen_zero[0] = r.seen_zero[0] || zero[0];
      r.seen_zero[1] = r.seen_zero[1] || zero[1];
      if (!(r.seen_zero[0] && r.seen_zero[1])) keep.push_back(std::move(r));
    }
    retired_ = std::move(keep);
    // Send new readers to the other counter, so that the one they used until
    // now drains by the next call. Flip once per call: flipping twice would
    // send them straight back, and under steady traffic neither counter
    // would ever be seen at zero.
    if (!retired_.empty()) epoch_.fetch_add(1, std::memory_order_seq_cst);
    return !retired_.empty();
  }

  // Retired snapshots not yet freed (for tests).
  size_t retired() const { return retired_.size(); }

 private:
  struct alignas(64) Counter {
    std::atomic<int64_t> count{0};
  };
  struct Retired {
    std::unique_ptr<const T> snapshot;
    bool seen_zero[2];
  };

  alignas(64) std::atomic<uint64_t> epoch_{0};
  std::atomic<const T*> current_;
  mutable Counter readers_[2];
  std::vector<Retired> retired_;  // writer only
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_SNAPSHOT_CELL_H_
