"""THE allowlist of host system calls the confined sentry may make.

Everything not listed here is refused by the seccomp filter (see
sandbox/seccomp.py): the call returns EPERM and a line naming it goes to
the debug log (or stderr). To allow a call, add an `allow(...)` entry to
the group it belongs to, with the reason the sentry needs it; restrict
its arguments with `eq`/`masked` where a value decides what the call can
do (ioctl request numbers, socket families, clone flags).

Never listed, on purpose: execve/execveat, ptrace, process_vm_*, mount,
umount2, pivot_root, chroot, setns, unshare, bpf, perf_event_open,
kexec_*, init_module/finit_module/delete_module, keyctl/add_key/
request_key, reboot, swapon/off, userfaultfd, open_by_handle_at,
name_to_handle_at, and the path-only legacy calls (open, stat, chmod...):
the sentry reaches host files only through openat and the *at calls,
relative to the O_PATH fds it opened before pivot_root.
"""
from operator import itemgetter

from kvmsentry.platform.events import KICK_SIGNAL


# Tuples with named fields, not collections.namedtuple: each of those
# compiles its __new__ when defined, ~0.15 ms of every start.
class Cond(tuple):
    """One argument condition (index, value, mask): argument `index`
    compared with `value` (after `& mask` when mask is not None). Several
    conditions in one entry must all hold."""
    __slots__ = ()
    index = property(itemgetter(0))
    value = property(itemgetter(1))
    mask = property(itemgetter(2))


class Entry(tuple):
    """One allowed call (name, why, conds); several entries for one call
    are alternatives."""
    __slots__ = ()
    name = property(itemgetter(0))
    why = property(itemgetter(1))
    conds = property(itemgetter(2))


def eq(index, value):
    return Cond((index, value, None))


def masked(index, mask, value):
    return Cond((index, value, mask))


def allow(name, why, *conds):
    return Entry((name, why, conds))


# Values the filter compares against.
CLONE_THREAD = 0x00010000
CLONE_NAMESPACES = (0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 |
                    0x10000000 | 0x20000000 | 0x40000000 | 0x00000080)
AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, NETLINK_ROUTE = 1, 2, 10, 16, 0
PR_SET_NAME, PR_GET_NAME, PR_SET_VMA = 15, 16, 0x53564d41
PR_CAPBSET_READ, PR_GET_DUMPABLE, PR_SET_PDEATHSIG = 23, 3, 1
FIOCLEX, FIONCLEX, FIONBIO = 0x5451, 0x5450, 0x5421
PROT_EXEC = 4
SIGKILL = 9

def tty_ioctls():
    """(name, number) of the terminal requests made on host stdio."""
    # (Imported here: the supervisor, which forks before the sentry's
    # imports, needs none of hostfd's.)
    from kvmsentry.fsimpl import hostfd
    return [
        ("TCGETS", hostfd.TCGETS),          # isatty(), and the guest's tcgetattr
        ("TCSETS", hostfd.TCSETS),          # the guest's tcsetattr on host stdio
        ("TCSETSW", hostfd.TCSETSW),
        ("TCSETSF", hostfd.TCSETSF),
        ("TIOCGWINSZ", hostfd.TIOCGWINSZ),
        ("FIONREAD", hostfd.FIONREAD),
        ("FIOCLEX", FIOCLEX),               # CPython's os.set_inheritable
        ("FIONCLEX", FIONCLEX),
        ("FIONBIO", FIONBIO),               # os.set_blocking on some paths
    ]
# Read-only questions about host sockets and the network namespace's
# interfaces (net/hostinet.py, net/interfaces.py): nothing that changes state.
NET_IOCTLS = [
    ("SIOCOUTQ", 0x5411), ("SIOCATMARK", 0x8905), ("SIOCGIFCONF", 0x8912),
    ("SIOCGIFNAME", 0x8910), ("SIOCGIFFLAGS", 0x8913), ("SIOCGIFADDR", 0x8915),
    ("SIOCGIFBRDADDR", 0x8919), ("SIOCGIFNETMASK", 0x891B), ("SIOCGIFMTU", 0x8921),
    ("SIOCGIFHWADDR", 0x8927), ("SIOCGIFINDEX", 0x8933), ("SIOCGIFTXQLEN", 0x8942),
]


