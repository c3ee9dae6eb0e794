// Mutex, MutexLock, CondVar: std::mutex with clang's thread-safety analysis.
//
// warm's locks are std::mutex, not absl::Mutex: Debian's abseil is not built
// with ThreadSanitizer, which then cannot see absl::Mutex, while pthread
// mutexes it always sees. std::mutex carries no annotations, so these thin
// wrappers add them: a member declared
//
//   int hits_ ABSL_GUARDED_BY(mu_);
//
// is checked at compile time by clang's -Wthread-safety (the CI step
// `scripts/thread_safety.sh` builds with -Werror=thread-safety), and methods
// that expect the lock held say so with ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_).
// With GCC the annotations are empty and the wrappers cost nothing.
//
// Example:
//
//   class Counter {
//    public:
//     void Add() {
//       MutexLock lock(&mu_);
//       ++count_;
//       changed_.NotifyAll();
//     }
//     void WaitFor(int n) {
//       MutexLock lock(&mu_);
//       changed_.Wait(&mu_, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
//         return count_ >= n;
//       });
//     }
//    private:
//     Mutex mu_;
//     CondVar changed_;
//     int count_ ABSL_GUARDED_BY(mu_) = 0;
//   };
//
// Thread safety: as std::mutex and std::condition_variable.

#ifndef WARM_SRC_COMMON_MUTEX_H_
#define WARM_SRC_COMMON_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace warm {
namespace internal {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  // Tells the analysis that the caller holds the lock (it checks nothing at
  // run time): for callbacks that a locked caller runs.
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` for its lifetime.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A condition variable for Mutex. Every wait takes a predicate, so a spurious
// wake-up is never mistaken for the condition.
class CondVar {
 public:
  // Waits until `done()` is true. Requires `mu` held.
  template <typename Predicate>
  void Wait(Mutex* mu, Predicate done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock, done);
    lock.release();  // still held, by the caller
  }
  // Waits until `done()` is true or `deadline`; returns done(). Requires `mu`
  // held.
  template <typename Clock, typename Duration, typename Predicate>
  bool WaitUntil(Mutex* mu,
                 const std::chrono::time_point<Clock, Duration>& deadline,
                 Predicate done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool result = cv_.wait_until(lock, deadline, done);
    lock.release();
    return result;
  }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_COMMON_MUTEX_H_
