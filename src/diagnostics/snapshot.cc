// The snapshot and the request router. Rendering: src/diagnostics/html.cc,
// src/diagnostics/metrics.cc.

#include "src/diagnostics/diagnostics.h"

#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/common/utf8.h"
#include "src/diagnostics/channel_snapshot.h"
#include "src/pool/pool.h"
#include "src/diagnostics/registry.h"
#include "warm/diagnostics.h"

namespace warm {
namespace internal {

namespace pb = ::warm::diagnostics::v1;

void MakeValidUtf8(google::protobuf::Message& message) {
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  const google::protobuf::Reflection* reflection = message.GetReflection();
  for (int f = 0; f < descriptor->field_count(); ++f) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(f);
    const bool repeated = field->is_repeated();
    const int n = repeated ? reflection->FieldSize(message, field) : 1;
    for (int i = 0; i < n; ++i) {
      if (field->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
        const std::string text =
            repeated ? reflection->GetRepeatedString(message, field, i)
                     : reflection->GetString(message, field);
        const std::string valid = ValidUtf8(text);
        if (valid == text) continue;
        if (repeated) {
          reflection->SetRepeatedString(&message, field, i, valid);
        } else {
          reflection->SetString(&message, field, valid);
        }
      } else if (field->type() ==
                 google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
        if (!repeated && !reflection->HasField(message, field)) continue;
        MakeValidUtf8(
            repeated ? *reflection->MutableRepeatedMessage(&message, field, i)
                     : *reflection->MutableMessage(&message, field));
      }
    }
  }
}

pb::Snapshot CaptureSnapshot() {
  pb::Snapshot snapshot;
  snapshot.set_time_unix_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  for (const ChannelRegistry::Entry& entry :
       ChannelRegistry::Get().Channels()) {
    std::optional<PoolView> view = entry.pool->View(/*sample_latency=*/true);
    if (!view.has_value()) continue;  // being destroyed
    pb::Channel channel;
    FillChannel(*view, channel);
    channel.set_id(entry.id);
    channel.set_metrics_label(entry.metrics_label);
    MakeValidUtf8(channel);
    *snapshot.add_channels() = std::move(channel);
  }
  return snapshot;
}

std::string RenderJson(const pb::Snapshot& snapshot) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  // Fails only for messages protobuf cannot print (Any without its type).
  if (!google::protobuf::util::MessageToJsonString(snapshot, &json, options)
           .ok()) {
    return "{}\n";
  }
  return json;
}

std::string HtmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

DiagnosticsResponse Text(int status, std::string body) {
  return {status, "text/plain; charset=utf-8", std::move(body)};
}

DiagnosticsResponse Html(std::string body) {
  return {200, "text/html; charset=utf-8", std::move(body)};
}

}  // namespace
}  // namespace internal

DiagnosticsResponse HandleDiagnosticsRequest(absl::string_view path_and_query) {
  using internal::Text;
  const size_t question = path_and_query.find('?');
  const absl::string_view path = path_and_query.substr(0, question);
  const absl::string_view query = question == absl::string_view::npos
                                      ? absl::string_view()
                                      : path_and_query.substr(question + 1);
  // The only parameter: refresh=SECONDS, for the HTML pages.
  int refresh = 0;
  for (absl::string_view param :
       absl::StrSplit(query, '&', absl::SkipEmpty())) {
    if (!absl::ConsumePrefix(&param, "refresh=")) continue;
    if (!absl::SimpleAtoi(param, &refresh) || refresh < 1 || refresh > 3600) {
      // The body says charset=utf-8; the query is the client's bytes, and
      // cutting it at 32 may split a character.
      return Text(
          400, absl::StrCat("refresh must be a number of seconds from "
                            "1 to 3600, not \"",
                            internal::ValidUtf8(param.substr(0, 32)), "\"\n"));
    }
  }

  if (path == "/metrics") {
    return {200, internal::kMetricsContentType,
            internal::RenderMetrics(internal::CaptureSnapshot())};
  }
  if (path == "/channels.json") {
    return {200, "application/json",
            internal::RenderJson(internal::CaptureSnapshot())};
  }
  if (path == "/" || path.empty()) {
    return internal::Html(
        internal::RenderIndexHtml(internal::CaptureSnapshot(), refresh));
  }
  absl::string_view id_text = path;
  uint64_t id = 0;
  if (absl::ConsumePrefix(&id_text, "/channel/") &&
      absl::SimpleAtoi(id_text, &id)) {
    const diagnostics::v1::Snapshot snapshot = internal::CaptureSnapshot();
    for (const diagnostics::v1::Channel& channel : snapshot.channels()) {
      if (channel.id() == id) {
        return internal::Html(
            internal::RenderChannelHtml(snapshot, channel, refresh));
      }
    }
    return Text(404, absl::StrCat("no live warm channel has id ", id,
                                  " (destroyed channels are not shown)\n"));
  }
  return Text(404,
              "not found; warm diagnostics serve /, /channel/ID, "
              "/channels.json and /metrics\n");
}

}  // namespace warm
