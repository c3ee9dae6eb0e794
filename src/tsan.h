// Happens-before annotations for ThreadSanitizer builds (WARM_SANITIZE=thread).
//
// Debian's gRPC is not built with ThreadSanitizer, so TSan cannot see the
// synchronization inside it. Where warm hands something over through gRPC,
// it tells TSan: WARM_TSAN_RELEASE(p) on the giving side, WARM_TSAN_ACQUIRE(p)
// on the receiving side. Both are no-ops in other builds.

#ifndef WARM_SRC_TSAN_H_
#define WARM_SRC_TSAN_H_

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

#endif  // WARM_SRC_TSAN_H_
