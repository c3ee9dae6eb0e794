// MethodStats: a channel's per-method call counters (the grpc_client_*
// metrics), bounded in the methods they track.
//
// Each (method name, call type) is counted in a MethodSlot of atomics, one
// per distinct set of labels (service, method, type): names that come out as
// the same labels ("foo" and "bar" are both unknown/unknown; "/a/b" and "a/b"
// are both a/b; "/other/other" is the overflow series) share a slot, so no
// two series ever carry the same labels. At most `max_methods` names are
// tracked; later ones share one overflow slot per call type, so that generic
// calls with arbitrary names count every call in bounded memory. Slots are never freed
// or reused while the channel lives: counts never go down, and a member's
// closure loses none (the slots belong to the channel, not to the member).
//
// Finding the slot costs no lookup on the call path for stub calls: a
// member's MethodCache (method_cache.h) looks the slot up once, when it
// registers a method, and keeps it beside the registered method; the pool
// hands it to the call's LoadInterceptor through a CallSlotScope. Calls with
// no registered method (grpc::GenericStub, calls before DNS answered) look
// their name up in a fixed-size lock-free table: a hash and a string compare,
// no lock and no allocation once the method has its slot.
//
// Thread safety: everything may be called from any thread. Find() takes a
// mutex only to add a slot; counting is relaxed atomic increments.

#ifndef WARM_SRC_CALL_METHOD_STATS_H_
#define WARM_SRC_CALL_METHOD_STATS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "src/call/member_load.h"
#include "src/common/mutex.h"

namespace warm {
namespace internal {

// The call types of the grpc_type label.
enum class CallType { kUnary, kClientStream, kServerStream, kBidiStream };
inline constexpr int kCallTypes = 4;
// "unary", "client_stream", "server_stream", "bidi_stream".
absl::string_view CallTypeName(CallType type);

// One method's counters. The labels are set before the slot is published and
// never change.
struct MethodSlot {
  MethodSlot(std::string service_label, std::string method_label,
             CallType call_type, bool is_overflow);
  MethodSlot(const MethodSlot&) = delete;
  MethodSlot& operator=(const MethodSlot&) = delete;

  const std::string service;  // "pkg.Service" ("other" for overflow)
  const std::string method;   // "Method" ("other" for overflow)
  const CallType type;
  const bool overflow;

  alignas(64) std::atomic<uint64_t> started{0};
  std::array<std::atomic<uint64_t>, MemberLoad::kCodes> handled{};
  std::atomic<uint64_t> msg_sent{0};
  std::atomic<uint64_t> msg_received{0};
  // Buckets as MemberLoad's (kLatencyBoundsUs), not cumulative.
  std::array<std::atomic<uint64_t>, MemberLoad::kLatencyBuckets>
      latency_buckets{};
  std::atomic<uint64_t> latency_sum_us{0};

  void Started() { started.fetch_add(1, std::memory_order_relaxed); }
  // Release increments of `handled`, read first by Counts(): a scrape never
  // shows more calls handled than started.
  void Handled(int code, int64_t latency_us);
  // A call destroyed before its status arrived: CANCELLED, no latency.
  void Abandoned();
  void MessageSent() { msg_sent.fetch_add(1, std::memory_order_relaxed); }
  void MessageReceived() {
    msg_received.fetch_add(1, std::memory_order_relaxed);
  }
};

// Plain copies of a MethodSlot, for views and metrics.
struct MethodCounts {
  std::string service;
  std::string method;
  CallType type = CallType::kUnary;
  bool overflow = false;
  uint64_t started = 0;
  std::array<uint64_t, MemberLoad::kCodes> handled{};
  uint64_t msg_sent = 0;
  uint64_t msg_received = 0;
  std::array<uint64_t, MemberLoad::kLatencyBuckets> latency_buckets{};
  uint64_t latency_sum_us = 0;
};

class MethodStats {
 public:
  // `max_methods`: ChannelOptions::metrics_max_methods (0..4096).
  explicit MethodStats(int max_methods);
  ~MethodStats();
  MethodStats(const MethodStats&) = delete;
  MethodStats& operator=(const MethodStats&) = delete;

  // The slot counting calls of `name` with `type`: its own, or the overflow
  // slot of `type` once max_methods slots are taken. Never null.
  MethodSlot* Find(const char* name, CallType type);

  // Every slot in use, tracked methods in first-call order, then the
  // overflow slots that counted a call.
  std::vector<MethodCounts> Counts() const;

  int max_methods() const { return max_methods_; }

 private:
  // One name seen, and the slot that counts it.
  struct Entry {
    std::string name;  // the full name as called, "/pkg.Service/Method"
    CallType type;
    MethodSlot* slot;
  };
  Entry* Lookup(const char* name, size_t hash, CallType type) const;
  MethodSlot* OverflowLocked(CallType type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int max_methods_;
  // Open addressing by name, at most half full, never shrinks: readers load
  // entries with acquire and see complete ones; writers insert under mu_.
  // Made (under mu_, published with release) for the first name: an idle
  // channel never needs it, and it is 2 KiB at the default 100 methods.
  const size_t capacity_;
  std::atomic<std::atomic<Entry*>*> table_{nullptr};
  // Set (release) once max_methods names are tracked, after every overflow
  // slot exists; read (acquire) before a lookup, so that a lookup after it
  // sees every entry.
  std::atomic<bool> full_{false};
  // Made under mu_ when first needed; never freed before the stats.
  std::array<std::atomic<MethodSlot*>, kCallTypes> overflow_{};
  mutable Mutex mu_;
  size_t entries_ ABSL_GUARDED_BY(mu_) = 0;
  // Tracked slots, each once, in first-call order.
  std::vector<MethodSlot*> order_ ABSL_GUARDED_BY(mu_);
};

// CallSlotScope: hands a call's MethodSlot from Pool::CreateCall to the
// LoadInterceptorFactory of the member channel the call is created on.
//
// gRPC creates a call's interceptors synchronously inside
// grpc::Channel::CreateCall, on the calling thread, and the load interceptor
// is the first one, so a thread-local set around that CreateCall reaches it
// and nothing else. The scope restores the previous value, so a call created
// by a user interceptor's factory during CreateCall (after warm's) cannot see
// a wrong slot. Would break if gRPC created interceptors on another thread or
// after CreateCall returned; then CurrentCallSlot() would be null and the
// factory would fall back to MethodStats::Find() (correct, slower).
class CallSlotScope {
 public:
  explicit CallSlotScope(MethodSlot* slot);
  ~CallSlotScope();
  CallSlotScope(const CallSlotScope&) = delete;
  CallSlotScope& operator=(const CallSlotScope&) = delete;

 private:
  MethodSlot* const previous_;
};

// The slot set by the innermost CallSlotScope on this thread, or null.
MethodSlot* CurrentCallSlot();

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_CALL_METHOD_STATS_H_
