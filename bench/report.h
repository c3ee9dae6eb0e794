// Results of warm_bench: JSON for machines, Markdown for people.
//
// JSON objects are built field by field and written with their keys in the
// order they were set. (Not google::protobuf::Struct: its inline map code
// crashes in ThreadSanitizer builds against Debian's uninstrumented
// libprotobuf.) Markdown tables are GitHub-flavoured pipe tables.

#ifndef WARM_BENCH_REPORT_H_
#define WARM_BENCH_REPORT_H_

#include <string>
#include <utility>
#include <vector>

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

  // Compact JSON text: {"key": value, ...}. Numbers that are not finite
  // are written as null.
  std::string ToString() const;

 private:
  // Setting a key again replaces its value in place.
  JsonObject& SetRaw(const std::string& key, std::string json);

  std::vector<std::pair<std::string, std::string>> fields_;  // key, JSON
};

// `object` as indented JSON text, one field a line.
std::string ToJson(const JsonObject& object);

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
