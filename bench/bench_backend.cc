#include "bench/bench_backend.h"

#include <grpcpp/alarm.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <deque>
#include <mutex>

#include "warm/testing/echo.grpc.pb.h"

namespace warm {
namespace bench {
namespace {

// Finishes its call once an alarm set `delay` ahead fires; deletes itself
// when gRPC is done with the call.
class DelayedReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit DelayedReactor(std::chrono::milliseconds delay) {
    alarm_.Set(
        std::chrono::system_clock::now() + delay,
        [this](bool /*fired or cancelled*/) { Finish(grpc::Status::OK); });
  }
  void OnDone() override { delete this; }

 private:
  grpc::Alarm alarm_;
};

}  // namespace

// The slots of a backend with a capacity, and the calls waiting for one.
class BenchBackend::Slots {
 public:
  // One call: waits for a slot, holds it for the service time, finishes.
  class Reactor final : public grpc::ServerUnaryReactor {
   public:
    explicit Reactor(Slots* slots) : slots_(slots) {}

    // Holds a slot from now: finishes after the service time, then hands
    // the slot on.
    void Serve() {
      alarm_.Set(std::chrono::system_clock::now() + slots_->service_time_,
                 [this](bool /*fired or cancelled*/) {
                   Slots* const slots = slots_;
                   // Before Finish(): OnDone() may delete this at once.
                   slots->Release();
                   Finish(grpc::Status::OK);
                 });
    }
    // A call still queued leaves the queue; one being served finishes when
    // its service time is up.
    void OnCancel() override {
      if (slots_->Unqueue(this)) {
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled queued"));
      }
    }
    void OnDone() override { delete this; }

   private:
    Slots* const slots_;
    grpc::Alarm alarm_;
  };

  explicit Slots(Capacity capacity)
      : slots_(capacity.slots), service_time_(capacity.service_time) {}

  // A reactor for a new call: served at once when a slot is free, else
  // queued.
  Reactor* Admit() {
    auto* reactor = new Reactor(this);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (busy_ >= slots_) {
        queue_.push_back(reactor);
        return reactor;
      }
      ++busy_;
    }
    reactor->Serve();
    return reactor;
  }

 private:
  // A slot is free again: the oldest queued call takes it.
  void Release() {
    Reactor* next = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty()) {
        --busy_;
        return;
      }
      next = queue_.front();
      queue_.pop_front();
    }
    next->Serve();
  }
  // Whether `reactor` was queued (and is no more).
  bool Unqueue(Reactor* reactor) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (*it == reactor) {
        queue_.erase(it);
        return true;
      }
    }
    return false;
  }

  const int slots_;
  const std::chrono::milliseconds service_time_;
  std::mutex mu_;
  int busy_ = 0;                // guarded by mu_
  std::deque<Reactor*> queue_;  // guarded by mu_; oldest first
};

class BenchBackend::Service final
    : public warm::testing::EchoTest::CallbackService {
 public:
  Service(const BenchBackend* backend, std::chrono::milliseconds delay,
          Slots* slots)
      : backend_(backend), delay_(delay), slots_(slots) {}

  grpc::ServerUnaryReactor* Echo(
      grpc::CallbackServerContext* context,
      const warm::testing::EchoRequest* request,
      warm::testing::EchoResponse* response) override {
    response->set_message(request->message());
    response->set_backend(backend_->address());
    if (slots_ != nullptr) return slots_->Admit();
    if (delay_.count() > 0) return new DelayedReactor(delay_);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  const BenchBackend* const backend_;
  const std::chrono::milliseconds delay_;
  Slots* const slots_;  // null: no capacity limit
};

absl::StatusOr<std::unique_ptr<BenchBackend>> BenchBackend::Start(
    const std::string& host, int port, std::chrono::milliseconds delay) {
  return StartImpl(host, port, delay, Capacity{});
}

absl::StatusOr<std::unique_ptr<BenchBackend>> BenchBackend::StartWithCapacity(
    const std::string& host, int port, Capacity capacity) {
  if (capacity.slots <= 0) {
    return absl::InvalidArgumentError("a capacity needs slots > 0");
  }
  return StartImpl(host, port, std::chrono::milliseconds(0), capacity);
}

absl::StatusOr<std::unique_ptr<BenchBackend>> BenchBackend::StartImpl(
    const std::string& host, int port, std::chrono::milliseconds delay,
    Capacity capacity) {
  std::unique_ptr<BenchBackend> backend(new BenchBackend());
  if (capacity.slots > 0) {
    backend->slots_ = std::make_unique<Slots>(capacity);
  }
  backend->service_ = std::make_unique<Service>(backend.get(), delay,
                                                backend->slots_.get());
  grpc::ServerBuilder builder;
  builder.AddListeningPort(host + ":" + std::to_string(port),
                           grpc::InsecureServerCredentials(), &backend->port_);
  builder.RegisterService(backend->service_.get());
  // Read by BuildAndStart(); every backend in warm_bench serves health.
  grpc::EnableDefaultHealthCheckService(true);
  backend->server_ = builder.BuildAndStart();
  if (backend->server_ == nullptr || backend->port_ == 0) {
    return absl::UnavailableError("cannot listen on " + host + ":" +
                                  std::to_string(port));
  }
  backend->address_ = host + ":" + std::to_string(backend->port_);
  return backend;
}

BenchBackend::~BenchBackend() {
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
}

absl::StatusOr<std::vector<std::unique_ptr<BenchBackend>>> StartBackends(
    int count, const std::vector<std::chrono::milliseconds>& delays) {
  std::vector<std::unique_ptr<BenchBackend>> backends;
  for (int i = 0; i < count; ++i) {
    const auto delay = i < static_cast<int>(delays.size())
                           ? delays[i]
                           : std::chrono::milliseconds(0);
    absl::StatusOr<std::unique_ptr<BenchBackend>> backend =
        BenchBackend::Start("127.0.0." + std::to_string(i + 1), 0, delay);
    if (!backend.ok()) return backend.status();
    backends.push_back(*std::move(backend));
  }
  return backends;
}

std::string Ipv4Target(const std::vector<std::string>& addresses) {
  std::string target = "ipv4:";
  for (size_t i = 0; i < addresses.size(); ++i) {
    target += (i ? "," : "") + addresses[i];
  }
  return target;
}

std::vector<std::string> AddressesOf(
    const std::vector<std::unique_ptr<BenchBackend>>& backends) {
  std::vector<std::string> addresses;
  for (const auto& backend : backends) addresses.push_back(backend->address());
  return addresses;
}

}  // namespace bench
}  // namespace warm
