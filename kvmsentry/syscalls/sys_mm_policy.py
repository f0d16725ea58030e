"""Memory placement and ordering: mbind, migrate_pages and move_pages on
a machine with one NUMA node (node 0), protection keys as on a CPU
without PKU (the guest's CPUID has no PKU/OSPKE: see arch/cpuid), and
membarrier."""
import ctypes
import errno
import struct
import threading

from kvmsentry.errors import SyscallError
from kvmsentry.syscalls import sys_mmap
from kvmsentry.syscalls.args import i32, u32

PAGE_SIZE = 4096
MPOL_DEFAULT, MPOL_PREFERRED, MPOL_LOCAL, MPOL_MAX = 0, 1, 4, 7
MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES, MPOL_F_NUMA_BALANCING = 1 << 15, 1 << 14, 1 << 13
MPOL_MODE_FLAGS = MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING
MPOL_BIND, MPOL_PREFERRED_MANY = 2, 5
MPOL_MF_STRICT, MPOL_MF_MOVE, MPOL_MF_MOVE_ALL = 1, 2, 4
MAX_NUMNODES = 1 << 10               # CONFIG_NODES_SHIFT=10, Debian's
PKEY_ACCESS_MASK = 3

MEMBARRIER_CMD_QUERY = 0
MEMBARRIER_CMD_GLOBAL = 1 << 0
MEMBARRIER_CMD_GLOBAL_EXPEDITED = 1 << 1
MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED = 1 << 2
MEMBARRIER_CMD_PRIVATE_EXPEDITED = 1 << 3
MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED = 1 << 4
MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE = 1 << 5
MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE = 1 << 6
MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ = 1 << 7
MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ = 1 << 8
MEMBARRIER_CMD_GET_REGISTRATIONS = 1 << 9
MEMBARRIER_CMD_FLAG_CPU = 1
MEMBARRIER_ALL = (1 << 10) - 1
# A barrier command -> the registration it needs (in the caller's mm).
_NEEDS = {MEMBARRIER_CMD_PRIVATE_EXPEDITED: MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
          MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE:
              MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
          MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ: MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ}
_REGISTRATIONS = {MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED,
                  MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                  MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
                  MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ}
_SYS_MEMBARRIER = 324
_libc = ctypes.CDLL(None, use_errno=True)
_host_lock = threading.Lock()
_host_registered = False


# --- NUMA ----------------------------------------------------------------------------------
def _get_nodes(task, nmask, maxnode):
    """Linux's get_nodes(): the node mask as an int (bits past the last
    node must be clear)."""
    maxnode -= 1
    if maxnode <= 0 or not nmask:
        return 0
    if maxnode > PAGE_SIZE * 8:
        raise SyscallError(errno.EINVAL)
    nbytes = (maxnode + 63) // 64 * 8
    mask = int.from_bytes(task.mm.copy_in(nmask, nbytes), "little")
    mask &= (1 << maxnode) - 1
    if mask >> MAX_NUMNODES:
        raise SyscallError(errno.EINVAL)
    return mask


def _mode(mode):
    mode = i32(mode)
    flags, base = mode & MPOL_MODE_FLAGS, mode & ~MPOL_MODE_FLAGS
    if base < 0 or base >= MPOL_MAX:
        raise SyscallError(errno.EINVAL)
    if flags & MPOL_F_STATIC_NODES and flags & MPOL_F_RELATIVE_NODES:
        raise SyscallError(errno.EINVAL)
    if flags & MPOL_F_NUMA_BALANCING and base not in (MPOL_BIND, MPOL_PREFERRED_MANY):
        raise SyscallError(errno.EINVAL)
    return base


def _check_policy_nodes(base, nodes):
    """Linux's mpol_new() and mpol_set_nodemask() on one node."""
    if base == MPOL_DEFAULT:
        if nodes:
            raise SyscallError(errno.EINVAL)
        return
    if not nodes:
        if base not in (MPOL_PREFERRED, MPOL_LOCAL):
            raise SyscallError(errno.EINVAL)
        return
    if base == MPOL_LOCAL or not nodes & 1:
        raise SyscallError(errno.EINVAL)


