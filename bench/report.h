// Results of warm_bench: JSON for machines, Markdown for people.
//
// JSON objects are google::protobuf::Struct values written by protobuf's
// JSON printer, so the output is valid JSON without an escaping routine of
// our own. Markdown tables are GitHub-flavoured pipe tables.

#ifndef WARM_BENCH_REPORT_H_
#define WARM_BENCH_REPORT_H_

#include <google/protobuf/struct.pb.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/stats.h"

namespace warm {
namespace bench {

// A JSON object under construction.
class JsonObject {
 public:
  JsonObject& Set(const std::string& key, double value);
  JsonObject& Set(const std::string& key, const std::string& value);
  JsonObject& Set(const std::string& key, const char* value);
  JsonObject& Set(const std::string& key, bool value);
  JsonObject& Set(const std::string& key, const std::vector<double>& values);
  // {"median": m, "min": a, "max": b}
  JsonObject& Set(const std::string& key, const Summary& summary);
  JsonObject& Set(const std::string& key, const JsonObject& object);
  JsonObject& Set(const std::string& key,
                  const std::vector<JsonObject>& objects);

  const google::protobuf::Struct& proto() const { return proto_; }
  google::protobuf::Struct& proto() { return proto_; }

 private:
  google::protobuf::Struct proto_;
};

// Pretty-printed JSON text of `object`.
std::string ToJson(const JsonObject& object);
// Parses JSON text into an object; an error when it is not a JSON object.
absl::StatusOr<JsonObject> ParseJson(const std::string& text);

// A Markdown pipe table.
class MarkdownTable {
 public:
  explicit MarkdownTable(std::vector<std::string> header);
  // Requires as many cells as the header has columns.
  void AddRow(std::vector<std::string> cells);
  std::string ToString() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// Number formatting for tables: `digits` after the point.
std::string Fixed(double value, int digits);
// "m (a–b)" with `digits` after the point.
std::string Range(const Summary& summary, int digits);

}  // namespace bench
}  // namespace warm

#endif  // WARM_BENCH_REPORT_H_
