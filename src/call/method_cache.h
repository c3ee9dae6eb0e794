// MethodCache: a member channel's registered methods, by warm method id.
//
// A generated stub registers each method with the channel it was built on (the
// warm channel) and passes the returned tag on every call. gRPC core accepts
// only a tag registered on the same core channel, so the warm channel hands out
// small method ids as tags (id + 1; nullptr keeps meaning "unregistered") and
// each member channel keeps, per id, an RpcMethod registered on itself. The
// cache fills on a member's first call of a method; later lookups are two
// atomic loads and no lock. Entries sit in chunks made on first use, each
// twice the size of the one before (8, 8, 16, 32, ... ids), so that a member
// whose channel calls a few methods keeps a few pointers, not thousands.
//
// Each entry also keeps the method's MethodSlot (method_stats.h), looked up
// once when the entry is made, so that per-method metrics cost a call no
// lookup.
//
// Lifetime: a call's ClientRpcInfo points at the cached method name for as
// long as the call lives, so the cache is co-owned by the member channel's
// interceptor factory and lives as long as that grpc::Channel.
//
// Thread safety: Get() may be called from any thread.

#ifndef WARM_SRC_CALL_METHOD_CACHE_H_
#define WARM_SRC_CALL_METHOD_CACHE_H_

#include <grpcpp/impl/channel_interface.h>
#include <grpcpp/impl/rpc_method.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "src/call/method_stats.h"

namespace warm {
namespace internal {

// The channel tag a warm channel returns for method id `id`.
inline void* MethodIdToTag(size_t id) {
  // An integer by design: never dereferenced, only decoded by MethodCache.
  return reinterpret_cast<void*>(  // NOLINT(performance-no-int-to-ptr)
      static_cast<uintptr_t>(id) + 1);
}

// The call type of a gRPC method type.
CallType ToCallType(grpc::internal::RpcMethod::RpcType type);

// MethodCache: see the file comment.
class MethodCache {
 public:
  // Method ids the cache can hold; calls of methods beyond it go unregistered
  // (correct, slightly slower). Chunk 0 holds ids [0, kFirstChunk), chunk
  // k > 0 ids [kFirstChunk << (k - 1), kFirstChunk << k).
  static constexpr size_t kFirstChunk = 8;
  static constexpr size_t kChunks = 10;
  static constexpr size_t kMaxMethods = kFirstChunk << (kChunks - 1);  // 4096

  // `stats`: the channel's per-method counters (null: no slots, for tests).
  explicit MethodCache(std::shared_ptr<MethodStats> stats = nullptr)
      : stats_(std::move(stats)) {}
  ~MethodCache();
  MethodCache(const MethodCache&) = delete;
  MethodCache& operator=(const MethodCache&) = delete;

  // The RpcMethod to create a call of `method` with on `channel`.
  // `registered_methods` is how many ids the warm channel has handed out: a tag
  // beyond that is not one of ours and the call goes unregistered, as do calls
  // with no tag (grpc::GenericStub). Registers the method on `channel` on
  // first use. Sets `*slot` to the method's MethodSlot, or null when the
  // call goes unregistered (the load interceptor then finds it by name).
  grpc::internal::RpcMethod Get(
      const grpc::internal::RpcMethod& method, size_t registered_methods,
      const std::shared_ptr<grpc::ChannelInterface>& channel,
      MethodSlot** slot);

 private:
  struct Entry;
  using Slot = std::atomic<const Entry*>;
  // The chunk of an id, and the id's index in it; a chunk's size.
  static size_t ChunkOf(size_t id);
  static size_t FirstIdOf(size_t chunk);
  static size_t ChunkSize(size_t chunk);
  const std::shared_ptr<MethodStats> stats_;
  std::array<std::atomic<Slot*>, kChunks> chunks_{};
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_CALL_METHOD_CACHE_H_
