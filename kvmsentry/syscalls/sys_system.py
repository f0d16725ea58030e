"""The machine as the sandbox sees it: sysinfo, host and domain names,
CPUs (affinity, getcpu), NUMA policy (one node), memfd_create."""
import ctypes
import errno
import os
import struct
import weakref

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl import memfd
from kvmsentry.fsimpl.procfs.system_files import memory
from kvmsentry.kernel.creds import CAP_SYS_ADMIN, CAP_SYS_NICE
from kvmsentry.kernel.sysctl import HOST_NAME_MAX
from kvmsentry.syscalls.args import i32, u32

SI_LOAD_SHIFT = 16
MFD_CLOEXEC, MFD_ALLOW_SEALING, MFD_HUGETLB = 1, 2, 4
MFD_NOEXEC_SEAL, MFD_EXEC = 8, 0x10
MFD_NAME_MAX = 249                 # NAME_MAX - strlen("memfd:")
O_RDWR, O_LARGEFILE = 2, 0o100000
MPOL_DEFAULT, MPOL_PREFERRED, MPOL_BIND, MPOL_INTERLEAVE, MPOL_LOCAL = 0, 1, 2, 3, 4
MPOL_PREFERRED_MANY, MPOL_WEIGHTED_INTERLEAVE = 5, 6
MPOL_MODE_FLAGS = (1 << 15) | (1 << 14) | (1 << 13)
MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES, MPOL_F_NUMA_BALANCING = 1 << 15, 1 << 14, 1 << 13
NODEMASK_MAX_BITS = 4096 * 8                  # get_nodes: at most a page of bits
MPOL_F_NODE, MPOL_F_ADDR, MPOL_F_MEMS_ALLOWED = 1, 2, 4
_policies = weakref.WeakKeyDictionary()     # task -> (mode, nodemask) set_mempolicy gave
_libc = ctypes.CDLL(None)                   # for sched_getcpu, which os lacks


# --- sysinfo, names ------------------------------------------------------------------
def sysinfo(task, info):
    """Implements sysinfo(2): uptime, the guest memory pool, task count."""
    kernel = task.kernel
    total, free = memory(kernel)
    uptime = kernel.system.uptime_ns() // 1_000_000_000
    procs = min(len(kernel.tasks), 0xFFFF)
    data = struct.pack("<q3Q6QHH4xQQI4x", uptime, 0, 0, 0, total, free, 0, 0, 0, 0,
                       procs, 0, 0, 0, 1)
    task.mm.copy_out(info, data)
    return 0


def _set_name(task, name, length, attr):
    length = i32(length)
    if not task.creds.capable(CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)
    if length < 0 or length > HOST_NAME_MAX:
        raise SyscallError(errno.EINVAL)
    value = task.mm.copy_in(name, length)
    setattr(task.kernel.system, attr, value)
    return 0


def sethostname(task, name, length):
    """Implements sethostname(2): the sandbox's own name, not the host's."""
    return _set_name(task, name, length, "hostname")


def setdomainname(task, name, length):
    """Implements setdomainname(2): the sandbox's own NIS domain name."""
    return _set_name(task, name, length, "domainname")


# --- CPUs ------------------------------------------------------------------------------
def _target_task(task, pid):
    pid = i32(pid)
    if pid < 0:
        raise SyscallError(errno.EINVAL)
    if pid == 0:
        return task
    target = task.kernel.tasks.get(pid)
    if target is None:
        raise SyscallError(errno.ESRCH)
    return target


def _host_cpus(task):
    return task.kernel.system.host_cpus


