#include "src/common/time.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace warm {
namespace internal {

std::string FormatDuration(Nanos d) {
  const double seconds = std::chrono::duration<double>(d).count();
  return absl::StrCat(std::round(seconds * 1000) / 1000, " s");
}

}  // namespace internal
}  // namespace warm
