// CheckOutcome: what one health check of a member found.
//
// Its own header so that the pool's decisions (src/pool/pool_decisions.h)
// need nothing of gRPC's health-check calls.

#ifndef WARM_SRC_HEALTH_CHECK_OUTCOME_H_
#define WARM_SRC_HEALTH_CHECK_OUTCOME_H_

#include <cstddef>

namespace warm {
namespace internal {

// Values index PoolDecisions::Counters::checks.
enum class CheckOutcome { kServing, kNotServing, kUnimplemented, kFailed };
inline constexpr size_t kCheckOutcomes = 4;

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_HEALTH_CHECK_OUTCOME_H_
