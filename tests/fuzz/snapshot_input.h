// The snapshots the diagnostics fuzzers render: a warm.diagnostics.v1
// Snapshot parsed from the fuzzer's bytes (binary protobuf, so that libFuzzer
// can build any shape: many channels, members, events, methods), made into
// what warm itself would hand a renderer.
//
// Header-only and shared by diagnostics_render_fuzzer.cc and
// snapshot_json_fuzzer.cc; not part of the library.

#ifndef WARM_TESTS_FUZZ_SNAPSHOT_INPUT_H_
#define WARM_TESTS_FUZZ_SNAPSHOT_INPUT_H_

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "src/diagnostics/diagnostics.h"
#include "warm/diagnostics/v1/diagnostics.pb.h"

namespace warm_fuzz {

// Calls `f(message, field, index)` for every string in `message`, nested
// messages included (index -1: a singular field).
template <typename F>
void ForEachString(google::protobuf::Message& message, F&& f) {
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  const google::protobuf::Reflection* reflection = message.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(i);
    const int n =
        field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    for (int j = 0; j < n; ++j) {
      if (field->cpp_type() ==
          google::protobuf::FieldDescriptor::CPPTYPE_STRING) {
        f(message, field, field->is_repeated() ? j : -1);
      } else if (field->cpp_type() ==
                 google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
        if (!field->is_repeated() && !reflection->HasField(message, field)) {
          continue;
        }
        ForEachString(
            field->is_repeated()
                ? *reflection->MutableRepeatedMessage(&message, field, j)
                : *reflection->MutableMessage(&message, field),
            f);
      }
    }
  }
}

// Brings every number of `message` into the range warm's own values have
// (times in ms since 1970 before year 2286, counts, latencies in ms or -1
// for none): numbers are never outside input, only strings are, and a
// renderer may assume e.g. that two times subtract without overflow.
inline void ClampNumbers(google::protobuf::Message& message) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  const google::protobuf::Reflection* r = message.GetReflection();
  constexpr int64_t kMaxMs = 10'000'000'000'000;  // year 2286
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    const int n = field->is_repeated() ? r->FieldSize(message, field) : 1;
    for (int j = 0; j < n; ++j) {
      const bool rep = field->is_repeated();
      switch (field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT64: {
          int64_t v = rep ? r->GetRepeatedInt64(message, field, j)
                          : r->GetInt64(message, field);
          v = std::clamp<int64_t>(v, -1, kMaxMs);
          rep ? r->SetRepeatedInt64(&message, field, j, v)
              : r->SetInt64(&message, field, v);
          break;
        }
        case FieldDescriptor::CPPTYPE_UINT64: {
          uint64_t v = rep ? r->GetRepeatedUInt64(message, field, j)
                           : r->GetUInt64(message, field);
          v = std::min<uint64_t>(v, uint64_t{1} << 50);
          rep ? r->SetRepeatedUInt64(&message, field, j, v)
              : r->SetUInt64(&message, field, v);
          break;
        }
        case FieldDescriptor::CPPTYPE_INT32: {
          int32_t v = rep ? r->GetRepeatedInt32(message, field, j)
                          : r->GetInt32(message, field);
          v = std::clamp<int32_t>(v, -1, 1'000'000);
          rep ? r->SetRepeatedInt32(&message, field, j, v)
              : r->SetInt32(&message, field, v);
          break;
        }
        case FieldDescriptor::CPPTYPE_DOUBLE: {
          double v = rep ? r->GetRepeatedDouble(message, field, j)
                         : r->GetDouble(message, field);
          v = std::isfinite(v) ? std::clamp(v, -1.0, 1e9) : -1.0;
          rep ? r->SetRepeatedDouble(&message, field, j, v)
              : r->SetDouble(&message, field, v);
          break;
        }
        case FieldDescriptor::CPPTYPE_MESSAGE:
          if (!rep && !r->HasField(message, field)) break;
          ClampNumbers(rep ? *r->MutableRepeatedMessage(&message, field, j)
                           : *r->MutableMessage(&message, field));
          break;
        default:
          break;
      }
    }
  }
}

// Parses `data` as a Snapshot; false when it does not parse. Unknown fields
// are dropped (JSON has no place for them). Protobuf refuses a proto3 string
// that is not UTF-8, but the strings warm gets are not (a backend's message,
// a method name), so bytes 0x01, 0x02 and 0x03 in the input's strings stand
// for 0xFF, 0xC0 and 0xE2 (a byte never in UTF-8, and the leads of a
// two- and a three-byte sequence). Then strings are made valid UTF-8 as
// CaptureSnapshot() makes them.
inline bool ParseSnapshot(const uint8_t* data, size_t size,
                          warm::diagnostics::v1::Snapshot* snapshot) {
  // Protobuf logs each string it refuses as not UTF-8: most inputs.
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  if (!snapshot->ParseFromArray(data, static_cast<int>(size))) return false;
  snapshot->DiscardUnknownFields();
  ForEachString(*snapshot, [](google::protobuf::Message& message,
                              const google::protobuf::FieldDescriptor* field,
                              int index) {
    const google::protobuf::Reflection* r = message.GetReflection();
    std::string text = index < 0 ? r->GetString(message, field)
                                 : r->GetRepeatedString(message, field, index);
    for (char& c : text) {
      if (c == '\x01') c = '\xff';
      if (c == '\x02') c = '\xc0';
      if (c == '\x03') c = '\xe2';
    }
    index < 0 ? r->SetString(&message, field, std::move(text))
              : r->SetRepeatedString(&message, field, index, std::move(text));
  });
  warm::internal::MakeValidUtf8(*snapshot);
  return true;
}

}  // namespace warm_fuzz

#endif  // WARM_TESTS_FUZZ_SNAPSHOT_INPUT_H_
