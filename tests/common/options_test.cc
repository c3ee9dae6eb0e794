// Unit tests of the validation of ChannelOptions::pool_sizing and
// ChannelOptions::subsetting (src/common/options.cc): every bad value makes
// CreateChannel() fail with InvalidArgument naming the field and the value,
// the edges of each range are accepted, and the sizes derived from
// pool_size (MinPoolSize, MaxPoolSize, StartPoolSize). No sockets: an invalid
// channel is refused before anything connects, and valid options are checked
// with ValidateOptions() itself.

#include "src/common/options.h"

#include <grpcpp/security/credentials.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <string>

#include "warm/channel.h"

namespace warm {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

// CreateChannel()'s error for `options` (OK if it made a channel, which
// these tests never expect).
// ChannelOptions is move-only (interceptor factories); these tests set no
// interceptors, so a copy of the rest will do.
ChannelOptions Copy(const ChannelOptions& options) {
  ChannelOptions copy;
  copy.pool_size = options.pool_size;
  copy.pool_sizing = options.pool_sizing;
  copy.subsetting = options.subsetting;
  return copy;
}

absl::Status CreateError(const ChannelOptions& options) {
  absl::StatusOr<std::shared_ptr<Channel>> channel = CreateChannel(
      "127.0.0.1:1", grpc::InsecureChannelCredentials(), Copy(options));
  return channel.status();
}

absl::Status Validate(const ChannelOptions& options) {
  return internal::ValidateOptions(options, grpc::InsecureChannelCredentials());
}

// Expects `options` refused by CreateChannel() with InvalidArgument whose
// message holds every one of `parts`.
void ExpectRefused(const ChannelOptions& options,
                   const std::vector<std::string>& parts) {
  const absl::Status status = CreateError(options);
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  for (const std::string& part : parts) {
    EXPECT_THAT(std::string(status.message()), HasSubstr(part));
  }
  // ValidateOptions() says the same.
  EXPECT_EQ(Validate(options), status);
}

TEST(PoolSizingOptionsTest, NegativeMinSizeIsNamed) {
  ChannelOptions options;
  options.pool_sizing.min_size = -1;
  ExpectRefused(options,
                {"pool_sizing.min_size is -1", "it must be at least 0"});
}

TEST(PoolSizingOptionsTest, NegativeMaxSizeIsNamed) {
  ChannelOptions options;
  options.pool_sizing.max_size = -2;
  ExpectRefused(options,
                {"pool_sizing.max_size is -2", "it must be at least 0"});
}

TEST(PoolSizingOptionsTest, MaxBelowMinIsNamed) {
  ChannelOptions options;
  options.pool_sizing.min_size = 5;
  options.pool_sizing.max_size = 3;
  ExpectRefused(options, {"pool_sizing.max_size is 3",
                          "at least pool_sizing.min_size (5)"});
}

TEST(PoolSizingOptionsTest, MaxFromPoolSizeBelowMinIsNamed) {
  ChannelOptions options;
  options.pool_size = 3;
  options.pool_sizing.min_size = 5;  // max_size 0: pool_size, 3
  ExpectRefused(options, {"pool_sizing.max_size is 3 (from pool_size)",
                          "pool_sizing.min_size (5)"});
}

TEST(PoolSizingOptionsTest, MaxBelowMinFromPoolSizeIsNamed) {
  ChannelOptions options;
  options.pool_size = 6;
  options.pool_sizing.max_size = 4;  // min_size 0: pool_size, 6
  ExpectRefused(options,
                {"pool_sizing.max_size is 4", "(6, from pool_size)"});
}

TEST(PoolSizingOptionsTest, GrowAboveMustBePositive) {
  for (double bad : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN()}) {
    SCOPED_TRACE(bad);
    ChannelOptions options;
    options.pool_sizing.grow_above = bad;
    options.pool_sizing.shrink_below = 1.0;
    const absl::Status status = CreateError(options);
    ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(std::string(status.message()),
                HasSubstr("pool_sizing.grow_above is "));
    EXPECT_THAT(std::string(status.message()), HasSubstr("it must be > 0"));
  }
  ChannelOptions options;
  options.pool_sizing.grow_above = -1.5;
  options.pool_sizing.shrink_below = -2;
  ExpectRefused(options, {"pool_sizing.grow_above is -1.5",
                          "pool_sizing.shrink_below is -2"});
}

TEST(PoolSizingOptionsTest, ShrinkBelowMustBePositiveAndAtMostGrowAbove) {
  {
    ChannelOptions options;
    options.pool_sizing.shrink_below = 0;
    ExpectRefused(options, {"pool_sizing.shrink_below is 0",
                            "at most grow_above (2)"});
  }
  {
    ChannelOptions options;
    options.pool_sizing.grow_above = 2;
    options.pool_sizing.shrink_below = 2.5;
    ExpectRefused(options, {"pool_sizing.shrink_below is 2.5",
                            "at most grow_above (2)"});
  }
  {
    ChannelOptions options;
    options.pool_sizing.shrink_below = std::numeric_limits<double>::quiet_NaN();
    const absl::Status status = CreateError(options);
    ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(std::string(status.message()),
                HasSubstr("pool_sizing.shrink_below is "));
  }
  ChannelOptions equal;
  equal.pool_sizing.grow_above = 3;
  equal.pool_sizing.shrink_below = 3;
  EXPECT_TRUE(Validate(equal).ok()) << Validate(equal);
}

