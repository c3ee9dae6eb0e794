#include "src/call/method_registry.h"

#include "src/call/method_cache.h"

namespace warm {
namespace internal {

void* MethodRegistry::Register(const char* method) {
  MutexLock lock(&mu_);
  auto [it, inserted] = ids_.try_emplace(method, ids_.size());
  if (inserted) size_.store(ids_.size(), std::memory_order_release);
  if (it->second >= MethodCache::kMaxMethods) return nullptr;
  return MethodIdToTag(it->second);
}

}  // namespace internal
}  // namespace warm
