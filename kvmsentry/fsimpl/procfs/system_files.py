"""System-wide /proc files (meminfo, stat, uptime, loadavg, version,
filesystems) and the /proc/sys tree, from the sandbox's kernel: its
memory pool, its tasks and its SystemIdentity, never the host's."""
import errno

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.procfs.nodes import GenDir, GenFile, GeneratedFile
from kvmsentry.kernel import cputime
from kvmsentry.kernel.locking import current
from kvmsentry.kernel.polling import DEFAULT_POLLMASK
from kvmsentry.kernel.sysctl import NAME_CHANGED

USER_HZ = 100
FILESYSTEMS = (b"nodev\tsysfs", b"nodev\ttmpfs", b"nodev\tproc", b"nodev\tdevtmpfs",
               b"nodev\tpipefs", b"nodev\toverlay", b"nodev\tcgroup2", b"nodev\t9p")
WRITABLE_TUNABLES = {b"kernel/hostname": "hostname", b"kernel/domainname": "domainname"}
HOST_NAME_MAX = 64


def memory(kernel):
    """(total, free) bytes of the sandbox's memory: its physical pool."""
    pool = kernel.machine.pool
    total = pool.size
    used = pool.frames_in_use * 4096
    return total, max(total - used, 0)


def meminfo(kernel):
    total, free = memory(kernel)
    rows = [("MemTotal", total), ("MemFree", free), ("MemAvailable", free),
            ("Buffers", 0), ("Cached", 0), ("SwapCached", 0),
            ("Active", total - free), ("Inactive", 0),
            ("Active(anon)", total - free), ("Inactive(anon)", 0),
            ("Active(file)", 0), ("Inactive(file)", 0), ("Unevictable", 0),
            ("Mlocked", 0), ("SwapTotal", 0), ("SwapFree", 0), ("Zswap", 0),
            ("Zswapped", 0), ("Dirty", 0), ("Writeback", 0),
            ("AnonPages", total - free), ("Mapped", 0), ("Shmem", 0),
            ("KReclaimable", 0), ("Slab", 0), ("SReclaimable", 0), ("SUnreclaim", 0),
            ("KernelStack", 0), ("PageTables", 0), ("SecPageTables", 0),
            ("NFS_Unstable", 0), ("Bounce", 0), ("WritebackTmp", 0),
            ("CommitLimit", total), ("Committed_AS", total - free),
            ("VmallocTotal", 34359738367 << 10), ("VmallocUsed", 0),
            ("VmallocChunk", 0), ("Percpu", 0), ("HardwareCorrupted", 0),
            ("AnonHugePages", 0), ("ShmemHugePages", 0), ("ShmemPmdMapped", 0),
            ("FileHugePages", 0), ("FilePmdMapped", 0)]
    text = "".join("%-16s%8d kB\n" % (k + ":", v >> 10) for k, v in rows)
    text += ("HugePages_Total:       0\nHugePages_Free:        0\nHugePages_Rsvd:        0\n"
             "HugePages_Surp:        0\nHugepagesize:       2048 kB\nHugetlb:               0 kB\n")
    return text.encode()


def _busy_ns(kernel):
    live = sum(cputime.thread_cpu_ns(t) for t in list(kernel.tasks.values()))
    return live + sum(g.utime_ns for g in kernel.tree.groups.values())


