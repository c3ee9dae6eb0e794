// MethodRegistry: the method ids a warm channel hands out to stubs.
//
// A generated stub registers each of its methods once, when it is built
// (ChannelInterface::RegisterMethod), and passes the returned tag with every
// call. The warm channel answers with a small id per method name (see
// src/call/method_cache.h for how each member turns an id into a method
// registered on itself), the same id for the same name.
//
// Thread safety: Register() may be called from any thread; size() is one
// atomic load, for the call path.

#ifndef WARM_SRC_CALL_METHOD_REGISTRY_H_
#define WARM_SRC_CALL_METHOD_REGISTRY_H_

#include <atomic>
#include <cstddef>
#include <string>
#include <unordered_map>

#include "src/common/mutex.h"

namespace warm {
namespace internal {

class MethodRegistry {
 public:
  // The tag for `method`: its id's tag, or nullptr (unregistered, still
  // correct) beyond MethodCache::kMaxMethods ids.
  void* Register(const char* method);

  // How many ids have been handed out: a tag beyond is not one of ours.
  size_t size() const { return size_.load(std::memory_order_acquire); }

 private:
  Mutex mu_;
  std::unordered_map<std::string, size_t> ids_ ABSL_GUARDED_BY(mu_);
  std::atomic<size_t> size_{0};
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_CALL_METHOD_REGISTRY_H_