TEST(PoolSizingOptionsTest, SmoothingMustBe100MsTo60S) {
  for (milliseconds bad : {milliseconds(99), milliseconds(0), milliseconds(-5),
                           milliseconds(60001)}) {
    SCOPED_TRACE(bad.count());
    ChannelOptions options;
    options.pool_sizing.smoothing = bad;
    ExpectRefused(options, {"pool_sizing.smoothing is " +
                                std::to_string(bad.count()) + " ms",
                            "100 ms..60 s"});
  }
  for (milliseconds good : {milliseconds(100), milliseconds(60000)}) {
    ChannelOptions options;
    options.pool_sizing.smoothing = good;
    EXPECT_TRUE(Validate(options).ok()) << good.count();
  }
}

TEST(PoolSizingOptionsTest, ShrinkWindowMustBe0To1H) {
  for (milliseconds bad : {milliseconds(-1), milliseconds(3600001)}) {
    SCOPED_TRACE(bad.count());
    ChannelOptions options;
    options.pool_sizing.shrink_window = bad;
    ExpectRefused(options, {"pool_sizing.shrink_window is " +
                                std::to_string(bad.count()) + " ms",
                            "0..1 h"});
  }
  for (milliseconds good : {milliseconds(0), milliseconds(hours(1))}) {
    ChannelOptions options;
    options.pool_sizing.shrink_window = good;
    EXPECT_TRUE(Validate(options).ok()) << good.count();
  }
}

TEST(SubsettingOptionsTest, ClientCountMustBe0ToAMillion) {
  for (int bad : {-1, 1000001}) {
    SCOPED_TRACE(bad);
    ChannelOptions options;
    options.subsetting.client_count = bad;
    ExpectRefused(options, {"subsetting.client_count is " + std::to_string(bad),
                            "0..1000000"});
  }
  ChannelOptions options;
  options.subsetting.client_count = 1000000;
  options.subsetting.client_index = 999999;
  EXPECT_TRUE(Validate(options).ok()) << Validate(options);
}

TEST(SubsettingOptionsTest, ClientIndexWithoutClientCountIsNamed) {
  ChannelOptions options;
  options.subsetting.client_index = 2;
  ExpectRefused(options, {"subsetting.client_index is 2",
                          "subsetting.client_count is 0"});
}

TEST(SubsettingOptionsTest, ClientIndexMustBeBelowClientCount) {
  for (int bad : {30, 31, -1}) {
    SCOPED_TRACE(bad);
    ChannelOptions options;
    options.subsetting.client_count = 30;
    options.subsetting.client_index = bad;
    ExpectRefused(options, {"subsetting.client_index is " + std::to_string(bad),
                            "it must be 0..29",
                            "subsetting.client_count is 30"});
  }
  for (int good : {0, 29}) {
    ChannelOptions options;
    options.subsetting.client_count = 30;
    options.subsetting.client_index = good;
    EXPECT_TRUE(Validate(options).ok()) << good;
  }
}

TEST(PoolSizingOptionsTest, EveryProblemIsNamedAtOnce) {
  ChannelOptions options;
  options.pool_sizing.min_size = -1;
  options.pool_sizing.max_size = -1;
  options.pool_sizing.grow_above = 0;
  options.pool_sizing.shrink_below = 0;
  options.pool_sizing.smoothing = milliseconds(1);
  options.pool_sizing.shrink_window = milliseconds(-1);
  options.subsetting.client_count = -3;
  ExpectRefused(options,
                {"pool_sizing.min_size is -1", "pool_sizing.max_size is -1",
                 "pool_sizing.grow_above is 0", "pool_sizing.shrink_below is 0",
                 "pool_sizing.smoothing is 1 ms",
                 "pool_sizing.shrink_window is -1 ms",
                 "subsetting.client_count is -3"});
  // Negative bounds are reported as themselves, not also as max < min.
  EXPECT_THAT(std::string(CreateError(options).message()),
              Not(HasSubstr("at least pool_sizing.min_size")));
}

TEST(PoolSizingOptionsTest, TheDefaultsAndADynamicRangeAreValid) {
  EXPECT_TRUE(Validate(ChannelOptions{}).ok()) << Validate(ChannelOptions{});
  ChannelOptions options;
  options.pool_size = 4;
  options.pool_sizing.min_size = 2;
  options.pool_sizing.max_size = 20;
  options.subsetting.seed = 12345;
  EXPECT_TRUE(Validate(options).ok()) << Validate(options);
}

TEST(PoolSizingOptionsTest, SizesComeFromPoolSizeAndClampTheStart) {
  ChannelOptions options;
  options.pool_size = 4;
  EXPECT_EQ(internal::MinPoolSize(options), 4);
  EXPECT_EQ(internal::MaxPoolSize(options), 4);
  EXPECT_EQ(internal::StartPoolSize(options), 4);
  options.pool_sizing.min_size = 2;
  options.pool_sizing.max_size = 10;
  EXPECT_EQ(internal::MinPoolSize(options), 2);
  EXPECT_EQ(internal::MaxPoolSize(options), 10);
  EXPECT_EQ(internal::StartPoolSize(options), 4);
  options.pool_size = 1;
  EXPECT_EQ(internal::StartPoolSize(options), 2);
  options.pool_size = 30;
  EXPECT_EQ(internal::StartPoolSize(options), 10);
  options.pool_sizing.max_size = 0;  // pool_size, 30
  EXPECT_EQ(internal::MaxPoolSize(options), 30);
  EXPECT_EQ(internal::StartPoolSize(options), 30);
}

}  // namespace
}  // namespace warm
