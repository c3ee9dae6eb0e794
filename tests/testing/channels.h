// Helpers for integration tests of warm channels.
//
// Thread safety: as the Channel methods they call.

#ifndef WARM_TESTS_TESTING_CHANNELS_H_
#define WARM_TESTS_TESTING_CHANNELS_H_

#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "warm/channel.h"

namespace warm {
namespace testing {

// CreateChannel() with insecure credentials; a test failure and nullptr when
// it fails.
inline std::shared_ptr<Channel> MustCreate(const std::string& target,
                                           ChannelOptions options = {}) {
  absl::StatusOr<std::shared_ptr<Channel>> channel = CreateChannel(
      target, grpc::InsecureChannelCredentials(), std::move(options));
  EXPECT_TRUE(channel.ok()) << channel.status();
  return channel.ok() ? *channel : nullptr;
}

// Whether the channel's event log holds an event of `kind` (about
// `address`, unless empty).
inline bool HasEvent(const Channel& channel, PoolEvent::Kind kind,
                     const std::string& address = "") {
  for (const PoolEvent& event : channel.Events()) {
    if (event.kind == kind && (address.empty() || event.address == address)) {
      return true;
    }
  }
  return false;
}

}  // namespace testing
}  // namespace warm

#endif  // WARM_TESTS_TESTING_CHANNELS_H_
