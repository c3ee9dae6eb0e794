// Creates a warm channel through the installed headers and library.
#include <warm/channel.h>

#include <iostream>

int main() {
  auto bad = warm::CreateChannel("ipv4:", grpc::InsecureChannelCredentials());
  if (bad.ok()) return 1;
  auto channel = warm::CreateChannel("ipv4:127.0.0.1:1",
                                     grpc::InsecureChannelCredentials());
  if (!channel.ok()) {
    std::cerr << channel.status() << "\n";
    return 1;
  }
  std::cout << "warm channel " << (*channel)->name() << " created\n";
  return 0;
}
