// The method of warm's own health checks, as the call path recognises it.
//
// Health checks (src/health/) run on member channels like any call, but they
// are warm's, not the application's: the load interceptor does not count
// them and the user's interceptors do not see them.
//
// Thread safety: constants and a pure function.

#ifndef WARM_SRC_CALL_HEALTH_METHOD_H_
#define WARM_SRC_CALL_HEALTH_METHOD_H_

namespace warm {
namespace internal {

// The strings every health check's RpcMethod points at, so that
// IsHealthCheck() compares pointers (an inline variable has one address in
// the whole program). The message package is warm's private copy (see
// cmake/WarmProto.cmake); the RPC paths are the standard ones.
inline constexpr char kHealthCheckMethod[] = "/grpc.health.v1.Health/Check";
inline constexpr char kHealthWatchMethod[] = "/grpc.health.v1.Health/Watch";

// Whether an interceptor factory is being asked about a health check (which
// it should not intercept). `method` is ClientRpcInfo::method(); the
// comparison is of the pointer, so it costs nothing on ordinary calls.
inline bool IsHealthCheck(const char* method) {
  return method == kHealthCheckMethod || method == kHealthWatchMethod;
}

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_CALL_HEALTH_METHOD_H_
