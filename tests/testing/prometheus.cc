#include "tests/testing/prometheus.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <utility>

namespace warm {
namespace testing {
namespace {

constexpr int kStartAttempts = 5;  // ports tried when the chosen one is taken
// How often a wait asks Prometheus again.
constexpr std::chrono::milliseconds kPollInterval{100};
// Bounds of one HTTP request to Prometheus.
constexpr std::chrono::seconds kConnectTimeout{2};
constexpr std::chrono::seconds kReadTimeout{10};

// --- A minimal JSON reader, for the answers of Prometheus's HTTP API. -------

struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> elements;     // kArray: the elements; kObject: the values
  std::vector<std::string> keys;  // kObject: the keys, as elements

  // The member `key` of an object, or nullptr.
  const Json* Find(const std::string& key) const {
    if (type != Type::kObject) return nullptr;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] == key) return &elements[i];
    }
    return nullptr;
  }
  // The string member `key` of an object, or "".
  std::string StringAt(const std::string& key) const {
    const Json* value = Find(key);
    return value != nullptr && value->type == Type::kString ? value->string
                                                            : "";
  }
};

// Parses RFC 8259 JSON text (whole: nothing but whitespace may follow).
class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : text_(text) {}

  absl::StatusOr<Json> Parse() {
    Json value;
    if (!ParseValue(&value, 0)) return Error();
    SkipSpace();
    if (at_ != text_.size()) {
      error_ = "unexpected text after the value";
      return Error();
    }
    return value;
  }

 private:
  static constexpr int kMaxDepth = 64;

  absl::Status Error() const {
    return absl::InvalidArgumentError("malformed JSON at offset " +
                                      std::to_string(at_) + ": " + error_ +
                                      " in: " + Tail(text_, 1000));
  }

  void SkipSpace() {
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\t' ||
                                  text_[at_] == '\n' || text_[at_] == '\r')) {
      ++at_;
    }
  }

  bool Fail(const std::string& error) {
    error_ = error;
    return false;
  }

  bool Literal(const char* word) {
    const size_t length = std::strlen(word);
    if (text_.compare(at_, length, word) != 0) return Fail("bad literal");
    at_ += length;
    return true;
  }

  bool ParseValue(Json* value, int depth) {
    if (depth > kMaxDepth) return Fail("nested too deeply");
    SkipSpace();
    if (at_ >= text_.size()) return Fail("unexpected end");
    const char c = text_[at_];
    if (c == '{') return ParseObject(value, depth);
    if (c == '[') return ParseArray(value, depth);
    if (c == '"') {
      value->type = Json::Type::kString;
      return ParseString(&value->string);
    }
    if (c == 't' || c == 'f') {
      value->type = Json::Type::kBool;
      value->boolean = c == 't';
      return Literal(c == 't' ? "true" : "false");
    }
    if (c == 'n') {
      value->type = Json::Type::kNull;
      return Literal("null");
    }
    return ParseNumber(value);
  }

  bool ParseObject(Json* value, int depth) {
    value->type = Json::Type::kObject;
    ++at_;  // '{'
    SkipSpace();
    if (at_ < text_.size() && text_[at_] == '}') {
      ++at_;
      return true;
    }
    while (true) {
      SkipSpace();
      std::string key;
      if (at_ >= text_.size() || text_[at_] != '"') {
        return Fail("expected a member name");
      }
      if (!ParseString(&key)) return false;
      SkipSpace();
      if (at_ >= text_.size() || text_[at_] != ':') return Fail("expected ':'");
      ++at_;
      Json member;
      if (!ParseValue(&member, depth + 1)) return false;
      value->keys.push_back(std::move(key));
      value->elements.push_back(std::move(member));
      SkipSpace();
      if (at_ < text_.size() && text_[at_] == ',') {
        ++at_;
      } else if (at_ < text_.size() && text_[at_] == '}') {
        ++at_;
        return true;
      } else {
        return Fail("expected ',' or '}'");
      }
    }
  }

  bool ParseArray(Json* value, int depth) {
    value->type = Json::Type::kArray;
    ++at_;  // '['
    SkipSpace();
    if (at_ < text_.size() && text_[at_] == ']') {
      ++at_;
      return true;
    }
    while (true) {
      Json element;
      if (!ParseValue(&element, depth + 1)) return false;
      value->elements.push_back(std::move(element));
      SkipSpace();
      if (at_ < text_.size() && text_[at_] == ',') {
        ++at_;
      } else if (at_ < text_.size() && text_[at_] == ']') {
        ++at_;
        return true;
      } else {
        return Fail("expected ',' or ']'");
      }
    }
  }

  bool ParseNumber(Json* value) {
    // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    const size_t start = at_;
    auto digits = [&] {
      const size_t first = at_;
      while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') {
        ++at_;
      }
      return at_ > first;
    };
    if (at_ < text_.size() && text_[at_] == '-') ++at_;
    if (at_ < text_.size() && text_[at_] == '0') {
      ++at_;
    } else if (!digits()) {
      return Fail("unexpected character");
    }
    if (at_ < text_.size() && text_[at_] == '.') {
      ++at_;
      if (!digits()) return Fail("bad number");
    }
    if (at_ < text_.size() && (text_[at_] == 'e' || text_[at_] == 'E')) {
      ++at_;
      if (at_ < text_.size() && (text_[at_] == '+' || text_[at_] == '-')) {
        ++at_;
      }
      if (!digits()) return Fail("bad number");
    }
    value->type = Json::Type::kNumber;
    value->number =
        std::strtod(text_.substr(start, at_ - start).c_str(), nullptr);
    return true;
  }

  bool ParseHex4(uint32_t* code) {
    if (at_ + 4 > text_.size()) return Fail("short \\u escape");
    *code = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[at_++];
      *code <<= 4;
      if (c >= '0' && c <= '9') {
        *code |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        *code |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        *code |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return Fail("bad \\u escape");
      }
    }
    return true;
  }

  static void AppendUtf8(uint32_t code, std::string* out) {
    if (code < 0x80) {
      out->push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (code >> 6)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (code >> 12)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (code >> 18)));
      out->push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }

  bool ParseString(std::string* out) {
    ++at_;  // '"'
    while (at_ < text_.size()) {
      const char c = text_[at_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) {
        return Fail("control character in a string");
      }
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (at_ >= text_.size()) break;
      const char escape = text_[at_++];
      // The one-character escapes, and what they stand for.
      static constexpr char kEscapes[] = "\"\\/bfnrt";
      static constexpr char kMeanings[] = "\"\\/\b\f\n\r\t";
      const char* simple = std::strchr(kEscapes, escape);
      if (escape != '\0' && simple != nullptr) {
        out->push_back(kMeanings[simple - kEscapes]);
        continue;
      }
      if (escape != 'u') return Fail("bad escape");
      uint32_t code = 0;
      if (!ParseHex4(&code)) return false;
      if (code >= 0xD800 && code <= 0xDBFF &&
          text_.compare(at_, 2, "\\u") == 0) {
        at_ += 2;
        uint32_t low = 0;
        if (!ParseHex4(&low)) return false;
        if (low < 0xDC00 || low > 0xDFFF) return Fail("bad surrogate pair");
        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
      }
      AppendUtf8(code, out);
    }
    return Fail("unterminated string");
  }

  const std::string& text_;
  size_t at_ = 0;
  std::string error_;
};

