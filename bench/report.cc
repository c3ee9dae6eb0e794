#include "bench/report.h"

#include <cmath>
#include <cstdio>

namespace warm {
namespace bench {
namespace {

std::string Quoted(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string NumberText(double value) {
  if (!std::isfinite(value)) return "null";
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.10g", value);
  return buffer;
}

template <typename T, typename ToText>
std::string ListText(const std::vector<T>& values, const ToText& to_text) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    out += (i ? ", " : "") + to_text(values[i]);
  }
  return out + "]";
}

}  // namespace

JsonObject& JsonObject::SetRaw(const std::string& key, std::string json) {
  for (auto& field : fields_) {
    if (field.first == key) {
      field.second = std::move(json);
      return *this;
    }
  }
  fields_.emplace_back(key, std::move(json));
  return *this;
}

JsonObject& JsonObject::Set(const std::string& key, double value) {
  return SetRaw(key, NumberText(value));
}

JsonObject& JsonObject::Set(const std::string& key, const std::string& value) {
  return SetRaw(key, Quoted(value));
}

JsonObject& JsonObject::Set(const std::string& key, const char* value) {
  return Set(key, std::string(value));
}

JsonObject& JsonObject::Set(const std::string& key, bool value) {
  return SetRaw(key, value ? "true" : "false");
}

JsonObject& JsonObject::Set(const std::string& key,
                            const std::vector<double>& values) {
  return SetRaw(key, ListText(values, NumberText));
}

JsonObject& JsonObject::Set(const std::string& key, const Summary& summary) {
  return Set(key, JsonObject()
                      .Set("median", summary.median)
                      .Set("min", summary.min)
                      .Set("max", summary.max));
}

JsonObject& JsonObject::Set(const std::string& key, const JsonObject& object) {
  return SetRaw(key, object.ToString());
}

JsonObject& JsonObject::Set(const std::string& key,
                            const std::vector<JsonObject>& objects) {
  return SetRaw(key, ListText(objects, [](const JsonObject& object) {
                  return object.ToString();
                }));
}

std::string JsonObject::ToString() const {
  std::string out = "{";
  for (size_t i = 0; i < fields_.size(); ++i) {
    out +=
        (i ? ", " : "") + Quoted(fields_[i].first) + ": " + fields_[i].second;
  }
  return out + "}";
}

std::string ToJson(const JsonObject& object) {
  // Re-indents the compact text: a line per field and per list element,
  // except in lists of numbers, which stay on one line.
  const std::string compact = object.ToString();
  std::string out;
  int depth = 0;
  bool in_string = false;
  std::vector<bool> broken;  // per open bracket: were its elements broken?
  auto newline = [&] { out += "\n" + std::string(2 * depth, ' '); };
  for (size_t i = 0; i < compact.size(); ++i) {
    const char c = compact[i];
    if (in_string) {
      out += c;
      if (c == '\\') {
        out += compact[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        out += c;
        break;
      case '{':
      case '[': {
        const char next = i + 1 < compact.size() ? compact[i + 1] : ' ';
        const bool brk = c == '{' ? next != '}' : next == '{' || next == '[';
        broken.push_back(brk);
        out += c;
        if (brk) {
          ++depth;
          newline();
        }
        break;
      }
      case '}':
      case ']':
        if (broken.back()) {
          --depth;
          newline();
        }
        broken.pop_back();
        out += c;
        break;
      case ',':
        out += c;
        if (broken.back()) {
          newline();
          ++i;  // the space after the comma
        }
        break;
      default:
        out += c;
    }
  }
  return out + "\n";
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
