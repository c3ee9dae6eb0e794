// Fakes of what a Pool (src/pool/pool.h) asks of the outside world, for unit
// tests that run a real Pool on a FakeScheduler (fake_scheduler.h):
//
//   FakeHealthChecks  a StartHealthCheckFn: records every check started
//                     (channel, service, timeout); the test completes it
//                     with an outcome, or sees it cancelled.
//   FakeHealthWatches a StartHealthWatchFn: records every Watch stream
//                     opened (channel, service, time); the test sends
//                     messages on it and ends it, or sees it cancelled.
//   FakeResolver      a DnsResolver: records every Resolve(); the test
//                     answers (addresses with TTLs, or an error).
//   FakeChannels      a CreateMemberChannelFn: makes a real grpc::Channel to
//                     the given target with the pool's interceptors, and
//                     records it. The pool only asks the FakeScheduler about
//                     a member's connectivity, so the channel is never asked
//                     to connect and no socket is opened. Optionally the
//                     channels are in-process channels to a grpc::Server of
//                     the test's (no ports): real calls, still no sockets.
//
// Completions go through the scheduler, as the real ones do (on the control
// thread): Complete(), Send(), End() and Answer() queue the callback and then
// run what is due (FakeScheduler::RunPending()), unless called from inside a
// function the scheduler runs. A cancelled check reports `cancelled` the same
// way, later.
//
// Member channels are matched to members by creation order (the pool opens
// members in id order, 1, 2, ...: FakeChannels::channel(id - 1)) and to
// addresses by target string ("ipv4:127.0.0.1:1").
//
// Thread safety: every method may be called from any thread (each fake has
// a mutex); tests drive them from one thread.

#ifndef WARM_TESTS_TESTING_FAKE_POOL_PARTS_H_
#define WARM_TESTS_TESTING_FAKE_POOL_PARTS_H_

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/support/channel_arguments.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "src/dns/resolver.h"
#include "src/health/health_check.h"
#include "src/pool/pool.h"
#include "tests/testing/fake_scheduler.h"

namespace warm {
namespace testing {

// --- Health checks -----------------------------------------------------------

class FakeHealthChecks {
 public:
  // One check the pool started.
  struct Check {
    const grpc::Channel* channel = nullptr;
    std::string service;
    std::chrono::milliseconds timeout{0};
    bool completed = false;
    bool cancelled = false;
  };

  explicit FakeHealthChecks(std::shared_ptr<FakeScheduler> scheduler);
  ~FakeHealthChecks();
  FakeHealthChecks(const FakeHealthChecks&) = delete;
  FakeHealthChecks& operator=(const FakeHealthChecks&) = delete;

  // For Pool::Config::start_health_check. May outlive this object (checks
  // started then are recorded nowhere and never complete).
  internal::StartHealthCheckFn StartFn();

  // Every check started so far, oldest first.
  std::vector<Check> checks() const;
  // Checks of `channel` started so far / in flight (neither completed nor
  // cancelled) / cancelled.
  int Started(const grpc::Channel& channel) const;
  int InFlight(const grpc::Channel& channel) const;
  int Cancelled(const grpc::Channel& channel) const;
  // The same over every channel.
  int InFlight() const;
  int Cancelled() const;

  // Completes the oldest check in flight on `channel` with `outcome` (and
  // `detail`, by default the outcome's name as the real check gives it);
  // false, and nothing happens, when none is in flight.
  bool Complete(const grpc::Channel& channel, internal::CheckOutcome outcome,
                std::string detail = "");

  // "SERVING", "NOT_SERVING", "UNIMPLEMENTED", "DEADLINE_EXCEEDED: fake".
  static std::string DefaultDetail(internal::CheckOutcome outcome);

 private:
  struct Shared;
  const std::shared_ptr<Shared> shared_;
};

// --- Health Watch streams ---------------------------------------------------

class FakeHealthWatches {
 public:
  // One stream the pool opened.
  struct Stream {
    const grpc::Channel* channel = nullptr;
    std::string service;
    internal::SteadyTime opened_at{};  // the scheduler's Now() then
    int messages = 0;                  // sent by the test
    bool ended = false;                // by the test (End())
    bool cancelled = false;            // by its holder (Cancel())
    bool open() const { return !ended && !cancelled; }
  };

