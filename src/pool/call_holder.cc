#include "src/pool/call_holder.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/client_interceptor.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/call/load_interceptor.h"
#include "src/common/mutex.h"

namespace warm {
namespace internal {
namespace {

// The header that tells the hold server which channel's holder a call is
// for: "HOLDER" (the State's id), or "HOLDER/CALL" when the call has
// per-call credentials, which wait in the State under CALL for the leg.
// Added by HeldByInterceptor, never forwarded.
constexpr char kHeldByHeader[] = "warm-held-by";

class HeldCall;

// How a call that waited ends when its channel goes.
grpc::Status ShutDownWhileWaiting() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "warm: the channel was shut down while the call waited "
                      "for a pickable member");
}

}  // namespace

// What the holder's calls share with it. Outlives the holder while a call
// that came through it runs.
struct CallHolder::State {
  State(uint64_t id, Forward forward) : id(id), forward(std::move(forward)) {}

  // Registers `call` unless shut down (then false): it is forwarded at once
  // if it can be, else it waits for Wake().
  bool Add(HeldCall* call);
  // `call` no longer waits (it was cancelled).
  void Remove(HeldCall* call);

  // Per-call credentials, from the caller's ClientContext to the leg's: the
  // in-process leg has no transport security and would not apply them.
  uint64_t StashCredentials(std::shared_ptr<grpc::CallCredentials> creds) {
    MutexLock lock(&mu);
    const uint64_t call = next_call++;
    credentials[call] = std::move(creds);
    return call;
  }
  std::shared_ptr<grpc::CallCredentials> TakeCredentials(uint64_t call) {
    MutexLock lock(&mu);
    auto it = credentials.find(call);
    if (it == credentials.end()) return nullptr;
    std::shared_ptr<grpc::CallCredentials> creds = std::move(it->second);
    credentials.erase(it);
    return creds;
  }

  const uint64_t id;
  const Forward forward;
  Mutex mu;
  bool shut_down ABSL_GUARDED_BY(mu) = false;
  std::vector<HeldCall*> waiting ABSL_GUARDED_BY(mu);
  // Calls waiting, readable without mu: counted in by Add(), out by the
  // call as it stops waiting (HeldCall::StopWaitingLocked), before its leg
  // starts, so that no reader sees a call that already ran as waiting.
  std::atomic<size_t> count{0};
  std::map<uint64_t, std::shared_ptr<grpc::CallCredentials>> credentials
      ABSL_GUARDED_BY(mu);
  uint64_t next_call ABSL_GUARDED_BY(mu) = 1;
};

namespace {

// The holders by id, for the process-wide hold server; entries go with
// their holder.
class HolderRegistry {
 public:
  static HolderRegistry& Get() {
    static HolderRegistry* const registry = new HolderRegistry;  // never freed
    return *registry;
  }
  uint64_t Add(const std::shared_ptr<CallHolder::State>& state) {
    MutexLock lock(&mu_);
    states_[state->id] = state;
    return state->id;
  }
  void Remove(uint64_t id) {
    MutexLock lock(&mu_);
    states_.erase(id);
  }
  std::shared_ptr<CallHolder::State> Find(uint64_t id) {
    MutexLock lock(&mu_);
    auto it = states_.find(id);
    return it == states_.end() ? nullptr : it->second.lock();
  }
  static uint64_t NextId() {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }

 private:
  Mutex mu_;
  std::map<uint64_t, std::weak_ptr<CallHolder::State>> states_
      ABSL_GUARDED_BY(mu_);
};

// Metadata a call carries that is the transport's or warm's, not the
// caller's: it is not copied from one leg to the other.
bool Forwardable(grpc::string_ref key) {
  const absl::string_view name(key.data(), key.size());
  return !absl::StartsWith(name, ":") && !absl::StartsWith(name, "grpc-") &&
         name != kHeldByHeader && name != "user-agent" && name != "te" &&
         name != "content-type" && name != "host";
}

// One held call: the server side of its in-process leg, and, once it is
// forwarded, the client side of its leg to a member (Leg). Messages are
// pumped one at a time each way: caller -> member (read here, write there)
// and member -> caller, so each side has at most one read and one write
// outstanding, as the callback API requires.
//
// Every reaction takes mu_ and may start operations under it: gRPC runs
// callback reactions on its own threads, never inline in the operation that
// starts them (can_inline=false in grpc 1.51's client_callback.h and
// server_callback_handlers.h), so this cannot deadlock.
//
// The leg's OnDone must not run while an operation may still be started on
// it from outside its reactions (a server reaction starting a write, or a
// read after a write to the caller): a hold (AddHold) keeps it back until the
// leg's read side has ended (OnReadDone(false)), after which nothing is
// started on it. Reads are chained so that one always ends that way.
//
// Deleted when both ends are done: the server side (OnDone) and, once
// forwarded, the leg (Leg::OnDone). The server side is done only after
// Finish, which comes after the leg is done when there is a leg, so the
// ServerContext is valid in every leg reaction. gRPC calls OnDone only after
// the reactions in progress have returned, so a reaction may Finish() under
// mu_; code outside reactions that may Finish() holds an end of its own.
class HeldCall final : public grpc::ServerGenericBidiReactor {
 public:
  HeldCall(std::shared_ptr<CallHolder::State> state,
           grpc::GenericCallbackServerContext* server,
           std::shared_ptr<grpc::CallCredentials> credentials)
      : state_(std::move(state)),
        server_(server),
        credentials_(std::move(credentials)),
        leg_(this) {
    if (!state_->Add(this)) FailWaiting(ShutDownWhileWaiting());
  }

