#include "tests/testing/fake_pool_parts.h"

#include <grpcpp/create_channel.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace warm {
namespace testing {

using internal::CheckOutcome;
using internal::DnsAnswer;
using internal::HealthCheck;
using internal::Mutex;
using internal::MutexLock;

namespace {

// Runs what a fake's completion made due, unless the caller is a function
// the scheduler runs (then it runs after that function).
void RunDue(FakeScheduler* scheduler) {
  if (scheduler != nullptr && !scheduler->OnControlThread()) {
    scheduler->RunPending();
  }
}

}  // namespace

// --- FakeHealthChecks --------------------------------------------------------

struct FakeHealthChecks::Shared {
  struct Record {
    Check check;
    std::function<void(HealthCheck::Result)> done;
  };
  const std::shared_ptr<FakeScheduler> scheduler;
  mutable Mutex mu;
  bool alive ABSL_GUARDED_BY(mu) = true;
  std::vector<std::shared_ptr<Record>> records ABSL_GUARDED_BY(mu);

  explicit Shared(std::shared_ptr<FakeScheduler> s) : scheduler(std::move(s)) {}
};

namespace {

// What the pool holds of one check: Cancel() reports `cancelled` later, on
// the control thread, as the real check does.
template <typename Record>
class FakeCheck final : public HealthCheck {
 public:
  FakeCheck(std::shared_ptr<FakeScheduler> scheduler, Mutex* mu,
            std::shared_ptr<Record> record, std::shared_ptr<void> keep)
      : scheduler_(std::move(scheduler)),
        mu_(mu),
        record_(std::move(record)),
        keep_(std::move(keep)) {}

  void Cancel() override {
    std::function<void(HealthCheck::Result)> done;
    {
      MutexLock lock(mu_);
      if (record_->check.completed || record_->check.cancelled) return;
      record_->check.cancelled = true;
      done = std::move(record_->done);
    }
    // Called under the pool's lock: the result comes later.
    scheduler_->Post([done = std::move(done)] {
      HealthCheck::Result result;
      result.outcome = CheckOutcome::kFailed;
      result.detail = "CANCELLED: fake check cancelled";
      result.cancelled = true;
      done(std::move(result));
    });
  }

