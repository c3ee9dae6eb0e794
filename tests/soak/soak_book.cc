#include "tests/soak/soak_book.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>

namespace warm {
namespace soak {
namespace {

double Ms(SteadyClock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// Digits folded to '#', so that addresses, ports and counts do not make
// every message a cause of its own; cut to 90 characters.
std::string Cause(const std::string& message) {
  std::string out;
  for (char c : message) {
    if (out.size() >= 90) break;
    if (c >= '0' && c <= '9') {
      if (out.empty() || out.back() != '#') out.push_back('#');
    } else if (c == '\n' || c == '\r' || c == '\t') {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out.empty() ? "(no message)" : out;
}

}  // namespace

void SoakLog::Line(const std::string& text) {
  char stamp[32];
  std::snprintf(stamp, sizeof(stamp), "[%9.3fs] ", Seconds());
  std::lock_guard<std::mutex> lock(mu_);
  std::cout << stamp << text << std::endl;
}

double SoakLog::Seconds() const {
  return std::chrono::duration<double>(SteadyClock::now() - start_).count();
}

void Violations::Add(const std::string& kind, const std::string& detail) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++count_;
    ++by_kind_[kind];
    if (details_.size() < 50) details_.push_back(kind + ": " + detail);
  }
  log_->Line("VIOLATION " + kind + ": " + detail);
}

int Violations::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_;
}

std::map<std::string, int> Violations::by_kind() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_kind_;
}

std::vector<std::string> Violations::details() const {
  std::lock_guard<std::mutex> lock(mu_);
  return details_;
}

void CallOutcomes::Add(const grpc::Status& status) {
  const int code = static_cast<int>(status.error_code());
  std::lock_guard<std::mutex> lock(mu_);
  ++by_code_[code >= 0 && code < kCodes ? code : 2];
  if (code != 0) ++causes_[code][Cause(status.error_message())];
}

std::array<uint64_t, kCodes> CallOutcomes::by_code() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_code_;
}

std::map<int, std::vector<std::pair<std::string, uint64_t>>>
CallOutcomes::causes(size_t max_causes) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<int, std::vector<std::pair<std::string, uint64_t>>> out;
  for (const auto& [code, causes] : causes_) {
    std::vector<std::pair<std::string, uint64_t>> sorted(causes.begin(),
                                                         causes.end());
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.second > b.second; });
    if (sorted.size() > max_causes) sorted.resize(max_causes);
    out[code] = std::move(sorted);
  }
  return out;
}

uint64_t CallTally::Begin(SteadyClock::time_point deadline, const char* what) {
  const uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
  // Counted before it is outstanding, and (End) no longer outstanding before
  // it is counted finished: so finished + outstanding <= started whenever
  // they are read in that order.
  started_.fetch_add(1, std::memory_order_acq_rel);
  std::lock_guard<std::mutex> lock(mu_);
  outstanding_.emplace(id, Outstanding{SteadyClock::now(), deadline, what});
  return id;
}

void CallTally::End(uint64_t id, const grpc::Status& status) {
  const SteadyClock::time_point now = SteadyClock::now();
  Outstanding call{};
  bool found = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = outstanding_.find(id);
    if (it != outstanding_.end()) {
      call = it->second;
      found = true;
      outstanding_.erase(it);
    }
  }
  if (!found) {
    shared_.violations->Add(
        "call_ended_twice",
        name_ + ": call " + std::to_string(id) +
            " ended but was not outstanding (ended twice or never started)");
    return;
  }
  const int code = static_cast<int>(status.error_code());
  by_code_[code >= 0 && code < kCodes ? code : 2].fetch_add(
      1, std::memory_order_acq_rel);
  finished_.fetch_add(1, std::memory_order_acq_rel);
  shared_.outcomes->Add(status);
  if (!call.reported && now > call.deadline + shared_.deadline_slack) {
    std::ostringstream detail;
    detail << name_ << ": " << call.what << " call " << id << " ended "
           << Ms(now - call.deadline) << " ms after its deadline ("
           << Ms(call.deadline - call.started) << " ms deadline, slack "
           << shared_.deadline_slack.count() << " ms), status "
           << code << " '" << status.error_message() << "'";
    shared_.violations->Add("deadline_overrun", detail.str());
  }
}

std::array<uint64_t, kCodes> CallTally::finished_by_code() const {
  std::array<uint64_t, kCodes> out{};
  for (int i = 0; i < kCodes; ++i) {
    out[i] = by_code_[i].load(std::memory_order_acquire);
  }
  return out;
}

size_t CallTally::outstanding() const {
  std::lock_guard<std::mutex> lock(mu_);
  return outstanding_.size();
}

int CallTally::CheckOverdue(SteadyClock::time_point now) {
  std::vector<std::string> reports;
  int overdue = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, call] : outstanding_) {
      if (now <= call.deadline + shared_.deadline_slack) continue;
      ++overdue;
      if (call.reported) continue;
      call.reported = true;
      std::ostringstream detail;
      detail << name_ << ": " << call.what << " call " << id
             << " still running " << Ms(now - call.deadline)
             << " ms after its deadline (" << Ms(call.deadline - call.started)
             << " ms deadline, slack " << shared_.deadline_slack.count()
             << " ms)";
      reports.push_back(detail.str());
    }
  }
  for (const std::string& report : reports) {
    shared_.violations->Add("deadline_overrun", report);
  }
  return overdue;
}

std::vector<std::string> CallTally::DescribeOutstanding(
    SteadyClock::time_point now) const {
  std::vector<std::string> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, call] : outstanding_) {
    std::ostringstream text;
    text << name_ << ": " << call.what << " call " << id << " started "
         << Ms(now - call.started) << " ms ago, deadline "
         << Ms(call.deadline - call.started) << " ms";
    out.push_back(text.str());
  }
  return out;
}

}  // namespace soak
}  // namespace warm
