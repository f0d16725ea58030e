"""What Debian's abseil 20220623 lacks of the newer abseil gVisor uses.

Two kinds of stand-in, both put ahead of the system headers on the
include path:
- headers abseil gained later (absl/log/log.h, absl/base/no_destructor.h),
  written by us, in compat/ next to this file;
- members gVisor calls on classes Debian's headers already define
  (Mutex::lock(), MutexLock from a reference, absl::string_view to and from
  std::string_view, which newer abseil builds get by being the same type).
  Those headers are copied from the system into the build directory with
  our inline members added at fixed anchors. The additions are inline and
  non-virtual, so the classes keep the layout Debian's libraries were
  built with.
"""

import os

SYSTEM_INCLUDE = "/usr/include"
HERE = os.path.dirname(os.path.abspath(__file__))
HAND_WRITTEN = os.path.join(HERE, "compat")

# header -> [(anchor line (stripped), "before"|"after", lines to add)]
ADDITIONS = {
    "absl/synchronization/mutex.h": [
        ("Mutex();", "after", [
            "  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { Lock(); }",
            "  void unlock() ABSL_UNLOCK_FUNCTION() { Unlock(); }",
            "  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return TryLock(); }",
            "  void lock_shared() ABSL_SHARED_LOCK_FUNCTION() { ReaderLock(); }",
            "  void unlock_shared() ABSL_UNLOCK_FUNCTION() { ReaderUnlock(); }",
        ]),
        ("explicit MutexLock(Mutex *mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {",
         "before", ["  explicit MutexLock(Mutex &mu) : MutexLock(&mu) {}"]),
        ("explicit ReaderMutexLock(Mutex *mu) ABSL_SHARED_LOCK_FUNCTION(mu) : mu_(mu) {",
         "before", ["  explicit ReaderMutexLock(Mutex &mu) : ReaderMutexLock(&mu) {}"]),
        ("explicit WriterMutexLock(Mutex *mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu)",
         "before", ["  explicit WriterMutexLock(Mutex &mu) : WriterMutexLock(&mu) {}"]),
    ],
    "absl/strings/string_view.h": [
        ("constexpr string_view() noexcept : ptr_(nullptr), length_(0) {}", "before", [
            "  constexpr string_view(std::string_view s) noexcept  // NOLINT",
            "      : ptr_(s.data()), length_(s.size()) {}",
            "  constexpr operator std::string_view() const noexcept {  // NOLINT",
            "    return std::string_view(ptr_, length_);",
            "  }",
        ]),
    ],
}


def patched(text, additions, name):
    lines = text.splitlines()
    for anchor, where, add in additions:
        hits = [i for i, l in enumerate(lines) if l.strip() == anchor]
        if len(hits) != 1:
            raise RuntimeError(f"{name}: anchor {anchor!r} found {len(hits)} times")
        at = hits[0] + (1 if where == "after" else 0)
        lines[at:at] = add
    return "\n".join(lines) + "\n"


def include_dirs(outdir):
    """-I flags for the stand-ins; writes the patched headers under outdir."""
    gen = os.path.join(outdir, "compat-include")
    for name, additions in ADDITIONS.items():
        src = os.path.join(SYSTEM_INCLUDE, name)
        dst = os.path.join(gen, name)
        text = patched(open(src).read(), additions, name)
        if not os.path.exists(dst) or open(dst).read() != text:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with open(dst, "w") as f:
                f.write(text)
    return ["-I", gen, "-I", HAND_WRITTEN]
