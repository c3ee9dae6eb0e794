// Unary QPS through a warm channel vs a plain gRPC channel with the
// round_robin policy, over the same three loopback backends, in one process.
//
//   qps_bench [--threads N] [--seconds S] [--reps R] [--json FILE]
//
// Each repetition runs both channels for S seconds with N closed-loop callers
// (a caller sends its next call when the last returns), alternating which
// goes first. The machine is shared and noisy, so the result is the median of
// the per-repetition ratios warm / round_robin, not absolute figures.

#include <grpcpp/create_channel.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <warm/channel.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "warm/example/greeter.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

class FastGreeter final : public warm::example::Greeter::CallbackService {
  grpc::ServerUnaryReactor* SayHello(
      grpc::CallbackServerContext* context,
      const warm::example::HelloRequest* request,
      warm::example::HelloReply* reply) override {
    reply->set_message(request->name());
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

struct Flags {
  int threads = 4;
  double seconds = 3;
  int reps = 5;
  std::string json;
};

bool ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--threads")
      flags.threads = std::atoi(value);
    else if (flag == "--seconds")
      flags.seconds = std::atof(value);
    else if (flag == "--reps")
      flags.reps = std::atoi(value);
    else if (flag == "--json")
      flags.json = value;
    else
      return false;
  }
  return argc % 2 == 1 && flags.threads > 0 && flags.seconds > 0 &&
         flags.seconds <= 600 && flags.reps > 0 && flags.reps <= 100;
}

// Calls per second through `channel` over `seconds`.
double MeasureQps(const std::shared_ptr<grpc::ChannelInterface>& channel,
                  int threads, double seconds) {
  auto stub = warm::example::Greeter::NewStub(channel);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> calls{0}, failures{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t) {
    callers.emplace_back([&] {
      warm::example::HelloRequest request;
      request.set_name("bench");
      uint64_t local = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(10));
        warm::example::HelloReply reply;
        if (stub->SayHello(&context, request, &reply).ok()) {
          ++local;
        } else {
          failures++;
        }
      }
      calls += local;
    });
  }
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (std::thread& t : callers) t.join();
  const double elapsed =
      std::chrono::duration<double>(Clock::now() - start).count();
  if (failures > 0) {
    std::cerr << "qps_bench: " << failures << " calls failed\n";
    std::exit(1);
  }
  return calls / elapsed;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) {
    std::cerr << "usage: qps_bench [--threads N] [--seconds 0..600] "
                 "[--reps 1..100] [--json FILE]\n";
    return 2;
  }

  FastGreeter service;
  std::vector<std::unique_ptr<grpc::Server>> servers;
  std::vector<std::string> addresses;
  for (int i = 1; i <= 3; ++i) {
    int port = 0;
    const std::string host = "127.0.0." + std::to_string(i);
    grpc::ServerBuilder builder;
    builder.AddListeningPort(host + ":0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service);
    servers.push_back(builder.BuildAndStart());
    if (servers.back() == nullptr || port == 0) {
      std::cerr << "qps_bench: cannot listen on " << host << "\n";
      return 1;
    }
    addresses.push_back(host + ":" + std::to_string(port));
  }
  std::string target = "ipv4:";
  for (size_t i = 0; i < addresses.size(); ++i) {
    target += (i ? "," : "") + addresses[i];
  }

  auto warm_channel =
      warm::CreateChannel(target, grpc::InsecureChannelCredentials());
  if (!warm_channel.ok()) {
    std::cerr << "qps_bench: " << warm_channel.status() << "\n";
    return 1;
  }
  grpc::ChannelArguments args;
  args.SetLoadBalancingPolicyName("round_robin");
  std::shared_ptr<grpc::Channel> rr_channel = grpc::CreateCustomChannel(
      target, grpc::InsecureChannelCredentials(), args);
  const auto connect_deadline =
      std::chrono::system_clock::now() + std::chrono::seconds(10);
  if (!(*warm_channel)->WaitForConnected(connect_deadline) ||
      !rr_channel->WaitForConnected(connect_deadline)) {
    std::cerr << "qps_bench: channels did not connect\n";
    return 1;
  }
  // Warm-up: connections, registered methods, allocator caches.
  MeasureQps(*warm_channel, flags.threads, std::min(flags.seconds, 0.5));
  MeasureQps(rr_channel, flags.threads, std::min(flags.seconds, 0.5));

  std::vector<double> warm_qps, rr_qps, ratios;
  for (int rep = 0; rep < flags.reps; ++rep) {
    double w, r;
    if (rep % 2 == 0) {
      w = MeasureQps(*warm_channel, flags.threads, flags.seconds);
      r = MeasureQps(rr_channel, flags.threads, flags.seconds);
    } else {
      r = MeasureQps(rr_channel, flags.threads, flags.seconds);
      w = MeasureQps(*warm_channel, flags.threads, flags.seconds);
    }
    warm_qps.push_back(w);
    rr_qps.push_back(r);
    ratios.push_back(w / r);
    std::cout << "rep " << rep + 1 << ": warm " << std::fixed
              << std::setprecision(0) << w << " qps, round_robin " << r
              << " qps, ratio " << std::setprecision(3) << w / r << "\n";
  }
  const double median = Median(ratios);
  std::cout << "median ratio warm/round_robin: " << std::setprecision(3)
            << median << " (" << flags.reps << " reps, " << flags.threads
            << " threads, " << flags.seconds << " s each)\n";

  if (!flags.json.empty()) {
    std::ostringstream json;
    auto list = [&](const std::vector<double>& v) {
      std::ostringstream out;
      out << "[";
      for (size_t i = 0; i < v.size(); ++i) out << (i ? ", " : "") << v[i];
      out << "]";
      return out.str();
    };
    json << std::setprecision(6) << "{\n  \"scenario\": \"overhead\",\n"
         << "  \"threads\": " << flags.threads << ",\n"
         << "  \"seconds\": " << flags.seconds << ",\n"
         << "  \"warm_qps\": " << list(warm_qps) << ",\n"
         << "  \"round_robin_qps\": " << list(rr_qps) << ",\n"
         << "  \"ratios\": " << list(ratios) << ",\n"
         << "  \"median_ratio\": " << median << "\n}\n";
    std::ofstream(flags.json) << json.str();
  }
  for (auto& server : servers)
    server->Shutdown(std::chrono::system_clock::now());
  return 0;
}
