// Integration tests of wait_for_ready on a warm channel (issue 14): a
// wait_for_ready call behaves as on a plain gRPC channel. While no member is
// pickable -- before the first DNS answer, while every backend is down, while
// the members are still starting -- it waits, up to its deadline, for the
// first member that becomes pickable and runs there, whatever member it would
// have been given when it was made. Every call kind waits; the deadline and
// cancellation end the wait; fail-fast calls still fail at once; and a waited
// call is counted once, in the channel's metrics.
//
// Two ways of having nothing pickable (NothingPickable below):
//   kEveryBackendDown: three backends, 127.0.0.1..3 on one port, served and
//     then all stopped; only 127.0.0.3 comes back.
//   kNoDnsAnswerYet: a DNS name dnsmasq answers NXDOMAIN; its record is added
//     later.
//
// Counting: the channel's own series in warm::MetricsCollectable()
// (grpc_client_started_total and grpc_client_handled_total summed over
// methods, warm_channel_calls_total by code, warm_channel_in_flight_calls),
// which cover the whole channel, wherever a call was counted.

#include <grpcpp/generic/generic_stub.h>
#include <prometheus/metric_family.h>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/call/channel_harness.h"
#include "tests/testing/dnsmasq.h"
#include "warm/prometheus.h"

namespace warm {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAreArray;
using ::warm::testing::Dnsmasq;

// How long a test waits for a call it expects to end (the calls' deadlines
// are kCallTimeout, 20 s): the test fails rather than hangs.
constexpr auto kOutcomeTimeout = std::chrono::seconds(30);
// "At once" / "promptly": far below kCallTimeout, far above what a loaded
// machine needs.
constexpr double kPromptlySeconds = 5.0;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

// A channel label of its own per test (metrics are process-wide).
std::string UniqueName() {
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  return absl::StrCat("wfr-", info->test_suite_name(), ".", info->name());
}

// --- the channel's counts ---------------------------------------------------

struct Counts {
  double started = 0;  // grpc_client_started_total, every method
  double handled = 0;  // grpc_client_handled_total, every method and code
  std::map<std::string, double> finished;  // warm_channel_calls_total by code
  double in_flight = 0;                    // warm_channel_in_flight_calls
  double waiting = 0;                      // warm_channel_waiting_calls

  double finished_total() const {
    double sum = 0;
    for (const auto& [code, n] : finished) sum += n;
    return sum;
  }
  double finished_with(const std::string& code) const {
    auto it = finished.find(code);
    return it == finished.end() ? 0 : it->second;
  }
};

Counts ReadCounts(const std::string& channel) {
  Counts counts;
  for (const prometheus::MetricFamily& family :
       MetricsCollectable()->Collect()) {
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& label : metric.label) labels[label.name] = label.value;
      if (labels["channel"] != channel) continue;
      if (family.name == "grpc_client_started_total") {
        counts.started += metric.counter.value;
      } else if (family.name == "grpc_client_handled_total") {
        counts.handled += metric.counter.value;
      } else if (family.name == "warm_channel_calls_total") {
        counts.finished[labels["code"]] += metric.counter.value;
      } else if (family.name == "warm_channel_in_flight_calls") {
        counts.in_flight += metric.gauge.value;
      } else if (family.name == "warm_channel_waiting_calls") {
        counts.waiting += metric.gauge.value;
      }
    }
  }
  return counts;
}

// After `calls` calls that ended with `code` (a name as in
// warm_channel_calls_total: "OK", "DEADLINE_EXCEEDED", ...): the channel
// counts exactly that many more calls started and finished, all with `code`,
// and none in flight.
void ExpectCounted(const std::string& channel, const Counts& before,
                   const std::string& code, int calls = 1) {
  // The counters may move just after the caller saw the status.
  EXPECT_TRUE(WaitFor([&] {
    const Counts now = ReadCounts(channel);
    return now.finished_total() >= before.finished_total() + calls &&
           now.in_flight == 0;
  })) << "the call's end was never counted, or it stays in flight";
  const Counts after = ReadCounts(channel);
  EXPECT_EQ(after.started - before.started, calls) << "calls started";
  EXPECT_EQ(after.handled - before.handled, calls) << "calls handled";
  EXPECT_EQ(after.finished_total() - before.finished_total(), calls)
      << "calls finished";
  EXPECT_EQ(after.finished_with(code) - before.finished_with(code), calls)
      << "calls finished with " << code;
  EXPECT_EQ(after.in_flight, 0);
}

