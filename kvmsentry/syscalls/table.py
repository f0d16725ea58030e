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
from operator import itemgetter

from kvmsentry.syscalls.family import Family
from kvmsentry.syscalls.names import NAMES

# The handler families, imported at a handler's first call (syscalls/family.py).
sys_aio = Family("sys_aio")
sys_creds = Family("sys_creds")
sys_eventfiles = Family("sys_eventfiles")
sys_fd = Family("sys_fd")
sys_file = Family("sys_file")
sys_fs = Family("sys_fs")
sys_futex = Family("sys_futex")
sys_identity = Family("sys_identity")
sys_ipc = Family("sys_ipc")
sys_mlock = Family("sys_mlock")
sys_mm_policy = Family("sys_mm_policy")
sys_mmap = Family("sys_mmap")
sys_mount = Family("sys_mount")
sys_mqueue = Family("sys_mqueue")
sys_namespaces = Family("sys_namespaces")
sys_old_fs = Family("sys_old_fs")
sys_poll = Family("sys_poll")
sys_prctl = Family("sys_prctl")
sys_privileged = Family("sys_privileged")
sys_process = Family("sys_process")
sys_ptrace = Family("sys_ptrace")
sys_random = Family("sys_random")
sys_read_write = Family("sys_read_write")
sys_rw_flags = Family("sys_rw_flags")
sys_sched = Family("sys_sched")
sys_seccomp = Family("sys_seccomp")
sys_signal = Family("sys_signal")
sys_socket = Family("sys_socket")
sys_socket_msg = Family("sys_socket_msg")
sys_splice = Family("sys_splice")
sys_stat = Family("sys_stat")
sys_sync = Family("sys_sync")
sys_system = Family("sys_system")
sys_task_attrs = Family("sys_task_attrs")
sys_thread = Family("sys_thread")
sys_time = Family("sys_time")
sys_timer = Family("sys_timer")
sys_xattr = Family("sys_xattr")

FULL = "supported"
PARTIAL = "partial"
NONE = "unimplemented"


class Syscall(tuple):
    """One row (nr, name, handler, args, support, note): a tuple, frozen
    and compared by value, built ~450 times at every start (a record's
    generated __init__ costs three times as much)."""
    __slots__ = ()
    nr = property(itemgetter(0))
    name = property(itemgetter(1))
    handler = property(itemgetter(2))
    args = property(itemgetter(3))
    support = property(itemgetter(4))
    note = property(itemgetter(5))

    def __new__(cls, nr, name, handler, args, support, note=""):
        return tuple.__new__(cls, (nr, name, handler, args, support, note))

    def __repr__(self):
        return "Syscall(nr=%r, name=%r, handler=%r, args=%r, support=%r, note=%r)" % self

    @property
    def nargs(self):
        return len(self[3])


def _e(name, handler, args="", support=FULL, note=""):
    return name, handler, tuple(args.split()), support, note


_INOTIFY_NOTE = ("sees changes made inside the sandbox only: host-side changes under a "
                 "volume or the host root are missed; IN_ACCESS for read(2) and getdents only (not "
                 "mmap, splice, sendfile); no IN_UNMOUNT; execve raises no IN_OPEN/IN_ACCESS; "
                 "IN_DELETE_SELF waits for the last open file, not for a cwd or a mapping; "
                 "IN_EXCL_UNLINK after unlink/rmdir, not after a rename over the file")

_XATTR_NOTE = ("stored by the sandbox's tmpfs and overlay (user.*, trusted.*, security.*; "
               "copied up with the file); no system.* (POSIX ACLs: EOPNOTSUPP); of a host "
               "file on a volume only user.* (the host's); security.capability is kept but "
               "does not grant capabilities at execve")

_EXEC_NOTE = ("ELF loading: ENOEXEC for files Linux runs (no text, only anonymous or "
              "unaligned segments); segment mappings and the PIE base differ from Linux's; "
              "ENOEXEC for a wrong-arch interpreter (Linux: ELIBBAD), an empty interpreter "
              "path (EACCES) and an overflowing PIE; #! nesting not limited as Linux's "
              "(ELOOP); a directory is EISDIR (Linux: EACCES); not ETXTBSY for a file "
              "still mapped shared and writable after its fds closed, nor for a writable "
              "memfd")

_OPEN_NOTE = "a followed symlink's atime is not updated"

_RECVMSG_NOTE = ("Unix: SCM_CREDENTIALS with no or too little control space is not "
                 "truncated with MSG_CTRUNC, data sent before SO_PASSCRED carries the "
                 "sender's credentials (Linux: pid 0, overflow ids), stream reads are not "
                 "split where credentials change; a zero-length stream message with SCM_RIGHTS "
                 "ends a read (Linux discards it); a zero-length read gets no SCM_RIGHTS and "
                 "on an empty stream is 0 (Linux: EAGAIN)")

_RLIMIT_NOTE = ("RLIMIT_NPROC, STACK, CORE are recorded only; RLIMIT_FSIZE "
                "bounds truncate and fallocate, not write (no EFBIG/SIGXFSZ)")

_SOCKOPT_NOTE = ("host sockets: options on an allowlist (others ENOPROTOOPT: TCP_INQ, "
                 "SO_ATTACH_FILTER, IP_RECVORIGDSTADDR, SO_BINDTODEVICE...; TCP_CONGESTION "
                 "EPERM); a short IP_TOS optlen is not honoured; Unix and netlink sockets: "
                 "SO_RCVLOWAT not kept, SO_SNDBUF capped at a fixed 212992 (not the host's "
                 "wmem_max), some boolean SOL_SOCKET options, SO_PEERCRED before listen and "
                 "SO_RCVTIMEO/SNDTIMEO with a short optlen differ")

