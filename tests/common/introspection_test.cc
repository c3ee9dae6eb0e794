// Unit tests of warm/introspection.h's names. Included first, the header
// also shows that it compiles on its own.

#include "warm/introspection.h"

#include <gtest/gtest.h>

namespace warm {
namespace {

TEST(ConnectivityStateNameTest, NamesEveryStateAsGrpcDoes) {
  EXPECT_EQ(ConnectivityStateName(GRPC_CHANNEL_IDLE), "IDLE");
  EXPECT_EQ(ConnectivityStateName(GRPC_CHANNEL_CONNECTING), "CONNECTING");
  EXPECT_EQ(ConnectivityStateName(GRPC_CHANNEL_READY), "READY");
  EXPECT_EQ(ConnectivityStateName(GRPC_CHANNEL_TRANSIENT_FAILURE),
            "TRANSIENT_FAILURE");
  EXPECT_EQ(ConnectivityStateName(GRPC_CHANNEL_SHUTDOWN), "SHUTDOWN");
}

TEST(ConnectivityStateNameTest, OutOfRangeIsUnknown) {
  // 5 is past GRPC_CHANNEL_SHUTDOWN (4) but within the enum's range of
  // values, so the cast is defined.
  EXPECT_EQ(ConnectivityStateName(static_cast<grpc_connectivity_state>(5)),
            "UNKNOWN");
}

}  // namespace
}  // namespace warm