  // With the holder's lock held: forwards the call if a member is pickable.
  // Returns whether it is no longer waiting (forwarded or finished).
  bool TryForward() {
    MutexLock lock(&mu_);
    if (phase_ != Phase::kWaiting) return true;
    // Gone already, its OnCancel still to come: no call to a backend.
    if (server_->IsCancelled()) return false;
    if (!leg_context_ready_) {
      leg_context_ready_ = true;
      leg_context_.set_deadline(server_->deadline());
      // The member was pickable at the pick; should it fail before the leg
      // connects, the leg waits on it (a narrow window) rather than failing
      // a call that asked to wait.
      leg_context_.set_wait_for_ready(true);
      if (credentials_ != nullptr) leg_context_.set_credentials(credentials_);
      for (const auto& [key, value] : server_->client_metadata()) {
        if (Forwardable(key)) {
          leg_context_.AddMetadata(std::string(key.data(), key.size()),
                                   std::string(value.data(), value.size()));
        }
      }
    }
    if (!state_->forward(server_->method(), &leg_context_, &leg_)) {
      return false;
    }
    StopWaitingLocked(Phase::kForwarded);
    ends_.fetch_add(1, std::memory_order_relaxed);
    leg_.AddHold();
    leg_.StartCall();
    StartRead(&request_);
    return true;
  }

  // With the holder's lock held, by Add(): the call waits in the list.
  void CountWaiting() { counted_ = true; }

  // With the holder's lock held (or from the constructor): the holder shut
  // down or refused the call. Not a reaction, so the server side may be
  // done (and would delete the call) as soon as Finish() is called: an end
  // of our own keeps the call until mu_ is released.
  void FailWaiting(grpc::Status status) {
    ends_.fetch_add(1, std::memory_order_relaxed);
    {
      MutexLock lock(&mu_);
      if (phase_ == Phase::kWaiting) {
        StopWaitingLocked(Phase::kFinished);
        FinishLocked(std::move(status));
      }
    }
    Release();
  }

  // --- the caller's side -----------------------------------------------------
  void OnCancel() override {
    state_->Remove(this);
    MutexLock lock(&mu_);
    if (phase_ == Phase::kWaiting) {
      // Cancelled or past its deadline while waiting: the caller sees its
      // own status (CANCELLED, DEADLINE_EXCEEDED), not this one.
      StopWaitingLocked(Phase::kFinished);
      FinishLocked(grpc::Status::CANCELLED);
    } else if (phase_ == Phase::kForwarded) {
      leg_context_.TryCancel();
    }
  }

  void OnReadDone(bool ok) override {
    MutexLock lock(&mu_);
    if (leg_read_done_) return;  // the call is ending: nothing more to send
    if (ok) {
      leg_.StartWrite(&request_);
    } else if (server_->IsCancelled()) {
      // The caller cancelled or ran out of time: the backend must see a
      // cancelled call, not a complete stream (gRPC marks the context
      // before this reaction).
      leg_context_.TryCancel();
    } else {
      leg_.StartWritesDone();  // the caller half-closed
    }
  }

  void OnWriteDone(bool ok) override {
    MutexLock lock(&mu_);
    server_write_pending_ = false;
    if (!ok) leg_context_.TryCancel();  // the caller is gone
    if (pending_status_.has_value()) {
      FinishLocked(*std::move(pending_status_));
    } else if (!leg_read_done_) {
      leg_.StartRead(&response_);
    }
  }