def mbind(task, start, length, mode, nmask, maxnode, flags):
    """Implements mbind(2): node 0 is the only node, so every valid policy
    is already satisfied; it changes nothing."""
    base = _mode(mode)
    nodes = _get_nodes(task, nmask, maxnode)
    flags = u32(flags)
    if flags & ~(MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
        raise SyscallError(errno.EINVAL)
    if flags & MPOL_MF_MOVE_ALL:      # CAP_SYS_NICE of the initial namespace
        raise SyscallError(errno.EPERM)
    if start & (PAGE_SIZE - 1):
        raise SyscallError(errno.EINVAL)
    end = start + ((length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
    if end < start or end >= 1 << 64:
        raise SyscallError(errno.EINVAL)
    if end == start:
        return 0
    _check_policy_nodes(base, nodes)
    covered = start
    for vma in task.mm.vmas.overlapping(start, end):
        if vma.start > covered:
            raise SyscallError(errno.EFAULT)
        covered = vma.end
    if covered < end:
        raise SyscallError(errno.EFAULT)
    return 0


def _target(task, pid):
    from kvmsentry.syscalls.sys_task_attrs import _task, may_access
    target = _task(task, pid)
    if not may_access(task, target):
        raise SyscallError(errno.EPERM)
    return target


def migrate_pages(task, pid, maxnode, old_nodes, new_nodes):
    """Implements migrate_pages(2): with one node nothing moves (0 pages
    left behind)."""
    _get_nodes(task, old_nodes, maxnode)
    new = _get_nodes(task, new_nodes, maxnode)
    _target(task, pid)
    if new & ~1:                      # nodes the task may not use; CAP_SYS_NICE
        raise SyscallError(errno.EPERM)
    if not new & 1:
        raise SyscallError(errno.EINVAL)
    return 0


def move_pages(task, pid, count, pages, nodes, status, flags):
    """Implements move_pages(2): every present page is on node 0; asking
    for another node is ENODEV; unmapped pages report -EFAULT and mapped
    pages not yet touched -ENOENT."""
    flags = u32(flags)
    if flags & ~(MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
        raise SyscallError(errno.EINVAL)
    if flags & MPOL_MF_MOVE_ALL:
        raise SyscallError(errno.EPERM)
    target = _target(task, pid)
    count = count & 0xFFFFFFFFFFFFFFFF
    if count > 1 << 20:
        raise SyscallError(errno.E2BIG)
    addrs = struct.unpack("<%dQ" % count, task.mm.copy_in(pages, 8 * count)) if count else ()
    if nodes:
        wanted = struct.unpack("<%di" % count, task.mm.copy_in(nodes, 4 * count))
        if any(n != 0 for n in wanted):
            raise SyscallError(errno.ENODEV)
    out = []
    for addr in addrs:
        va = addr & ~(PAGE_SIZE - 1)
        vma = target.mm.vmas.find(va)
        if vma is None:
            out.append(-errno.EFAULT)
        elif va not in target.mm.pages:
            out.append(-errno.ENOENT)
        else:
            out.append(0)
    if count:
        task.mm.copy_out(status, struct.pack("<%di" % count, *out))
    return 0


# --- protection keys ------------------------------------------------------------------------
def pkey_alloc(task, flags, init_val):
    """Implements pkey_alloc(2) on a CPU without PKU: x86 Linux hands out
    key 0's slot, then fails to set its rights (EINVAL)."""
    raise SyscallError(errno.EINVAL)


def pkey_free(task, pkey):
    """Implements pkey_free(2): no key was ever allocated (EINVAL)."""
    raise SyscallError(errno.EINVAL)


def pkey_mprotect(task, addr, length, prot, pkey):
    """Implements pkey_mprotect(2): key -1 is mprotect; any other key was
    never allocated (EINVAL, after mprotect's own argument checks)."""
    if i32(pkey) == -1:
        return sys_mmap.mprotect(task, addr, length, prot)
    if addr & (PAGE_SIZE - 1):
        raise SyscallError(errno.EINVAL)
    if length == 0:
        return 0
    if addr + ((length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)) >= 1 << 64:
        raise SyscallError(errno.ENOMEM)
    raise SyscallError(errno.EINVAL)


# --- membarrier -------------------------------------------------------------------------------
def _host_barrier(machine):
    """A barrier on every CPU running one of the sentry's threads, so also
    on every vCPU running guest code (the host's IPI interrupts it): the
    host's MEMBARRIER_CMD_PRIVATE_EXPEDITED, registered once. On systrap
    guest threads are other host processes' threads, which only the
    global barrier reaches."""
    global _host_registered
    if getattr(machine, "guest_processes", False):
        _libc.syscall(_SYS_MEMBARRIER, MEMBARRIER_CMD_GLOBAL, 0, 0)
        return
    with _host_lock:
        if not _host_registered:
            _libc.syscall(_SYS_MEMBARRIER, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0)
            _host_registered = True
    if _libc.syscall(_SYS_MEMBARRIER, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0:
        # Refused (an old host kernel): the global barrier does as much.
        _libc.syscall(_SYS_MEMBARRIER, MEMBARRIER_CMD_GLOBAL, 0, 0)


def membarrier(task, cmd, flags, cpu_id):
    """Implements membarrier(2): the registrations are kept per address
    space (copied by fork, dropped by execve: a new address space);
    every barrier is a host membarrier over the sentry's threads."""
    cmd, flags = i32(cmd), u32(flags)
    if cmd == MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ:
        if flags & ~MEMBARRIER_CMD_FLAG_CPU:
            raise SyscallError(errno.EINVAL)
    elif flags:
        raise SyscallError(errno.EINVAL)
    if cmd == MEMBARRIER_CMD_QUERY:
        return MEMBARRIER_ALL
    registered = getattr(task.mm, "membarrier_state", 0)
    if cmd == MEMBARRIER_CMD_GET_REGISTRATIONS:
        return registered
    if cmd in _REGISTRATIONS:
        task.mm.membarrier_state = registered | cmd
        return 0
    if cmd in _NEEDS:
        if not registered & _NEEDS[cmd]:
            raise SyscallError(errno.EPERM)
        _host_barrier(task.kernel.machine)
        return 0
    if cmd in (MEMBARRIER_CMD_GLOBAL, MEMBARRIER_CMD_GLOBAL_EXPEDITED):
        _host_barrier(task.kernel.machine)
        return 0
    raise SyscallError(errno.EINVAL)


def set_mempolicy_home_node(task, start, length, home_node, flags):
    """Implements set_mempolicy_home_node(2): node 0 is the only home; the
    ranges' mbind policies are not kept, so a mapped range answers as one
    without a policy (ENOENT)."""
    if flags or home_node >= MAX_NUMNODES or home_node != 0:
        raise SyscallError(errno.EINVAL)
    if start & (PAGE_SIZE - 1):
        raise SyscallError(errno.EINVAL)
    end = start + ((length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
    if end < start or end >= 1 << 64:
        raise SyscallError(errno.EINVAL)
    if any(True for _ in task.mm.vmas.overlapping(start, end)):
        raise SyscallError(errno.ENOENT)          # a mapping without a policy of its own
    return 0
