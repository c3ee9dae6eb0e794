#include "tests/soak/soak_scrape.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <cstdlib>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace warm {
namespace soak {
namespace {

namespace pb = ::warm::diagnostics::v1;

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Parses `{k="v",...}` starting at text[*pos] == '{'; leaves *pos after '}'.
bool ParseLabels(const std::string& text, size_t* pos,
                 std::map<std::string, std::string>* labels) {
  size_t i = *pos + 1;
  while (i < text.size() && text[i] != '}') {
    const size_t equals = text.find('=', i);
    if (equals == std::string::npos || equals + 1 >= text.size() ||
        text[equals + 1] != '"') {
      return false;
    }
    const std::string key = text.substr(i, equals - i);
    std::string value;
    size_t j = equals + 2;
    for (; j < text.size() && text[j] != '"'; ++j) {
      if (text[j] == '\\' && j + 1 < text.size()) {
        ++j;
        value.push_back(text[j] == 'n' ? '\n' : text[j]);
      } else {
        value.push_back(text[j]);
      }
    }
    if (j >= text.size()) return false;
    (*labels)[key] = value;
    i = j + 1;
    if (i < text.size() && text[i] == ',') ++i;
  }
  if (i >= text.size()) return false;
  *pos = i + 1;
  return true;
}

}  // namespace

absl::StatusOr<std::vector<MetricSample>> ParseMetricsText(
    const std::string& text) {
  std::vector<MetricSample> out;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    MetricSample sample;
    size_t pos = 0;
    while (pos < line.size() && line[pos] != '{' && line[pos] != ' ') ++pos;
    sample.name = line.substr(0, pos);
    if (pos < line.size() && line[pos] == '{' &&
        !ParseLabels(line, &pos, &sample.labels)) {
      return absl::InvalidArgumentError(
          absl::StrCat("metrics line ", number, " has bad labels: ", line));
    }
    sample.series = line.substr(0, pos);
    if (pos >= line.size() || line[pos] != ' ') {
      return absl::InvalidArgumentError(
          absl::StrCat("metrics line ", number, " has no value: ", line));
    }
    const std::string value = line.substr(pos + 1);
    char* end = nullptr;
    sample.value = std::strtod(value.c_str(), &end);
    if (end == value.c_str() || (*end != '\0' && *end != ' ')) {
      return absl::InvalidArgumentError(
          absl::StrCat("metrics line ", number, " has a bad value: ", line));
    }
    out.push_back(std::move(sample));
  }
  return out;
}

absl::StatusOr<pb::Snapshot> ParseSnapshotJson(const std::string& json) {
  pb::Snapshot snapshot;
  const auto status =
      google::protobuf::util::JsonStringToMessage(json, &snapshot);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("/channels.json does not parse: ", status.ToString()));
  }
  return snapshot;
}

void CounterHistory::Check(const std::string& key, double value,
                           const std::string& source) {
  auto [it, inserted] = last_.emplace(key, value);
  if (inserted) return;
  if (value < it->second) {
    std::ostringstream detail;
    detail << source << ": " << key << " went down from " << it->second
           << " to " << value;
    violations_->Add("counter_went_down", detail.str());
  }
  it->second = value;
}

int CounterHistory::CheckMetrics(const std::vector<MetricSample>& samples,
                                 const std::string& source) {
  std::lock_guard<std::mutex> lock(mu_);
  int compared = 0;
  for (const MetricSample& sample : samples) {
    if (!EndsWith(sample.name, "_total") && !EndsWith(sample.name, "_count") &&
        !EndsWith(sample.name, "_bucket")) {
      continue;
    }
    Check("metrics " + sample.series, sample.value, source);
    ++compared;
  }
  return compared;
}

int CounterHistory::CheckSnapshot(const pb::Snapshot& snapshot,
                                  const std::string& source) {
  std::lock_guard<std::mutex> lock(mu_);
  int compared = 0;
  // Every unsigned integer field of `message` is a counter (the gauges in
  // Counters and Tls are signed: in_flight, waiting_calls,
  // members_on_old_material, times).
  auto unsigned_fields = [&](const google::protobuf::Message& message,
                             const std::string& prefix) {
    const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
    const google::protobuf::Reflection* reflection = message.GetReflection();
    for (int i = 0; i < descriptor->field_count(); ++i) {
      const google::protobuf::FieldDescriptor* field = descriptor->field(i);
      if (field->is_repeated() ||
          field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_UINT64) {
        continue;
      }
      Check(prefix + field->name(),
            static_cast<double>(reflection->GetUInt64(message, field)), source);
      ++compared;
    }
  };
  for (const pb::Channel& channel : snapshot.channels()) {
    const std::string prefix = absl::StrCat("channel ", channel.id(), " (",
                                            channel.name(), ") ");
    unsigned_fields(channel.counters(), prefix + "counters.");
    if (channel.has_tls()) unsigned_fields(channel.tls(), prefix + "tls.");
    for (const pb::CodeCount& count : channel.counters().calls_finished()) {
      Check(prefix + "counters.calls_finished." + count.code(),
            static_cast<double>(count.count()), source);
      ++compared;
    }
    for (const pb::MethodCalls& method : channel.methods()) {
      const std::string method_key = absl::StrCat(
          prefix, "method ", method.service(), "/", method.method(), " ",
          method.type(), " ");
      Check(method_key + "started", static_cast<double>(method.started()),
            source);
      ++compared;
      for (const pb::CodeCount& count : method.handled()) {
        Check(method_key + "handled." + count.code(),
              static_cast<double>(count.count()), source);
        ++compared;
      }
    }
  }
  return compared;
}

}  // namespace soak
}  // namespace warm
