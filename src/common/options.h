// Validation of CreateChannel()'s arguments.

#ifndef WARM_SRC_COMMON_OPTIONS_H_
#define WARM_SRC_COMMON_OPTIONS_H_

#include <grpcpp/security/credentials.h>

#include <memory>

#include "absl/status/status.h"
#include "warm/options.h"

namespace warm {
namespace internal {

// Returns OK, or one InvalidArgument that names every bad option.
absl::Status ValidateOptions(
    const ChannelOptions& options,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials);

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_COMMON_OPTIONS_H_
