#include "src/pool.h"

#include <grpc/support/time.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/support/time.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "src/picker.h"
#include "src/private_access.h"
#include "src/worker.h"

namespace warm {
namespace internal {
namespace {

// How soon to retry freeing retired picker snapshots that a reader still held.
constexpr int kReclaimRetryMs = 20;

// Member state watches are renewed this often even when nothing changes, so
// that a watch never pins a channel gRPC could not shut down for long.
constexpr int kMemberWatchRenewMs = 5 * 60 * 1000;

// The signal channel's target: a valid address nothing ever connects to (the
// channel is never asked to connect, so it stays IDLE).
constexpr char kSignalTarget[] = "unix:/nonexistent/warm-state-signal";

gpr_timespec FromNowMs(int ms) {
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_millis(ms, GPR_TIMESPAN));
}

// The aggregate of member states: READY if any member is READY, else
// CONNECTING if any is, else IDLE if any is, else TRANSIENT_FAILURE (also for
// no members).
grpc_connectivity_state AggregateState(
    const std::vector<grpc_connectivity_state>& states) {
  for (grpc_connectivity_state wanted :
       {GRPC_CHANNEL_READY, GRPC_CHANNEL_CONNECTING, GRPC_CHANNEL_IDLE}) {
    if (std::find(states.begin(), states.end(), wanted) != states.end()) {
      return wanted;
    }
  }
  return GRPC_CHANNEL_TRANSIENT_FAILURE;
}

}  // namespace

Pool::Pool(Config config)
    : config_(std::move(config)), picker_(std::make_unique<PickerSnapshot>()) {}

absl::StatusOr<std::shared_ptr<Pool>> Pool::Start(Config config) {
  std::shared_ptr<Pool> pool(new Pool(std::move(config)));
  std::string rejected;
  {
    std::lock_guard<std::mutex> lock(pool->mu_);
    const std::vector<Address>& addresses = pool->config_.addresses;
    // Start at a random address so that many clients of one fleet do not all
    // put their first members on its first backends.
    const size_t offset = ThreadRandom() % addresses.size();
    for (int i = 0; i < pool->config_.pool_size; ++i) {
      pool->OpenMemberLocked(addresses[(offset + i) % addresses.size()]);
    }
    for (const std::shared_ptr<Member>& member : pool->members_) {
      // gRPC turns a target it cannot parse into a "lame" channel, whose
      // state reads SHUTDOWN from the start and which can never connect.
      // ParseTarget() rejects what is known to cause that (e.g. over-long
      // Unix paths); this catches whatever else gRPC may refuse.
      if (member->state() == GRPC_CHANNEL_SHUTDOWN) {
        rejected = member->address().grpc_target;
      }
    }
    pool->RefreshLocked();
  }
  if (!rejected.empty()) {
    pool->Shutdown();
    return absl::InvalidArgumentError(
        absl::StrCat("invalid target \"", pool->target(),
                     "\": gRPC rejected address \"", rejected, "\""));
  }
  return pool;
}

Pool::~Pool() {
  callback_cq_marker_.Shutdown();
  void* tag;
  bool ok;
  while (callback_cq_marker_.Next(&tag, &ok)) {
  }
}

void Pool::OpenMemberLocked(const Address& address) {
  grpc::ChannelArguments args = config_.channel_args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto load = std::make_shared<MemberLoad>();
  auto methods = std::make_shared<MethodCache>();
  SharedInterceptorFactory::Factories factories;
  factories.push_back(std::make_unique<LoadInterceptorFactory>(load, methods));
  for (size_t i = 0; i < config_.interceptors->size(); ++i) {
    factories.push_back(
        std::make_unique<SharedInterceptorFactory>(config_.interceptors, i));
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::experimental::CreateCustomChannelWithInterceptors(
          address.grpc_target, config_.credentials, args, std::move(factories));
  auto member =
      std::make_shared<Member>(next_member_id_++, address, std::move(channel),
                               std::move(load), std::move(methods));
  // Connect now: the pool is warm before the first call.
  member->set_state(member->channel().GetState(/*try_to_connect=*/true));
  Watch(*member, member->state());
  members_.push_back(std::move(member));
}

void Pool::Watch(const Member& member, grpc_connectivity_state last_observed) {
  std::weak_ptr<Pool> weak = weak_from_this();
  const uint64_t id = member.id();
  Worker::Get().WatchState(member.channel(), last_observed,
                           FromNowMs(kMemberWatchRenewMs), [weak, id] {
                             if (std::shared_ptr<Pool> pool = weak.lock()) {
                               pool->OnMemberStateChange(id);
                             }
                           });
}

void Pool::OnMemberStateChange(uint64_t member_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) return;
  auto it = std::find_if(members_.begin(), members_.end(),
                         [&](const auto& m) { return m->id() == member_id; });
  if (it == members_.end()) return;
  Member& member = **it;
  // try_to_connect: an IDLE member (idle timeout, GOAWAY) reconnects at once.
  grpc_connectivity_state state = member.channel().GetState(true);
  member.set_state(state);
  if (state != GRPC_CHANNEL_SHUTDOWN) Watch(member, state);
  RefreshLocked();
}

void Pool::RefreshLocked() {
  std::vector<grpc_connectivity_state> states;
  auto next = std::make_unique<PickerSnapshot>();
  std::vector<std::pair<uint64_t, grpc_connectivity_state>> key;
  for (const std::shared_ptr<Member>& member : members_) {
    const grpc_connectivity_state state = member->state();
    states.push_back(state);
    key.emplace_back(member->id(), state);
    next->all.push_back(member);
    if (state == GRPC_CHANNEL_READY) next->ready.push_back(member);
    if (state == GRPC_CHANNEL_IDLE || state == GRPC_CHANNEL_CONNECTING) {
      next->trying.push_back(member);
    }
  }
  if (key != published_) {
    published_ = std::move(key);
    if (picker_.Publish(std::move(next))) ReclaimLater();
  }

  const grpc_connectivity_state state =
      shutdown_ ? GRPC_CHANNEL_SHUTDOWN : AggregateState(states);
  if (state == state_.load(std::memory_order_relaxed)) return;
  state_.store(state, std::memory_order_release);
  state_changed_.notify_all();
  // Destroying the signal channel completes every watch of the old state.
  state_signal_.reset();
}

void Pool::ReclaimLater() {
  if (reclaim_pending_) return;
  reclaim_pending_ = true;
  std::weak_ptr<Pool> weak = weak_from_this();
  Worker::Get().RunAt(FromNowMs(kReclaimRetryMs), [weak] {
    std::shared_ptr<Pool> pool = weak.lock();
    if (pool == nullptr) return;
    std::lock_guard<std::mutex> lock(pool->mu_);
    pool->reclaim_pending_ = false;
    if (pool->picker_.Reclaim()) pool->ReclaimLater();
  });
}

grpc::internal::Call Pool::CreateCall(const grpc::internal::RpcMethod& method,
                                      grpc::ClientContext* context,
                                      grpc::CompletionQueue* cq) {
  // The read section spans the member's CreateCall: the snapshot keeps the
  // member alive until the new call's ClientContext holds its channel.
  SnapshotCell<PickerSnapshot>::Reader snapshot(picker_);
  Member* member = Pick(*snapshot, ThreadRandom());
  const grpc::internal::RpcMethod member_method = member->MethodFor(
      method, registered_methods_.load(std::memory_order_acquire));
  if (cq == &callback_cq_marker_) {
    cq = ChannelAccess::CallbackCQ(member->channel());
  }
  return ChannelAccess::CreateCall(member->channel(), member_method, context,
                                   cq);
}

void* Pool::RegisterMethod(const char* method) {
  std::lock_guard<std::mutex> lock(methods_mu_);
  auto [it, inserted] = method_ids_.try_emplace(method, method_ids_.size());
  if (inserted) {
    registered_methods_.store(method_ids_.size(), std::memory_order_release);
  }
  if (it->second >= MethodCache::kMaxMethods) return nullptr;
  return MethodIdToTag(it->second);
}

grpc_connectivity_state Pool::GetState(bool try_to_connect) {
  if (try_to_connect) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::shared_ptr<Member>& member : members_) {
      if (member->state() == GRPC_CHANNEL_IDLE)
        member->channel().GetState(true);
    }
  }
  return state_.load(std::memory_order_acquire);
}

