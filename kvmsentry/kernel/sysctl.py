"""The sandbox's kernel identity and tunables, in one place.

uname(2), /proc/version, /proc/sys/*, sysinfo(2), sched_getaffinity and
/sys/devices/system/cpu all read these values; sethostname(2) and
setdomainname(2) change this sandbox's copy only (or the calling
process's own UTS namespace after unshare(CLONE_NEWUTS)). The release and
version are the host's (glibc and others compare them against minimum
kernel versions); everything else describes the sandbox, not the host.
"""
import os
import sys
import time

from kvmsentry.kernel.creds import CAP_LAST_CAP, NGROUPS_MAX
from kvmsentry.kernel.locking import current
from kvmsentry.kernel.polling import POLLERR, POLLIN, POLLPRI, POLLRDNORM
from kvmsentry.kernel.process_tree import PID_MAX_DEFAULT
from kvmsentry.kernel.waiter import Queue
from kvmsentry.mm.address_space import MMAP_MIN_ADDR

HOST_NAME_MAX = 64
NR_OPEN = 1 << 20
FILE_MAX = 9223372036854775807
MAX_MAP_COUNT = 65530
SHMMAX = 18446744073709551615 - (1 << 24)
OVERCOMMIT_MEMORY = 0
THREADS_MAX = 1 << 20
INOTIFY_MAX_WATCHES = 65536
NAME_CHANGED = POLLIN | POLLRDNORM | POLLERR | POLLPRI


