#include "src/common/random.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace warm {
namespace internal {
namespace {

TEST(SmallRandomTest, IsSmall) { EXPECT_EQ(sizeof(SmallRandom), 8u); }

TEST(SmallRandomTest, IsSplitMix64) {
  // The first outputs of SplitMix64 from seed 0.
  SmallRandom random(0);
  EXPECT_EQ(random(), 0xe220a8397b1dcdafu);
  EXPECT_EQ(random(), 0x6e789e6aa1b965f4u);
  EXPECT_EQ(random(), 0x06c45d188009454fu);
}

TEST(SmallRandomTest, SeedsGiveDifferentSequences) {
  std::set<uint64_t> firsts;
  for (uint64_t seed = 0; seed < 100; ++seed) firsts.insert(SmallRandom(seed)());
  EXPECT_EQ(firsts.size(), 100u);
}

TEST(SmallRandomTest, DrivesDistributions) {
  SmallRandom random(42);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  int low = 0;
  double sum = 0;
  constexpr int kDraws = 100000;
  for (int i = 0; i < kDraws; ++i) {
    const double x = unit(random);
    ASSERT_GE(x, 0.0);
    ASSERT_LT(x, 1.0);
    sum += x;
    low += x < 0.1;
  }
  EXPECT_NEAR(sum / kDraws, 0.5, 0.01);
  EXPECT_NEAR(static_cast<double>(low) / kDraws, 0.1, 0.01);
}

}  // namespace
}  // namespace internal
}  // namespace warm
