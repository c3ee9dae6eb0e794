#include "src/call/method_stats.h"

#include <cstring>
#include <functional>
#include <string_view>

namespace warm {
namespace internal {
namespace {

// The service and method of "/pkg.Service/Method", as go-grpc-prometheus
// splits it: a name with no second "/" is "unknown", "unknown".
std::pair<std::string, std::string> SplitName(absl::string_view name) {
  if (!name.empty() && name.front() == '/') name.remove_prefix(1);
  const size_t slash = name.find('/');
  if (slash == absl::string_view::npos) return {"unknown", "unknown"};
  return {std::string(name.substr(0, slash)),
          std::string(name.substr(slash + 1))};
}

size_t Hash(const char* name, CallType type) {
  return std::hash<std::string_view>()(name) * kCallTypes +
         static_cast<size_t>(type);
}

thread_local MethodSlot* current_call_slot = nullptr;

}  // namespace

absl::string_view CallTypeName(CallType type) {
  switch (type) {
    case CallType::kUnary:
      return "unary";
    case CallType::kClientStream:
      return "client_stream";
    case CallType::kServerStream:
      return "server_stream";
    case CallType::kBidiStream:
      return "bidi_stream";
  }
  return "unary";
}

MethodSlot::MethodSlot(std::string full_name, CallType call_type,
                       bool is_overflow)
    : name(std::move(full_name)),
      service(is_overflow ? "other" : SplitName(name).first),
      method(is_overflow ? "other" : SplitName(name).second),
      type(call_type),
      overflow(is_overflow) {}

void MethodSlot::Handled(int code, int64_t latency_us) {
  if (code < 0 || code >= MemberLoad::kCodes) code = 2;  // UNKNOWN
  handled[code].fetch_add(1, std::memory_order_relaxed);
  int bucket = 0;
  while (bucket < MemberLoad::kLatencyBuckets - 1 &&
         latency_us > MemberLoad::kLatencyBoundsUs[bucket]) {
    ++bucket;
  }
  latency_buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  latency_sum_us.fetch_add(static_cast<uint64_t>(latency_us),
                           std::memory_order_relaxed);
}

void MethodSlot::Abandoned() {
  handled[1].fetch_add(1, std::memory_order_relaxed);  // CANCELLED
}

MethodStats::MethodStats(int max_methods)
    : max_methods_(max_methods),
      // A power of two at least twice max_methods, so probes stay short.
      capacity_([max_methods] {
        size_t capacity = 2;
        while (capacity < 2 * static_cast<size_t>(max_methods)) capacity *= 2;
        return capacity;
      }()),
      table_(new std::atomic<MethodSlot*>[capacity_]()) {}

MethodStats::~MethodStats() {
  for (size_t i = 0; i < capacity_; ++i) delete table_[i].load();
  for (std::atomic<MethodSlot*>& slot : overflow_) delete slot.load();
}

MethodSlot* MethodStats::Lookup(const char* name, size_t hash,
                                CallType type) const {
  for (size_t i = hash & (capacity_ - 1);; i = (i + 1) & (capacity_ - 1)) {
    MethodSlot* slot = table_[i].load(std::memory_order_acquire);
    if (slot == nullptr) return nullptr;
    if (slot->type == type && std::strcmp(slot->name.c_str(), name) == 0) {
      return slot;
    }
  }
}

MethodSlot* MethodStats::Find(const char* name, CallType type) {
  const size_t hash = Hash(name, type);
  if (MethodSlot* slot = Lookup(name, hash, type)) return slot;
  std::atomic<MethodSlot*>& overflow = overflow_[static_cast<int>(type)];
  if (MethodSlot* slot = overflow.load(std::memory_order_acquire)) {
    return slot;  // full (the overflow slot exists only then)
  }
  MutexLock lock(&mu_);
  if (MethodSlot* slot = Lookup(name, hash, type)) return slot;
  if (order_.size() < static_cast<size_t>(max_methods_)) {
    size_t i = hash & (capacity_ - 1);
    while (table_[i].load(std::memory_order_relaxed) != nullptr) {
      i = (i + 1) & (capacity_ - 1);
    }
    auto* slot = new MethodSlot(name, type, /*overflow=*/false);
    order_.push_back(slot);
    table_[i].store(slot, std::memory_order_release);
    return slot;
  }
  // Full: all overflow slots are made at once, so that one existing means
  // the table is full for every type.
  for (int t = 0; t < kCallTypes; ++t) {
    if (overflow_[t].load(std::memory_order_relaxed) == nullptr) {
      overflow_[t].store(
          new MethodSlot("other", static_cast<CallType>(t), /*overflow=*/true),
          std::memory_order_release);
    }
  }
  return overflow.load(std::memory_order_relaxed);
}

std::vector<MethodCounts> MethodStats::Counts() const {
  std::vector<const MethodSlot*> slots;
  {
    MutexLock lock(&mu_);
    slots.assign(order_.begin(), order_.end());
  }
  for (const std::atomic<MethodSlot*>& slot : overflow_) {
    const MethodSlot* overflow = slot.load(std::memory_order_acquire);
    if (overflow != nullptr &&
        overflow->started.load(std::memory_order_relaxed) > 0) {
      slots.push_back(overflow);
    }
  }
  std::vector<MethodCounts> out;
  out.reserve(slots.size());
  for (const MethodSlot* slot : slots) {
    MethodCounts& counts = out.emplace_back();
    counts.service = slot->service;
    counts.method = slot->method;
    counts.type = slot->type;
    counts.overflow = slot->overflow;
    counts.started = slot->started.load(std::memory_order_relaxed);
    for (size_t i = 0; i < counts.handled.size(); ++i) {
      counts.handled[i] = slot->handled[i].load(std::memory_order_relaxed);
    }
    counts.msg_sent = slot->msg_sent.load(std::memory_order_relaxed);
    counts.msg_received = slot->msg_received.load(std::memory_order_relaxed);
    for (size_t i = 0; i < counts.latency_buckets.size(); ++i) {
      counts.latency_buckets[i] =
          slot->latency_buckets[i].load(std::memory_order_relaxed);
    }
    counts.latency_sum_us =
        slot->latency_sum_us.load(std::memory_order_relaxed);
  }
  return out;
}

CallSlotScope::CallSlotScope(MethodSlot* slot) : previous_(current_call_slot) {
  current_call_slot = slot;
}

CallSlotScope::~CallSlotScope() { current_call_slot = previous_; }

MethodSlot* CurrentCallSlot() { return current_call_slot; }

}  // namespace internal
}  // namespace warm
