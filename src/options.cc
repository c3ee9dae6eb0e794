#include "src/options.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace warm {
namespace internal {

absl::Status ValidateOptions(
    const ChannelOptions& options,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  std::vector<std::string> problems;
  if (credentials == nullptr) {
    problems.push_back(
        "credentials is null (use grpc::InsecureChannelCredentials() for "
        "plaintext)");
  }
  if (options.pool_size < 1) {
    problems.push_back(absl::StrCat("pool_size is ", options.pool_size,
                                    "; it must be at least 1"));
  }
  for (size_t i = 0; i < options.interceptors.size(); ++i) {
    if (options.interceptors[i] == nullptr) {
      problems.push_back(absl::StrCat("interceptors[", i, "] is null"));
    }
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid warm::ChannelOptions: ", absl::StrJoin(problems, "; ")));
}

}  // namespace internal
}  // namespace warm
