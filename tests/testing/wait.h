// WaitFor(): poll a condition until it holds or a deadline passes.
//
// Integration tests wait for states of real servers and connections this way,
// never with a fixed sleep. The deadline is generous (the machine may be a
// loaded 2-core CI box); a test that passes returns as soon as the condition
// holds.

#ifndef WARM_TESTS_TESTING_WAIT_H_
#define WARM_TESTS_TESTING_WAIT_H_

#include <chrono>
#include <functional>
#include <thread>

namespace warm {
namespace testing {

inline constexpr std::chrono::seconds kDefaultWait{20};

inline bool WaitFor(const std::function<bool()>& condition,
                    std::chrono::milliseconds timeout = kDefaultWait) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace testing
}  // namespace warm

#endif  // WARM_TESTS_TESTING_WAIT_H_
