// Fuzzes the diagnostics renderers (RenderIndexHtml, RenderChannelHtml,
// RenderMetrics, RenderJson) with snapshots whose strings are hostile:
// channel names and targets, backends' status messages and health details,
// method names, TLS subjects, DNS errors. Each string of the snapshot is
// what the fuzzer made it (valid UTF-8, as CaptureSnapshot() leaves it) with
// kMarker appended, which holds every character that needs escaping, so the
// properties can be checked exactly:
//   - no HTML page holds any of kMarker's '<', '>', '&' or quotes raw, each
//     checked on its own (every value is escaped, in text and in attributes);
//   - every Prometheus sample line parses: label values have no raw newline
//     and no unescaped quote or backslash;
//   - every output is valid UTF-8.
// Numbers are clamped to what warm produces (snapshot_input.h): they are
// never outside input.
//
// Input: one byte choosing refresh_seconds, then a binary Snapshot.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/common/utf8.h"
#include "src/diagnostics/diagnostics.h"
#include "tests/fuzz/snapshot_input.h"

namespace {

namespace pb = ::warm::diagnostics::v1;

// Each character that HTML needs escaped sits next to "fz", so each one left
// raw shows as its own substring (kRawInHtml) while its escaped form does not
// ("&lt;fz", "fz&#39;", "fz&quot;", "&amp;fz", "fz&gt;" hold none of them).
constexpr char kMarker[] = "<fz'fz\"fz&fz\n\\fz>";
constexpr const char* kRawInHtml[] = {"<fz", "fz'", "fz\"", "&fz", "fz>"};

void Check(bool condition, const char* what, absl::string_view detail) {
  if (condition) return;
  std::fprintf(stderr, "diagnostics_render_fuzzer: %s: %.*s\n", what,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

void CheckUtf8(const std::string& text, const char* what) {
  Check(warm::internal::ValidUtf8(text) == text, what, text.substr(0, 200));
}

void CheckHtml(const std::string& html) {
  CheckUtf8(html, "HTML is not valid UTF-8");
  for (const char* raw : kRawInHtml) {
    const size_t at = html.find(raw);
    Check(at == std::string::npos, "HTML holds an unescaped value",
          html.substr(at == std::string::npos ? 0 : (at > 80 ? at - 80 : 0),
                      200));
  }
}

bool IsNameChar(char c, bool first) {
  return absl::ascii_isalpha(c) || c == '_' || c == ':' ||
         (!first && absl::ascii_isdigit(c));
}

// One line of the text exposition format 0.0.4: a comment, or
// name{label="value",...} value [timestamp].
bool ValidMetricsLine(absl::string_view line) {
  if (line.empty() || line[0] == '#') return true;
  size_t i = 0;
  if (!IsNameChar(line[i], true)) return false;
  while (i < line.size() && IsNameChar(line[i], false)) ++i;
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      if (!IsNameChar(line[i], true) || line[i] == ':') return false;
      while (i < line.size() && IsNameChar(line[i], false)) ++i;
      if (line.substr(i, 2) != "=\"") return false;
      i += 2;
      for (;;) {
        if (i >= line.size()) return false;
        if (line[i] == '"') break;
        if (line[i] == '\\') {
          if (i + 1 >= line.size()) return false;
          const char escaped = line[i + 1];
          if (escaped != '\\' && escaped != '"' && escaped != 'n') {
            return false;
          }
          ++i;
        }
        ++i;
      }
      ++i;  // the closing quote
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return false;
    ++i;  // '}'
  }
  if (i >= line.size() || line[i] != ' ') return false;
  const absl::string_view value = line.substr(i + 1);
  return !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '+' ||
           c == ' ';
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static constexpr int kRefresh[] = {0, 1, 5, 3600};
  const int refresh = kRefresh[data[0] % 4];
  pb::Snapshot snapshot;
  if (!warm_fuzz::ParseSnapshot(data + 1, size - 1, &snapshot)) return 0;
  if (snapshot.channels_size() > 32) return 0;  // slow, not more telling
  warm_fuzz::ClampNumbers(snapshot);
  warm_fuzz::ForEachString(
      snapshot, [](google::protobuf::Message& message,
                   const google::protobuf::FieldDescriptor* field, int index) {
        const google::protobuf::Reflection* r = message.GetReflection();
        if (index < 0) {
          r->SetString(&message, field,
                       absl::StrCat(r->GetString(message, field), kMarker));
        } else {
          r->SetRepeatedString(
              &message, field, index,
              absl::StrCat(r->GetRepeatedString(message, field, index),
                           kMarker));
        }
      });

  CheckHtml(warm::internal::RenderIndexHtml(snapshot, refresh));
  for (int i = 0; i < snapshot.channels_size() && i < 8; ++i) {
    CheckHtml(warm::internal::RenderChannelHtml(snapshot, snapshot.channels(i),
                                                refresh));
  }
  const std::string metrics = warm::internal::RenderMetrics(snapshot);
  CheckUtf8(metrics, "metrics are not valid UTF-8");
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    Check(ValidMetricsLine(line), "bad metrics line", line);
  }
  CheckUtf8(warm::internal::RenderJson(snapshot), "JSON is not valid UTF-8");
  return 0;
}
