// metrics_render: the size and render time of /metrics for many channels,
// and the memory the per-method metrics take per channel.
//
//   build/bench/metrics_render [--channels 1000] [--renders 10]
//
// Creates the channels (pool 3, health checks off) to one in-process
// backend, renders /metrics (HandleDiagnosticsRequest) `renders` times while
// the channels are idle, then again after one call of each of the 4 Echo
// methods (unary, client, server and bidi streaming) on every channel, and
// prints the median time and the size. The memory per channel is computed
// from the structures' sizes (MethodStats, MethodSlot): no RSS noise.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "src/call/method_stats.h"
#include "tests/testing/test_backend.h"
#include "warm/channel.h"
#include "warm/diagnostics.h"
#include "warm/testing/echo.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

void Render(const char* when, int renders) {
  std::vector<double> ms;
  size_t size = 0;
  for (int i = 0; i < renders; ++i) {
    const auto start = Clock::now();
    const warm::DiagnosticsResponse response =
        warm::HandleDiagnosticsRequest("/metrics");
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start)
                     .count());
    size = response.body.size();
  }
  std::sort(ms.begin(), ms.end());
  std::printf(
      "%s: /metrics %.2f MB, render median %.1f ms (min %.1f, max %.1f)\n",
      when, static_cast<double>(size) / 1e6, ms[ms.size() / 2], ms.front(),
      ms.back());
}

bool CallEveryMethod(warm::testing::EchoTest::Stub& stub) {
  warm::testing::EchoRequest request;
  warm::testing::EchoResponse response;
  bool ok = true;
  {
    grpc::ClientContext context;
    ok &= stub.Echo(&context, request, &response).ok();
  }
  {
    grpc::ClientContext context;
    auto writer = stub.ClientStream(&context, &response);
    ok &=
        writer->Write(request) && writer->WritesDone() && writer->Finish().ok();
  }
  {
    grpc::ClientContext context;
    request.set_count(1);
    auto reader = stub.ServerStream(&context, request);
    while (reader->Read(&response)) {
    }
    ok &= reader->Finish().ok();
  }
  {
    grpc::ClientContext context;
    auto stream = stub.Bidi(&context);
    ok &= stream->Write(request) && stream->Read(&response) &&
          stream->WritesDone();
    ok &= stream->Finish().ok();
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  int channels = 1000;
  int renders = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--channels") == 0)
      channels = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--renders") == 0)
      renders = std::atoi(argv[i + 1]);
  }
  warm::testing::TestBackend backend("127.0.0.1");
  std::vector<std::shared_ptr<warm::Channel>> all;
  for (int i = 0; i < channels; ++i) {
    warm::ChannelOptions options;
    options.name = "channel-" + std::to_string(i);
    options.health_check.enabled = false;
    auto channel = warm::CreateChannel("ipv4:" + backend.address(),
                                       grpc::InsecureChannelCredentials(),
                                       std::move(options));
    if (!channel.ok()) {
      std::fprintf(stderr, "%s\n", channel.status().ToString().c_str());
      return 1;
    }
    all.push_back(*std::move(channel));
  }
  for (const auto& channel : all) {
    channel->WaitForConnected(std::chrono::system_clock::now() +
                              std::chrono::seconds(60));
  }
  std::printf("%d channels, pool 3, health checks off\n", channels);
  Render("idle (no calls)", renders);
  for (const auto& channel : all) {
    auto stub = warm::testing::EchoTest::NewStub(channel);
    if (!CallEveryMethod(*stub)) {
      std::fprintf(stderr, "a call failed\n");
      return 1;
    }
  }
  Render("after calls of 4 methods on every channel", renders);

  // Memory of the per-method metrics, per channel.
  const int max_methods = warm::ChannelOptions().metrics_max_methods;
  size_t capacity = 2;
  while (capacity < 2 * static_cast<size_t>(max_methods)) capacity *= 2;
  const size_t fixed =
      sizeof(warm::internal::MethodStats) + capacity * sizeof(void*);
  // A slot and its entry in the first-call order; the names
  // ("/warm.testing.EchoTest/ClientStream": 35 bytes, its service 20) are
  // heap strings, the method name fits in the string itself.
  const size_t per_method =
      sizeof(warm::internal::MethodSlot) + sizeof(void*) + 36 + 21;
  std::printf(
      "per-method metrics memory per channel: %zu B fixed "
      "(metrics_max_methods %d) + %zu B per method called (MethodSlot %zu B)\n",
      fixed, max_methods, per_method, sizeof(warm::internal::MethodSlot));
  return 0;
}
