#include "tests/soak/soak_flags.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <random>
#include <sstream>

namespace warm {
namespace soak {
namespace {

constexpr int kBadFlagExit = 2;

constexpr char kUsage[] =
    "usage: warm_soak [--duration=60s] [--seed=N] [--channels=8]\n"
    "         [--backends=5] [--closed-loop-threads=4] [--open-loop-rate=100]\n"
    "         [--fault-interval=1500ms] [--scrape-interval=1s] "
    "[--warmup=D]\n"
    "         [--status-interval=30s]\n"
    "         [--rss-factor=F] [--rss-slack-mb=N] [--deadline-slack=D]\n"
    "         [--drain-timeout=30s] [--recovery-timeout=D] [--watchdog=D]\n"
    "         [--no-dns] [--no-tls] [--no-netns]\n"
    "         [--report=FILE] [--verbose]\n"
    "durations: 1500ms, 60s, 10m (a bare number is seconds)\n";

[[noreturn]] void BadFlag(const std::string& message) {
  std::cerr << "warm_soak: " << message << "\n" << kUsage;
  std::exit(kBadFlagExit);
}

bool ParseInt(const std::string& text, int64_t min, int64_t max,
              int64_t* out) {
  if (text.empty() || text.size() > 18) return false;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value < min || value > max) return false;
  *out = value;
  return true;
}

std::string FormatDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

}  // namespace

const char* SanitizerName() {
#if defined(__SANITIZE_ADDRESS__)
  return "address";
#elif defined(__SANITIZE_THREAD__)
  return "thread";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return "address";
#elif __has_feature(thread_sanitizer)
  return "thread";
#else
  return "";
#endif
#else
  return "";
#endif
}

bool ParseDuration(const std::string& text, std::chrono::milliseconds* out) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  int64_t value = 0;
  if (!ParseInt(text.substr(0, digits), 0, 1000000000, &value)) return false;
  const std::string unit = text.substr(digits);
  int64_t ms_per_unit = 0;
  if (unit.empty() || unit == "s") {
    ms_per_unit = 1000;
  } else if (unit == "ms") {
    ms_per_unit = 1;
  } else if (unit == "m" || unit == "min") {
    ms_per_unit = 60000;
  } else if (unit == "h") {
    ms_per_unit = 3600000;
  } else {
    return false;
  }
  *out = std::chrono::milliseconds(value * ms_per_unit);
  return true;
}

std::string SoakFlags::ReplayArgs() const {
  std::ostringstream out;
  out << "--seed=" << seed << " --duration=" << FormatDuration(duration)
      << " --channels=" << channels << " --backends=" << backends
      << " --closed-loop-threads=" << closed_loop_threads
      << " --open-loop-rate=" << open_loop_rate
      << " --fault-interval=" << FormatDuration(fault_interval)
      << " --scrape-interval=" << FormatDuration(scrape_interval)
      << " --warmup=" << FormatDuration(warmup)
      << " --deadline-slack=" << FormatDuration(deadline_slack)
      << " --rss-factor=" << rss_factor << " --rss-slack-mb=" << rss_slack_mb
      << " --drain-timeout=" << FormatDuration(drain_timeout);
  if (recovery_timeout.count() != 0) {
    out << " --recovery-timeout=" << FormatDuration(recovery_timeout);
  }
  if (watchdog.count() != 0) out << " --watchdog=" << FormatDuration(watchdog);
  if (!dns) out << " --no-dns";
  if (!tls) out << " --no-tls";
  if (!netns) out << " --no-netns";
  return out.str();
}

std::chrono::milliseconds SoakFlags::RecoveryBound() const {
  return recovery_timeout.count() != 0 ? recovery_timeout : 2 * drain_timeout;
}

std::chrono::milliseconds SoakFlags::WatchdogBound() const {
  if (watchdog.count() != 0) return watchdog;
  // Load, then: the first drain, the closed-loop joins with a second drain,
  // recovery, the wait for channels to go; 60 s for healing (a dnsmasq
  // restart may take 20 s), the scraper's join and teardown.
  return duration + 3 * drain_timeout + RecoveryBound() +
         std::chrono::milliseconds(60000);
}