void Pool::NotifyOnStateChange(grpc_connectivity_state last_observed,
                               gpr_timespec deadline, grpc::CompletionQueue* cq,
                               void* tag) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_signal_ == nullptr) {
    state_signal_ =
        grpc::CreateChannel(kSignalTarget, grpc::InsecureChannelCredentials());
  }
  // The signal channel is IDLE. Watching it from IDLE waits until it is
  // destroyed (the aggregate state changed: ok) or the deadline (not ok);
  // watching it from any other state completes at once with ok, which is
  // right when the aggregate state already differs from `last_observed`.
  const bool differs = state_.load(std::memory_order_relaxed) != last_observed;
  state_signal_->NotifyOnStateChange(
      differs ? GRPC_CHANNEL_SHUTDOWN : GRPC_CHANNEL_IDLE, deadline, cq, tag);
}

bool Pool::WaitForStateChange(grpc_connectivity_state last_observed,
                              gpr_timespec deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  auto changed = [&] {
    return state_.load(std::memory_order_relaxed) != last_observed;
  };
  deadline = gpr_convert_clock_type(deadline, GPR_CLOCK_REALTIME);
  if (gpr_time_cmp(deadline, gpr_inf_future(GPR_CLOCK_REALTIME)) == 0) {
    state_changed_.wait(lock, changed);
    return true;
  }
  return state_changed_.wait_until(lock, grpc::Timespec2Timepoint(deadline),
                                   changed);
}

std::vector<MemberInfo> Pool::Members() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<MemberInfo> out;
  out.reserve(members_.size());
  for (const std::shared_ptr<Member>& member : members_) {
    const MemberLoad& load = member->load();
    MemberInfo info;
    info.id = member->id();
    info.address = member->address().display;
    info.state = member->state();
    info.pickable = info.state == GRPC_CHANNEL_READY;
    info.in_flight = load.in_flight.load(std::memory_order_relaxed);
    info.calls_started = load.started.load(std::memory_order_relaxed);
    for (const auto& count : load.finished) {
      info.calls_finished_by_code.push_back(
          count.load(std::memory_order_relaxed));
    }
    info.opened_at = member->opened_at();
    out.push_back(std::move(info));
  }
  return out;
}

void Pool::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  // Members go; a member's grpc::Channel lives on in the ClientContexts of its
  // calls in flight and closes when the last one is destroyed.
  members_.clear();
  RefreshLocked();  // publishes an empty picker; SHUTDOWN completes watches
  // No reader is left: the warm channel is being destroyed, and a caller
  // inside CreateCall() would be holding it.
  picker_.Reclaim();
}

}  // namespace internal
}  // namespace warm
