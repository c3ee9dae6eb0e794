// FillChannel(): one pool's view (src/pool/pool_view.h) as the diagnostics
// message that the page, JSON and metrics render.
//
// Thread safety: a pure function.

#ifndef WARM_SRC_DIAGNOSTICS_CHANNEL_SNAPSHOT_H_
#define WARM_SRC_DIAGNOSTICS_CHANNEL_SNAPSHOT_H_

#include "src/pool/pool_view.h"
#include "warm/diagnostics/v1/diagnostics.pb.h"

namespace warm {
namespace internal {

// Everything but the registry's id and label.
void FillChannel(const PoolView& view, diagnostics::v1::Channel& out);

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_DIAGNOSTICS_CHANNEL_SNAPSHOT_H_
