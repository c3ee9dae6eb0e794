// Happens-before annotations for ThreadSanitizer builds (WARM_SANITIZE=thread).
//
// Debian's gRPC is not built with ThreadSanitizer, so TSan cannot see the
// synchronization inside it. Where warm hands something over through gRPC,
// it tells TSan: WARM_TSAN_RELEASE(p) on the giving side, WARM_TSAN_ACQUIRE(p)
// on the receiving side. Both are no-ops in other builds.

#ifndef WARM_SRC_COMMON_TSAN_H_
#define WARM_SRC_COMMON_TSAN_H_

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define WARM_TSAN_RELEASE(addr) \
  __tsan_release(const_cast<void*>(static_cast<const void*>(addr)))
#define WARM_TSAN_ACQUIRE(addr) \
  __tsan_acquire(const_cast<void*>(static_cast<const void*>(addr)))
#else
#define WARM_TSAN_RELEASE(addr)
#define WARM_TSAN_ACQUIRE(addr)
#endif

#include <grpcpp/channel.h>

#include <memory>

namespace warm {
namespace internal {

// A member's grpc::Channel is shared by the member and by the ClientContext
// of each of its calls and health checks, and freed by whichever lets go
// last -- possibly inside libgrpc++ (~ClientContext), whose reference count
// TSan cannot see, so it reports the free as racing with the other side's
// earlier use. In TSan builds each call's LoadInterceptor and each health
// check also hold a reference (released just before, or after, the
// context's), so every hand-over goes through a reference count TSan sees.
// In other builds this is empty and costs nothing on the call path.
#if defined(__SANITIZE_THREAD__)
using TsanChannelRef = std::shared_ptr<grpc::Channel>;
inline TsanChannelRef TsanRef(grpc::ChannelInterface* channel) {
  return static_cast<grpc::Channel*>(channel)->shared_from_this();
}
#else
struct TsanChannelRef {};
inline TsanChannelRef TsanRef(grpc::ChannelInterface*) { return {}; }
#endif

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_COMMON_TSAN_H_