  void OnDone() override { Release(); }

 private:
  enum class Phase { kWaiting, kForwarded, kFinished };

  // The client side of the forwarded leg.
  class Leg final : public CallHolder::Reactor {
   public:
    explicit Leg(HeldCall* call) : call_(call) {}

    void OnReadInitialMetadataDone(bool ok) override {
      MutexLock lock(&call_->mu_);
      if (ok) {
        for (const auto& [key, value] :
             call_->leg_context_.GetServerInitialMetadata()) {
          if (Forwardable(key)) {
            call_->server_->AddInitialMetadata(
                std::string(key.data(), key.size()),
                std::string(value.data(), value.size()));
          }
        }
        call_->StartSendInitialMetadata();
      }
      StartRead(&call_->response_);
    }
    void OnReadDone(bool ok) override {
      {
        MutexLock lock(&call_->mu_);
        if (ok) {
          call_->server_write_pending_ = true;
          call_->StartWrite(&call_->response_);
          return;
        }
        call_->leg_read_done_ = true;  // nothing is started on the leg now
      }
      // Outside mu_: RemoveHold may run OnDone, which takes it, inline.
      RemoveHold();
    }
    void OnWriteDone(bool ok) override {
      MutexLock lock(&call_->mu_);
      if (ok && !call_->leg_read_done_) call_->StartRead(&call_->request_);
    }
    void OnDone(const grpc::Status& status) override {
      {
        MutexLock lock(&call_->mu_);
        for (const auto& [key, value] :
             call_->leg_context_.GetServerTrailingMetadata()) {
          if (Forwardable(key)) {
            call_->server_->AddTrailingMetadata(
                std::string(key.data(), key.size()),
                std::string(value.data(), value.size()));
          }
        }
        if (call_->server_write_pending_) {
          call_->pending_status_ = status;  // finished by OnWriteDone
        } else {
          call_->FinishLocked(status);
        }
      }
      call_->Release();
    }

   private:
    HeldCall* const call_;
  };

  void StopWaitingLocked(Phase next) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    phase_ = next;
    if (counted_) state_->count.fetch_sub(1, std::memory_order_relaxed);
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finish_called_) return;
    finish_called_ = true;
    Finish(std::move(status));
  }

  // One end is done; the last deletes the call.
  void Release() {
    if (ends_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  const std::shared_ptr<CallHolder::State> state_;
  grpc::GenericCallbackServerContext* const server_;
  const std::shared_ptr<grpc::CallCredentials> credentials_;  // or null
  Mutex mu_;
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kWaiting;
  // In State::count (set by Add() before another thread can see the call).
  bool counted_ = false;
  bool leg_context_ready_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  bool server_write_pending_ ABSL_GUARDED_BY(mu_) = false;
  // The leg's read side ended: nothing more is started on the leg.
  bool leg_read_done_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> pending_status_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer request_;   // caller -> member, one at a time
  grpc::ByteBuffer response_;  // member -> caller, one at a time
  grpc::ClientContext leg_context_;
  Leg leg_;
  std::atomic<int> ends_{1};  // the server side; the leg adds one
};

// Ends a call the hold server cannot place (no such holder any more).
class RefusedCall final : public grpc::ServerGenericBidiReactor {
 public:
  RefusedCall() { Finish(ShutDownWhileWaiting()); }
  void OnDone() override { delete this; }
};

class HoldService final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    const auto& metadata = context->client_metadata();
    auto it = metadata.find(kHeldByHeader);
    if (it == metadata.end()) return new RefusedCall;
    const std::pair<absl::string_view, absl::string_view> ids = absl::StrSplit(
        absl::string_view(it->second.data(), it->second.size()),
        absl::MaxSplits('/', 1));
    uint64_t holder = 0, call = 0;
    std::shared_ptr<CallHolder::State> state;
    if (absl::SimpleAtoi(ids.first, &holder)) {
      state = HolderRegistry::Get().Find(holder);
    }
    if (state == nullptr) return new RefusedCall;
    std::shared_ptr<grpc::CallCredentials> credentials;
    if (!ids.second.empty() && absl::SimpleAtoi(ids.second, &call)) {
      credentials = state->TakeCredentials(call);
    }
    return new HeldCall(std::move(state), context, std::move(credentials));
  }
};

