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

// Where an outcome came from, which decides how much it weighs (see
// HealthCheckOptions): a Watch message is the server's own word and counts
// at once; polled checks and liveness probes count towards the thresholds.
enum class CheckSource { kPoll, kWatch, kProbe };

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_HEALTH_CHECK_OUTCOME_H_