// Waits until `calls` calls of `channel` wait for a pickable member, which
// shows they took the holder's path (and are past being created).
void ExpectWaiting(const std::string& channel, int calls) {
  EXPECT_TRUE(WaitFor([&] { return ReadCounts(channel).waiting == calls; }))
      << "waiting: " << ReadCounts(channel).waiting << ", not " << calls;
}

// --- a channel with nothing pickable ----------------------------------------

enum class Scenario { kEveryBackendDown, kNoDnsAnswerYet };

std::string ScenarioName(Scenario scenario) {
  return scenario == Scenario::kEveryBackendDown ? "EveryBackendDown"
                                                 : "NoDnsAnswerYet";
}

void PrintTo(Scenario scenario, std::ostream* os) {
  *os << ScenarioName(scenario);
}

// Members reconnect within 0.2 s of a backend coming back, so that tests do
// not wait out gRPC's reconnect backoff (up to 120 s).
void FastReconnect(ChannelOptions& options) {
  options.channel_args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  options.channel_args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
}

class NothingPickable {
 public:
  static constexpr char kHost[] = "wfr.svc.test";

  // Leaves channel() with nothing pickable, in TRANSIENT_FAILURE.
  void Start(Scenario scenario, const std::string& name) {
    scenario_ = scenario;
    ChannelOptions options;
    options.name = name;
    FastReconnect(options);
    if (scenario == Scenario::kEveryBackendDown) {
      backends_.push_back(std::make_unique<TestBackend>("127.0.0.1"));
      port_ = backends_[0]->port();
      backends_.push_back(std::make_unique<TestBackend>("127.0.0.2", port_));
      backends_.push_back(std::make_unique<TestBackend>("127.0.0.3", port_));
      channel_ = MustCreate(Ipv4Target(backends_), std::move(options));
      ASSERT_NE(channel_, nullptr);
      ASSERT_TRUE(channel_->WaitForConnected(Deadline()));
      backends_.clear();  // every backend stops
      pickable_address_ = absl::StrCat("127.0.0.3:", port_);
    } else {
      dns_ = std::make_unique<Dnsmasq>(/*local_ttl_seconds=*/1);
      backends_.push_back(std::make_unique<TestBackend>("127.0.0.4"));
      port_ = backends_[0]->port();
      channel_ = MustCreate(
          absl::StrCat("dns://", dns_->server(), "/", kHost, ":", port_),
          std::move(options));
      ASSERT_NE(channel_, nullptr);
      pickable_address_ = backends_[0]->address();
    }
    ASSERT_TRUE(WaitFor([&] {
      return channel_->GetState(false) == GRPC_CHANNEL_TRANSIENT_FAILURE;
    })) << ConnectivityStateName(channel_->GetState(false));
    if (scenario == Scenario::kNoDnsAnswerYet) {
      ASSERT_TRUE(channel_->Members().empty());
      ASSERT_GE(channel_->Resolution().resolutions_failed, 1u);
    }
  }

  // One member becomes pickable: 127.0.0.3 is served again, or the name
  // gets its record.
  void MakePickable() {
    if (scenario_ == Scenario::kEveryBackendDown) {
      backends_.push_back(std::make_unique<TestBackend>("127.0.0.3", port_));
    } else {
      dns_->SetRecords({{kHost, {"127.0.0.4"}}});
    }
  }

  const std::shared_ptr<Channel>& channel() const { return channel_; }
  // Destroys the channel (calls keep what they need alive).
  void DestroyChannel() { channel_.reset(); }
  // The backend calls must reach once MakePickable() was called.
  const std::string& pickable_address() const { return pickable_address_; }

