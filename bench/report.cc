#include "bench/report.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>

namespace warm {
namespace bench {
namespace {

google::protobuf::Value NumberValue(double value) {
  google::protobuf::Value v;
  v.set_number_value(value);
  return v;
}

}  // namespace

JsonObject& JsonObject::Set(const std::string& key, double value) {
  (*proto_.mutable_fields())[key] = NumberValue(value);
  return *this;
}

JsonObject& JsonObject::Set(const std::string& key, const std::string& value) {
  (*proto_.mutable_fields())[key].set_string_value(value);
  return *this;
}

JsonObject& JsonObject::Set(const std::string& key, const char* value) {
  return Set(key, std::string(value));
}

JsonObject& JsonObject::Set(const std::string& key, bool value) {
  (*proto_.mutable_fields())[key].set_bool_value(value);
  return *this;
}

JsonObject& JsonObject::Set(const std::string& key,
                            const std::vector<double>& values) {
  google::protobuf::ListValue* list =
      (*proto_.mutable_fields())[key].mutable_list_value();
  for (double value : values) *list->add_values() = NumberValue(value);
  return *this;
}

JsonObject& JsonObject::Set(const std::string& key, const Summary& summary) {
  return Set(key, JsonObject()
                      .Set("median", summary.median)
                      .Set("min", summary.min)
                      .Set("max", summary.max));
}

JsonObject& JsonObject::Set(const std::string& key, const JsonObject& object) {
  *(*proto_.mutable_fields())[key].mutable_struct_value() = object.proto();
  return *this;
}

JsonObject& JsonObject::Set(const std::string& key,
                            const std::vector<JsonObject>& objects) {
  google::protobuf::ListValue* list =
      (*proto_.mutable_fields())[key].mutable_list_value();
  for (const JsonObject& object : objects) {
    *list->add_values()->mutable_struct_value() = object.proto();
  }
  return *this;
}

std::string ToJson(const JsonObject& object) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string text;
  // A Struct built from doubles, strings and bools always prints.
  (void)google::protobuf::util::MessageToJsonString(object.proto(), &text,
                                                    options);
  return text;
}

absl::StatusOr<JsonObject> ParseJson(const std::string& text) {
  JsonObject object;
  const auto status =
      google::protobuf::util::JsonStringToMessage(text, &object.proto());
  if (!status.ok()) {
    return absl::InvalidArgumentError("not a JSON object: " +
                                      status.ToString());
  }
  return object;
}

MarkdownTable::MarkdownTable(std::vector<std::string> header)
    : header_(std::move(header)) {}

void MarkdownTable::AddRow(std::vector<std::string> cells) {
  cells.resize(header_.size());
  rows_.push_back(std::move(cells));
}

std::string MarkdownTable::ToString() const {
  auto line = [](const std::vector<std::string>& cells) {
    std::string out = "|";
    for (const std::string& cell : cells) out += " " + cell + " |";
    return out + "\n";
  };
  std::string out = line(header_);
  out += "|";
  for (size_t i = 0; i < header_.size(); ++i) out += "---|";
  out += "\n";
  for (const auto& row : rows_) out += line(row);
  return out;
}

std::string Fixed(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", digits, value);
  return buffer;
}

std::string Range(const Summary& summary, int digits) {
  return Fixed(summary.median, digits) + " (" + Fixed(summary.min, digits) +
         "–" + Fixed(summary.max, digits) + ")";
}

}  // namespace bench
}  // namespace warm