// --- HTTP ------------------------------------------------------------------

struct HttpReply {
  int status = 0;
  std::string body;
};

// GET http://127.0.0.1:`port``path`?`params`, bounded by kConnectTimeout and
// kReadTimeout.
absl::StatusOr<HttpReply> HttpGet(int port, const std::string& path,
                                  const httplib::Params& params = {}) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(kConnectTimeout);
  client.set_read_timeout(kReadTimeout);
  client.set_write_timeout(kReadTimeout);
  httplib::Result result = client.Get(path, params, httplib::Headers());
  if (!result) {
    return absl::UnavailableError(
        "GET http://127.0.0.1:" + std::to_string(port) + path + ": " +
        httplib::to_string(result.error()));
  }
  return HttpReply{result->status, result->body};
}

// The "data" of a successful API answer; an error with Prometheus's message
// otherwise.
absl::StatusOr<Json> ApiData(const std::string& what,
                             const absl::StatusOr<HttpReply>& reply) {
  if (!reply.ok()) return reply.status();
  absl::StatusOr<Json> root = JsonParser(reply->body).Parse();
  if (!root.ok()) {
    return absl::InternalError(what + ": HTTP " +
                               std::to_string(reply->status) + ", " +
                               std::string(root.status().message()));
  }
  if (root->StringAt("status") != "success") {
    return absl::InvalidArgumentError(
        what + ": HTTP " + std::to_string(reply->status) + ", " +
        root->StringAt("errorType") + ": " + root->StringAt("error"));
  }
  const Json* data = root->Find("data");
  if (data == nullptr)
    return absl::InternalError(what + ": no data in " +
                               Tail(reply->body, 1000));
  return *data;
}

