// Validation of CreateChannel()'s arguments.

#ifndef WARM_SRC_COMMON_OPTIONS_H_
#define WARM_SRC_COMMON_OPTIONS_H_

#include <grpcpp/security/credentials.h>

#include <memory>

#include "absl/status/status.h"
#include "warm/options.h"

namespace warm {
namespace internal {

// The pool's bounds and starting size (PoolSizingOptions: 0 is pool_size;
// the start is pool_size clamped to the bounds).
int MinPoolSize(const ChannelOptions& options);
int MaxPoolSize(const ChannelOptions& options);
int StartPoolSize(const ChannelOptions& options);

// Returns OK, or one InvalidArgument that names every bad option.
absl::Status ValidateOptions(
    const ChannelOptions& options,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials);

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_COMMON_OPTIONS_H_
