// kvmsentry's stand-in for absl/log/log.h (newer than Debian's abseil
// 20220623): LOG(severity) << ... writes one line to stderr; FATAL aborts.
#ifndef KVMSENTRY_COMPAT_ABSL_LOG_LOG_H_
#define KVMSENTRY_COMPAT_ABSL_LOG_LOG_H_

#include <cstdlib>
#include <iostream>
#include <string_view>

namespace kvmsentry_compat {

class LogLine {
 public:
  explicit LogLine(bool fatal) : fatal_(fatal) {}
  ~LogLine() {
    std::cerr << std::endl;
    if (fatal_) std::abort();
  }
  template <typename T>
  LogLine& operator<<(const T& v) {
    std::cerr << v;
    return *this;
  }

 private:
  bool fatal_;
};

}  // namespace kvmsentry_compat

#define LOG(severity) \
  ::kvmsentry_compat::LogLine(std::string_view(#severity) == "FATAL")

#endif  // KVMSENTRY_COMPAT_ABSL_LOG_LOG_H_