def stat(kernel):
    """/proc/stat: CPU time split evenly over the sandbox's CPUs."""
    system = kernel.system
    n = system.ncpus
    user = _busy_ns(kernel) * USER_HZ // 1_000_000_000
    idle = max(system.uptime_ns() * n * USER_HZ // 1_000_000_000 - user, 0)
    lines = ["cpu  %d 0 0 %d 0 0 0 0 0 0" % (user, idle)]
    lines += ["cpu%d %d 0 0 %d 0 0 0 0 0 0" % (i, user // n, idle // n) for i in range(n)]
    pids = kernel.tree.ns.allocated()
    lines += ["intr 0", "ctxt 0", "btime %d" % (system.boot_realtime_ns // 1_000_000_000),
              "processes %d" % (max(pids) if pids else 1),
              "procs_running %d" % max(len(kernel.tasks), 1), "procs_blocked 0",
              "softirq 0 0 0 0 0 0 0 0 0 0 0"]
    return ("\n".join(lines) + "\n").encode()


def uptime(kernel):
    system = kernel.system
    up = system.uptime_ns() / 1e9
    idle = max(up * system.ncpus - _busy_ns(kernel) / 1e9, 0.0)
    return b"%.2f %.2f\n" % (up, idle)


def loadavg(kernel):
    pids = kernel.tree.ns.allocated()
    return b"0.00 0.00 0.00 1/%d %d\n" % (len(kernel.tasks), max(pids) if pids else 0)


def version(kernel):
    s = kernel.system
    return b"Linux version %s (kvmsentry@sandbox) %s\n" % (s.release, s.version)


def vmstat(kernel):
    """/proc/vmstat: the counters procps' vmstat reads (no paging here)."""
    total, free = memory(kernel)
    counters = [("nr_free_pages", free >> 12), ("nr_anon_pages", (total - free) >> 12),
                ("nr_mapped", 0), ("nr_file_pages", 0), ("nr_dirty", 0),
                ("nr_writeback", 0), ("pgpgin", 0), ("pgpgout", 0), ("pswpin", 0),
                ("pswpout", 0), ("pgfault", 0), ("pgmajfault", 0)]
    return "".join("%s %d\n" % kv for kv in counters).encode()


def swaps(kernel):
    return b"Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"


def cmdline(kernel):
    return b"kvmsentry\n"


# The character devices the sandbox's /dev and /dev/pts hold (devfs.py,
# devpts.py), by major; it has no block devices.
CHAR_DEVICES = ((1, b"mem"), (5, b"/dev/tty"), (5, b"/dev/ptmx"), (136, b"pts"))


def devices(kernel):
    """/proc/devices: majors and driver names, as Linux's chrdev_show."""
    return (b"Character devices:\n" + b"".join(b"%3d %s\n" % d for d in CHAR_DEVICES)
            + b"\nBlock devices:\n")


def filesystems(kernel):
    return b"\n".join(FILESYSTEMS) + b"\n"


def sys_tree(fs, kernel, key=("sys",), prefix=b""):
    """/proc/sys and below, from SystemIdentity.tunables (dirs from paths)."""
    tunables = kernel.system.tunables
    names = {}
    for path in tunables:
        if path.startswith(prefix):
            head = path[len(prefix):].split(b"/", 1)
            names.setdefault(head[0], len(head) == 1)
    entries = {}
    for name, is_file in names.items():
        path = prefix + name
        if is_file:
            entries[name] = _tunable_file(fs, kernel, key + (name,), path)
        else:
            entries[name] = (lambda path=path, name=name:
                             sys_tree(fs, kernel, key + (name,), path + b"/"))
    return GenDir(fs, key, lambda: entries, 0o555, volatile=False)


def _tunable_file(fs, kernel, key, path):
    value = kernel.system.tunables[path]
    attr = WRITABLE_TUNABLES.get(path)

    def set_name(data):
        writer = current()
        if writer is not None and writer.creds.euid != 0:
            raise SyscallError(errno.EPERM)
        name = data.split(b"\n", 1)[0]
        if len(name) > HOST_NAME_MAX:
            raise SyscallError(errno.EINVAL)
        setattr(kernel.system, attr, name)
        return len(data)
    write = set_name if attr is not None else None
    changes = kernel.system.name_changes[attr] if attr is not None else None
    return lambda: TunableNode(fs, key, lambda: value() + b"\n",
                               0o644 if write else 0o444, write, changes)


class TunableNode(GenFile):
    """A /proc/sys file (proc_sys_file_operations)."""

    def __init__(self, fs, key, generate, mode, write, changes):
        super().__init__(fs, key, generate, mode, write=write)
        self.changes = changes        # NameChanges of hostname/domainname, else None

    def open(self, location, flags):
        return TunableFile(location, flags, self)


class TunableFile(GeneratedFile):
    """Pollable, as every sysctl file is (proc_sys_poll: always ready).
    kernel/hostname and kernel/domainname also report a change of the
    name since this open file last looked, once (POLLERR | POLLPRI)."""

    def __init__(self, location, flags, node):
        super().__init__(location, flags, node)
        changes = node.changes
        self.queue = None if changes is None else changes.queue
        self._seen = 0 if changes is None else changes.count

    def poll_events(self):
        changes = self.node.changes
        if changes is not None and changes.count != self._seen:
            self._seen = changes.count
            return NAME_CHANGED
        return DEFAULT_POLLMASK
