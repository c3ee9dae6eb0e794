#include "bench/load.h"

#include <algorithm>

namespace warm {
namespace bench {

CallRecord CallOnce(warm::testing::EchoTest::Stub& stub,
                    std::chrono::milliseconds deadline, bool record_backend,
                    bool wait_for_ready) {
  warm::testing::EchoRequest request;
  request.set_message("bench");
  warm::testing::EchoResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  if (wait_for_ready) context.set_wait_for_ready(true);
  CallRecord record;
  record.start = Clock::now();
  record.code = stub.Echo(&context, request, &response).error_code();
  record.end = Clock::now();
  if (record_backend && record.ok()) record.backend = response.backend();
  return record;
}

Load::Load(std::shared_ptr<grpc::ChannelInterface> channel, LoadOptions options,
           Clock::duration duration)
    : channel_(std::move(channel)),
      options_(options),
      end_(Clock::now() + duration) {
  for (int i = 0; i < options_.threads; ++i) {
    callers_.push_back(std::make_unique<Caller>());
  }
  for (auto& caller : callers_) {
    threads_.emplace_back([this, &caller] { Run(*caller); });
  }
}

Load::~Load() { Stop(); }

void Load::Join() {
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void Load::Stop() {
  stop_ = true;
  Join();
}

std::vector<CallRecord> Load::Records() const {
  std::vector<CallRecord> all;
  for (const auto& caller : callers_) {
    std::lock_guard<std::mutex> lock(caller->mu);
    all.insert(all.end(), caller->records.begin(), caller->records.end());
  }
  return all;
}

void Load::Run(Caller& caller) {
  auto stub = warm::testing::EchoTest::NewStub(channel_);
  Clock::time_point next = Clock::now();
  while (!stop_.load(std::memory_order_relaxed) && Clock::now() < end_) {
    if (options_.pace.count() > 0) {
      // Pacing, not waiting for a state: the next call's start time.
      std::this_thread::sleep_until(next);
      next += options_.pace;
    }
    CallRecord record =
        CallOnce(*stub, options_.deadline, options_.record_backend);
    std::lock_guard<std::mutex> lock(caller.mu);
    caller.records.push_back(std::move(record));
  }
}

std::vector<CallRecord> RunLoad(std::shared_ptr<grpc::ChannelInterface> channel,
                                const LoadOptions& options,
                                Clock::duration duration) {
  Load load(std::move(channel), options, duration);
  load.Join();
  return load.Records();
}

double QpsOf(const std::vector<CallRecord>& records) {
  if (records.empty()) return 0;
  Clock::time_point first = records.front().start, last = records.front().end;
  int ok = 0;
  for (const CallRecord& record : records) {
    first = std::min(first, record.start);
    last = std::max(last, record.end);
    ok += record.ok();
  }
  const double seconds = std::chrono::duration<double>(last - first).count();
  return seconds > 0 ? ok / seconds : 0;
}

int FailuresIn(const std::vector<CallRecord>& records) {
  return static_cast<int>(
      std::count_if(records.begin(), records.end(),
                    [](const CallRecord& record) { return !record.ok(); }));
}

}  // namespace bench
}  // namespace warm
