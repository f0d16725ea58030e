"""THE syscall table: number -> name, handler, support level, note, and
the argument shapes --strace prints.

Every Linux x86-64 syscall has an entry (names from names.py); those with
no handler answer ENOSYS. `kvmsentry syscalls` prints this table as the
compatibility report.

Argument shapes: fd, int, uint, hex, ptr, str (C string), in:N (input
buffer, length in argument N), out:N (output buffer, shown after the call
with the returned length), iov:N / oiov:N (iovec arrays, count in N),
sig (signal number).
"""
from dataclasses import dataclass

from kvmsentry.syscalls import (sys_identity, sys_mmap, sys_random, sys_read_write,
                                sys_signal, sys_stat, sys_thread, sys_time)
from kvmsentry.syscalls.names import NAMES

FULL = "supported"
PARTIAL = "partial"
NONE = "unimplemented"


@dataclass(frozen=True)
class Syscall:
    nr: int
    name: str
    handler: object
    args: tuple
    support: str
    note: str = ""

    @property
    def nargs(self):
        return len(self.args)


def _e(name, handler, args="", support=FULL, note=""):
    return name, handler, tuple(args.split()), support, note


_IMPLEMENTED = [
    _e("read", sys_read_write.read, "fd out:2 uint"),
    _e("write", sys_read_write.write, "fd in:2 uint"),
    _e("close", sys_read_write.close, "fd"),
    _e("fstat", sys_stat.fstat, "fd ptr"),
    _e("newfstatat", sys_stat.newfstatat, "fd str ptr hex", PARTIAL,
       "AT_EMPTY_PATH on open fds; no filesystem yet, paths are ENOENT"),
    _e("mmap", sys_mmap.mmap, "ptr uint hex hex fd hex", PARTIAL,
       "anonymous memory only; file mappings are ENODEV"),
    _e("mprotect", sys_mmap.mprotect, "ptr uint hex"),
    _e("munmap", sys_mmap.munmap, "ptr uint"),
    _e("brk", sys_mmap.brk, "ptr"),
    _e("rt_sigaction", sys_signal.rt_sigaction, "sig ptr ptr uint", PARTIAL,
       "dispositions recorded; signals are not delivered yet"),
    _e("rt_sigprocmask", sys_signal.rt_sigprocmask, "int ptr ptr uint"),
    _e("ioctl", sys_read_write.ioctl, "fd hex hex", PARTIAL,
       "TCGETS, TCSETS*, TIOCGWINSZ, TIOCGPGRP, FIONREAD on inherited stdio"),
    _e("pread64", sys_read_write.pread64, "fd out:2 uint int"),
    _e("pwrite64", sys_read_write.pwrite64, "fd in:2 uint int"),
    _e("readv", sys_read_write.readv, "fd oiov:2 int"),
    _e("writev", sys_read_write.writev, "fd iov:2 int"),
    _e("preadv", sys_read_write.preadv, "fd oiov:2 int int"),
    _e("pwritev", sys_read_write.pwritev, "fd iov:2 int int"),
    _e("sched_yield", sys_thread.sched_yield),
    _e("mremap", sys_mmap.mremap, "ptr uint uint hex ptr"),
    _e("madvise", sys_mmap.madvise, "ptr uint int", PARTIAL,
       "DONTNEED/FREE drop pages; other advice is accepted and ignored"),
    _e("nanosleep", sys_time.nanosleep, "ptr ptr"),
    _e("getpid", sys_identity.getpid),
    _e("exit", sys_thread.exit, "int"),
    _e("uname", sys_identity.uname, "ptr"),
    _e("getcwd", sys_stat.getcwd, "ptr uint"),
    _e("gettimeofday", sys_time.gettimeofday, "ptr ptr"),
    _e("getrlimit", sys_identity.getrlimit, "int ptr"),
    _e("setrlimit", sys_identity.setrlimit, "int ptr", PARTIAL,
       "limits are recorded, not enforced"),
    _e("getuid", sys_identity.getuid),
    _e("getgid", sys_identity.getgid),
    _e("geteuid", sys_identity.geteuid),
    _e("getegid", sys_identity.getegid),
    _e("getppid", sys_identity.getppid),
    _e("arch_prctl", sys_thread.arch_prctl, "hex ptr"),
    _e("gettid", sys_identity.gettid),
    _e("time", sys_time.time_, "ptr"),
    _e("sched_getaffinity", sys_thread.sched_getaffinity, "int uint ptr"),
    _e("set_tid_address", sys_thread.set_tid_address, "ptr"),
    _e("clock_gettime", sys_time.clock_gettime, "int ptr"),
    _e("clock_getres", sys_time.clock_getres, "int ptr"),
    _e("clock_nanosleep", sys_time.clock_nanosleep, "int hex ptr ptr"),
    _e("exit_group", sys_thread.exit_group, "int"),
    _e("set_robust_list", sys_thread.set_robust_list, "ptr uint"),
    _e("prlimit64", sys_identity.prlimit64, "int int ptr ptr", PARTIAL,
       "calling process only; limits are recorded, not enforced"),
    _e("getrandom", sys_random.getrandom, "out:1 uint hex"),
    _e("rseq", sys_thread.rseq, "ptr uint hex hex"),
]


def _build():
    by_name = {name: (h, a, s, n) for name, h, a, s, n in _IMPLEMENTED}
    unknown = set(by_name) - set(NAMES.values())
    assert not unknown, unknown
    table = [None] * (max(NAMES) + 1)
    for nr, name in NAMES.items():
        if name in by_name:
            handler, args, support, note = by_name[name]
            table[nr] = Syscall(nr, name, handler, args, support, note)
        else:
            table[nr] = Syscall(nr, name, None, (), NONE, "returns ENOSYS")
    return table


TABLE = _build()


def report():
    """The compatibility report, one line per syscall."""
    lines = []
    counts = {FULL: 0, PARTIAL: 0, NONE: 0}
    for entry in TABLE:
        if entry is None:
            continue
        counts[entry.support] += 1
        note = ("  -- " + entry.note) if entry.note and entry.handler else ""
        lines.append("%3d %-24s %s%s" % (entry.nr, entry.name, entry.support, note))
    lines.append("%d supported, %d partial, %d unimplemented"
                 % (counts[FULL], counts[PARTIAL], counts[NONE]))
    return "\n".join(lines)