 private:
  Scenario scenario_ = Scenario::kEveryBackendDown;
  std::unique_ptr<Dnsmasq> dns_;
  std::vector<std::unique_ptr<TestBackend>> backends_;
  int port_ = 0;
  std::string pickable_address_;
  std::shared_ptr<Channel> channel_;
};

// --- one call of each kind ---------------------------------------------------

enum class CallKind {
  kSyncUnary,
  kAsyncUnary,     // PrepareAsyncEcho + completion queue
  kCallbackUnary,  // stub->async()->Echo
  kSyncServerStream,
  kSyncBidi,
  kCallbackBidi,
  kGenericUnary,  // grpc::GenericStub, callback UnaryCall
};

std::string CallKindName(CallKind kind) {
  switch (kind) {
    case CallKind::kSyncUnary:
      return "SyncUnary";
    case CallKind::kAsyncUnary:
      return "AsyncUnary";
    case CallKind::kCallbackUnary:
      return "CallbackUnary";
    case CallKind::kSyncServerStream:
      return "SyncServerStream";
    case CallKind::kSyncBidi:
      return "SyncBidi";
    case CallKind::kCallbackBidi:
      return "CallbackBidi";
    case CallKind::kGenericUnary:
      return "GenericUnary";
  }
  return "?";
}

void PrintTo(CallKind kind, std::ostream* os) { *os << CallKindName(kind); }

// The messages a call of `kind` gets back (see WaitingCall).
std::vector<std::string> ExpectedMessages(CallKind kind) {
  switch (kind) {
    case CallKind::kSyncServerStream:
      return {"hello0", "hello1", "hello2"};
    case CallKind::kSyncBidi:
    case CallKind::kCallbackBidi:
      return {"a", "b", "c"};
    default:
      return {"hello"};
  }
}

const std::vector<std::string> kBidiMessages = {"a", "b", "c"};

struct Outcome {
  grpc::Status status;
  std::vector<std::string> messages;  // received, in order
  std::string backend;                // that answered the last message
  // The backend's echo of the client's TestBackend::kEchoMetadataKey, in
  // the server's initial and trailing metadata ("" when absent).
  std::string initial_echo;
  std::string trailer_echo;
};

std::string Find(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
    const std::string& key) {
  auto it = metadata.find(key);
  return it == metadata.end()
             ? ""
             : std::string(it->second.data(), it->second.size());
}

