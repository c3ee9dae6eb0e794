#include "src/diagnostics/registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "src/pool/pool.h"

namespace warm {
namespace internal {

ChannelRegistry& ChannelRegistry::Get() {
  static auto* registry = new ChannelRegistry;  // outlives every channel
  return *registry;
}

uint64_t ChannelRegistry::Add(const std::shared_ptr<Pool>& pool) {
  MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  // "NAME#ID" could itself be taken (a channel named so): then "NAME#ID#ID".
  std::string label = pool->name();
  while (LabelTaken(label)) label = absl::StrCat(label, "#", id);
  channels_.push_back({id, std::move(label), pool});
  return id;
}

bool ChannelRegistry::LabelTaken(const std::string& label) const {
  return std::any_of(
      channels_.begin(), channels_.end(),
      [&](const Registered& r) { return r.metrics_label == label; });
}

void ChannelRegistry::Remove(uint64_t id) {
  MutexLock lock(&mu_);
  channels_.erase(
      std::remove_if(channels_.begin(), channels_.end(),
                     [id](const Registered& r) { return r.id == id; }),
      channels_.end());
}

std::vector<ChannelRegistry::Entry> ChannelRegistry::Channels() const {
  MutexLock lock(&mu_);
  std::vector<Entry> out;
  out.reserve(channels_.size());
  for (const Registered& r : channels_) {
    if (std::shared_ptr<Pool> pool = r.pool.lock()) {
      out.push_back({r.id, r.metrics_label, std::move(pool)});
    }
  }
  return out;
}

}  // namespace internal
}  // namespace warm
