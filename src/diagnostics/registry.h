// ChannelRegistry: every live warm channel in the process, for diagnostics.
//
// A pool registers when its channel has been created and leaves when the
// channel is destroyed (Pool::Shutdown). The registry holds pools weakly:
// diagnostics never keep a channel alive longer than a snapshot takes.
//
// Each channel gets an id, never reused, for its page (/channel/ID), and the
// label its metrics carry: the channel's name, or "NAME#ID" when a live
// channel already has that label, so that two channels never share a series.
// Labels are bounded by the channels alive at once.
//
// Thread safety: all methods may be called from any thread.

#ifndef WARM_SRC_DIAGNOSTICS_REGISTRY_H_
#define WARM_SRC_DIAGNOSTICS_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "src/common/mutex.h"

namespace warm {
namespace internal {

class Pool;

class ChannelRegistry {
 public:
  struct Entry {
    uint64_t id = 0;
    std::string metrics_label;
    std::shared_ptr<Pool> pool;
  };

  // The process's registry (never destroyed).
  static ChannelRegistry& Get();

  // Registers `pool` under its name; returns its id.
  uint64_t Add(const std::shared_ptr<Pool>& pool);
  void Remove(uint64_t id);
  // The live channels, in creation order.
  std::vector<Entry> Channels() const;

 private:
  struct Registered {
    uint64_t id;
    std::string metrics_label;
    std::weak_ptr<Pool> pool;
  };
  // Whether a channel still registered (not yet Remove()d) has `label`.
  bool LabelTaken(const std::string& label) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<Registered> channels_ ABSL_GUARDED_BY(mu_);  // by id
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_DIAGNOSTICS_REGISTRY_H_