// A callback bidi stream that writes kBidiMessages one by one, reads every
// echo, and half-closes after the last write.
class BidiEcho : public grpc::ClientBidiReactor<EchoRequest, EchoResponse> {
 public:
  BidiEcho(EchoTest::Stub& stub, grpc::ClientContext* context,
           std::vector<std::string>* received, std::string* backend,
           std::promise<grpc::Status>* done)
      : received_(received), backend_(backend), done_(done) {
    stub.async()->Bidi(context, this);
    StartRead(&response_);
    WriteNext();
    StartCall();
  }
  void OnWriteDone(bool ok) override {
    if (ok) WriteNext();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    received_->push_back(response_.message());
    *backend_ = response_.backend();
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override { done_->set_value(status); }

 private:
  void WriteNext() {
    if (next_ == kBidiMessages.size()) {
      StartWritesDone();
      return;
    }
    request_.set_message(kBidiMessages[next_++]);
    StartWrite(&request_);
  }

  std::vector<std::string>* const received_;
  std::string* const backend_;
  std::promise<grpc::Status>* const done_;
  EchoRequest request_;
  EchoResponse response_;
  size_t next_ = 0;
};

// One wait_for_ready call of `kind` (deadline kCallTimeout, client metadata
// kEchoMetadataKey), started by the constructor: when it returns, the call
// was made (sync kinds: their thread is about to make it). Finish() waits for
// its end.
class WaitingCall {
 public:
  WaitingCall(CallKind kind, const std::shared_ptr<Channel>& channel,
              const std::string& metadata = "wfr")
      : stub_(EchoTest::NewStub(channel)) {
    SetDeadline(context_);
    context_.set_wait_for_ready(true);
    context_.AddMetadata(TestBackend::kEchoMetadataKey, metadata);
    request_.set_message("hello");
    switch (kind) {
      case CallKind::kSyncUnary:
        RunOnThread([this] {
          grpc::Status status = stub_->Echo(&context_, request_, &response_);
          UnaryDone();
          return status;
        });
        break;
      case CallKind::kAsyncUnary:
        async_ = stub_->PrepareAsyncEcho(&context_, request_, &cq_);
        async_->StartCall();
        async_->ReadInitialMetadata(kInitialMetadataTag);
        async_->Finish(&response_, &async_status_, kFinishTag);
        break;
      case CallKind::kCallbackUnary:
        stub_->async()->Echo(&context_, &request_, &response_,
                             [this](grpc::Status status) {
                               UnaryDone();
                               done_.set_value(status);
                             });
        break;
      case CallKind::kSyncServerStream:
        request_.set_count(3);
        RunOnThread([this] {
          auto reader = stub_->ServerStream(&context_, request_);
          reader->WaitForInitialMetadata();
          EchoResponse response;
          while (reader->Read(&response)) {
            received_.push_back(response.message());
            backend_ = response.backend();
          }
          return reader->Finish();
        });
        break;
      case CallKind::kSyncBidi:
        RunOnThread([this] {
          auto stream = stub_->Bidi(&context_);
          for (const std::string& message : kBidiMessages) {
            EchoRequest request;
            request.set_message(message);
            EchoResponse response;
            if (!stream->Write(request) || !stream->Read(&response)) break;
            received_.push_back(response.message());
            backend_ = response.backend();
          }
          stream->WritesDone();
          return stream->Finish();
        });
        break;
      case CallKind::kCallbackBidi:
        bidi_ = std::make_unique<BidiEcho>(*stub_, &context_, &received_,
                                           &backend_, &done_);
        break;
      case CallKind::kGenericUnary: {
        generic_ = std::make_unique<grpc::GenericStub>(channel);
        bool own_buffer = false;
        EXPECT_TRUE(grpc::SerializationTraits<EchoRequest>::Serialize(
                        request_, &generic_request_, &own_buffer)
                        .ok());
        generic_->UnaryCall(
            &context_, "/warm.testing.EchoTest/Echo", grpc::StubOptions(),
            &generic_request_, &generic_response_, [this](grpc::Status status) {
              if (status.ok()) {
                EXPECT_TRUE(
                    grpc::SerializationTraits<EchoResponse>::Deserialize(
                        &generic_response_, &response_)
                        .ok());
                UnaryDone();
              }
              done_.set_value(status);
            });
        break;
      }
    }
  }

  ~WaitingCall() {
    if (thread_.joinable()) thread_.join();
    if (async_ != nullptr) {
      cq_.Shutdown();
      void* tag;
      bool ok;
      while (cq_.Next(&tag, &ok)) {
      }
    }
  }

  // The call's end; DEADLINE_EXCEEDED "test timeout" when it does not end
  // within kOutcomeTimeout.
  Outcome Finish() {
    Outcome outcome;
    outcome.status = AwaitStatus();
    if (thread_.joinable()) thread_.join();
    outcome.messages = received_;
    outcome.backend = backend_;
    outcome.initial_echo = Find(context_.GetServerInitialMetadata(),
                                TestBackend::kEchoMetadataKey);
    outcome.trailer_echo = Find(context_.GetServerTrailingMetadata(),
                                TestBackend::kEchoTrailerKey);
    return outcome;
  }

  grpc::ClientContext& context() { return context_; }

 private:
  static inline void* const kInitialMetadataTag = reinterpret_cast<void*>(1);
  static inline void* const kFinishTag = reinterpret_cast<void*>(2);

  void RunOnThread(std::function<grpc::Status()> call) {
    thread_ = std::thread([this, call = std::move(call)] {
      about_to_call_.set_value();
      done_.set_value(call());
    });
    about_to_call_.get_future().wait();
  }

  void UnaryDone() {
    received_ = {response_.message()};
    backend_ = response_.backend();
  }

