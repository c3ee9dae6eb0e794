// Creates a warm channel through the installed headers and library.
#include <warm/channel.h>
// channel.h includes these; they are installed for direct use too.
#include <warm/introspection.h>
#include <warm/log.h>
#include <warm/options.h>

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
  return 0;
}
