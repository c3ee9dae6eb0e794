// Time as warm's control plane sees it.
//
// Decisions are made on the steady clock (SteadyTime), which never jumps;
// people read wall-clock times. A view of a pool is taken with one reading of
// each clock (Clocks), and every steady time in it is shown as a wall time
// through that one pair, so two times in one view never disagree by the
// moments between clock reads. (A step of the wall clock, e.g. by NTP, moves
// every shown time of a later view with it, as it moves "now".)
//
// Thread safety: values only.

#ifndef WARM_SRC_COMMON_TIME_H_
#define WARM_SRC_COMMON_TIME_H_

#include <chrono>
#include <string>

namespace warm {
namespace internal {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;
using Nanos = std::chrono::nanoseconds;

// One reading of both clocks.
struct Clocks {
  SteadyTime steady;
  WallTime wall;

  // `t` as a wall-clock time; the zero SteadyTime ("never") stays epoch.
  WallTime ToWall(SteadyTime t) const {
    if (t == SteadyTime{}) return {};
    return wall +
           std::chrono::duration_cast<WallTime::duration>(t - steady);
  }
};

// "1.5 s", "0.25 s": a duration for events.
std::string FormatDuration(Nanos d);

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_COMMON_TIME_H_
