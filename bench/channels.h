// The channels warm_bench compares: a warm channel, and the plain gRPC
// channels users would otherwise create over the same addresses.
//
// Plain channels get their own connections (GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL)
// so that a channel created in a later repetition does not reuse the
// connections of an earlier one through gRPC's global subchannel pool, and
// round_robin always runs with gRPC's client health checking (gRFC A17:
// service config healthCheckConfig, a grpc.health.v1 Watch stream per
// connection), the configuration that takes unhealthy backends out.

#ifndef WARM_BENCH_CHANNELS_H_
#define WARM_BENCH_CHANNELS_H_

#include <grpcpp/channel.h>
#include <grpcpp/support/channel_arguments.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "warm/channel.h"

namespace warm {
namespace bench {

// How reports name the channels.
inline constexpr char kWarm[] = "warm";
inline constexpr char kWarmInFlight[] = "warm, in-flight";
inline constexpr char kWarmPeakEwma[] = "warm, peak-EWMA";
inline constexpr char kRoundRobin[] = "round_robin";
inline constexpr char kPickFirst[] = "pick_first";

enum class PlainPolicy { kPickFirst, kRoundRobin };
const char* PlainPolicyName(PlainPolicy policy);

// A plain gRPC channel to `target` with `policy` (round_robin: with client
// health checking of the whole server, service name ""), its own
// connections, and `args` on top.
std::shared_ptr<grpc::Channel> CreatePlainChannel(
    const std::string& target, PlainPolicy policy,
    grpc::ChannelArguments args = {});

// warm::CreateChannel() with insecure credentials.
absl::StatusOr<std::shared_ptr<warm::Channel>> CreateWarmChannel(
    const std::string& target, ChannelOptions options = {});

// Calls in flight on the members of warm `channel` at `address`, now
// (Channel::Members()).
int InFlightOn(warm::Channel& channel, const std::string& address);

// Waits up to `timeout` for `channel` to be READY (a warm channel: some
// member pickable); an error naming `what` otherwise.
absl::Status WaitForReady(
    grpc::ChannelInterface& channel, const std::string& what,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(20000));

}  // namespace bench
}  // namespace warm

#endif  // WARM_BENCH_CHANNELS_H_
