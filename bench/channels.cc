#include "bench/channels.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

namespace warm {
namespace bench {

const char* PlainPolicyName(PlainPolicy policy) {
  return policy == PlainPolicy::kRoundRobin ? kRoundRobin : kPickFirst;
}

std::shared_ptr<grpc::Channel> CreatePlainChannel(const std::string& target,
                                                  PlainPolicy policy,
                                                  grpc::ChannelArguments args) {
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (policy == PlainPolicy::kRoundRobin) {
    args.SetServiceConfigJSON(
        R"({"loadBalancingConfig": [{"round_robin": {}}],)"
        R"( "healthCheckConfig": {"serviceName": ""}})");
  }
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

absl::StatusOr<std::shared_ptr<warm::Channel>> CreateWarmChannel(
    const std::string& target, ChannelOptions options) {
  return warm::CreateChannel(target, grpc::InsecureChannelCredentials(),
                             std::move(options));
}

int InFlightOn(warm::Channel& channel, const std::string& address) {
  int in_flight = 0;
  for (const MemberInfo& member : channel.Members()) {
    if (member.address == address) in_flight += member.in_flight;
  }
  return in_flight;
}

absl::Status WaitForReady(grpc::ChannelInterface& channel,
                          const std::string& what,
                          std::chrono::milliseconds timeout) {
  if (channel.WaitForConnected(std::chrono::system_clock::now() + timeout)) {
    return absl::OkStatus();
  }
  return absl::DeadlineExceededError(what + " not READY within " +
                                     std::to_string(timeout.count()) + " ms");
}

}  // namespace bench
}  // namespace warm
