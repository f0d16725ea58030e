// kvmsentry's stand-ins for the two gVisor test-util files that need what a
// Debian build lacks: Bazel's runfiles library (tests find the helper
// programs they exec through it) and Google Benchmark as a static library
// (the suite's few benchmarks are not test cases; they are not run here).
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "absl/flags/parse.h"
#include "gtest/gtest.h"

namespace gvisor {
namespace testing {

void SetupGvisorDeathTest() {}

void TestInit(int* argc, char*** argv) {
  ::testing::InitGoogleTest(argc, *argv);
  ::absl::ParseCommandLine(*argc, *argv);
  // The suite expects SIGPIPE ignored, as gVisor's own TestInit does.
  struct sigaction sa = {};
  sa.sa_handler = SIG_IGN;
  if (sigaction(SIGPIPE, &sa, nullptr) != 0) abort();
}

int RunAllTests() { return RUN_ALL_TESTS(); }

// Helpers live under <build>/runfiles/<package path>; $TEST_SRCDIR overrides.
std::string RunfilePath(std::string path) {
  const char* root = getenv("TEST_SRCDIR");
  if (root != nullptr && *root != '\0') return std::string(root) + "/" + path;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return path;
  std::string dir(exe, n);
  dir = dir.substr(0, dir.rfind('/'));
  return dir + "/../runfiles/" + path;
}

}  // namespace testing
}  // namespace gvisor
