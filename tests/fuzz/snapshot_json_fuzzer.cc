// Fuzzes the snapshot's JSON (/channels.json, RenderJson()): a snapshot (any
// Snapshot protobuf, strings made valid UTF-8 as CaptureSnapshot() does)
// rendered as JSON must be valid UTF-8 and parse back, with protobuf's JSON
// parser, into an equal snapshot: every value a JSON reader sees is the one
// warm had, whatever its strings hold and whatever its numbers are (int64
// and uint64 extremes, NaN and infinities included).
//
// Input: a binary Snapshot.

#include <google/protobuf/util/field_comparator.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "src/common/utf8.h"
#include "src/diagnostics/diagnostics.h"
#include "tests/fuzz/snapshot_input.h"

namespace {

void Check(bool condition, const char* what, const std::string& detail) {
  if (condition) return;
  std::fprintf(stderr, "snapshot_json_fuzzer: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  warm::diagnostics::v1::Snapshot snapshot;
  if (!warm_fuzz::ParseSnapshot(data, size, &snapshot)) return 0;
  const std::string json = warm::internal::RenderJson(snapshot);
  Check(warm::internal::ValidUtf8(json) == json, "JSON is not valid UTF-8",
        json.substr(0, 200));
  warm::diagnostics::v1::Snapshot parsed;
  const auto status =
      google::protobuf::util::JsonStringToMessage(json, &parsed);
  Check(status.ok(), "JSON does not parse back", status.ToString());
  google::protobuf::util::DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer differencer;
  differencer.set_field_comparator(&comparator);
  std::string difference;
  differencer.ReportDifferencesToString(&difference);
  Check(differencer.Compare(snapshot, parsed), "JSON round trip differs",
        difference);
  return 0;
}
