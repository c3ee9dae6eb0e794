// Validation of CreateChannel()'s arguments.

#ifndef WARM_SRC_COMMON_OPTIONS_H_
#define WARM_SRC_COMMON_OPTIONS_H_

#include <memory>

#include "absl/status/status.h"
#include "src/pool/pool_decisions.h"
#include "warm/channel.h"

namespace warm {
namespace internal {

// Returns OK, or one InvalidArgument that names every bad option.
absl::Status ValidateOptions(
    const ChannelOptions& options,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials);

// The pool's decision parameters from valid options (minimums capped at
// pool_size).
PoolPolicy PolicyFromOptions(const ChannelOptions& options);

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_COMMON_OPTIONS_H_
