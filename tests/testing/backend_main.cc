// warm_test_backend: one TestBackend in a process of its own, driven through
// stdin and stdout by ChildBackend (tests/testing/child_backend.h), so that a
// test can hang it (SIGSTOP) or kill it (SIGKILL).
//
//   warm_test_backend [--host H] [--port N] [--health serving|not_serving|none]
//
// --host: listening address (default 127.0.0.1). --port: 0 (the default) picks
// a free port. --health: the initial grpc.health.v1 status, or `none` to not
// serve grpc.health.v1 at all (calls to it answer UNIMPLEMENTED). Flags also
// take the --flag=value form. A bad flag exits 2 with a message naming it.
//
// Protocol: once serving, writes "PORT <n>\n" to stdout. Then reads commands,
// one a line, from stdin:
//   serving      set every health status to SERVING, reply "OK\n"
//   not_serving  set every health status to NOT_SERVING, reply "OK\n"
//   quit         shut down, exit 0
// Anything else replies "ERROR <message>\n". End of stdin counts as quit, so
// the backend exits when its parent dies; PR_SET_PDEATHSIG kills it too.
// Nothing else is written to stdout (gRPC logs go to stderr).

#include <signal.h>
#include <sys/prctl.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "tests/testing/test_backend.h"

namespace {

constexpr int kBadFlagExit = 2;

enum class Health { kServing, kNotServing, kNone };

struct Flags {
  std::string host = "127.0.0.1";
  int port = 0;
  Health health = Health::kServing;
};

[[noreturn]] void BadFlag(const std::string& message) {
  std::cerr << "warm_test_backend: " << message << "\n"
            << "usage: warm_test_backend [--host H] [--port N] "
               "[--health serving|not_serving|none]\n";
  std::exit(kBadFlagExit);
}

bool ParsePort(const std::string& text, int* port) {
  if (text.empty() || text.size() > 5) return false;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value > 65535) return false;
  *port = value;
  return true;
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string name = arg;
    std::string value;
    bool has_value = false;
    const size_t equals = arg.find('=');
    if (arg.rfind("--", 0) == 0 && equals != std::string::npos) {
      name = arg.substr(0, equals);
      value = arg.substr(equals + 1);
      has_value = true;
    }
    if (name != "--host" && name != "--port" && name != "--health") {
      BadFlag("unknown flag '" + arg + "'");
    }
    if (!has_value) {
      if (i + 1 >= argc) BadFlag("flag " + name + " needs a value");
      value = argv[++i];
    }
    if (name == "--host") {
      if (value.empty()) BadFlag("flag --host needs a non-empty value");
      flags.host = value;
    } else if (name == "--port") {
      if (!ParsePort(value, &flags.port)) {
        BadFlag("flag --port must be a port number 0-65535, not '" + value +
                "'");
      }
    } else if (value == "serving") {
      flags.health = Health::kServing;
    } else if (value == "not_serving") {
      flags.health = Health::kNotServing;
    } else if (value == "none") {
      flags.health = Health::kNone;
    } else {
      BadFlag("flag --health must be serving, not_serving or none, not '" +
              value + "'");
    }
  }
  return flags;
}

void Reply(const std::string& line) { std::cout << line << "\n" << std::flush; }

}  // namespace

int main(int argc, char** argv) {
  // Die with the parent (strictly: with the parent thread that forked us).
  // End of stdin covers the rest, e.g. a parent that died before this call.
  prctl(PR_SET_PDEATHSIG, SIGKILL);

  const Flags flags = ParseFlags(argc, argv);
  warm::testing::TestBackend::Options options;
  options.health_service = flags.health != Health::kNone;
  warm::testing::TestBackend backend(flags.host, flags.port, options);
  if (flags.health == Health::kNotServing) backend.SetServing(false);

  Reply("PORT " + std::to_string(backend.port()));

  std::string line;
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line == "serving" || line == "not_serving") {
      backend.SetServing(line == "serving");
      Reply("OK");
    } else if (line == "quit") {
      break;
    } else {
      Reply("ERROR unknown command '" + line + "'");
    }
  }
  backend.Shutdown();
  return 0;
}
