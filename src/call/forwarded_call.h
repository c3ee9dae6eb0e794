// The second leg of a call that waited for a pickable member.
//
// A wait_for_ready call made while nothing is pickable waits in the pool's
// CallHolder (src/pool/call_holder.h) and, once a member is pickable, is
// forwarded to it as a second call. The call was counted, and the user's
// interceptors ran on it, on its first leg; the second leg is warm's own, so
// the member's load interceptor does not count it and the user's
// interceptors do not see it (as with health checks, health_method.h).
//
// The leg is created inside a ForwardedCallScope on the creating thread:
// gRPC creates a call's interceptors synchronously inside CreateCall (see
// CallSlotScope in method_stats.h), so the factories see the flag.
//
// Thread safety: a thread-local flag.

#ifndef WARM_SRC_CALL_FORWARDED_CALL_H_
#define WARM_SRC_CALL_FORWARDED_CALL_H_

namespace warm {
namespace internal {

inline thread_local bool creating_forwarded_call = false;

class ForwardedCallScope {
 public:
  ForwardedCallScope() : previous_(creating_forwarded_call) {
    creating_forwarded_call = true;
  }
  ~ForwardedCallScope() { creating_forwarded_call = previous_; }
  ForwardedCallScope(const ForwardedCallScope&) = delete;
  ForwardedCallScope& operator=(const ForwardedCallScope&) = delete;

 private:
  const bool previous_;
};

// Whether an interceptor factory is being asked about a forwarded leg.
inline bool CreatingForwardedCall() { return creating_forwarded_call; }

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_CALL_FORWARDED_CALL_H_