  explicit FakeHealthWatches(std::shared_ptr<FakeScheduler> scheduler);
  ~FakeHealthWatches();
  FakeHealthWatches(const FakeHealthWatches&) = delete;
  FakeHealthWatches& operator=(const FakeHealthWatches&) = delete;

  // For Pool::Config::start_health_watch (or MemberChecks). May outlive
  // this object (streams opened then are recorded nowhere).
  internal::StartHealthWatchFn StartFn();

  // Every stream opened so far, oldest first.
  std::vector<Stream> streams() const;
  // Streams of `channel` opened so far / open (neither ended nor
  // cancelled) / cancelled.
  int Started(const grpc::Channel& channel) const;
  int Open(const grpc::Channel& channel) const;
  int Cancelled(const grpc::Channel& channel) const;
  // The same over every channel.
  int Open() const;
  int Cancelled() const;

  // Sends a message with `outcome` (kServing or kNotServing; `detail` by
  // default the outcome's name) on the newest open stream of `channel`;
  // false, and nothing happens, when none is open.
  bool Send(const grpc::Channel& channel, internal::CheckOutcome outcome,
            std::string detail = "");
  // Ends the newest open stream of `channel` as the server (or the
  // connection) would: kUnimplemented (no Watch), or kFailed with `detail`
  // (default "UNAVAILABLE: fake stream ended"); false when none is open.
  bool End(const grpc::Channel& channel, internal::CheckOutcome outcome,
           std::string detail = "");

 private:
  struct Shared;
  const std::shared_ptr<Shared> shared_;
};

// --- DNS ---------------------------------------------------------------------

class FakeResolver final : public internal::DnsResolver {
 public:
  struct Request {
    std::string host;
    int port = 0;
    bool answered = false;
  };

  // With a scheduler, Answer() runs what it made due before returning.
  explicit FakeResolver(std::shared_ptr<FakeScheduler> scheduler = nullptr)
      : scheduler_(std::move(scheduler)) {}
  // Pending requests complete with Unavailable, as the real resolver's do.
  ~FakeResolver() override;

  void Resolve(const std::string& host, int port,
               std::function<void(internal::DnsAnswer)> done) override;

  // Every request so far, oldest first; and those not answered yet.
  std::vector<Request> requests() const;
  int pending() const;

  // Answers the oldest pending request; false when none is pending.
  bool Answer(internal::DnsAnswer answer);

  // An answer of IPv4 addresses ("10.0.0.1") with their TTLs, on `port`.
  static internal::DnsAnswer Addresses(
      const std::vector<std::pair<std::string, std::chrono::seconds>>&
          addresses,
      int port);
  static internal::DnsAnswer Error(absl::Status status);

 private:
  struct Pending {
    size_t request;  // index into requests_
    std::function<void(internal::DnsAnswer)> done;
  };
  const std::shared_ptr<FakeScheduler> scheduler_;
  mutable internal::Mutex mu_;
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<Pending> pending_ ABSL_GUARDED_BY(mu_);
};

// --- Member channels ---------------------------------------------------------

class FakeChannels {
 public:
  struct Created {
    std::string target;
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    grpc::ChannelArguments args;
    std::weak_ptr<grpc::Channel> channel;
  };

  // Channels to the target (CreateCustomChannelWithInterceptors), never
  // asked to connect.
  FakeChannels();
  // In-process channels to `server` (which must outlive every channel made):
  // the target is recorded but not used.
  explicit FakeChannels(grpc::Server* server);
  FakeChannels(const FakeChannels&) = delete;
  FakeChannels& operator=(const FakeChannels&) = delete;

  // For Pool::Config::create_channel; may outlive this object.
  internal::CreateMemberChannelFn CreateFn();

  // Channels made so far, in creation order.
  size_t count() const;
  std::vector<std::string> targets() const;
  Created created(size_t i) const;
  // The i-th channel made (0-based), null once it was destroyed.
  std::shared_ptr<grpc::Channel> channel(size_t i) const;

 private:
  struct Shared;
  const std::shared_ptr<Shared> shared_;
};

}  // namespace testing
}  // namespace warm

#endif  // WARM_TESTS_TESTING_FAKE_POOL_PARTS_H_