 private:
  const std::shared_ptr<FakeScheduler> scheduler_;
  Mutex* const mu_;
  const std::shared_ptr<Record> record_;
  const std::shared_ptr<void> keep_;  // owns *mu_
};

}  // namespace

FakeHealthChecks::FakeHealthChecks(std::shared_ptr<FakeScheduler> scheduler)
    : shared_(std::make_shared<Shared>(std::move(scheduler))) {}

FakeHealthChecks::~FakeHealthChecks() {
  MutexLock lock(&shared_->mu);
  shared_->alive = false;
}

internal::StartHealthCheckFn FakeHealthChecks::StartFn() {
  return [shared = shared_](grpc::Channel& channel, const std::string& service,
                            std::chrono::milliseconds timeout,
                            std::function<void(HealthCheck::Result)> done)
             -> std::shared_ptr<HealthCheck> {
    auto record = std::make_shared<Shared::Record>();
    record->check.channel = &channel;
    record->check.service = service;
    record->check.timeout = timeout;
    record->done = std::move(done);
    {
      MutexLock lock(&shared->mu);
      if (shared->alive) shared->records.push_back(record);
    }
    return std::make_shared<FakeCheck<Shared::Record>>(
        shared->scheduler, &shared->mu, record, shared);
  };
}

std::vector<FakeHealthChecks::Check> FakeHealthChecks::checks() const {
  MutexLock lock(&shared_->mu);
  std::vector<Check> out;
  for (const auto& record : shared_->records) out.push_back(record->check);
  return out;
}

int FakeHealthChecks::Started(const grpc::Channel& channel) const {
  MutexLock lock(&shared_->mu);
  int n = 0;
  for (const auto& record : shared_->records) {
    n += record->check.channel == &channel;
  }
  return n;
}

int FakeHealthChecks::InFlight(const grpc::Channel& channel) const {
  MutexLock lock(&shared_->mu);
  int n = 0;
  for (const auto& record : shared_->records) {
    n += record->check.channel == &channel && !record->check.completed &&
         !record->check.cancelled;
  }
  return n;
}

int FakeHealthChecks::Cancelled(const grpc::Channel& channel) const {
  MutexLock lock(&shared_->mu);
  int n = 0;
  for (const auto& record : shared_->records) {
    n += record->check.channel == &channel && record->check.cancelled;
  }
  return n;
}

int FakeHealthChecks::InFlight() const {
  MutexLock lock(&shared_->mu);
  int n = 0;
  for (const auto& record : shared_->records) {
    n += !record->check.completed && !record->check.cancelled;
  }
  return n;
}

int FakeHealthChecks::Cancelled() const {
  MutexLock lock(&shared_->mu);
  int n = 0;
  for (const auto& record : shared_->records) n += record->check.cancelled;
  return n;
}

std::string FakeHealthChecks::DefaultDetail(CheckOutcome outcome) {
  switch (outcome) {
    case CheckOutcome::kServing:
      return "SERVING";
    case CheckOutcome::kNotServing:
      return "NOT_SERVING";
    case CheckOutcome::kUnimplemented:
      return "UNIMPLEMENTED (no health service)";
    case CheckOutcome::kFailed:
      return "DEADLINE_EXCEEDED: fake";
  }
  return "?";
}

bool FakeHealthChecks::Complete(const grpc::Channel& channel,
                                CheckOutcome outcome, std::string detail) {
  std::function<void(HealthCheck::Result)> done;
  {
    MutexLock lock(&shared_->mu);
    for (const auto& record : shared_->records) {
      if (record->check.channel == &channel && !record->check.completed &&
          !record->check.cancelled) {
        record->check.completed = true;
        done = std::move(record->done);
        break;
      }
    }
  }
  if (!done) return false;
  if (detail.empty()) detail = DefaultDetail(outcome);
  shared_->scheduler->Post(
      [done = std::move(done), outcome, detail = std::move(detail)] {
        HealthCheck::Result result;
        result.outcome = outcome;
        result.detail = detail;
        done(std::move(result));
      });
  RunDue(shared_->scheduler.get());
  return true;
}

// --- FakeHealthWatches -------------------------------------------------------

struct FakeHealthWatches::Shared {
  struct Record {
    Stream stream;
    std::function<void(HealthCheck::Result)> on_message;
    std::function<void(HealthCheck::Result)> on_end;
  };
  const std::shared_ptr<FakeScheduler> scheduler;
  mutable Mutex mu;
  bool alive ABSL_GUARDED_BY(mu) = true;
  std::vector<std::shared_ptr<Record>> records ABSL_GUARDED_BY(mu);

  explicit Shared(std::shared_ptr<FakeScheduler> s) : scheduler(std::move(s)) {}

  // The newest open stream of `channel`, or null.
  std::shared_ptr<Record> NewestOpen(const grpc::Channel& channel)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (auto it = records.rbegin(); it != records.rend(); ++it) {
      if ((*it)->stream.channel == &channel && (*it)->stream.open()) return *it;
    }
    return nullptr;
  }
};

namespace {

// What the pool holds of one stream: Cancel() ends it with `cancelled`,
// later, on the control thread, as the real stream does. (A template only
// to reach FakeHealthWatches' private types.)
template <typename Shared, typename Record>
class FakeStream final : public HealthCheck {
 public:
  FakeStream(std::shared_ptr<Shared> shared, std::shared_ptr<Record> record)
      : shared_(std::move(shared)), record_(std::move(record)) {}

  void Cancel() override {
    std::function<void(HealthCheck::Result)> on_end;
    {
      MutexLock lock(&shared_->mu);
      if (!record_->stream.open()) return;
      record_->stream.cancelled = true;
      on_end = std::move(record_->on_end);
      record_->on_message = nullptr;  // as the real stream, drops its captures
    }
    // Called under the pool's lock: the end comes later.
    shared_->scheduler->Post([on_end = std::move(on_end)] {
      HealthCheck::Result result;
      result.outcome = CheckOutcome::kFailed;
      result.detail = "CANCELLED: fake stream cancelled";
      result.cancelled = true;
      on_end(std::move(result));
    });
  }

 private:
  const std::shared_ptr<Shared> shared_;
  const std::shared_ptr<Record> record_;
};

}  // namespace

