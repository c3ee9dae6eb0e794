#include "src/call/method_cache.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace warm {
namespace internal {
namespace {

// Stands in for the warm channel: registering hands out the tag of the id
// the test chose, as MethodRegistry does.
class TagChannel final : public grpc::ChannelInterface {
 public:
  explicit TagChannel(size_t id) : id_(id) {}
  grpc_connectivity_state GetState(bool) override { return GRPC_CHANNEL_IDLE; }

 private:
  grpc::internal::Call CreateCall(const grpc::internal::RpcMethod&,
                                  grpc::ClientContext*,
                                  grpc::CompletionQueue*) override {
    return grpc::internal::Call();
  }
  void PerformOpsOnCall(grpc::internal::CallOpSetInterface*,
                        grpc::internal::Call*) override {}
  void* RegisterMethod(const char*) override { return MethodIdToTag(id_); }
  void NotifyOnStateChangeImpl(grpc_connectivity_state, gpr_timespec,
                               grpc::CompletionQueue*, void*) override {}
  bool WaitForStateChangeImpl(grpc_connectivity_state, gpr_timespec) override {
    return false;
  }

  const size_t id_;
};

std::string NameOf(size_t id) {
  return "/warm.test.Cache/M" + std::to_string(id);
}

TEST(MethodCacheTest, EveryIdUpToTheBoundHasItsOwnRegisteredEntry) {
  auto member = std::shared_ptr<grpc::ChannelInterface>(grpc::CreateChannel(
      "ipv4:127.0.0.1:1", grpc::InsecureChannelCredentials()));
  auto stats = std::make_shared<MethodStats>(MethodCache::kMaxMethods);
  MethodCache cache(stats);
  std::vector<std::string> names;
  std::vector<std::unique_ptr<grpc::internal::RpcMethod>> methods;
  for (size_t id = 0; id <= MethodCache::kMaxMethods; ++id) {
    names.push_back(NameOf(id));
    methods.push_back(std::make_unique<grpc::internal::RpcMethod>(
        names.back().c_str(), grpc::internal::RpcMethod::NORMAL_RPC,
        std::make_shared<TagChannel>(id)));
  }
  const size_t registered = MethodCache::kMaxMethods + 1;
  std::vector<void*> tags;
  for (size_t id = 0; id < MethodCache::kMaxMethods; ++id) {
    MethodSlot* slot = nullptr;
    const grpc::internal::RpcMethod got =
        cache.Get(*methods[id], registered, member, &slot);
    ASSERT_STREQ(got.name(), names[id].c_str()) << id;
    ASSERT_NE(got.channel_tag(), nullptr) << id;  // registered on `member`
    ASSERT_NE(slot, nullptr) << id;
    tags.push_back(got.channel_tag());
  }
  // Looked up again (across every chunk boundary), the same entries.
  for (size_t id = 0; id < MethodCache::kMaxMethods; ++id) {
    MethodSlot* slot = nullptr;
    const grpc::internal::RpcMethod got =
        cache.Get(*methods[id], registered, member, &slot);
    ASSERT_EQ(got.channel_tag(), tags[id]) << id;
    ASSERT_EQ(slot, stats->Find(names[id].c_str(), CallType::kUnary)) << id;
  }
  // Beyond the bound: unregistered, found by name.
  MethodSlot* slot = reinterpret_cast<MethodSlot*>(1);
  const grpc::internal::RpcMethod beyond = cache.Get(
      *methods[MethodCache::kMaxMethods], registered, member, &slot);
  EXPECT_STREQ(beyond.name(), names[MethodCache::kMaxMethods].c_str());
  EXPECT_EQ(beyond.channel_tag(), nullptr);
  EXPECT_EQ(slot, nullptr);
}

TEST(MethodCacheTest, AnotherChannelsMethodWithTheSameIdGoesUnregistered) {
  auto member = std::shared_ptr<grpc::ChannelInterface>(grpc::CreateChannel(
      "ipv4:127.0.0.1:1", grpc::InsecureChannelCredentials()));
  MethodCache cache;
  const grpc::internal::RpcMethod first(
      "/warm.test.Cache/A", grpc::internal::RpcMethod::NORMAL_RPC,
      std::make_shared<TagChannel>(9));
  const grpc::internal::RpcMethod other(
      "/warm.test.Cache/B", grpc::internal::RpcMethod::NORMAL_RPC,
      std::make_shared<TagChannel>(9));
  MethodSlot* slot = nullptr;
  EXPECT_NE(cache.Get(first, 10, member, &slot).channel_tag(), nullptr);
  const grpc::internal::RpcMethod got = cache.Get(other, 10, member, &slot);
  EXPECT_STREQ(got.name(), "/warm.test.Cache/B");
  EXPECT_EQ(got.channel_tag(), nullptr);
}

}  // namespace
}  // namespace internal
}  // namespace warm
