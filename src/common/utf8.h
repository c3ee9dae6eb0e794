// ValidUtf8(): text made safe for the Prometheus format and JSON.
//
// Names default to targets, method names come from callers, and details
// carry backends' messages, but the Prometheus format and JSON take UTF-8
// only (one bad label value would fail the whole scrape).
//
// Thread safety: a pure function.

#ifndef WARM_SRC_COMMON_UTF8_H_
#define WARM_SRC_COMMON_UTF8_H_

#include <string>

#include "absl/strings/string_view.h"

namespace warm {
namespace internal {

// `text` with every byte that is not part of valid UTF-8 (overlong forms,
// surrogates and code points past U+10FFFF included) replaced by U+FFFD.
std::string ValidUtf8(absl::string_view text);

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_COMMON_UTF8_H_