// A [timestamp, "value"] pair's value.
absl::StatusOr<double> PairValue(const Json& pair) {
  if (pair.type != Json::Type::kArray || pair.elements.size() != 2 ||
      pair.elements[1].type != Json::Type::kString) {
    return absl::InternalError("a value is not [timestamp, \"value\"]");
  }
  const std::string& text = pair.elements[1].string;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);  // NaN, +Inf too
  if (text.empty() || end != text.c_str() + text.size()) {
    return absl::InternalError("bad sample value '" + text + "'");
  }
  return value;
}

std::string DescribeSamples(const std::vector<Sample>& samples) {
  std::string text = std::to_string(samples.size()) + " sample(s)";
  for (const Sample& sample : samples) {
    text += "\n  {";
    const char* separator = "";
    for (const auto& [name, value] : sample.labels) {
      text += separator + name + "=\"" + value + "\"";
      separator = ", ";
    }
    char number[64];
    std::snprintf(number, sizeof(number), "%.17g", sample.value);
    text += std::string("} ") + number;
  }
  return text;
}

// --- Starting --------------------------------------------------------------

// A TCP port free on 127.0.0.1 at the time of the call, or 0.
int PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// `text` as a double-quoted YAML string.
std::string Quote(const std::string& text) {
  std::string quoted = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof(escape), "\\x%02x",
                    static_cast<unsigned char>(c));
      quoted += escape;
    } else {
      quoted += c;
    }
  }
  return quoted + "\"";
}

std::string Config(const std::string& target,
                   const PrometheusOptions& options) {
  const std::string interval =
      std::to_string(options.scrape_interval.count()) + "ms";
  return "global:\n"
         "  scrape_interval: " +
         interval + "\n" +
         "  scrape_timeout: " + std::to_string(options.scrape_timeout.count()) +
         "ms\n" + "  evaluation_interval: " + interval + "\n" +
         "scrape_configs:\n"
         "  - job_name: " +
         Quote(Prometheus::kJob) + "\n" +
         "    metrics_path: " + Quote(options.metrics_path) + "\n" +
         "    static_configs:\n"
         "      - targets: [" +
         Quote(target) + "]\n";
}

// Calls `condition` every kPollInterval until it holds or `deadline` passes;
// whether it held.
bool PollUntil(const std::function<bool()>& condition,
               std::chrono::steady_clock::time_point deadline) {
  while (!condition()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        kPollInterval, deadline - now));
  }
  return true;
}

}  // namespace

// --- Promtool --------------------------------------------------------------

