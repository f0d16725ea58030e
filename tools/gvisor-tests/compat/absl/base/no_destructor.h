// kvmsentry's stand-in for absl/base/no_destructor.h (newer than Debian's
// abseil 20220623): a T built in place and never destroyed.
#ifndef KVMSENTRY_COMPAT_ABSL_BASE_NO_DESTRUCTOR_H_
#define KVMSENTRY_COMPAT_ABSL_BASE_NO_DESTRUCTOR_H_

#include <new>

#include "absl/base/config.h"
#include <utility>

namespace absl {
ABSL_NAMESPACE_BEGIN

template <typename T>
class NoDestructor {
 public:
  template <typename... Args>
  explicit NoDestructor(Args&&... args) {
    new (storage_) T(std::forward<Args>(args)...);
  }
  NoDestructor(const NoDestructor&) = delete;
  NoDestructor& operator=(const NoDestructor&) = delete;

  T* get() { return std::launder(reinterpret_cast<T*>(storage_)); }
  const T* get() const { return std::launder(reinterpret_cast<const T*>(storage_)); }
  T& operator*() { return *get(); }
  const T& operator*() const { return *get(); }
  T* operator->() { return get(); }
  const T* operator->() const { return get(); }

 private:
  alignas(T) unsigned char storage_[sizeof(T)];
};

ABSL_NAMESPACE_END
}  // namespace absl

#endif  // KVMSENTRY_COMPAT_ABSL_BASE_NO_DESTRUCTOR_H_