FakeHealthWatches::FakeHealthWatches(std::shared_ptr<FakeScheduler> scheduler)
    : shared_(std::make_shared<Shared>(std::move(scheduler))) {}

FakeHealthWatches::~FakeHealthWatches() {
  MutexLock lock(&shared_->mu);
  shared_->alive = false;
}

internal::StartHealthWatchFn FakeHealthWatches::StartFn() {
  return [shared = shared_](grpc::Channel& channel, const std::string& service,
                            std::function<void(HealthCheck::Result)> on_message,
                            std::function<void(HealthCheck::Result)> on_end)
             -> std::shared_ptr<HealthCheck> {
    auto record = std::make_shared<Shared::Record>();
    record->stream.channel = &channel;
    record->stream.service = service;
    record->stream.opened_at = shared->scheduler->Now();
    record->on_message = std::move(on_message);
    record->on_end = std::move(on_end);
    {
      MutexLock lock(&shared->mu);
      if (shared->alive) shared->records.push_back(record);
    }
    return std::make_shared<FakeStream<Shared, Shared::Record>>(shared, record);
  };
}

std::vector<FakeHealthWatches::Stream> FakeHealthWatches::streams() const {
  MutexLock lock(&shared_->mu);
  std::vector<Stream> out;
  for (const auto& record : shared_->records) out.push_back(record->stream);
  return out;
}

int FakeHealthWatches::Started(const grpc::Channel& channel) const {
  MutexLock lock(&shared_->mu);
  int n = 0;
  for (const auto& record : shared_->records) {
    n += record->stream.channel == &channel;
  }
  return n;
}

int FakeHealthWatches::Open(const grpc::Channel& channel) const {
  MutexLock lock(&shared_->mu);
  int n = 0;
  for (const auto& record : shared_->records) {
    n += record->stream.channel == &channel && record->stream.open();
  }
  return n;
}

int FakeHealthWatches::Cancelled(const grpc::Channel& channel) const {
  MutexLock lock(&shared_->mu);
  int n = 0;
  for (const auto& record : shared_->records) {
    n += record->stream.channel == &channel && record->stream.cancelled;
  }
  return n;
}

int FakeHealthWatches::Open() const {
  MutexLock lock(&shared_->mu);
  int n = 0;
  for (const auto& record : shared_->records) n += record->stream.open();
  return n;
}

int FakeHealthWatches::Cancelled() const {
  MutexLock lock(&shared_->mu);
  int n = 0;
  for (const auto& record : shared_->records) n += record->stream.cancelled;
  return n;
}

bool FakeHealthWatches::Send(const grpc::Channel& channel, CheckOutcome outcome,
                             std::string detail) {
  std::function<void(HealthCheck::Result)> on_message;
  {
    MutexLock lock(&shared_->mu);
    std::shared_ptr<Shared::Record> record = shared_->NewestOpen(channel);
    if (record == nullptr) return false;
    ++record->stream.messages;
    on_message = record->on_message;  // more may follow
  }
  if (detail.empty()) detail = FakeHealthChecks::DefaultDetail(outcome);
  shared_->scheduler->Post([on_message = std::move(on_message), outcome,
                            detail = std::move(detail)] {
    HealthCheck::Result result;
    result.outcome = outcome;
    result.detail = detail;
    on_message(std::move(result));
  });
  RunDue(shared_->scheduler.get());
  return true;
}

bool FakeHealthWatches::End(const grpc::Channel& channel, CheckOutcome outcome,
                            std::string detail) {
  std::function<void(HealthCheck::Result)> on_end;
  {
    MutexLock lock(&shared_->mu);
    std::shared_ptr<Shared::Record> record = shared_->NewestOpen(channel);
    if (record == nullptr) return false;
    record->stream.ended = true;
    on_end = std::move(record->on_end);
    record->on_message = nullptr;
  }
  if (detail.empty()) {
    detail = outcome == CheckOutcome::kFailed
                 ? "UNAVAILABLE: fake stream ended"
                 : FakeHealthChecks::DefaultDetail(outcome);
  }
  shared_->scheduler->Post(
      [on_end = std::move(on_end), outcome, detail = std::move(detail)] {
        HealthCheck::Result result;
        result.outcome = outcome;
        result.detail = detail;
        on_end(std::move(result));
      });
  RunDue(shared_->scheduler.get());
  return true;
}

