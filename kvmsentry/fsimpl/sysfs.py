"""The sandbox's /sys: a minimal generated tree, and the cgroup2 root
mounted at /sys/fs/cgroup.

/sys/devices/system/cpu tells programs (glibc's get_nprocs_conf, the JVM,
libuv) how many CPUs the sandbox has; the cgroup2 root tells them its
limits: memory.max is the guest memory pool, cpu.max is unlimited.
Nothing comes from the host's /sys.
"""
import errno

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.procfs.nodes import GenDir, GenFile, GenFilesystem

SYSFS_MAGIC = 0x62656572
CGROUP2_SUPER_MAGIC = 0x63677270
KERNEL_MAX = 8191                    # NR_CPUS - 1 of a distribution kernel


class _KernelBound(GenFilesystem):
    def __init__(self, dev, name, magic, make_root):
        self.kernel = None
        super().__init__(dev, name, magic, make_root)

    def attach_kernel(self, kernel):
        self.kernel = kernel
        self.mtime_ns = kernel.system.boot_realtime_ns

    def system(self):
        if self.kernel is None:
            raise SyscallError(errno.ENOENT)
        return self.kernel.system


def _fixed_dir(fs, key, entries):
    return GenDir(fs, key, lambda: entries, 0o755, volatile=False)


def _file(fs, key, generate, mode=0o444):
    return lambda: GenFile(fs, key, lambda: generate() + b"\n", mode)


class SysFilesystem(_KernelBound):
    def __init__(self, dev):
        super().__init__(dev, "sysfs", SYSFS_MAGIC, _sys_root)


def _cpu_dir(fs, n):
    key = ("cpu", n)
    topology = {
        b"core_id": _file(fs, key + (b"core_id",), lambda: b"%d" % n),
        b"physical_package_id": _file(fs, key + (b"pkg",), lambda: b"0"),
        b"thread_siblings_list": _file(fs, key + (b"ts",), lambda: b"%d" % n),
        b"core_siblings_list": _file(fs, key + (b"cs",), lambda: fs.system().cpu_list()),
    }
    entries = {b"topology": lambda: _fixed_dir(fs, key + (b"topology",), topology)}
    if n:
        entries[b"online"] = _file(fs, key + (b"online",), lambda: b"1", 0o644)
    return _fixed_dir(fs, key, entries)


def _sys_root(fs):
    def cpu_entries():
        out = {name: _file(fs, ("cpu", name), fs.system().cpu_list)
               for name in (b"online", b"possible", b"present")}
        out[b"kernel_max"] = _file(fs, ("cpu", b"kernel_max"), lambda: b"%d" % KERNEL_MAX)
        for n in range(fs.system().ncpus):
            out[b"cpu%d" % n] = (lambda n=n: _cpu_dir(fs, n))
        return out
    cpu = lambda: GenDir(fs, ("cpu",), cpu_entries, 0o755, volatile=False)   # noqa: E731
    system = {b"cpu": cpu}
    devices = {b"system": lambda: _fixed_dir(fs, ("system",), system)}
    fs_dir = {b"cgroup": lambda: _fixed_dir(fs, ("fs", b"cgroup"), {})}
    top = {b"devices": lambda: _fixed_dir(fs, ("devices",), devices),
           b"fs": lambda: _fixed_dir(fs, ("fs",), fs_dir),
           b"kernel": lambda: _fixed_dir(fs, ("kernel",), {})}
    return _fixed_dir(fs, ("root",), top)


class CgroupFilesystem(_KernelBound):
    """An empty cgroup2 hierarchy whose root holds every process of the
    sandbox, with the sandbox's limits."""

    def __init__(self, dev):
        super().__init__(dev, "cgroup2", CGROUP2_SUPER_MAGIC, _cgroup_root)


def _cgroup_root(fs):
    def kernel():
        fs.system()
        return fs.kernel

    def procs():
        return b"\n".join(b"%d" % g for g in sorted(kernel().tree.groups))

    def threads():
        return b"\n".join(b"%d" % t for t in sorted(kernel().tasks))

    def memory_max():
        return b"%d" % kernel().machine.pool.size

    def memory_current():
        return b"%d" % (kernel().machine.pool.frames_in_use * 4096)

    entries = {
        b"cgroup.controllers": _file(fs, ("cg", 1), lambda: b"cpu memory pids"),
        b"cgroup.subtree_control": _file(fs, ("cg", 2), lambda: b"", 0o644),
        b"cgroup.procs": _file(fs, ("cg", 3), procs, 0o644),
        b"cgroup.threads": _file(fs, ("cg", 4), threads, 0o644),
        b"cgroup.type": _file(fs, ("cg", 5), lambda: b"domain", 0o644),
        b"cpu.max": _file(fs, ("cg", 6), lambda: b"max 100000", 0o644),
        b"cpu.weight": _file(fs, ("cg", 7), lambda: b"100", 0o644),
        b"memory.max": _file(fs, ("cg", 8), memory_max, 0o644),
        b"memory.high": _file(fs, ("cg", 9), lambda: b"max", 0o644),
        b"memory.current": _file(fs, ("cg", 10), memory_current),
        b"memory.swap.max": _file(fs, ("cg", 11), lambda: b"0", 0o644),
        b"pids.max": _file(fs, ("cg", 12), lambda: b"max", 0o644),
        b"pids.current": _file(fs, ("cg", 13), lambda: b"%d" % len(kernel().tasks)),
    }
    return _fixed_dir(fs, ("root",), entries)