def random_uuid():
    """A random (version 4) UUID as Linux prints it; what uuid.uuid4()
    gives, without the uuid module's import (~5 ms of start-up)."""
    b = bytearray(os.urandom(16))
    b[6] = b[6] & 0x0F | 0x40
    b[8] = b[8] & 0x3F | 0x80
    h = b.hex()
    return ("%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])).encode()


class UtsNamespace:
    """A host and NIS domain name: the sandbox's, or a process's own after
    unshare(CLONE_NEWUTS)."""

    def __init__(self, hostname, domainname):
        self.hostname = hostname
        self.domainname = domainname

    def copy(self):
        return UtsNamespace(self.hostname, self.domainname)


def _uts_property(field):
    """hostname/domainname of the UTS namespace of the task this host
    thread runs (the sandbox's outside any task)."""
    def get(self):
        return getattr(self.uts_of(current()), field)

    def put(self, value):
        setattr(self.uts_of(current()), field, value)
        self.name_changes[field].changed()
    return property(get, put)


class NameChanges:
    """Linux's uts_proc_notify for one name: a count of its changes and
    the waiters of /proc/sys/kernel/<name>, whose poll reports a change
    the open file has not seen yet. One per sandbox whichever UTS
    namespace changed, as Linux keeps one per kernel."""

    __slots__ = ("count", "queue")

    def __init__(self):
        self.count = 0
        self.queue = Queue()

    def changed(self):
        self.count += 1
        self.queue.notify(NAME_CHANGED)


def _limits(module, *names):
    """A tunable showing constants of `module`, tab-separated, imported at
    the first read (the IPC modules and pipes load with their first use)."""
    def read():
        __import__(module)
        values = [getattr(sys.modules[module], name) for name in names]
        return b"\t".join(b"%d" % v for v in values)
    return read


class SystemIdentity:
    """uname fields, tunables and the CPU count of one sandbox."""

    def __init__(self, ncpus=None):
        u = os.uname()
        self.sysname = b"Linux"
        self.release = u.release.encode()
        self.version = u.version.encode()
        self.machine = b"x86_64"
        self.root_uts = UtsNamespace(os.uname().nodename.encode()[:HOST_NAME_MAX], b"(none)")
        self.name_changes = {"hostname": NameChanges(), "domainname": NameChanges()}
        # The sandbox's CPUs are numbered 0..ncpus-1: as many as the host
        # CPUs the sentry (and so its vCPU threads) may run on.
        self.ncpus = ncpus or len(os.sched_getaffinity(0))
        # The host CPUs behind sandbox CPUs 0, 1, ...: fixed here, since a
        # task's sched_setaffinity narrows its own host thread's set.
        self.host_cpus = sorted(os.sched_getaffinity(0))
        self.boot_monotonic_ns = time.monotonic_ns()
        self.boot_realtime_ns = time.time_ns()
        self.boot_id = random_uuid()
        self.tunables = {
            b"kernel/ostype": lambda: self.sysname,
            b"kernel/osrelease": lambda: self.release,
            b"kernel/version": lambda: self.version,
            b"kernel/hostname": lambda: self.hostname,
            b"kernel/domainname": lambda: self.domainname,
            b"kernel/pid_max": lambda: b"%d" % PID_MAX_DEFAULT,
            b"kernel/ngroups_max": lambda: b"%d" % NGROUPS_MAX,
            b"kernel/cap_last_cap": lambda: b"%d" % CAP_LAST_CAP,
            b"kernel/overflowuid": lambda: b"65534",
            b"kernel/overflowgid": lambda: b"65534",
            # The sentry lays out address spaces as Linux does with ASLR off.
            b"kernel/randomize_va_space": lambda: b"0",
            b"kernel/shmmax": lambda: b"%d" % SHMMAX,
            b"kernel/shmall": lambda: b"%d" % SHMMAX,
            b"kernel/shmmni": _limits("kvmsentry.kernel.ipc.shm", "SHMMNI"),
            b"kernel/sem": _limits("kvmsentry.kernel.ipc.sem", "SEMMSL", "SEMMNS", "SEMOPM",
                                   "SEMMNI"),
            b"kernel/msgmax": _limits("kvmsentry.kernel.ipc.msg", "MSGMAX"),
            b"kernel/msgmnb": _limits("kvmsentry.kernel.ipc.msg", "MSGMNB"),
            b"kernel/msgmni": _limits("kvmsentry.kernel.ipc.msg", "MSGMNI"),
            b"fs/mqueue/msg_default": _limits("kvmsentry.kernel.mqueue", "MSG_DEFAULT"),
            b"fs/mqueue/msg_max": _limits("kvmsentry.kernel.mqueue", "MSG_MAX"),
            b"fs/mqueue/msgsize_default": _limits("kvmsentry.kernel.mqueue", "MSGSIZE_DEFAULT"),
            b"fs/mqueue/msgsize_max": _limits("kvmsentry.kernel.mqueue", "MSGSIZE_MAX"),
            b"fs/mqueue/queues_max": _limits("kvmsentry.kernel.mqueue", "QUEUES_MAX"),
            b"kernel/threads-max": lambda: b"%d" % THREADS_MAX,
            b"kernel/random/boot_id": lambda: self.boot_id,
            b"kernel/random/uuid": random_uuid,
            b"kernel/random/entropy_avail": lambda: b"256",
            b"kernel/random/poolsize": lambda: b"256",
            b"vm/overcommit_memory": lambda: b"%d" % OVERCOMMIT_MEMORY,
            b"vm/max_map_count": lambda: b"%d" % MAX_MAP_COUNT,
            b"vm/mmap_min_addr": lambda: b"%d" % MMAP_MIN_ADDR,
            b"vm/overcommit_ratio": lambda: b"50",
            b"vm/swappiness": lambda: b"60",
            b"fs/file-max": lambda: b"%d" % FILE_MAX,
            b"fs/nr_open": lambda: b"%d" % NR_OPEN,
            b"fs/pipe-max-size": _limits("kvmsentry.kernel.pipe", "PIPE_MAX_SIZE"),
            b"fs/inotify/max_user_watches": lambda: b"%d" % INOTIFY_MAX_WATCHES,
            b"fs/inotify/max_user_instances": lambda: b"128",
        }

    hostname = _uts_property("hostname")
    domainname = _uts_property("domainname")

    def uts_of(self, task):
        uts = getattr(task, "uts", None)
        return self.root_uts if uts is None else uts

    def uptime_ns(self):
        return time.monotonic_ns() - self.boot_monotonic_ns

    def uname_fields(self):
        return (self.sysname, self.hostname, self.release, self.version,
                self.machine, self.domainname)

    def cpu_list(self):
        """Linux's cpulist format of the sandbox's CPUs ("0-1")."""
        return b"0" if self.ncpus == 1 else b"0-%d" % (self.ncpus - 1)