  grpc::Status AwaitStatus() {
    const auto deadline = std::chrono::system_clock::now() + kOutcomeTimeout;
    if (async_ != nullptr) {
      for (;;) {
        void* tag = nullptr;
        bool ok = false;
        if (cq_.AsyncNext(&tag, &ok, deadline) !=
            grpc::CompletionQueue::GOT_EVENT) {
          return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                              "test timeout");
        }
        if (tag == kFinishTag) {
          if (async_status_.ok()) UnaryDone();
          return async_status_;
        }
      }
    }
    auto future = done_.get_future();
    if (future.wait_until(deadline) != std::future_status::ready) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "test timeout");
    }
    return future.get();
  }

  std::unique_ptr<EchoTest::Stub> stub_;
  grpc::ClientContext context_;
  EchoRequest request_;
  EchoResponse response_;
  std::vector<std::string> received_;
  std::string backend_;
  std::promise<grpc::Status> done_;
  // Sync kinds: the call runs on thread_.
  std::promise<void> about_to_call_;
  std::thread thread_;
  // kAsyncUnary
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<EchoResponse>> async_;
  grpc::Status async_status_;
  // kCallbackBidi
  std::unique_ptr<BidiEcho> bidi_;
  // kGenericUnary
  std::unique_ptr<grpc::GenericStub> generic_;
  grpc::ByteBuffer generic_request_;
  grpc::ByteBuffer generic_response_;
};

// A sync unary call on `channel`, its status and how long it took.
struct Timed {
  grpc::Status status;
  double seconds = 0;
};
Timed TimedEcho(const std::shared_ptr<Channel>& channel, bool wait_for_ready,
                milliseconds timeout = kCallTimeout) {
  auto stub = EchoTest::NewStub(channel);
  grpc::ClientContext context;
  const auto start = std::chrono::steady_clock::now();
  context.set_deadline(Deadline(timeout));
  context.set_wait_for_ready(wait_for_ready);
  EchoRequest request;
  request.set_message("hello");
  EchoResponse response;
  Timed timed;
  timed.status = stub->Echo(&context, request, &response);
  timed.seconds = SecondsSince(start);
  return timed;
}

// --- 1, 2, 6: every call kind waits for the first pickable member -----------

class WaitForReadyCallTest
    : public ::testing::TestWithParam<std::tuple<Scenario, CallKind>> {};

// A wait_for_ready call of each kind made while nothing is pickable waits and
// then runs on the first member that becomes pickable: messages flow both
// ways, the backend sees the client's metadata and the client gets the
// server's initial and trailing metadata, and the channel counts the call
// once (one started, one finished OK), wherever it waited.
TEST_P(WaitForReadyCallTest, WaitsForTheFirstPickableMemberAndRunsThere) {
  const auto [scenario, kind] = GetParam();
  const std::string name = UniqueName();
  NothingPickable setup;
  ASSERT_NO_FATAL_FAILURE(setup.Start(scenario, name));
  const Counts before = ReadCounts(name);

  WaitingCall call(kind, setup.channel(), "metadata-" + CallKindName(kind));
  ExpectWaiting(name, 1);
  setup.MakePickable();
  const Outcome outcome = call.Finish();

  ASSERT_TRUE(outcome.status.ok())
      << outcome.status.error_code() << ": " << outcome.status.error_message();
  EXPECT_THAT(outcome.messages, ElementsAreArray(ExpectedMessages(kind)));
  EXPECT_EQ(outcome.backend, setup.pickable_address());
  EXPECT_EQ(outcome.initial_echo, "metadata-" + CallKindName(kind));
  EXPECT_EQ(outcome.trailer_echo, "metadata-" + CallKindName(kind));
  ExpectCounted(name, before, "OK");
  EXPECT_EQ(ReadCounts(name).waiting, 0);
}