SoakFlags ParseSoakFlags(int argc, char** argv) {
  SoakFlags flags;
  bool seed_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (arg.rfind("--", 0) != 0) BadFlag("unexpected argument '" + arg + "'");
    const size_t equals = arg.find('=');
    const std::string name = arg.substr(0, equals);
    const bool has_value = equals != std::string::npos;
    const std::string value = has_value ? arg.substr(equals + 1) : "";
    auto need_value = [&] {
      if (!has_value || value.empty()) {
        BadFlag("flag " + name + " needs a value (" + name + "=...)");
      }
    };
    auto duration = [&](std::chrono::milliseconds* out, int64_t min_ms) {
      need_value();
      if (!ParseDuration(value, out) || out->count() < min_ms) {
        BadFlag("bad duration in '" + arg + "' (e.g. 1500ms, 60s, 10m; at least " +
                std::to_string(min_ms) + " ms)");
      }
    };
    auto integer = [&](int* out, int64_t min, int64_t max) {
      need_value();
      int64_t parsed = 0;
      if (!ParseInt(value, min, max, &parsed)) {
        BadFlag("bad value in '" + arg + "' (an integer " +
                std::to_string(min) + ".." + std::to_string(max) + ")");
      }
      *out = static_cast<int>(parsed);
    };
    auto no_value = [&] {
      if (has_value) BadFlag("flag " + name + " takes no value");
    };
    if (name == "--duration") {
      duration(&flags.duration, 1000);
    } else if (name == "--seed") {
      need_value();
      char* end = nullptr;
      errno = 0;
      flags.seed = std::strtoull(value.c_str(), &end, 10);
      if (errno != 0 || end == value.c_str() || *end != '\0' ||
          value[0] == '-') {
        BadFlag("bad seed in '" + arg + "' (an unsigned 64-bit integer)");
      }
      seed_given = flags.seed != 0;
    } else if (name == "--channels") {
      integer(&flags.channels, 1, 200);
    } else if (name == "--backends") {
      integer(&flags.backends, 2, 40);
    } else if (name == "--closed-loop-threads") {
      integer(&flags.closed_loop_threads, 0, 64);
    } else if (name == "--open-loop-rate") {
      integer(&flags.open_loop_rate, 0, 10000);
    } else if (name == "--fault-interval") {
      duration(&flags.fault_interval, 50);
    } else if (name == "--scrape-interval") {
      duration(&flags.scrape_interval, 50);
    } else if (name == "--status-interval") {
      duration(&flags.status_interval, 100);
    } else if (name == "--warmup") {
      duration(&flags.warmup, 0);
    } else if (name == "--rss-factor") {
      need_value();
      char* end = nullptr;
      flags.rss_factor = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0' || !(flags.rss_factor >= 1) ||
          flags.rss_factor > 100) {
        BadFlag("bad factor in '" + arg + "' (a number 1..100)");
      }
    } else if (name == "--rss-slack-mb") {
      integer(&flags.rss_slack_mb, 0, 1 << 20);
    } else if (name == "--deadline-slack") {
      duration(&flags.deadline_slack, 1);
    } else if (name == "--drain-timeout") {
      duration(&flags.drain_timeout, 1000);
    } else if (name == "--recovery-timeout") {
      duration(&flags.recovery_timeout, 1000);
    } else if (name == "--watchdog") {
      duration(&flags.watchdog, 1000);
    } else if (name == "--report") {
      need_value();
      flags.report = value;
    } else if (name == "--no-dns") {
      no_value();
      flags.dns = false;
    } else if (name == "--no-tls") {
      no_value();
      flags.tls = false;
    } else if (name == "--no-netns") {
      no_value();
      flags.netns = false;
    } else if (name == "--verbose") {
      no_value();
      flags.verbose = true;
    } else {
      BadFlag("unknown flag '" + arg + "'");
    }
  }
  if (!seed_given) {
    std::random_device device;
    flags.seed = (static_cast<uint64_t>(device()) << 32) | device();
    if (flags.seed == 0) flags.seed = 1;
  }
  const bool sanitized = SanitizerName()[0] != '\0';
  if (flags.warmup.count() < 0) {
    flags.warmup =
        std::min(std::chrono::milliseconds(15000), flags.duration / 4);
  }
  if (flags.warmup >= flags.duration) {
    BadFlag("--warmup must be shorter than --duration");
  }
  if (flags.rss_factor == 0) flags.rss_factor = sanitized ? 2.5 : 1.5;
  if (flags.rss_slack_mb < 0) {
    const std::string sanitizer = SanitizerName();
    flags.rss_slack_mb =
        sanitizer == "address" ? 512 : sanitizer == "thread" ? 384 : 64;
  }
  if (flags.deadline_slack.count() == 0) {
    flags.deadline_slack = std::chrono::milliseconds(sanitized ? 5000 : 1000);
  }
  return flags;
}

}  // namespace soak
}  // namespace warm