// --- FakeResolver ------------------------------------------------------------

FakeResolver::~FakeResolver() {
  std::vector<Pending> pending;
  {
    MutexLock lock(&mu_);
    pending.swap(pending_);
  }
  for (Pending& p : pending) {
    p.done(Error(absl::UnavailableError("resolver destroyed")));
  }
}

void FakeResolver::Resolve(const std::string& host, int port,
                           std::function<void(DnsAnswer)> done) {
  MutexLock lock(&mu_);
  Request request;
  request.host = host;
  request.port = port;
  requests_.push_back(std::move(request));
  pending_.push_back(Pending{requests_.size() - 1, std::move(done)});
}

std::vector<FakeResolver::Request> FakeResolver::requests() const {
  MutexLock lock(&mu_);
  return requests_;
}

int FakeResolver::pending() const {
  MutexLock lock(&mu_);
  return static_cast<int>(pending_.size());
}

bool FakeResolver::Answer(DnsAnswer answer) {
  std::function<void(DnsAnswer)> done;
  {
    MutexLock lock(&mu_);
    if (pending_.empty()) return false;
    requests_[pending_.front().request].answered = true;
    done = std::move(pending_.front().done);
    pending_.erase(pending_.begin());
  }
  // As the real resolver: on "its" thread, outside any lock of the caller's.
  done(std::move(answer));
  RunDue(scheduler_.get());
  return true;
}

DnsAnswer FakeResolver::Addresses(
    const std::vector<std::pair<std::string, std::chrono::seconds>>& addresses,
    int port) {
  DnsAnswer answer;
  for (const auto& [ip, ttl] : addresses) {
    internal::ResolvedAddress resolved;
    const std::string display = absl::StrCat(ip, ":", port);
    resolved.address = internal::Address{"ipv4:" + display, display};
    resolved.ttl = ttl;
    answer.addresses.push_back(std::move(resolved));
  }
  return answer;
}

DnsAnswer FakeResolver::Error(absl::Status status) {
  DnsAnswer answer;
  answer.status = std::move(status);
  return answer;
}

// --- FakeChannels ------------------------------------------------------------

struct FakeChannels::Shared {
  grpc::Server* const server;  // null: channels to the target
  mutable Mutex mu;
  std::vector<Created> created ABSL_GUARDED_BY(mu);

  explicit Shared(grpc::Server* s) : server(s) {}
};

FakeChannels::FakeChannels() : shared_(std::make_shared<Shared>(nullptr)) {}

FakeChannels::FakeChannels(grpc::Server* server)
    : shared_(std::make_shared<Shared>(server)) {}

internal::CreateMemberChannelFn FakeChannels::CreateFn() {
  return [shared = shared_](
             const std::string& target,
             const std::shared_ptr<grpc::ChannelCredentials>& credentials,
             const grpc::ChannelArguments& args,
             std::vector<std::unique_ptr<
                 grpc::experimental::ClientInterceptorFactoryInterface>>
                 interceptors) {
    std::shared_ptr<grpc::Channel> channel =
        shared->server != nullptr
            ? shared->server->experimental().InProcessChannelWithInterceptors(
                  args, std::move(interceptors))
            : grpc::experimental::CreateCustomChannelWithInterceptors(
                  target, credentials, args, std::move(interceptors));
    MutexLock lock(&shared->mu);
    shared->created.push_back(Created{target, credentials, args, channel});
    return channel;
  };
}

size_t FakeChannels::count() const {
  MutexLock lock(&shared_->mu);
  return shared_->created.size();
}

std::vector<std::string> FakeChannels::targets() const {
  MutexLock lock(&shared_->mu);
  std::vector<std::string> out;
  for (const Created& c : shared_->created) out.push_back(c.target);
  return out;
}

FakeChannels::Created FakeChannels::created(size_t i) const {
  MutexLock lock(&shared_->mu);
  if (i >= shared_->created.size()) return {};
  return shared_->created[i];
}

std::shared_ptr<grpc::Channel> FakeChannels::channel(size_t i) const {
  return created(i).channel.lock();
}

}  // namespace testing
}  // namespace warm