INSTANTIATE_TEST_SUITE_P(
    , WaitForReadyCallTest,
    ::testing::Combine(
        ::testing::Values(Scenario::kEveryBackendDown,
                          Scenario::kNoDnsAnswerYet),
        ::testing::Values(CallKind::kSyncUnary, CallKind::kAsyncUnary,
                          CallKind::kCallbackUnary, CallKind::kSyncServerStream,
                          CallKind::kSyncBidi, CallKind::kCallbackBidi,
                          CallKind::kGenericUnary)),
    [](const ::testing::TestParamInfo<WaitForReadyCallTest::ParamType>& info) {
      return ScenarioName(std::get<0>(info.param)) +
             CallKindName(std::get<1>(info.param));
    });

// --- 3, 4, 5, 6: deadline, cancellation, fail-fast ---------------------------

class WaitForReadyTest : public ::testing::TestWithParam<Scenario> {
 protected:
  void SetUp() override {
    name_ = UniqueName();
    ASSERT_NO_FATAL_FAILURE(setup_.Start(GetParam(), name_));
  }

  std::string name_;
  NothingPickable setup_;
};

// With nothing ever pickable, a wait_for_ready call waits out its 300 ms
// deadline -- no less, and not much more -- and ends DEADLINE_EXCEEDED,
// counted once as such.
TEST_P(WaitForReadyTest, DeadlineEndsTheWaitAndIsCountedOnce) {
  const Counts before = ReadCounts(name_);
  const Timed timed =
      TimedEcho(setup_.channel(), /*wait_for_ready=*/true, milliseconds(300));
  EXPECT_EQ(timed.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << timed.status.error_message();
  EXPECT_GE(timed.seconds, 0.29);
  EXPECT_LT(timed.seconds, kPromptlySeconds);
  ExpectCounted(name_, before, "DEADLINE_EXCEEDED");
}

// TryCancel() from another thread ends a waiting call with CANCELLED at
// once: an async call cancelled once it waits, and a sync call cancelled
// while its thread is in Echo() (or about to be: before or after it starts
// waiting, no sleep decides which). Each is counted once, as CANCELLED.
TEST_P(WaitForReadyTest, CancelEndsTheWaitAtOnce) {
  const Counts before = ReadCounts(name_);
  const auto start = std::chrono::steady_clock::now();
  {
    WaitingCall call(CallKind::kAsyncUnary, setup_.channel());
    ExpectWaiting(name_, 1);
    std::thread canceller([&] { call.context().TryCancel(); });
    const Outcome outcome = call.Finish();
    canceller.join();
    EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::CANCELLED)
        << outcome.status.error_message();
  }
  {
    WaitingCall call(CallKind::kSyncUnary, setup_.channel());
    call.context().TryCancel();
    const Outcome outcome = call.Finish();
    EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::CANCELLED)
        << outcome.status.error_message();
  }
  EXPECT_LT(SecondsSince(start), 2 * kPromptlySeconds)
      << "not the calls' 20 s deadlines";
  ExpectCounted(name_, before, "CANCELLED", /*calls=*/2);
}

// Destroying the channel ends the calls waiting in it at once with
// UNAVAILABLE, saying why, rather than at their deadlines, whether a call
// was already waiting or reaches the holder after the channel went. (The
// channel's counters go with it, so only the outcome is checked.)
TEST_P(WaitForReadyTest, DestroyingTheChannelEndsWaitingCalls) {
  // Stubs keep their channel alive; these do not own it, so that the
  // channel goes while the calls wait.
  const std::shared_ptr<Channel> unowned(setup_.channel().get(),
                                         [](Channel*) {});
  const auto start = std::chrono::steady_clock::now();
  WaitingCall async_call(CallKind::kAsyncUnary, unowned);
  WaitingCall bidi_call(CallKind::kCallbackBidi, unowned);
  ExpectWaiting(name_, 2);
  setup_.DestroyChannel();
  for (WaitingCall* call : {&async_call, &bidi_call}) {
    const Outcome outcome = call->Finish();
    EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::UNAVAILABLE)
        << outcome.status.error_message();
    EXPECT_THAT(outcome.status.error_message(), HasSubstr("shut down"));
  }
  EXPECT_LT(SecondsSince(start), kPromptlySeconds)
      << "not the calls' 20 s deadlines";
}