def _self_only(name, why, own_pid):
    # Signals go only to the sentry's own threads (kicks out of KVM_RUN,
    # Python's signal re-raise); the sandbox's processes are not host ones.
    return allow(name, why, eq(0, own_pid))


def kvm_ioctls():
    """(name, number) of every KVM ioctl the kvm platform makes."""
    from kvmsentry.kvm import ioctls
    return sorted((name, num) for num, name in ioctls.NAMES.items())


def policy(own_pid, kvm=True):
    """The allowlist as a list of Entry, for a sentry whose pid (as it sees
    itself) is own_pid; kvm=False leaves the KVM ioctls out (a sentry on
    the systrap platform never opens /dev/kvm)."""
    return [
        # --- Python runtime: memory, threads, signals, time
        allow("brk", "malloc"),
        # Never PROT_EXEC: every library is loaded before the filter, so no
        # new code can appear in the sentry.
        allow("mmap", "malloc arenas, thread stacks, the guest pool, vCPU run areas",
              masked(2, PROT_EXEC, 0)),
        allow("munmap", "the same"),
        allow("mremap", "realloc of large blocks"),
        allow("mprotect", "thread stack guard pages", masked(2, PROT_EXEC, 0)),
        allow("madvise", "the pool: MADV_REMOVE/DONTNEED drop guest translations; "
              "Python's arenas: MADV_HUGEPAGE"),
        allow("futex", "locks, the GIL, condition variables"),
        allow("set_robust_list", "every new thread (glibc)"),
        allow("set_tid_address", "thread start (glibc)"),
        allow("getcpu", "sched_getcpu when rseq does not answer"),
        allow("get_robust_list", "glibc"),
        allow("rseq", "every new thread registers restartable sequences (glibc 2.35+)"),
        allow("clone", "new threads only: CLONE_THREAD and no namespace flags",
              masked(0, CLONE_THREAD | CLONE_NAMESPACES, CLONE_THREAD)),
        allow("rt_sigaction", "signal.signal, the SIGSYS handler"),
        allow("rt_sigprocmask", "pthread_sigmask, thread start"),
        allow("rt_sigreturn", "return from every signal handler"),
        allow("restart_syscall", "the kernel resumes a sleep (futex, nanosleep) a "
              "signal interrupted"),
        allow("rt_sigtimedwait", "signal.sigwaitinfo"),
        allow("sigaltstack", "Python's faulthandler and thread start"),
        _self_only("tgkill", "kick a task's thread out of KVM_RUN", own_pid),
        _self_only("kill", "re-raise a signal on the sentry itself", own_pid),
        # systrap (platform/systrap): its child processes, made by its zygote.
        allow("tgkill", "systrap: kick a child's thread out of program code",
              eq(2, KICK_SIGNAL)),
        allow("pidfd_open", "systrap: learn when a child process ends"),
        allow("pidfd_send_signal", "systrap: end a child process with its address space",
              eq(1, SIGKILL)),
        allow("exit", "thread exit"),
        allow("exit_group", "sentry exit"),
        allow("getpid", "ids"), allow("gettid", "ids"), allow("getppid", "ids"),
        allow("getuid", "ids"), allow("geteuid", "ids"), allow("getgid", "ids"),
        allow("getegid", "ids"), allow("getresuid", "ids"), allow("getresgid", "ids"),
        allow("getgroups", "ids"),
        allow("clock_gettime", "time (when the vDSO does not answer)"),
        allow("clock_getres", "time"), allow("gettimeofday", "time"), allow("time", "time"),
        allow("clock_nanosleep", "time.sleep"), allow("nanosleep", "time.sleep"),
        allow("sched_yield", "the guest's sched_yield"),
        allow("membarrier", "the guest's membarrier: a barrier on the CPUs running vCPUs"),
        allow("sched_getaffinity", "os.sched_getaffinity, os.cpu_count"),
        allow("sched_setaffinity", "the guest's sched_setaffinity pins its task's host "
                                   "thread (the sentry sees only its own pid namespace)"),
        allow("getrandom", "os.urandom, hash seeds, the guest's random devices"),
        allow("uname", "os.uname"), allow("sysinfo", "glibc's sysconf"),
        allow("getrlimit", "resource limits"), allow("prlimit64", "resource limits"),
        allow("setrlimit", "raising RLIMIT_NOFILE for the hostfs fd cache"),
        allow("getrusage", "CPU accounting"), allow("times", "CPU accounting"),
        allow("prctl", "thread names", eq(0, PR_SET_NAME)),
        allow("prctl", "thread names", eq(0, PR_GET_NAME)),
        allow("prctl", "glibc names anonymous mappings", eq(0, PR_SET_VMA)),
        allow("prctl", "capability queries", eq(0, PR_CAPBSET_READ)),
        allow("prctl", "dumpable query", eq(0, PR_GET_DUMPABLE)),

        # --- file descriptors and waiting
        allow("read", "I/O"), allow("write", "I/O"), allow("readv", "I/O"),
        allow("writev", "I/O"), allow("pread64", "I/O"), allow("pwrite64", "I/O"),
        allow("preadv", "I/O"), allow("pwritev", "I/O"), allow("preadv2", "I/O"),
        allow("pwritev2", "I/O"), allow("lseek", "I/O"),
        allow("sendfile", "copy_file_range/sendfile of host files"),
        allow("copy_file_range", "copies between host files"),
        allow("close", "fds"), allow("close_range", "fds"), allow("dup", "fds"),
        allow("dup2", "fds"), allow("dup3", "fds"), allow("fcntl", "fds, locks"),
        allow("pipe2", "host pipes"), allow("eventfd2", "wakeups between host threads"),
        allow("timerfd_create", "deadlines as fds"), allow("timerfd_settime", "deadlines"),
        allow("timerfd_gettime", "deadlines"),
        allow("memfd_create", "the guest-physical page pool and anonymous shared memory"),
        allow("poll", "waits"), allow("ppoll", "waits"), allow("select", "waits"),
        allow("pselect6", "waits"), allow("epoll_create1", "waits"),
        allow("epoll_ctl", "waits"), allow("epoll_wait", "waits"),
        allow("epoll_pwait", "waits"), allow("epoll_pwait2", "waits"),

        # --- the host filesystem, through fds opened before pivot_root
        allow("openat", "hostfs: names beneath root/volume O_PATH fds, /proc/self/fd re-opens"),
        allow("newfstatat", "stat"), allow("fstat", "stat"), allow("statx", "stat"),
        allow("fstatfs", "statfs"), allow("statfs", "statfs of /proc/self/fd/N"),
        allow("readlinkat", "readlink, /proc/self/fd/N"),
        allow("getdents64", "directory listings"),
        allow("faccessat", "access"), allow("faccessat2", "access"),
        allow("mkdirat", "volumes"), allow("mknodat", "volumes"),
        allow("unlinkat", "volumes"), allow("renameat", "volumes"),
        allow("renameat2", "volumes"), allow("linkat", "volumes"),
        allow("symlinkat", "volumes"), allow("fchmod", "volumes"),
        allow("fchmodat", "volumes"), allow("fchown", "volumes"),
        allow("fchownat", "volumes"), allow("ftruncate", "volumes"),
        allow("fallocate", "volumes"), allow("utimensat", "volumes"),
        allow("fsync", "volumes"), allow("fdatasync", "volumes"),
        allow("sync_file_range", "volumes"), allow("syncfs", "volumes"),
        allow("flock", "volumes"),
        allow("fgetxattr", "xattrs"), allow("fsetxattr", "xattrs"),
        allow("flistxattr", "xattrs"), allow("fremovexattr", "xattrs"),
        allow("getxattr", "xattrs by /proc/self/fd/N"), allow("lgetxattr", "xattrs"),
        allow("setxattr", "xattrs"), allow("lsetxattr", "xattrs"),
        allow("listxattr", "xattrs"), allow("llistxattr", "xattrs"),
        allow("removexattr", "xattrs"), allow("lremovexattr", "xattrs"),
        # Path-taking calls hostfs makes on /proc/self/fd/N, the only host
        # paths that exist after pivot_root (they name fds it already holds).
        allow("chmod", "chmod of a created file via /proc/self/fd/N"),
        allow("chown", "chown via /proc/self/fd/N"),
        allow("readlink", "the host path of an fd (audit, reports)"),
        allow("getcwd", "os.getcwd"),

        # --- KVM, and the terminal requests the sentry makes on host stdio
        *[allow("ioctl", "KVM " + name, eq(1, num)) for name, num in
          (kvm_ioctls() if kvm else ())],
        *[allow("ioctl", "tty " + name, eq(1, num)) for name, num in tty_ioctls()],
        *[allow("ioctl", "net " + name, eq(1, num)) for name, num in NET_IOCTLS],

        # --- sockets (hostinet, netlink route): families restricted
        allow("socket", "AF_UNIX", eq(0, AF_UNIX)),
        allow("socket", "AF_INET", eq(0, AF_INET)),
        allow("socket", "AF_INET6", eq(0, AF_INET6)),
        allow("socket", "AF_NETLINK, NETLINK_ROUTE only",
              eq(0, AF_NETLINK), eq(2, NETLINK_ROUTE)),
        allow("socketpair", "AF_UNIX", eq(0, AF_UNIX)),
        allow("bind", "sockets"), allow("connect", "sockets"),
        allow("listen", "sockets"), allow("accept", "sockets"),
        allow("accept4", "sockets"), allow("getsockname", "sockets"),
        allow("getpeername", "sockets"), allow("sendto", "sockets"),
        allow("recvfrom", "sockets"), allow("sendmsg", "sockets"),
        allow("recvmsg", "sockets"), allow("sendmmsg", "sockets"),
        allow("recvmmsg", "sockets"), allow("shutdown", "sockets"),
        allow("setsockopt", "sockets"), allow("getsockopt", "sockets"),
    ]


# Refused without a log line, with the errno that makes the C library use
# an allowed fallback: glibc's pthread_create tries clone3 (whose flags
# sit in memory, out of the filter's reach) and uses clone on ENOSYS.
QUIET_ENOSYS = ["clone3"]


def supervisor_policy(own_pid, sentry_pid):
    """The allowlist of `kvmsentry do`'s supervising parent (supervisor.py),
    which only waits for the sentry and forwards signals to it."""
    return [
        allow("rt_sigtimedwait", "signal.sigwaitinfo"),
        allow("wait4", "the sentry's exit"),
        allow("kill", "forward a signal to the sentry", eq(0, sentry_pid)),
        allow("kill", "re-raise the sentry's fatal signal on itself", eq(0, own_pid)),
        allow("getpid", "ids"),
        allow("rt_sigprocmask", "signal mask"), allow("rt_sigaction", "signal.signal"),
        allow("rt_sigreturn", "return from the SIGSYS handler"),
        allow("restart_syscall", "an interrupted sleep resumed"),
        allow("brk", "malloc"), allow("mmap", "malloc"), allow("munmap", "malloc"),
        allow("write", "the SIGSYS handler's line"),
        allow("exit_group", "exit"), allow("exit", "exit"),
    ]