absl::StatusOr<MetricsCheck> Promtool::CheckMetrics(
    const std::string& exposition_text) {
  if (absl::Status status = CheckExecutable(kBinary, kPrometheusPackage);
      !status.ok()) {
    return status;
  }
  absl::StatusOr<TempDir> dir = TempDir::Create("promtool");
  if (!dir.ok()) return dir.status();
  SubprocessOptions options;
  options.stdin_path = dir->File("metrics.txt");
  if (absl::Status status = WriteFile(options.stdin_path, exposition_text);
      !status.ok()) {
    return status;
  }
  absl::StatusOr<CommandResult> result =
      RunCommand({kBinary, "check", "metrics"}, kTimeout, options);
  if (!result.ok()) return result.status();
  MetricsCheck check;
  check.ok = result->exit_code == 0;
  check.exit_code = result->exit_code;
  check.output = result->output;
  return check;
}

// --- Prometheus ------------------------------------------------------------

Prometheus::Prometheus(TempDir dir, std::unique_ptr<Subprocess> process,
                       int port)
    : dir_(std::move(dir)),
      process_(std::move(process)),
      port_(port),
      address_("127.0.0.1:" + std::to_string(port)) {}

Prometheus::~Prometheus() { process_->Kill(); }

absl::StatusOr<std::unique_ptr<Prometheus>> Prometheus::Start(
    const std::string& target, const PrometheusOptions& options) {
  if (absl::Status status = CheckExecutable(kBinary, kPrometheusPackage);
      !status.ok()) {
    return status;
  }
  if (options.scrape_timeout.count() <= 0 ||
      options.scrape_timeout >= options.scrape_interval) {
    return absl::InvalidArgumentError(
        "Prometheus::Start: scrape_timeout must be positive and shorter "
        "than scrape_interval");
  }
  const auto deadline =
      std::chrono::steady_clock::now() + options.start_timeout;
  absl::StatusOr<TempDir> dir = TempDir::Create("prometheus");
  if (!dir.ok()) return dir.status();
  const std::string config_path = dir->File("prometheus.yml");
  if (absl::Status status = WriteFile(config_path, Config(target, options));
      !status.ok()) {
    return status;
  }

  std::string log;
  for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
    const int port = PickFreePort();
    if (port == 0) return absl::UnavailableError("no free port on 127.0.0.1");
    const std::string address = "127.0.0.1:" + std::to_string(port);
    absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start({
        kBinary,
        "--config.file=" + config_path,
        "--storage.tsdb.path=" + dir->File("data-" + std::to_string(attempt)),
        "--web.listen-address=" + address,
        "--log.level=info",
    });
    if (!process.ok()) return process.status();

    std::string last_error = "not asked yet";
    const bool ready = PollUntil(
        [&] {
          if ((*process)->Exited()) return true;
          absl::StatusOr<HttpReply> reply = HttpGet(port, "/-/ready");
          if (!reply.ok()) {
            last_error = std::string(reply.status().message());
            return false;
          }
          last_error = "/-/ready answered HTTP " +
                       std::to_string(reply->status) + ": " + reply->body;
          return reply->status == 200;
        },
        deadline);
    if (ready && !(*process)->Exited()) {
      return std::unique_ptr<Prometheus>(
          new Prometheus(*std::move(dir), *std::move(process), port));
    }
    (*process)->Kill();
    log = (*process)->output();
    const std::string description = (*process)->Describe();
    if (log.find("address already in use") != std::string::npos &&
        std::chrono::steady_clock::now() < deadline) {
      continue;  // the port was taken meanwhile: try another
    }
    return absl::DeadlineExceededError(
        "Prometheus (" + description + ") scraping " + target +
        " did not become ready within " +
        std::to_string(options.start_timeout.count()) + " ms (" + last_error +
        "); its log:\n" + Tail(log));
  }
  return absl::UnavailableError("Prometheus found every port it tried taken (" +
                                std::to_string(kStartAttempts) +
                                " tries); last log:\n" + Tail(log));
}

