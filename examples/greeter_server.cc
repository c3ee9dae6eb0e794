// A greeter backend for the demo: answers warm.example.Greeter/SayHello with
// its own address, and serves the standard grpc.health.v1 health service.
//
//   greeter_server 127.0.0.2:50051 [--delay_ms N] [--not_serving FROM:TO]
//
// --delay_ms adds N milliseconds to every reply (a slow backend).
// --not_serving FROM:TO makes the health service answer NOT_SERVING from FROM
// to TO seconds after start (calls are still answered). Runs until SIGINT or
// SIGTERM.

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "warm/example/greeter.grpc.pb.h"

namespace {

class Greeter final : public warm::example::Greeter::Service {
 public:
  Greeter(std::string address, int delay_ms)
      : address_(std::move(address)), delay_ms_(delay_ms) {}

  grpc::Status SayHello(grpc::ServerContext* /*context*/,
                        const warm::example::HelloRequest* request,
                        warm::example::HelloReply* reply) override {
    const int wait_ms = delay_ms_ + static_cast<int>(request->work_ms());
    if (wait_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    }
    reply->set_message("Hello " + request->name());
    reply->set_backend(address_);
    return grpc::Status::OK;
  }

 private:
  const std::string address_;
  const int delay_ms_;
};

int Usage() {
  std::cerr << "usage: greeter_server ADDRESS:PORT [--delay_ms N] "
               "[--not_serving FROM_S:TO_S]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string address = argv[1];
  int delay_ms = 0;
  int not_serving_from = -1, not_serving_to = -1;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--delay_ms") == 0 && i + 1 < argc) {
      delay_ms = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--not_serving") == 0 && i + 1 < argc) {
      if (std::sscanf(argv[++i], "%d:%d", &not_serving_from, &not_serving_to) !=
              2 ||
          not_serving_from < 0 || not_serving_to <= not_serving_from) {
        return Usage();
      }
    } else {
      return Usage();
    }
  }

  // Block the stop signals so that a dedicated thread can wait for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  grpc::EnableDefaultHealthCheckService(true);
  Greeter service(address, delay_ms);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::cerr << "greeter_server: cannot listen on " << address << "\n";
    return 1;
  }
  // The port bound (for ADDRESS:0, the one the kernel chose).
  const std::string bound =
      address.substr(0, address.rfind(':') + 1) + std::to_string(port);
  std::cout << "greeter_server listening on " << bound
            << (delay_ms ? " (+" + std::to_string(delay_ms) + " ms)" : "")
            << std::endl;

  // Health changes on schedule, for the demo; stops early when the server
  // does.
  std::mutex mu;
  std::condition_variable stopping_cv;
  bool stopping = false;  // guarded by mu
  std::thread health([&] {
    if (not_serving_from < 0) return;
    const auto start = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(mu);
    for (const auto& [at, serving] : {std::make_pair(not_serving_from, false),
                                      std::make_pair(not_serving_to, true)}) {
      if (stopping_cv.wait_until(lock, start + std::chrono::seconds(at),
                                 [&] { return stopping; })) {
        return;
      }
      server->GetHealthCheckService()->SetServingStatus(serving);
      std::cout << "greeter_server " << address << ": "
                << (serving ? "SERVING" : "NOT_SERVING") << std::endl;
    }
  });

  std::thread stopper([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    server->Shutdown(std::chrono::system_clock::now() +
                     std::chrono::seconds(1));
  });
  server->Wait();
  stopper.join();
  {
    std::lock_guard<std::mutex> lock(mu);
    stopping = true;
  }
  stopping_cv.notify_all();
  health.join();
  return 0;
}
