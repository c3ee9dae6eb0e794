// Creates a warm channel through the installed headers and library.
#include <warm/channel.h>
// channel.h includes these; they are installed for direct use too.
#include <warm/introspection.h>
#include <warm/log.h>
#include <warm/options.h>
// Needs prometheus-cpp-core, which the package finds (find_dependency) and
// warm.pc requires.
#include <warm/prometheus.h>

#include <chrono>
#include <iostream>
#include <utility>

int main() {
  auto bad = warm::CreateChannel("ipv4:", grpc::InsecureChannelCredentials());
  if (bad.ok()) return 1;
  warm::ChannelOptions options;
  options.dns.min_refresh = std::chrono::seconds(1);
  auto channel = warm::CreateChannel("ipv4:127.0.0.1:1",
                                     grpc::InsecureChannelCredentials(),
                                     std::move(options));
  if (!channel.ok()) {
    std::cerr << channel.status() << "\n";
    return 1;
  }
  std::cout << "warm channel " << (*channel)->name() << " created, "
            << warm::ConnectivityStateName((*channel)->GetState(false)) << "\n";
  // The channel's metrics, as a prometheus::Registry would collect them.
  const auto families = warm::MetricsCollectable()->Collect();
  bool found = false;
  for (const auto& family : families) {
    found = found || family.name == "grpc_client_started_total";
  }
  if (!found) return 1;
  std::cout << families.size() << " metric families\n";
  return 0;
}