absl::StatusOr<std::vector<Sample>> Prometheus::Query(
    const std::string& promql) const {
  const std::string what = "query '" + promql + "'";
  absl::StatusOr<Json> data =
      ApiData(what, HttpGet(port_, "/api/v1/query", {{"query", promql}}));
  if (!data.ok()) return data.status();
  const std::string result_type = data->StringAt("resultType");
  const Json* result = data->Find("result");
  if (result == nullptr || result->type != Json::Type::kArray) {
    return absl::InternalError(what + ": no result array");
  }
  std::vector<Sample> samples;
  if (result_type == "scalar") {
    absl::StatusOr<double> value = PairValue(*result);
    if (!value.ok()) return value.status();
    samples.push_back(Sample{{}, *value});
    return samples;
  }
  if (result_type != "vector") {
    return absl::InvalidArgumentError(what + ": result type '" + result_type +
                                      "', not an instant vector or scalar");
  }
  for (const Json& element : result->elements) {
    const Json* metric = element.Find("metric");
    const Json* pair = element.Find("value");
    if (metric == nullptr || metric->type != Json::Type::kObject ||
        pair == nullptr) {
      return absl::InternalError(what + ": a sample without metric or value");
    }
    Sample sample;
    for (size_t i = 0; i < metric->keys.size(); ++i) {
      sample.labels[metric->keys[i]] = metric->elements[i].string;
    }
    absl::StatusOr<double> value = PairValue(*pair);
    if (!value.ok()) return value.status();
    sample.value = *value;
    samples.push_back(std::move(sample));
  }
  return samples;
}

absl::StatusOr<Sample> Prometheus::WaitForValue(
    const std::string& promql, const std::function<bool(double)>& predicate,
    std::chrono::steady_clock::time_point deadline) const {
  Sample found;
  std::string last = "not queried";
  const bool satisfied = PollUntil(
      [&] {
        absl::StatusOr<std::vector<Sample>> samples = Query(promql);
        if (!samples.ok()) {
          last = samples.status().ToString();
          return false;
        }
        last = DescribeSamples(*samples);
        if (samples->size() != 1 || !predicate(samples->front().value)) {
          return false;
        }
        found = samples->front();
        return true;
      },
      deadline);
  if (satisfied) return found;
  return absl::DeadlineExceededError(
      "Prometheus: query '" + promql +
      "' did not give one sample with the expected value before the "
      "deadline; last result: " +
      last + "\n" + Describe());
}

absl::StatusOr<std::vector<ScrapeTarget>> Prometheus::TargetHealth() const {
  absl::StatusOr<Json> data =
      ApiData("targets", HttpGet(port_, "/api/v1/targets"));
  if (!data.ok()) return data.status();
  const Json* active = data->Find("activeTargets");
  if (active == nullptr || active->type != Json::Type::kArray) {
    return absl::InternalError("targets: no activeTargets array");
  }
  std::vector<ScrapeTarget> targets;
  for (const Json& element : active->elements) {
    targets.push_back(ScrapeTarget{element.StringAt("scrapeUrl"),
                                   element.StringAt("health"),
                                   element.StringAt("lastError")});
  }
  return targets;
}

std::string Prometheus::Describe() const {
  std::string text =
      "Prometheus (" + process_->Describe() + ") on " + address_ + "; targets:";
  absl::StatusOr<std::vector<ScrapeTarget>> targets = TargetHealth();
  if (!targets.ok()) {
    text += " unknown (" + targets.status().ToString() + ")";
  } else if (targets->empty()) {
    text += " none";
  }
  for (const ScrapeTarget& target :
       targets.ok() ? *targets : std::vector<ScrapeTarget>()) {
    text += "\n  " + target.scrape_url + " health=" + target.health;
    if (!target.last_error.empty()) text += " lastError: " + target.last_error;
  }
  return text + "\nits log:\n" + Tail(process_->output());
}

}  // namespace testing
}  // namespace warm