// A fail-fast call (no wait_for_ready) with nothing pickable still fails at
// once with UNAVAILABLE, saying why (before a DNS answer: the name and the
// DNS error; backends down: an address that refused), counted once.
TEST_P(WaitForReadyTest, FailFastCallsStillFailAtOnce) {
  const Counts before = ReadCounts(name_);
  const Timed timed = TimedEcho(setup_.channel(), /*wait_for_ready=*/false);
  EXPECT_EQ(timed.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << timed.status.error_message();
  EXPECT_LT(timed.seconds, kPromptlySeconds);
  EXPECT_FALSE(timed.status.error_message().empty());
  if (GetParam() == Scenario::kNoDnsAnswerYet) {
    EXPECT_THAT(timed.status.error_message(),
                HasSubstr(NothingPickable::kHost));
  } else {
    // As gRPC says it: "failed to connect to all addresses; last error:
    // UNKNOWN: ipv4:127.0.0.2:37775: ... Connection refused".
    EXPECT_THAT(timed.status.error_message(), HasSubstr("127.0.0."));
  }
  std::cout << "[message] " << timed.status.error_message() << "\n";
  ExpectCounted(name_, before, "UNAVAILABLE");
}

INSTANTIATE_TEST_SUITE_P(, WaitForReadyTest,
                         ::testing::Values(Scenario::kEveryBackendDown,
                                           Scenario::kNoDnsAnswerYet),
                         [](const ::testing::TestParamInfo<Scenario>& info) {
                           return ScenarioName(info.param);
                         });

// --- 1b: the member a call waits for is not chosen when it is made ----------

// `n` callback unary wait_for_ready calls on `channel` (named `name`),
// returned once all of them wait.
std::vector<std::unique_ptr<WaitingCall>> StartWaitingCalls(
    int n, const std::shared_ptr<Channel>& channel, const std::string& name) {
  std::vector<std::unique_ptr<WaitingCall>> calls;
  for (int i = 0; i < n; ++i) {
    calls.push_back(
        std::make_unique<WaitingCall>(CallKind::kCallbackUnary, channel));
  }
  ExpectWaiting(name, n);
  return calls;
}

// Every one of `calls` succeeds, answered by `address`.
void ExpectAllRanOn(const std::vector<std::unique_ptr<WaitingCall>>& calls,
                    const std::string& address) {
  for (size_t i = 0; i < calls.size(); ++i) {
    const Outcome outcome = calls[i]->Finish();
    EXPECT_TRUE(outcome.status.ok())
        << "call " << i << ": " << outcome.status.error_code() << ": "
        << outcome.status.error_message();
    EXPECT_EQ(outcome.backend, address) << "call " << i;
  }
}

// Three static addresses on one port, none ever served; then only 127.0.0.3
// is. Six wait_for_ready calls made before must all succeed there: none may
// stay bound to the member (on 127.0.0.1 or .2) it would have been given when
// it was made.
TEST(WaitForReadyMemberTest, WaitingCallsGoToWhicheverMemberBecomesPickable) {
  int port = 0;
  {
    TestBackend reserve("127.0.0.3");  // a port free on 127.0.0.3
    port = reserve.port();
  }
  ChannelOptions options;
  options.name = UniqueName();
  FastReconnect(options);
  const std::string name = options.name;
  auto channel =
      MustCreate(absl::StrCat("ipv4:127.0.0.1:", port, ",127.0.0.2:", port,
                              ",127.0.0.3:", port),
                 std::move(options));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(WaitFor([&] {
    return channel->GetState(false) == GRPC_CHANNEL_TRANSIENT_FAILURE;
  }));
  const Counts before = ReadCounts(name);
  constexpr int kCalls = 6;
  auto calls = StartWaitingCalls(kCalls, channel, name);
  TestBackend backend("127.0.0.3", port);
  ExpectAllRanOn(calls, backend.address());
  ExpectCounted(name, before, "OK", kCalls);
}

// Two members on two of three addresses (one port), all three backends
// stopped; then only the address that had no member is served again. Calls
// made while nothing was pickable must succeed there: a member has to open
// on it (the pool replaces the failing members) and the waiting calls must
// move to it, though every member they could have been given was on an
// address that stays down.
TEST(WaitForReadyMemberTest, WaitingCallsReachABackendThatHadNoMember) {
  auto backends = StartBackends(3);
  const int port = backends[0]->port();
  backends.resize(1);
  backends.push_back(std::make_unique<TestBackend>("127.0.0.2", port));
  backends.push_back(std::make_unique<TestBackend>("127.0.0.3", port));
  ChannelOptions options;
  options.name = UniqueName();
  options.pool_size = 2;
  FastReconnect(options);
  const std::string name = options.name;
  auto channel = MustCreate(Ipv4Target(backends), std::move(options));
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(WaitFor([&] {
    const std::vector<MemberInfo> members = channel->Members();
    return members.size() == 2 && members[0].pickable && members[1].pickable;
  }));
  std::set<std::string> with_member;
  for (const MemberInfo& m : channel->Members()) with_member.insert(m.address);
  ASSERT_EQ(with_member.size(), 2u);
  std::string free_host;
  for (const auto& b : backends) {
    if (with_member.count(b->address()) == 0) {
      free_host = b->address().substr(0, b->address().find(':'));
    }
  }
  ASSERT_FALSE(free_host.empty());
  backends.clear();  // every backend stops
  ASSERT_TRUE(WaitFor([&] {
    return channel->GetState(false) == GRPC_CHANNEL_TRANSIENT_FAILURE;
  }));
  const Counts before = ReadCounts(name);
  constexpr int kCalls = 3;
  auto calls = StartWaitingCalls(kCalls, channel, name);
  TestBackend backend(free_host, port);
  ExpectAllRanOn(calls, backend.address());
  // Not the wait's doing, but what it relies on: say so when it failed.
  EXPECT_TRUE(WaitFor([&] {
    for (const MemberInfo& m : channel->Members()) {
      if (m.address == backend.address() && m.pickable) return true;
    }
    return false;
  })) << "no pickable member ever opened on "
      << backend.address();
  ExpectCounted(name, before, "OK", kCalls);
}

// --- 1c: members starting ----------------------------------------------------

class WaitForReadyStartingTest : public ::testing::TestWithParam<bool> {};

// A wait_for_ready call made the moment a channel is created, with its
// backends up (static addresses; or a DNS name with its record, answered
// after the call is made), succeeds: it waits for the members to start.
TEST_P(WaitForReadyStartingTest, CallMadeAtCreationSucceeds) {
  const bool dns_target = GetParam();
  const std::string name = UniqueName();
  auto backends = StartBackends(3);
  std::unique_ptr<Dnsmasq> dns;
  std::string target = Ipv4Target(backends);
  std::set<std::string> addresses;
  for (const auto& b : backends) addresses.insert(b->address());
  if (dns_target) {
    dns = std::make_unique<Dnsmasq>(/*local_ttl_seconds=*/1);
    backends.clear();
    backends.push_back(std::make_unique<TestBackend>("127.0.0.5"));
    addresses = {backends[0]->address()};
    dns->SetRecords({{NothingPickable::kHost, {"127.0.0.5"}}});
    target = absl::StrCat("dns://", dns->server(), "/", NothingPickable::kHost,
                          ":", backends[0]->port());
  }
  ChannelOptions options;
  options.name = name;
  auto channel = MustCreate(target, std::move(options));
  ASSERT_NE(channel, nullptr);
  const Counts before = ReadCounts(name);
  WaitingCall call(CallKind::kSyncUnary, channel);
  const Outcome outcome = call.Finish();
  ASSERT_TRUE(outcome.status.ok())
      << outcome.status.error_code() << ": " << outcome.status.error_message();
  EXPECT_EQ(addresses.count(outcome.backend), 1u) << outcome.backend;
  ExpectCounted(name, before, "OK");
}

INSTANTIATE_TEST_SUITE_P(, WaitForReadyStartingTest,
                         ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("DnsTarget")
                                             : std::string("StaticTarget");
                         });

}  // namespace
}  // namespace warm
