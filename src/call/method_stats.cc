#include "src/call/method_stats.h"

#include <cstring>
#include <functional>
#include <string_view>

#include "src/common/utf8.h"

namespace warm {
namespace internal {
namespace {

constexpr char kOverflowLabel[] = "other";

// The service and method labels of "/pkg.Service/Method", as
// go-grpc-prometheus splits it (a name with no second "/" is "unknown",
// "unknown"), made valid UTF-8 as every label must be.
std::pair<std::string, std::string> SplitName(absl::string_view name) {
  if (!name.empty() && name.front() == '/') name.remove_prefix(1);
  const size_t slash = name.find('/');
  if (slash == absl::string_view::npos) return {"unknown", "unknown"};
  return {ValidUtf8(name.substr(0, slash)), ValidUtf8(name.substr(slash + 1))};
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

MethodSlot::MethodSlot(std::string service_label, std::string method_label,
                       CallType call_type, bool is_overflow)
    : service(std::move(service_label)),
      method(std::move(method_label)),
      type(call_type),
      overflow(is_overflow) {}

void MethodSlot::Handled(int code, int64_t latency_us) {
  if (code < 0 || code >= MemberLoad::kCodes) code = 2;  // UNKNOWN
  handled[code].fetch_add(1, std::memory_order_release);
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
  handled[1].fetch_add(1, std::memory_order_release);  // CANCELLED
}

MethodStats::MethodStats(int max_methods)
    : max_methods_(max_methods),
      // A power of two at least twice max_methods, so probes stay short.
      capacity_([max_methods] {
        size_t capacity = 2;
        while (capacity < 2 * static_cast<size_t>(max_methods)) capacity *= 2;
        return capacity;
      }()) {}

MethodStats::~MethodStats() {
  if (std::atomic<Entry*>* table = table_.load()) {
    for (size_t i = 0; i < capacity_; ++i) delete table[i].load();
    delete[] table;
  }
  MutexLock lock(&mu_);
  for (MethodSlot* slot : order_) delete slot;
  for (std::atomic<MethodSlot*>& slot : overflow_) delete slot.load();
}

MethodStats::Entry* MethodStats::Lookup(const char* name, size_t hash,
                                        CallType type) const {
  const std::atomic<Entry*>* table = table_.load(std::memory_order_acquire);
  if (table == nullptr) return nullptr;
  for (size_t i = hash & (capacity_ - 1);; i = (i + 1) & (capacity_ - 1)) {
    Entry* entry = table[i].load(std::memory_order_acquire);
    if (entry == nullptr) return nullptr;
    if (entry->type == type && std::strcmp(entry->name.c_str(), name) == 0) {
      return entry;
    }
  }
}

MethodSlot* MethodStats::OverflowLocked(CallType type) {
  std::atomic<MethodSlot*>& overflow = overflow_[static_cast<int>(type)];
  if (overflow.load(std::memory_order_relaxed) == nullptr) {
    overflow.store(
        new MethodSlot(kOverflowLabel, kOverflowLabel, type, /*overflow=*/true),
        std::memory_order_release);
  }
  return overflow.load(std::memory_order_relaxed);
}

MethodSlot* MethodStats::Find(const char* name, CallType type) {
  const size_t hash = Hash(name, type);
  // `full_` before the lookup: once full, no entry is added, so a lookup
  // that misses after seeing it set means the name is not tracked.
  const bool full = full_.load(std::memory_order_acquire);
  if (Entry* entry = Lookup(name, hash, type)) return entry->slot;
  if (full) {
    return overflow_[static_cast<int>(type)].load(std::memory_order_acquire);
  }
  MutexLock lock(&mu_);
  if (Entry* entry = Lookup(name, hash, type)) return entry->slot;
  if (entries_ >= static_cast<size_t>(max_methods_)) {
    for (int t = 0; t < kCallTypes; ++t) OverflowLocked(static_cast<CallType>(t));
    full_.store(true, std::memory_order_release);
    return OverflowLocked(type);
  }
  // A new name: its labels' slot, shared with any name of the same labels.
  auto [service, method] = SplitName(name);
  MethodSlot* slot = nullptr;
  if (service == kOverflowLabel && method == kOverflowLabel) {
    slot = OverflowLocked(type);
  }
  for (MethodSlot* tracked : order_) {
    if (slot != nullptr) break;
    if (tracked->type == type && tracked->service == service &&
        tracked->method == method) {
      slot = tracked;
    }
  }
  if (slot == nullptr) {
    slot = new MethodSlot(std::move(service), std::move(method), type,
                          /*overflow=*/false);
    order_.push_back(slot);
  }
  std::atomic<Entry*>* table = table_.load(std::memory_order_relaxed);
  if (table == nullptr) {
    table = new std::atomic<Entry*>[capacity_]();
    table_.store(table, std::memory_order_release);
  }
  size_t i = hash & (capacity_ - 1);
  while (table[i].load(std::memory_order_relaxed) != nullptr) {
    i = (i + 1) & (capacity_ - 1);
  }
  table[i].store(new Entry{name, type, slot}, std::memory_order_release);
  ++entries_;
  return slot;
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
    // Handled first (acquire), started after: never more handled than
    // started in one scrape.
    for (size_t i = 0; i < counts.handled.size(); ++i) {
      counts.handled[i] = slot->handled[i].load(std::memory_order_acquire);
    }
    counts.started = slot->started.load(std::memory_order_acquire);
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