// The process-wide server held calls wait in: no port, only in-process
// channels. Made on first use and never destroyed (channels of any warm
// channel may be in use until the process exits).
grpc::Server& HoldServer() {
  static grpc::Server* const server = [] {
    static HoldService* const service = new HoldService;
    grpc::ServerBuilder builder;
    builder.RegisterCallbackGenericService(service);
    // The member connections' own limits apply on the forwarded leg.
    builder.SetMaxReceiveMessageSize(-1);
    builder.SetMaxSendMessageSize(-1);
    return builder.BuildAndStart().release();
  }();
  return *server;
}

// Tells the hold server which holder a call on its channel is for, and
// hands it the call's per-call credentials (see kHeldByHeader).
class HeldByInterceptor final : public grpc::experimental::Interceptor {
 public:
  HeldByInterceptor(std::shared_ptr<CallHolder::State> state,
                    grpc::ClientContext* context)
      : state_(std::move(state)), context_(context) {}
  ~HeldByInterceptor() override {
    // Not taken if the call ended before it reached the hold server.
    if (call_ != 0) state_->TakeCredentials(call_);
  }
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::
                PRE_SEND_INITIAL_METADATA)) {
      std::string value = absl::StrCat(state_->id);
      if (std::shared_ptr<grpc::CallCredentials> creds =
              context_->credentials()) {
        call_ = state_->StashCredentials(std::move(creds));
        absl::StrAppend(&value, "/", call_);
      }
      methods->GetSendInitialMetadata()->emplace(kHeldByHeader,
                                                 std::move(value));
    }
    methods->Proceed();
  }

 private:
  const std::shared_ptr<CallHolder::State> state_;
  grpc::ClientContext* const context_;  // the call's, which outlives this
  uint64_t call_ = 0;                   // stashed credentials' key, or 0
};

class HeldByInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit HeldByInterceptorFactory(std::shared_ptr<CallHolder::State> state)
      : state_(std::move(state)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    return new HeldByInterceptor(state_, info->client_context());
  }

 private:
  const std::shared_ptr<CallHolder::State> state_;
};

}  // namespace

bool CallHolder::State::Add(HeldCall* call) {
  MutexLock lock(&mu);
  if (shut_down) return false;
  if (call->TryForward()) return true;
  waiting.push_back(call);
  call->CountWaiting();
  count.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void CallHolder::State::Remove(HeldCall* call) {
  MutexLock lock(&mu);
  auto it = std::find(waiting.begin(), waiting.end(), call);
  if (it == waiting.end()) return;
  waiting.erase(it);
}

CallHolder::CallHolder(
    Forward forward, std::shared_ptr<CallStats> call_stats,
    std::shared_ptr<MethodStats> method_stats,
    std::shared_ptr<const SharedInterceptorFactory::Factories> interceptors)
    : state_(std::make_shared<State>(HolderRegistry::NextId(),
                                     std::move(forward))),
      call_stats_(std::move(call_stats)),
      method_stats_(std::move(method_stats)),
      interceptors_(std::move(interceptors)) {}

CallHolder::~CallHolder() {
  Shutdown();
  HolderRegistry::Get().Remove(state_->id);
}

grpc::Channel& CallHolder::channel() {
  std::call_once(once_, [this] {
    std::vector<
        std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
        factories;
    // Counted here, once, as the channel's calls (see the header).
    factories.push_back(SideChannelLoadFactory(call_stats_, method_stats_));
    // The user's interceptors see the call here, with its own context.
    AppendUserInterceptors(interceptors_, factories);
    // Last: the header is for the hold server, not the user's interceptors.
    factories.push_back(std::make_unique<HeldByInterceptorFactory>(state_));
    // Only now can a call reach the hold server: most channels never get
    // here, and never cost a registry entry.
    HolderRegistry::Get().Add(state_);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    channel_ = HoldServer().experimental().InProcessChannelWithInterceptors(
        args, std::move(factories));
  });
  return *channel_;
}

void CallHolder::Wake() {
  MutexLock lock(&state_->mu);
  std::vector<HeldCall*>& waiting = state_->waiting;
  waiting.erase(std::remove_if(waiting.begin(), waiting.end(),
                               [](HeldCall* call) { return call->TryForward(); }),
                waiting.end());
}

void CallHolder::Shutdown() {
  MutexLock lock(&state_->mu);
  if (state_->shut_down) return;
  state_->shut_down = true;
  for (HeldCall* call : state_->waiting) {
    call->FailWaiting(ShutDownWhileWaiting());
  }
  state_->waiting.clear();
}

size_t CallHolder::waiting() const {
  return state_->count.load(std::memory_order_relaxed);
}

}  // namespace internal
}  // namespace warm
