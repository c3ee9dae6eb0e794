#include "src/call/method_cache.h"

#include <cstring>
#include <string>

namespace warm {
namespace internal {

CallType ToCallType(grpc::internal::RpcMethod::RpcType type) {
  switch (type) {
    case grpc::internal::RpcMethod::NORMAL_RPC:
      return CallType::kUnary;
    case grpc::internal::RpcMethod::CLIENT_STREAMING:
      return CallType::kClientStream;
    case grpc::internal::RpcMethod::SERVER_STREAMING:
      return CallType::kServerStream;
    case grpc::internal::RpcMethod::BIDI_STREAMING:
      return CallType::kBidiStream;
  }
  return CallType::kBidiStream;
}

// A method registered on one member channel. The strings are copies: the
// caller's RpcMethod may point into memory that dies before the member.
struct MethodCache::Entry {
  Entry(const grpc::internal::RpcMethod& method,
        const std::shared_ptr<grpc::ChannelInterface>& channel,
        MethodStats* stats)
      : name(method.name()),
        suffix(method.suffix_for_stats() ? method.suffix_for_stats() : ""),
        has_suffix(method.suffix_for_stats() != nullptr),
        registered(name.c_str(), has_suffix ? suffix.c_str() : nullptr,
                   method.method_type(), channel),
        slot(stats == nullptr ? nullptr
                              : stats->Find(name.c_str(),
                                            ToCallType(method.method_type()))) {
  }

  bool SameSuffix(const char* other) const {
    if (other == nullptr) return !has_suffix;
    return has_suffix && std::strcmp(other, suffix.c_str()) == 0;
  }

  const std::string name;
  const std::string suffix;
  const bool has_suffix;
  const grpc::internal::RpcMethod registered;
  MethodSlot* const slot;
};

size_t MethodCache::ChunkOf(size_t id) {
  // 0 for chunk 0, in [2^(k-1), 2^k) for chunk k: k is its bit width.
  const unsigned long long high = id / kFirstChunk;
  return high == 0 ? 0 : 64 - static_cast<size_t>(__builtin_clzll(high));
}

size_t MethodCache::FirstIdOf(size_t chunk) {
  return chunk == 0 ? 0 : kFirstChunk << (chunk - 1);
}

size_t MethodCache::ChunkSize(size_t chunk) {
  return chunk == 0 ? kFirstChunk : kFirstChunk << (chunk - 1);
}

MethodCache::~MethodCache() {
  for (size_t c = 0; c < kChunks; ++c) {
    Slot* chunk = chunks_[c].load(std::memory_order_acquire);
    if (chunk == nullptr) continue;
    for (size_t i = 0; i < ChunkSize(c); ++i) {
      delete chunk[i].load(std::memory_order_acquire);
    }
    delete[] chunk;
  }
}

grpc::internal::RpcMethod MethodCache::Get(
    const grpc::internal::RpcMethod& method, size_t registered_methods,
    const std::shared_ptr<grpc::ChannelInterface>& channel, MethodSlot** slot) {
  *slot = nullptr;
  const uintptr_t tag = reinterpret_cast<uintptr_t>(method.channel_tag());
  if (tag == 0 || tag > registered_methods || tag > kMaxMethods) {
    return grpc::internal::RpcMethod(method.name(), method.suffix_for_stats(),
                                     method.method_type());
  }
  const size_t id = tag - 1;
  const size_t c = ChunkOf(id);
  std::atomic<Slot*>& chunk_slot = chunks_[c];
  Slot* chunk = chunk_slot.load(std::memory_order_acquire);
  if (chunk == nullptr) {
    auto* fresh = new Slot[ChunkSize(c)]();
    if (chunk_slot.compare_exchange_strong(chunk, fresh,
                                           std::memory_order_acq_rel)) {
      chunk = fresh;
    } else {
      delete[] fresh;  // another thread won; `chunk` now holds its chunk
    }
  }
  Slot& entry_slot = chunk[id - FirstIdOf(c)];
  const Entry* entry = entry_slot.load(std::memory_order_acquire);
  if (entry == nullptr) {
    // Registration is idempotent in gRPC core, so a lost race only costs a
    // duplicate Entry, deleted here.
    auto* fresh = new Entry(method, channel, stats_.get());
    if (entry_slot.compare_exchange_strong(entry, fresh,
                                           std::memory_order_acq_rel)) {
      entry = fresh;
    } else {
      delete fresh;
    }
  }
  // The tag is a small integer, so a method registered on another warm
  // channel can carry the same id for another method: check the name too.
  if (std::strcmp(method.name(), entry->name.c_str()) != 0 ||
      !entry->SameSuffix(method.suffix_for_stats())) {
    return grpc::internal::RpcMethod(method.name(), method.suffix_for_stats(),
                                     method.method_type());
  }
  grpc::internal::RpcMethod result = entry->registered;
  result.SetMethodType(method.method_type());
  if (method.method_type() == entry->registered.method_type()) {
    *slot = entry->slot;
  }
  return result;
}

}  // namespace internal
}  // namespace warm
