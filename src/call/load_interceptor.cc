#include "src/call/load_interceptor.h"

#include <algorithm>
#include <cmath>

#include "src/health/health_check.h"
#include "src/common/tsan.h"

namespace warm {
namespace internal {
namespace {

using grpc::experimental::InterceptionHookPoints;

class LoadInterceptor : public grpc::experimental::Interceptor {
 public:
  // `load` outlives this interceptor: the interceptor lives in the call's
  // ClientContext (rpc_info_), which is destroyed before the context's
  // reference to the member grpc::Channel (channel_, declared earlier), which
  // owns the factory, which owns `load`.
  LoadInterceptor(MemberLoad* load, TsanChannelRef channel)
      : load_(load),
        channel_(std::move(channel)),
        start_(std::chrono::steady_clock::now()) {
    load_->CallStarted();
  }
  ~LoadInterceptor() override {
    if (!finished_) load_->CallFinished(grpc::StatusCode::CANCELLED);
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!finished_ && methods->QueryInterceptionHookPoint(
                          InterceptionHookPoints::POST_RECV_STATUS)) {
      finished_ = true;
      const auto now = std::chrono::steady_clock::now();
      const int64_t latency_us =
          std::chrono::duration_cast<std::chrono::microseconds>(now - start_)
              .count();
      load_->RecordLatency(latency_us);
      if (load_->peak_ewma) {
        load_->RecordPeakEwma(latency_us, SteadyMicros(now));
      }
      load_->CallFinished(methods->GetRecvStatus()->error_code());
    }
    methods->Proceed();
  }

 private:
  MemberLoad* const load_;
  const TsanChannelRef channel_;  // src/common/tsan.h
  const std::chrono::steady_clock::time_point start_;
  bool finished_ = false;  // POST_RECV_STATUS comes once, on one thread
};

}  // namespace

void MemberLoad::RecordPeakEwma(int64_t us, int64_t now_us) {
  // Lossy like the plain EWMA: concurrent updates may lose a step.
  const int64_t last = peak_stamp_us.load(std::memory_order_relaxed);
  const double cost =
      static_cast<double>(peak_ewma_us.load(std::memory_order_relaxed));
  double next = static_cast<double>(us);
  if (next < cost) {
    const double weight =
        std::exp(-static_cast<double>(std::max<int64_t>(0, now_us - last)) /
                 kPeakEwmaTauUs);
    next = cost * weight + next * (1 - weight);
  }
  peak_ewma_us.store(static_cast<int64_t>(next), std::memory_order_relaxed);
  peak_stamp_us.store(now_us, std::memory_order_relaxed);
}

double MemberLoad::PeakEwmaAt(int64_t now_us) const {
  const int64_t last = peak_stamp_us.load(std::memory_order_relaxed);
  const double cost =
      static_cast<double>(peak_ewma_us.load(std::memory_order_relaxed));
  return cost *
         std::exp(-static_cast<double>(std::max<int64_t>(0, now_us - last)) /
                  kPeakEwmaTauUs);
}

MemberLoad::MemberLoad(std::shared_ptr<CallStats> stats)
    : stats_(std::move(stats)) {
  if (stats_ != nullptr) stats_->Register(this);
}

MemberLoad::~MemberLoad() {
  if (stats_ != nullptr) stats_->Retire(this);
}

CallCounts MemberLoad::Counts() const {
  CallCounts counts;
  counts.started = started.load(std::memory_order_relaxed);
  counts.in_flight = in_flight.load(std::memory_order_relaxed);
  for (int i = 0; i < kCodes; ++i) {
    counts.finished[i] = finished[i].load(std::memory_order_relaxed);
  }
  for (int i = 0; i < kLatencyBuckets; ++i) {
    counts.latency_buckets[i] =
        latency_buckets[i].load(std::memory_order_relaxed);
  }
  counts.latency_sum_us = latency_sum_us.load(std::memory_order_relaxed);
  return counts;
}

void CallCounts::Add(const CallCounts& other) {
  started += other.started;
  in_flight += other.in_flight;
  for (size_t i = 0; i < finished.size(); ++i) finished[i] += other.finished[i];
  for (size_t i = 0; i < latency_buckets.size(); ++i) {
    latency_buckets[i] += other.latency_buckets[i];
  }
  latency_sum_us += other.latency_sum_us;
  retired += other.retired;
}

uint64_t CallCounts::latency_count() const {
  uint64_t count = 0;
  for (uint64_t n : latency_buckets) count += n;
  return count;
}

int64_t LatencyQuantileUs(
    const std::array<uint64_t, MemberLoad::kLatencyBuckets>& buckets,
    double q) {
  uint64_t total = 0;
  for (uint64_t n : buckets) total += n;
  if (total == 0) return -1;
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    seen += buckets[i];
    if (static_cast<double>(seen) >= q * static_cast<double>(total)) {
      return MemberLoad::kLatencyBoundsUs[std::min(
          i, MemberLoad::kLatencyBoundsUs.size() - 1)];
    }
  }
  return MemberLoad::kLatencyBoundsUs.back();
}

void CallStats::Register(const MemberLoad* load) {
  MutexLock lock(&mu_);
  live_.push_back(load);
}

void CallStats::Retire(const MemberLoad* load) {
  MutexLock lock(&mu_);
  CallCounts final_counts = load->Counts();
  final_counts.in_flight = 0;  // every call of a MemberLoad going has ended
  final_counts.retired = 1;
  retired_.Add(final_counts);
  live_.erase(std::find(live_.begin(), live_.end(), load));
}

CallCounts CallStats::Total() const {
  MutexLock lock(&mu_);
  CallCounts total = retired_;
  for (const MemberLoad* load : live_) total.Add(load->Counts());
  return total;
}

grpc::experimental::Interceptor*
LoadInterceptorFactory::CreateClientInterceptor(
    grpc::experimental::ClientRpcInfo* info) {
  // warm's own health checks are not the application's load.
  if (IsHealthCheck(info->method())) return nullptr;
  return new LoadInterceptor(load_.get(), TsanRef(info->channel()));
}

}  // namespace internal
}  // namespace warm