_IMPLEMENTED = [
    _e("read", sys_read_write.read, "fd out:2 uint"),
    _e("write", sys_read_write.write, "fd in:2 uint"),
    _e("close", sys_read_write.close, "fd"),
    _e("fstat", sys_stat.fstat, "fd ptr"),
    _e("newfstatat", sys_stat.newfstatat, "fd str ptr hex"),
    _e("stat", sys_stat.stat, "str ptr"),
    _e("lstat", sys_stat.lstat, "str ptr"),
    _e("statx", sys_stat.statx, "fd str hex hex ptr", PARTIAL, "no birth time; no STATX_MNT_ID"),
    _e("access", sys_stat.access, "str int"),
    _e("faccessat", sys_stat.faccessat, "fd str int"),
    _e("faccessat2", sys_stat.faccessat2, "fd str int hex"),
    _e("statfs", sys_stat.statfs, "str ptr", PARTIAL,
       "f_flags lack the mount's flags (ST_RDONLY, ST_NOSUID, ST_NOEXEC...)"),
    _e("fstatfs", sys_stat.fstatfs, "fd ptr", PARTIAL,
       "f_flags lack the mount's flags (ST_RDONLY, ST_NOSUID, ST_NOEXEC...)"),
    _e("open", sys_file.open_, "str hex hex", PARTIAL, _OPEN_NOTE),
    _e("openat", sys_file.openat, "fd str hex hex", PARTIAL, _OPEN_NOTE),
    _e("openat2", sys_file.openat2, "fd str ptr uint", PARTIAL,
       "RESOLVE_CACHED: EAGAIN on any name not in the dentry cache"),
    _e("creat", sys_file.creat, "str hex"),
    _e("lseek", sys_file.lseek, "fd int int"),
    _e("getdents64", sys_file.getdents64, "fd ptr uint"),
    _e("mkdir", sys_fs.mkdir, "str hex"),
    _e("mkdirat", sys_fs.mkdirat, "fd str hex"),
    _e("mknod", sys_fs.mknod, "str hex hex"),
    _e("mknodat", sys_fs.mknodat, "fd str hex hex"),
    _e("unlink", sys_fs.unlink, "str"),
    _e("unlinkat", sys_fs.unlinkat, "fd str hex"),
    _e("rmdir", sys_fs.rmdir, "str"),
    _e("rename", sys_fs.rename, "str str"),
    _e("renameat", sys_fs.renameat, "fd str fd str"),
    _e("renameat2", sys_fs.renameat2, "fd str fd str hex"),
    _e("link", sys_fs.link, "str str"),
    _e("linkat", sys_fs.linkat, "fd str fd str hex"),
    _e("symlink", sys_fs.symlink, "str str"),
    _e("symlinkat", sys_fs.symlinkat, "str fd str"),
    _e("readlink", sys_fs.readlink, "str out:2 int"),
    _e("readlinkat", sys_fs.readlinkat, "fd str out:3 int"),
    _e("chmod", sys_fs.chmod, "str hex"),
    _e("fchmod", sys_fs.fchmod, "fd hex"),
    _e("fchmodat", sys_fs.fchmodat, "fd str hex"),
    _e("chown", sys_fs.chown, "str int int"),
    _e("lchown", sys_fs.lchown, "str int int"),
    _e("fchown", sys_fs.fchown, "fd int int"),
    _e("fchownat", sys_fs.fchownat, "fd str int int hex"),
    _e("utimensat", sys_fs.utimensat, "fd str ptr hex", PARTIAL,
       "both times UTIME_OMIT still looks the path up (Linux: success, even for a missing "
       "file)"),
    _e("truncate", sys_fs.truncate, "str int"),
    _e("ftruncate", sys_fs.ftruncate, "fd int"),
    _e("umask", sys_fs.umask, "hex"),
    _e("chdir", sys_fs.chdir, "str"),
    _e("fchdir", sys_fs.fchdir, "fd"),
    _e("dup", sys_fd.dup, "fd"),
    _e("dup2", sys_fd.dup2, "fd fd"),
    _e("dup3", sys_fd.dup3, "fd fd hex"),
    _e("fcntl", sys_fd.fcntl, "fd int hex", PARTIAL,
       "no leases or F_NOTIFY; seals on memfds only; O_ASYNC signals on pipes and Unix "
       "sockets only"),
    _e("close_range", sys_fd.close_range, "uint uint hex"),
    _e("flock", sys_fd.flock, "fd hex"),
    _e("pipe", sys_fd.pipe, "ptr"),
    _e("pipe2", sys_fd.pipe2, "ptr hex", PARTIAL,
       "no notification pipes: O_NOTIFICATION_PIPE is ENOPKG, as on a kernel built "
       "without CONFIG_WATCH_QUEUE"),
    _e("sendfile", sys_read_write.sendfile, "fd fd ptr uint", PARTIAL,
       "a file sent to itself stops at its size when the call began (Linux copies the "
       "count)"),
    _e("copy_file_range", sys_read_write.copy_file_range, "fd ptr fd ptr uint hex"),
    _e("fsync", sys_sync.fsync, "fd"),
    _e("fdatasync", sys_sync.fdatasync, "fd"),
    _e("sync", sys_sync.sync),
    _e("syncfs", sys_sync.syncfs, "fd", PARTIAL, "an O_PATH fd is accepted (Linux: EBADF)"),
    _e("fadvise64", sys_sync.fadvise64, "fd int int int", PARTIAL,
       "an O_PATH fd is ESPIPE (Linux: EBADF)"),
    _e("fallocate", sys_sync.fallocate, "fd hex int int", PARTIAL,
       "modes 0 and KEEP_SIZE"),
    _e("getxattr", sys_xattr.getxattr, "str str ptr uint", PARTIAL, _XATTR_NOTE),
    _e("lgetxattr", sys_xattr.lgetxattr, "str str ptr uint", PARTIAL, _XATTR_NOTE),
    _e("fgetxattr", sys_xattr.fgetxattr, "fd str ptr uint", PARTIAL, _XATTR_NOTE),
    _e("listxattr", sys_xattr.listxattr, "str ptr uint", PARTIAL, _XATTR_NOTE),
    _e("llistxattr", sys_xattr.llistxattr, "str ptr uint", PARTIAL, _XATTR_NOTE),
    _e("flistxattr", sys_xattr.flistxattr, "fd ptr uint", PARTIAL, _XATTR_NOTE),
    _e("setxattr", sys_xattr.setxattr, "str str ptr uint hex", PARTIAL, _XATTR_NOTE),
    _e("lsetxattr", sys_xattr.lsetxattr, "str str ptr uint hex", PARTIAL, _XATTR_NOTE),
    _e("fsetxattr", sys_xattr.fsetxattr, "fd str ptr uint hex", PARTIAL, _XATTR_NOTE),
    _e("removexattr", sys_xattr.removexattr, "str str", PARTIAL, _XATTR_NOTE),
    _e("lremovexattr", sys_xattr.lremovexattr, "str str", PARTIAL, _XATTR_NOTE),
    _e("fremovexattr", sys_xattr.fremovexattr, "fd str", PARTIAL, _XATTR_NOTE),
    _e("mmap", sys_mmap.mmap, "ptr uint hex hex fd hex", PARTIAL,
       "RLIMIT_AS is enforced, RLIMIT_DATA is not (it bounds brk only); no MAP_HUGETLB; no "
       "SIGBUS for file pages (shared or copied) past a truncated end of file; an offset whose end "
       "passes the largest off_t is not EOVERFLOW"),
    _e("msync", sys_mmap.msync, "ptr uint hex"),
    _e("mprotect", sys_mmap.mprotect, "ptr uint hex"),
    _e("munmap", sys_mmap.munmap, "ptr uint"),
    _e("brk", sys_mmap.brk, "ptr", PARTIAL,
       "RLIMIT_DATA counts the heap, not the heap plus the data segment"),
    _e("rt_sigaction", sys_signal.rt_sigaction, "sig ptr ptr uint"),
    _e("rt_sigprocmask", sys_signal.rt_sigprocmask, "int ptr ptr uint"),
    _e("rt_sigreturn", sys_signal.rt_sigreturn),
    _e("rt_sigpending", sys_signal.rt_sigpending, "ptr uint"),
    _e("rt_sigsuspend", sys_signal.rt_sigsuspend, "ptr uint"),
    _e("rt_sigtimedwait", sys_signal.rt_sigtimedwait, "ptr ptr ptr uint"),
    _e("rt_sigqueueinfo", sys_signal.rt_sigqueueinfo, "int sig ptr"),
    _e("rt_tgsigqueueinfo", sys_signal.rt_tgsigqueueinfo, "int int sig ptr"),
    _e("sigaltstack", sys_signal.sigaltstack, "ptr ptr"),
    _e("pause", sys_signal.pause),
    _e("kill", sys_signal.kill, "int sig", PARTIAL,
       "a zombie is signalled (a no-op) without the permission check"),
    _e("tgkill", sys_signal.tgkill, "int int sig"),
    _e("tkill", sys_signal.tkill, "int sig"),
    _e("ioctl", sys_read_write.ioctl, "fd hex hex", PARTIAL,
       "FIOCLEX/FIONCLEX/FIONBIO/FIONREAD/FIOASYNC, socket owner (FIO[SG]ETOWN, "
       "SIOC[SG]PGRP); terminal requests on inherited stdio; "
       "ptys: termios and termios2, window size, TIOCSCTTY/NOTTY/[GS]PGRP/GSID, "
       "TIOCGPTN/SPTLCK, TIOCGPTPEER (no TIOCSTI); no SIOCETHTOOL"),
    _e("pread64", sys_read_write.pread64, "fd out:2 uint int"),
    _e("pwrite64", sys_read_write.pwrite64, "fd in:2 uint int"),
    _e("readv", sys_read_write.readv, "fd oiov:2 int"),
    _e("writev", sys_read_write.writev, "fd iov:2 int"),
    _e("preadv", sys_read_write.preadv, "fd oiov:2 int int"),
    _e("pwritev", sys_read_write.pwritev, "fd iov:2 int int"),
    _e("sched_yield", sys_thread.sched_yield),
    _e("mremap", sys_mmap.mremap, "ptr uint uint hex ptr", PARTIAL,
       "no MREMAP_DONTUNMAP (EINVAL)"),
    _e("madvise", sys_mmap.madvise, "ptr uint int", PARTIAL,
       "DONTNEED/FREE drop pages; POPULATE_READ/WRITE and WILLNEED (file pages) "
       "map them; HUGEPAGE/NOHUGEPAGE allow/forbid 2 MiB runs; DONTFORK/DOFORK/"
       "WIPEONFORK/KEEPONFORK act at fork; other advice is accepted and ignored"),
    _e("nanosleep", sys_time.nanosleep, "ptr ptr"),
    _e("getpid", sys_identity.getpid),
    _e("exit", sys_process.exit, "int"),
    _e("fork", sys_process.fork),
    _e("vfork", sys_process.vfork),
    _e("clone", sys_process.clone, "hex ptr ptr ptr ptr", PARTIAL,
       "new namespaces (CLONE_NEWPID, NEWUSER, NEWNET, NEWIPC, NEWNS...) EPERM"),
    _e("clone3", sys_process.clone3, "ptr uint", PARTIAL,
       "no set_tid or cgroup; new namespaces as clone (EPERM)"),
    _e("execve", sys_process.execve, "str ptr ptr", PARTIAL, _EXEC_NOTE),
    _e("execveat", sys_process.execveat, "fd str ptr ptr hex", PARTIAL, _EXEC_NOTE),
    _e("wait4", sys_process.wait4, "int ptr hex ptr", PARTIAL,
       "__WNOTHREAD is accepted and ignored (a thread also reaps its siblings' children)"),
    _e("waitid", sys_process.waitid, "int int ptr hex ptr", PARTIAL,
       "__WNOTHREAD is accepted and ignored (a thread also reaps its siblings' children); "
       "without WEXITED, children that have all exited make it block (Linux: ECHILD)"),
    _e("setpgid", sys_process.setpgid, "int int", PARTIAL,
       "the caller joining the process group led by its traced, execve'd child is EPERM "
       "(Linux allows it)"),
    _e("getpgid", sys_process.getpgid, "int"),
    _e("getpgrp", sys_process.getpgrp),
    _e("setsid", sys_process.setsid),
    _e("getsid", sys_process.getsid, "int"),
    _e("uname", sys_identity.uname, "ptr"),
    _e("getcwd", sys_stat.getcwd, "ptr uint"),
    _e("gettimeofday", sys_time.gettimeofday, "ptr ptr"),
    _e("getrlimit", sys_identity.getrlimit, "int ptr"),
    _e("setrlimit", sys_identity.setrlimit, "int ptr", PARTIAL, _RLIMIT_NOTE),
    _e("getuid", sys_identity.getuid),
    _e("getgid", sys_identity.getgid),
    _e("geteuid", sys_identity.geteuid),
    _e("getegid", sys_identity.getegid),
    _e("getppid", sys_identity.getppid),
    _e("arch_prctl", sys_thread.arch_prctl, "hex ptr"),
    _e("gettid", sys_identity.gettid),
    _e("time", sys_time.time_, "ptr"),
    _e("sched_getaffinity", sys_system.sched_getaffinity, "int uint ptr"),
    _e("set_tid_address", sys_thread.set_tid_address, "ptr"),
    _e("clock_gettime", sys_time.clock_gettime, "int ptr"),
    _e("clock_getres", sys_time.clock_getres, "int ptr"),
    _e("clock_nanosleep", sys_time.clock_nanosleep, "int hex ptr ptr"),
    _e("exit_group", sys_thread.exit_group, "int"),
    _e("set_robust_list", sys_thread.set_robust_list, "ptr uint"),
    _e("prlimit64", sys_identity.prlimit64, "int int ptr ptr", PARTIAL, _RLIMIT_NOTE),
    _e("futex", sys_futex.futex, "ptr int uint ptr ptr uint", PARTIAL,
       "PI futexes lend no priority (the host schedules) and an owner's exit does not "
       "pass the lock on (no FUTEX_OWNER_DIED); no WAIT_REQUEUE_PI/CMP_REQUEUE_PI; "
       "shared futexes keyed per address space"),
    _e("futex_waitv", sys_futex.futex_waitv, "ptr uint hex ptr int"),
    _e("getrandom", sys_random.getrandom, "out:1 uint hex"),
    _e("rseq", sys_thread.rseq, "ptr uint hex hex", PARTIAL,
       "registration and cpu_id only: a critical section (rseq_cs) is never aborted on "
       "preemption, signal delivery or migration"),
    # --- timers, CPU time (sys_timer.py) ---
    _e("alarm", sys_timer.alarm, "uint"),
    _e("getitimer", sys_timer.getitimer, "int ptr", PARTIAL,
       "ITIMER_VIRTUAL counts system time too (all CPU time is user time here)"),
    _e("setitimer", sys_timer.setitimer, "int ptr ptr", PARTIAL,
       "ITIMER_VIRTUAL counts system time too; CPU-time expiries are seen "
       "within ~2 ms, not at the tick"),
    _e("timer_create", sys_timer.timer_create, "int ptr ptr", PARTIAL,
       "absolute CLOCK_REALTIME deadlines do not follow clock changes; CPU-time "
       "expiries are seen within ~2 ms"),
    _e("timer_settime", sys_timer.timer_settime, "int hex ptr ptr"),
    _e("timer_gettime", sys_timer.timer_gettime, "int ptr"),
    _e("timer_getoverrun", sys_timer.timer_getoverrun, "int"),
    _e("timer_delete", sys_timer.timer_delete, "int"),
    _e("getrusage", sys_timer.getrusage, "int ptr", PARTIAL,
       "CPU time (host thread CPU clocks, all counted as user time) and peak RSS; "
       "other fields 0"),
    _e("times", sys_timer.times, "ptr", PARTIAL,
       "host thread CPU clocks, all counted as user time"),
    # --- waiting for files (sys_poll.py) ---
    _e("poll", sys_poll.poll, "ptr uint int"),
    _e("ppoll", sys_poll.ppoll, "ptr uint ptr ptr uint"),
    _e("select", sys_poll.select, "int ptr ptr ptr ptr"),
    _e("pselect6", sys_poll.pselect6, "int ptr ptr ptr ptr ptr"),
    _e("epoll_create", sys_poll.epoll_create, "int"),
    _e("epoll_create1", sys_poll.epoll_create1, "hex"),
    _e("epoll_ctl", sys_poll.epoll_ctl, "fd int fd ptr", PARTIAL,
       "EPOLLWAKEUP ignored; procfs files (mountinfo, sys/kernel/hostname) EPERM; on host "
       "stdio fds (and a host socket watched twice through dup'ed fds, or with "
       "EPOLLEXCLUSIVE) EPOLLET reports newly ready bits"),
    _e("epoll_wait", sys_poll.epoll_wait, "fd ptr int int"),
    _e("epoll_pwait", sys_poll.epoll_pwait, "fd ptr int int ptr uint"),
    _e("epoll_pwait2", sys_poll.epoll_pwait2, "fd ptr int ptr ptr uint"),
    # --- event files (sys_eventfiles.py) ---
    _e("eventfd", sys_eventfiles.eventfd, "uint"),
    _e("eventfd2", sys_eventfiles.eventfd2, "uint hex"),
    _e("timerfd_create", sys_eventfiles.timerfd_create, "int hex", PARTIAL,
       "TFD_TIMER_CANCEL_ON_SET accepted, never fires (the sandbox cannot set the clock); "
       "absolute CLOCK_REALTIME deadlines do not follow later clock changes"),
    _e("timerfd_settime", sys_eventfiles.timerfd_settime, "fd hex ptr ptr"),
    _e("timerfd_gettime", sys_eventfiles.timerfd_gettime, "fd ptr"),
    _e("signalfd", sys_eventfiles.signalfd, "fd ptr uint"),
    _e("signalfd4", sys_eventfiles.signalfd4, "fd ptr uint hex"),
    _e("pidfd_open", sys_eventfiles.pidfd_open, "int hex", PARTIAL, "no PIDFD_THREAD (EINVAL)"),
    _e("pidfd_getfd", sys_eventfiles.pidfd_getfd, "fd int hex"),
    _e("inotify_init", sys_eventfiles.inotify_init, "", PARTIAL, _INOTIFY_NOTE),
    _e("inotify_init1", sys_eventfiles.inotify_init1, "hex", PARTIAL, _INOTIFY_NOTE),
    _e("inotify_add_watch", sys_eventfiles.inotify_add_watch, "fd str hex", PARTIAL,
       _INOTIFY_NOTE),
    _e("inotify_rm_watch", sys_eventfiles.inotify_rm_watch, "fd int"),
    _e("pidfd_send_signal", sys_eventfiles.pidfd_send_signal, "fd sig ptr hex", PARTIAL,
       "siginfo argument must be NULL; a zombie target is ESRCH (Linux: success)"),
    # --- process attributes (sys_prctl.py) ---
    _e("prctl", sys_prctl.prctl, "int hex hex hex hex", PARTIAL,
       "NAME, PDEATHSIG (sent when the parent process ends, not its thread), DUMPABLE, "
       "KEEPCAPS, SECUREBITS, "
       "NO_NEW_PRIVS, CHILD_SUBREAPER, CAPBSET_*, CAP_AMBIENT, TID_ADDRESS, TIMERSLACK, "
       "GET/SET_SECCOMP; PR_SET_MM EPERM; others EINVAL; PR_SET_PTRACER with a nonexistent "
       "pid is not EINVAL"),
    _e("seccomp", sys_seccomp.seccomp, "int hex ptr", PARTIAL,
       "strict mode and classic BPF filters (inherited, kept across execve; TSYNC, LOG); "
       "no user-space notification (NEW_LISTENER EINVAL, RET_USER_NOTIF and RET_TRACE "
       "answer ENOSYS)"),
    _e("getcpu", sys_system.getcpu, "ptr ptr ptr", PARTIAL,
       "the CPU the sentry's thread is on; node 0"),
    # --- the machine: memory, names, CPUs, NUMA, memfd (sys_system.py) ---
    _e("sysinfo", sys_system.sysinfo, "ptr", PARTIAL, "load averages are 0; no swap"),
    _e("sethostname", sys_system.sethostname, "str int"),
    _e("setdomainname", sys_system.setdomainname, "str int"),
    _e("sched_setaffinity", sys_system.sched_setaffinity, "int uint ptr"),
    _e("get_mempolicy", sys_system.get_mempolicy, "ptr ptr uint ptr hex", PARTIAL,
       "one NUMA node; MPOL_F_ADDR reports the thread's policy, not the mapping's"),
    _e("set_mempolicy", sys_system.set_mempolicy, "int ptr uint", PARTIAL,
       "one NUMA node; recorded only"),
    _e("memfd_create", sys_system.memfd_create, "str hex", PARTIAL,
       "no MFD_HUGETLB; write seals do not revoke existing shared writable mappings; a "
       "zero-length write to a write-sealed memfd is EPERM (Linux: 0)"),
    _e("mincore", sys_mmap.mincore, "ptr uint ptr", PARTIAL,
       "pages resident in this address space only"),
    # --- credentials (sys_creds.py) ---
    _e("setuid", sys_creds.setuid, "int"),
    _e("setgid", sys_creds.setgid, "int"),
    _e("setreuid", sys_creds.setreuid, "int int"),
    _e("setregid", sys_creds.setregid, "int int"),
    _e("setresuid", sys_creds.setresuid, "int int int"),
    _e("setresgid", sys_creds.setresgid, "int int int"),
    _e("getresuid", sys_creds.getresuid, "ptr ptr ptr"),
    _e("getresgid", sys_creds.getresgid, "ptr ptr ptr"),
    _e("setfsuid", sys_creds.setfsuid, "int", PARTIAL,
       "recorded; file access checks use the effective uid"),
    _e("setfsgid", sys_creds.setfsgid, "int", PARTIAL,
       "recorded; file access checks use the effective gid"),
    _e("getgroups", sys_creds.getgroups, "int ptr"),
    _e("setgroups", sys_creds.setgroups, "int ptr"),
    _e("capget", sys_creds.capget, "ptr ptr", PARTIAL,
       "all capabilities for euid 0, none otherwise, until capset/setuid change them"),
    _e("capset", sys_creds.capset, "ptr ptr", PARTIAL,
       "the sentry's checks follow the effective set (DAC, FOWNER, CHOWN, KILL, SETUID, "
       "SETGID, SETPCAP, SYS_ADMIN, SYS_CHROOT, SYS_NICE, SYS_PTRACE, SYS_RESOURCE, IPC, "
       "MKNOD, NET_BIND_SERVICE)"),
    # --- sockets (sys_socket.py, sys_socket_msg.py; kvmsentry/net/) ---
    _e("socket", sys_socket.socket, "int int int", PARTIAL,
       "AF_UNIX in the sentry; AF_INET/AF_INET6 TCP and UDP as host sockets; "
       "AF_NETLINK NETLINK_ROUTE read-only (no other netlink protocol; link, address "
       "and route changes refused); raw and packet sockets EPERM"),
    _e("socketpair", sys_socket.socketpair, "int int int ptr", PARTIAL,
       "AF_INET/AF_INET6 are EOPNOTSUPP (Linux: ESOCKTNOSUPPORT for type 0)"),
    _e("bind", sys_socket.bind, "fd ptr int", PARTIAL,
       "a Unix socket path on a volume needs --host-uds=create (else EPERM); AF_UNSPEC "
       "on an AF_INET socket EAFNOSUPPORT (Linux: INADDR_ANY); ports below 1024 need "
       "CAP_NET_BIND_SERVICE, and under --network=host the host's rule as well (the "
       "confined sentry has no capability there, so even the sandbox's root gets EACCES)"),
    _e("listen", sys_socket.listen, "fd int", PARTIAL,
       "closing a Unix listener does not reset its unaccepted connections (no ECONNRESET)"),
    _e("accept", sys_socket.accept, "fd ptr ptr", PARTIAL,
       "on a Unix datagram socket EINVAL (Linux: EOPNOTSUPP)"),
    _e("accept4", sys_socket.accept4, "fd ptr ptr hex", PARTIAL,
       "on a Unix datagram socket EINVAL (Linux: EOPNOTSUPP)"),
    _e("connect", sys_socket.connect, "fd ptr int", PARTIAL,
       "TCP: connecting again after ECONNREFUSED is ECONNABORTED (Linux retries) and after a "
       "completed nonblocking connect the peer closed EISCONN; an AF_INET address on an "
       "AF_INET6 socket is EINVAL (Linux: v4-mapped)"),
    _e("getsockname", sys_socket.getsockname, "fd ptr ptr"),
    _e("getpeername", sys_socket.getpeername, "fd ptr ptr"),
    _e("sendto", sys_socket.sendto, "fd in:2 uint hex ptr int", PARTIAL,
       "an AF_INET address on an AF_INET6 socket is refused (Linux: v4-mapped)"),
    _e("recvfrom", sys_socket.recvfrom, "fd out:2 uint hex ptr ptr"),
    _e("sendmsg", sys_socket_msg.sendmsg, "fd ptr hex", PARTIAL,
       "SCM_CREDENTIALS naming a nonexistent pid is not ESRCH"),
    _e("recvmsg", sys_socket_msg.recvmsg, "fd ptr hex", PARTIAL, _RECVMSG_NOTE),
    _e("sendmmsg", sys_socket_msg.sendmmsg, "fd ptr uint hex"),
    _e("recvmmsg", sys_socket_msg.recvmmsg, "fd ptr uint hex ptr"),
    _e("shutdown", sys_socket.shutdown, "fd int", PARTIAL,
       "SHUT_RD of a Unix datagram socket does not make the peer's writes EPIPE"),
    _e("setsockopt", sys_socket.setsockopt, "fd int int ptr int", PARTIAL, _SOCKOPT_NOTE),
    _e("getsockopt", sys_socket.getsockopt, "fd int int ptr ptr", PARTIAL, _SOCKOPT_NOTE),
    # --- System V IPC (sys_ipc.py; kernel/ipc/) ---
    _e("shmget", sys_ipc.shmget, "int uint hex", PARTIAL,
       "SHM_HUGETLB answers ENOMEM (no huge pages reserved)"),
    _e("shmat", sys_ipc.shmat, "int ptr hex"),
    _e("shmdt", sys_ipc.shmdt, "ptr"),
    _e("shmctl", sys_ipc.shmctl, "int int ptr", PARTIAL,
       "SHM_LOCK checks RLIMIT_MEMLOCK per segment, not the user's total; SHM_INFO's "
       "shm_rss counts pages populated at attach"),
    _e("semget", sys_ipc.semget, "int int hex"),
    _e("semop", sys_ipc.semop, "int ptr uint", PARTIAL,
       "blocked callers retry when woken, not in Linux's FIFO queue order"),
    _e("semtimedop", sys_ipc.semtimedop, "int ptr uint ptr", PARTIAL,
       "blocked callers retry when woken, not in Linux's FIFO queue order"),
    _e("semctl", sys_ipc.semctl, "int int int hex"),
    _e("msgget", sys_ipc.msgget, "int hex"),
    _e("msgsnd", sys_ipc.msgsnd, "int ptr uint hex", PARTIAL,
       "of several blocked receivers, the first to wake takes a message (Linux: the "
       "longest waiting)"),
    _e("msgrcv", sys_ipc.msgrcv, "int ptr uint int hex", PARTIAL,
       "of several blocked receivers, the first to wake takes a message (Linux: the "
       "longest waiting); MSG_COPY with MSG_NOERROR is not EINVAL"),
    _e("msgctl", sys_ipc.msgctl, "int int ptr"),
    # --- POSIX message queues (sys_mqueue.py; kernel/mqueue.py) ---
    _e("mq_open", sys_mqueue.mq_open, "str hex hex ptr", PARTIAL,
       "no /dev/mqueue filesystem to list queues"),
    _e("mq_unlink", sys_mqueue.mq_unlink, "str"),
    _e("mq_timedsend", sys_mqueue.mq_timedsend, "fd in:2 uint uint ptr"),
    _e("mq_timedreceive", sys_mqueue.mq_timedreceive, "fd ptr uint ptr ptr"),
    _e("mq_notify", sys_mqueue.mq_notify, "fd ptr", PARTIAL,
       "a registration is dropped when its process closes the last descriptor of that "
       "open queue (Linux: any descriptor of the queue)"),
    _e("mq_getsetattr", sys_mqueue.mq_getsetattr, "fd ptr ptr"),
    # --- locking memory (sys_mlock.py; kernel/mlock.py) ---
    _e("mlock", sys_mlock.mlock, "ptr uint"),
    _e("mlock2", sys_mlock.mlock2, "ptr uint hex"),
    _e("munlock", sys_mlock.munlock, "ptr uint"),
    _e("mlockall", sys_mlock.mlockall, "hex"),
    _e("munlockall", sys_mlock.munlockall),
    # --- scheduling policy and nice (sys_sched.py; kernel/sched.py) ---
    _e("sched_setscheduler", sys_sched.sched_setscheduler, "int int ptr", PARTIAL,
       "recorded with Linux's checks; the host schedules the thread as before"),
    _e("sched_getscheduler", sys_sched.sched_getscheduler, "int"),
    _e("sched_setparam", sys_sched.sched_setparam, "int ptr", PARTIAL,
       "recorded with Linux's checks; the host schedules the thread as before"),
    _e("sched_getparam", sys_sched.sched_getparam, "int ptr"),
    _e("sched_setattr", sys_sched.sched_setattr, "int ptr hex", PARTIAL,
       "recorded with Linux's checks (utilization clamps ignored); the host schedules "
       "the thread as before"),
    _e("sched_getattr", sys_sched.sched_getattr, "int ptr uint hex"),
    _e("sched_get_priority_max", sys_sched.sched_get_priority_max, "int"),
    _e("sched_get_priority_min", sys_sched.sched_get_priority_min, "int"),
    _e("sched_rr_get_interval", sys_sched.sched_rr_get_interval, "int ptr", PARTIAL,
       "a fixed 4 ms for fair-class threads"),
    _e("getpriority", sys_sched.getpriority, "int int"),
    _e("setpriority", sys_sched.setpriority, "int int int", PARTIAL,
       "nice is recorded (and shown in /proc/[pid]/stat), not applied to the host thread"),
    # --- old forms of file calls (sys_old_fs.py), per-call flags (sys_rw_flags.py) ---
    _e("utime", sys_old_fs.utime, "str ptr"),
    _e("utimes", sys_old_fs.utimes, "str ptr"),
    _e("futimesat", sys_old_fs.futimesat, "fd str ptr", PARTIAL,
       "a NULL path changes an O_PATH dirfd's file (Linux: EBADF) and with AT_FDCWD is EBADF "
       "(Linux: EFAULT)"),
    _e("getdents", sys_old_fs.getdents, "fd ptr uint"),
    _e("preadv2", sys_rw_flags.preadv2, "fd oiov:2 int int int hex", PARTIAL,
       "RWF_HIPRI/DSYNC/SYNC/NOWAIT/APPEND/NOAPPEND; RWF_NOWAIT never finds a regular "
       "file's data uncached; RWF_ATOMIC/DONTCACHE EOPNOTSUPP"),
    _e("pwritev2", sys_rw_flags.pwritev2, "fd iov:2 int int int hex", PARTIAL,
       "RWF_HIPRI/DSYNC/SYNC/NOWAIT/APPEND/NOAPPEND; RWF_ATOMIC/DONTCACHE EOPNOTSUPP"),
    _e("readahead", sys_rw_flags.readahead, "fd int uint"),
    _e("sync_file_range", sys_rw_flags.sync_file_range, "fd int int hex"),
    # --- namespaces, chroot (sys_namespaces.py) ---
    _e("unshare", sys_namespaces.unshare, "hex", PARTIAL,
       "CLONE_FILES/FS/SYSVSEM/NEWUTS; new mount, IPC, network, PID, cgroup, time and user "
       "namespaces EPERM"),
    _e("setns", sys_namespaces.setns, "fd hex", PARTIAL,
       "pidfds only (no /proc/PID/ns files): joins the process's UTS namespace; the others "
       "are shared already"),
    _e("chroot", sys_namespaces.chroot, "str", PARTIAL,
       "/proc/PID/mounts and mountinfo are not rewritten for the new root (mounts outside "
       "it are listed)"),
    _e("mount", sys_mount.mount, "str str str hex ptr", PARTIAL,
       "tmpfs, proc, sysfs, devpts (a new instance; /dev/ptmx serves the instance on the pts beside it, "
       "and a remount does not change devpts options); bind (MS_REC binds the one "
       "mount), remount, move; propagation "
       "flags accepted (one mount namespace): no peer groups in mountinfo, nothing "
       "propagates; NOEXEC enforced (execve, mmap, mprotect), NOSUID/NODEV recorded, not "
       "enforced; no overlay, mqueue or cgroup2; tmpfs size= and the "
       "mount-max count not enforced"),
    _e("umount2", sys_mount.umount2, "str hex"),
    _e("pivot_root", sys_mount.pivot_root, "str str", PARTIAL,
       "shared mounts are not refused (Linux: EINVAL), as mount propagation is not kept"),
    # --- pipes without a user buffer (sys_splice.py) ---
    _e("splice", sys_splice.splice, "fd ptr fd ptr uint hex", PARTIAL,
       "a pipe's room is counted in bytes, not page slots: into a one-page pipe with bytes "
       "free it moves what fits (Linux blocks)"),
    _e("tee", sys_splice.tee, "fd fd uint hex"),
    _e("vmsplice", sys_splice.vmsplice, "fd iov:2 uint hex", PARTIAL,
       "copies the pages (SPLICE_F_GIFT gives nothing away)"),
    # --- per-task attributes, other tasks (sys_task_attrs.py) ---
    _e("personality", sys_task_attrs.personality, "hex", PARTIAL,
       "recorded and inherited; ADDR_NO_RANDOMIZE is how the sandbox always lays out "
       "memory; READ_IMPLIES_EXEC, UNAME26, ADDR_LIMIT_* change nothing"),
    _e("ioprio_get", sys_task_attrs.ioprio_get, "int int"),
    _e("ioprio_set", sys_task_attrs.ioprio_set, "int int int", PARTIAL,
       "recorded per task; the sandbox's I/O is not scheduled by it"),
    _e("get_robust_list", sys_task_attrs.get_robust_list, "int ptr ptr"),
    _e("restart_syscall", sys_task_attrs.restart_syscall, ""),
    _e("kcmp", sys_task_attrs.kcmp, "int int int hex hex", PARTIAL,
       "KCMP_IO compares tasks, KCMP_SYSVSEM processes; KCMP_EPOLL_TFD EINVAL"),
    _e("process_vm_readv", sys_task_attrs.process_vm_readv, "int ptr uint ptr uint hex"),
    _e("process_vm_writev", sys_task_attrs.process_vm_writev, "int ptr uint ptr uint hex"),
    _e("process_madvise", sys_task_attrs.process_madvise, "fd iov:2 uint int hex", PARTIAL,
       "another process's memory: EPERM (CAP_SYS_NICE), as in a container"),
    _e("process_mrelease", sys_task_attrs.process_mrelease, "fd hex"),
    # --- NUMA, protection keys, membarrier (sys_mm_policy.py) ---
    _e("mbind", sys_mm_policy.mbind, "ptr uint int ptr uint hex", PARTIAL, "one NUMA node"),
    _e("migrate_pages", sys_mm_policy.migrate_pages, "int uint ptr ptr", PARTIAL,
       "one NUMA node"),
    _e("move_pages", sys_mm_policy.move_pages, "int uint ptr ptr ptr hex", PARTIAL,
       "one NUMA node"),
    _e("pkey_alloc", sys_mm_policy.pkey_alloc, "hex hex", PARTIAL,
       "as a CPU without PKU: EINVAL"),
    _e("pkey_free", sys_mm_policy.pkey_free, "int", PARTIAL, "as a CPU without PKU"),
    _e("pkey_mprotect", sys_mm_policy.pkey_mprotect, "ptr uint hex int", PARTIAL,
       "as a CPU without PKU: key -1 only"),
    _e("membarrier", sys_mm_policy.membarrier, "int hex int"),
    _e("set_mempolicy_home_node", sys_mm_policy.set_mempolicy_home_node, "ptr uint int hex",
       PARTIAL, "one NUMA node; mbind policies are not kept (ENOENT for mapped ranges)"),
    # --- what needs the host's capabilities (sys_privileged.py): EPERM as in a container ---
    _e("settimeofday", sys_privileged.settimeofday, "ptr ptr", PARTIAL,
       "EPERM after argument checks (the clock is the host's)"),
    _e("clock_settime", sys_privileged.clock_settime, "int ptr", PARTIAL,
       "EPERM after argument checks (the clock is the host's)"),
    _e("adjtimex", sys_privileged.adjtimex, "ptr", PARTIAL,
       "reads the state of an unsynchronized clock; changes EPERM"),
    _e("clock_adjtime", sys_privileged.clock_adjtime, "int ptr", PARTIAL,
       "CLOCK_REALTIME as adjtimex; negative (CPU, fd) clock ids EINVAL"),
    _e("syslog", sys_privileged.syslog, "int ptr int", PARTIAL,
       "an empty kernel log (dmesg_restrict=0)"),
    _e("vhangup", sys_privileged.vhangup, "", PARTIAL, "EPERM, as in a container"),
    _e("acct", sys_privileged.acct, "str", PARTIAL, "EPERM, as in a container"),
    _e("swapon", sys_privileged.swapon, "str hex", PARTIAL, "EPERM, as in a container"),
    _e("swapoff", sys_privileged.swapoff, "str", PARTIAL, "EPERM, as in a container"),
    _e("reboot", sys_privileged.reboot, "hex hex hex ptr", PARTIAL,
       "EPERM, as in a container without its own pid namespace"),
    _e("iopl", sys_privileged.iopl, "int", PARTIAL, "level 0 only; raising it EPERM"),
    _e("ioperm", sys_privileged.ioperm, "hex hex int", PARTIAL,
       "clearing is a no-op; granting EPERM"),
    _e("init_module", sys_privileged.init_module, "ptr uint str", PARTIAL,
       "EPERM, as in a container"),
    _e("finit_module", sys_privileged.finit_module, "fd str hex", PARTIAL,
       "EPERM, as in a container"),
    _e("delete_module", sys_privileged.delete_module, "str hex", PARTIAL,
       "EPERM, as in a container"),
    _e("kexec_load", sys_privileged.kexec_load, "ptr uint ptr hex", PARTIAL,
       "EPERM, as in a container"),
    _e("kexec_file_load", sys_privileged.kexec_file_load, "fd fd uint str hex", PARTIAL,
       "EPERM, as in a container"),
    _e("io_setup", sys_aio.io_setup, "uint ptr", PARTIAL,
       "requests complete inside io_submit (never cancellable); no IOCB_CMD_POLL; "
       "aio-max-nr checked per context, not summed over the sandbox"),
    _e("io_destroy", sys_aio.io_destroy, "hex"),
    _e("io_submit", sys_aio.io_submit, "hex int ptr", PARTIAL,
       "requests run to completion before it returns; IOCB_CMD_POLL EINVAL"),
    _e("io_getevents", sys_aio.io_getevents, "hex int int ptr ptr"),
    _e("io_pgetevents", sys_aio.io_pgetevents, "hex int int ptr ptr ptr"),
    _e("io_cancel", sys_aio.io_cancel, "hex ptr ptr", PARTIAL,
       "nothing is ever in flight: EINVAL"),
    _e("ptrace", sys_ptrace.ptrace_, "int int ptr ptr", PARTIAL,
       "tracer is the attaching process, not thread; debug registers are stored, never "
       "armed; no PEEKSIGINFO or seccomp events; at a syscall-entry stop only the number "
       "and arguments can change; exit stops show EINTR, not ERESTART*; a traced "
       "process's exit may reach its parent before its tracer; also differ: attaching to a "
       "group-stopped task (PTRACE_GETSIGINFO succeeds), SYSEMU with POKEUSER, the events "
       "of a non-leader thread's execve"),
]


def _build():
    by_name = {name: (h, a, s, n) for name, h, a, s, n in _IMPLEMENTED}
    # One row per syscall: a second row (e.g. from a merge) would silently win.
    assert len(by_name) == len(_IMPLEMENTED), "a syscall has two rows in _IMPLEMENTED"
    unknown = set(by_name) - set(NAMES.values())
    assert not unknown, unknown
    table = [None] * (max(NAMES) + 1)
    # tuple.__new__ straight: Syscall.__new__ is a Python call per row.
    row, missing = tuple.__new__, (None, (), NONE, "returns ENOSYS")
    for nr, name in NAMES.items():
        table[nr] = row(Syscall, (nr, name, *by_name.get(name, missing)))
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