def _mask_bytes(task):
    """sched_getaffinity's copy size: the sandbox's cpumask in whole longs."""
    return ((task.kernel.system.ncpus + 63) // 64) * 8


def task_cpus(task):
    """The sandbox CPUs (0..ncpus-1) a task may run on: its host thread's
    affinity, in the sandbox's numbering (threads inherit it as Linux's do)."""
    ncpus = task.kernel.system.ncpus
    host = _host_cpus(task)[:ncpus]
    try:
        allowed = os.sched_getaffinity(task.host_tid) if task.host_tid else set(host)
    except OSError:
        allowed = set(host)
    cpus = [i for i, c in enumerate(host) if c in allowed]
    return cpus or list(range(ncpus))


def sched_getaffinity(task, pid, size, mask):
    """Implements sched_getaffinity(2) over the sandbox's CPUs."""
    target = _target_task(task, pid)
    nbytes = _mask_bytes(task)
    size = u32(size)
    # Linux compares len * 8 with the CPU count in 32 bits: a length of
    # 2^29 or more can wrap below it (EINVAL).
    if (size * 8) & 0xFFFFFFFF < task.kernel.system.ncpus or size & 7:
        raise SyscallError(errno.EINVAL)
    bits = 0
    for c in task_cpus(target):
        bits |= 1 << c
    task.mm.copy_out(mask, bits.to_bytes(nbytes, "little"))
    return nbytes


def sched_setaffinity(task, pid, size, mask):
    """Implements sched_setaffinity(2): pins the task's host thread to the
    host CPUs behind the sandbox CPUs asked for."""
    target = _target_task(task, pid)
    if target.creds.euid != task.creds.euid and not task.creds.capable(CAP_SYS_NICE):
        raise SyscallError(errno.EPERM)
    size = u32(size)
    data = task.mm.copy_in(mask, min(size, 1 << 16))
    bits = int.from_bytes(data, "little")
    host = _host_cpus(task)[:task.kernel.system.ncpus]
    wanted = {c for i, c in enumerate(host) if bits >> i & 1}
    if not wanted:
        raise SyscallError(errno.EINVAL)
    # On systrap the program's code runs on a thread of its own (the
    # context's guest_tid), which is pinned too.
    for tid in (target.host_tid, getattr(target.ctx, "guest_tid", None)):
        if tid is None:
            continue
        try:
            os.sched_setaffinity(tid, wanted)
        except OSError as e:
            raise SyscallError(e.errno) from None
    _rseq_follow(target, [i for i, c in enumerate(host) if bits >> i & 1])
    return 0


def _rseq_follow(task, allowed):
    """A task pinned away from the CPU its rseq area names (sched_getcpu
    reads it there) is now on one it may run on."""
    if getattr(task, "rseq", None) is None or not allowed:
        return
    addr = task.rseq[0]
    try:
        (cpu,) = struct.unpack("<I", task.mm.copy_in(addr + 4, 4))
        if cpu not in allowed:
            task.mm.copy_out(addr, struct.pack("<II", allowed[0], allowed[0]))
    except SyscallError:
        pass                                      # an rseq area unmapped since


def getcpu(task, cpu, node, tcache):
    """Implements getcpu(2): the sandbox CPU the task's host thread is on
    now; always NUMA node 0."""
    if cpu:
        host = _host_cpus(task)
        now = _libc.sched_getcpu()
        index = host.index(now) if now in host else 0
        task.mm.copy_out(cpu, struct.pack("<I", index % task.kernel.system.ncpus))
    if node:
        task.mm.copy_out(node, struct.pack("<I", 0))
    return 0


# --- NUMA: one node -----------------------------------------------------------------------
def _nodemask_len(maxnode):
    return ((maxnode - 1 + 63) // 64) * 8 if maxnode else 0


def get_mempolicy(task, mode, nodemask, maxnode, addr, flags):
    """Implements get_mempolicy(2) for a machine with one node (node 0)."""
    flags = u32(flags)
    if flags & ~(MPOL_F_NODE | MPOL_F_ADDR | MPOL_F_MEMS_ALLOWED):
        raise SyscallError(errno.EINVAL)
    if flags & MPOL_F_MEMS_ALLOWED and flags & (MPOL_F_NODE | MPOL_F_ADDR):
        raise SyscallError(errno.EINVAL)
    if nodemask and maxnode < 1 or maxnode > 1 << 20:
        raise SyscallError(errno.EINVAL)
    if not flags & MPOL_F_ADDR and addr:
        raise SyscallError(errno.EINVAL)
    if flags & MPOL_F_ADDR and task.mm.vmas.find(addr) is None:
        raise SyscallError(errno.EFAULT)
    policy, mask = _policies.get(task, (MPOL_DEFAULT, 0))
    if flags & MPOL_F_MEMS_ALLOWED:
        policy, mask = MPOL_DEFAULT, 1
    elif flags & MPOL_F_NODE:
        # The node of the page at addr, or the next interleave node: 0.
        if not flags & MPOL_F_ADDR and policy & ~MPOL_MODE_FLAGS != MPOL_INTERLEAVE:
            raise SyscallError(errno.EINVAL)
        policy = 0
    if mode:
        task.mm.copy_out(mode, struct.pack("<i", policy))
    if nodemask:
        task.mm.copy_out(nodemask, mask.to_bytes(_nodemask_len(maxnode), "little"))
    return 0


def set_mempolicy(task, mode, nodemask, maxnode):
    """Implements set_mempolicy(2): node 0 is the only node; policies are
    recorded for get_mempolicy and change nothing else."""
    mode = i32(mode)
    base, mode_flags = mode & ~MPOL_MODE_FLAGS, mode & MPOL_MODE_FLAGS
    if base < 0 or base > MPOL_WEIGHTED_INTERLEAVE:
        raise SyscallError(errno.EINVAL)
    if mode_flags & MPOL_F_STATIC_NODES and mode_flags & MPOL_F_RELATIVE_NODES or \
            mode_flags & MPOL_F_NUMA_BALANCING and base != MPOL_BIND:
        raise SyscallError(errno.EINVAL)
    maxnode = u32(maxnode)
    if nodemask and (maxnode - 1) % (1 << 64) > NODEMASK_MAX_BITS:
        raise SyscallError(errno.EINVAL)              # maxnode 0 wraps (get_nodes)
    mask = 0
    if nodemask and maxnode > 1:
        mask = int.from_bytes(task.mm.copy_in(nodemask, _nodemask_len(maxnode)), "little")
        if maxnode - 1 < _nodemask_len(maxnode) * 8:
            mask &= (1 << (maxnode - 1)) - 1
    if base in (MPOL_DEFAULT, MPOL_LOCAL):
        if mask:
            raise SyscallError(errno.EINVAL)
    elif base == MPOL_PREFERRED and not mask:
        pass                                           # "local allocation"
    elif not mask & 1:
        raise SyscallError(errno.EINVAL)               # no node that exists
    _policies[task] = (base | (mode_flags if base != MPOL_DEFAULT else 0), mask & 1)
    return 0


# --- memfd -------------------------------------------------------------------------------
def memfd_create(task, name, flags):
    """Implements memfd_create(2) (MFD_HUGETLB: EINVAL, there are no huge pages)."""
    flags = u32(flags)
    if flags & ~(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL | MFD_EXEC) or \
            (flags & MFD_NOEXEC_SEAL and flags & MFD_EXEC):
        raise SyscallError(errno.EINVAL)
    try:
        label = task.mm.read_cstring(name, MFD_NAME_MAX + 1)
    except SyscallError as e:
        raise SyscallError(errno.EINVAL if e.errno == errno.ENAMETOOLONG else e.errno)
    store = task.kernel.memfds
    sealing = bool(flags & (MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL))
    file = store.create(label, O_RDWR | O_LARGEFILE, sealing, task.creds.euid, task.creds.egid)
    if flags & MFD_NOEXEC_SEAL:
        memfd.add_seals(file, memfd.F_SEAL_EXEC)
    return task.fds.install(file, cloexec=bool(flags & MFD_CLOEXEC),
                            limit=task.rlimits[7][0])
