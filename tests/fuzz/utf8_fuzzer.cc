// Fuzzes ValidUtf8() (src/common/utf8.h), which every outside string passes
// through before it reaches a label, a page or JSON (method names, backends'
// messages, channel names), and which the other fuzzers use to check their
// outputs. Checked against Unicode's table of well-formed byte sequences
// (The Unicode Standard, Table 3-7), written independently here:
//   - the output is well-formed;
//   - well-formed input comes out unchanged;
//   - the output is a fixed point (ValidUtf8 of it is itself);
//   - each input byte gives at most U+FFFD's three bytes.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "src/common/utf8.h"

namespace {

void Check(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "utf8_fuzzer: %s\n", what);
  std::abort();
}

// Table 3-7: the lead byte fixes the range of the second byte; the rest are
// 80..BF.
bool WellFormed(absl::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char b = s[i];
    size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;
    if (b <= 0x7F) {
      ++i;
      continue;
    } else if (b >= 0xC2 && b <= 0xDF) {
      length = 2;
    } else if (b == 0xE0) {
      length = 3, low = 0xA0;
    } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
      length = 3;
    } else if (b == 0xED) {
      length = 3, high = 0x9F;
    } else if (b == 0xF0) {
      length = 4, low = 0x90;
    } else if (b >= 0xF1 && b <= 0xF3) {
      length = 4;
    } else if (b == 0xF4) {
      length = 4, high = 0x8F;
    } else {
      return false;
    }
    if (i + length > n) return false;
    if (s[i + 1] < low || s[i + 1] > high) return false;
    for (size_t k = 2; k < length; ++k) {
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return false;
    }
    i += length;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string out = warm::internal::ValidUtf8(in);
  Check(WellFormed(out), "output is not well-formed UTF-8");
  if (WellFormed(in)) Check(out == in, "well-formed input was changed");
  Check(warm::internal::ValidUtf8(out) == out, "output is not a fixed point");
  Check(out.size() <= 3 * size, "output longer than 3 bytes per input byte");
  return 0;
}
