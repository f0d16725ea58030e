"""Thread state: exit, TLS (arch_prctl), tid address, robust list, rseq,
scheduling queries."""
import errno
import os
import struct

from kvmsentry.arch.layout import USER_TOP
from kvmsentry.errors import SyscallError
from kvmsentry.kernel.exit import ExitGroup
from kvmsentry.syscalls.args import i32, u32

ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS, ARCH_GET_GS = 0x1001, 0x1002, 0x1003, 0x1004
ARCH_GET_CPUID, ARCH_SET_CPUID = 0x1011, 0x1012
ROBUST_LIST_HEAD_SIZE = 24
RSEQ_MIN_SIZE = 32
RSEQ_FLAG_UNREGISTER = 1


def exit_group(task, status):
    """Implements exit_group(2)."""
    raise ExitGroup((i32(status) & 0xFF) << 8)


def arch_prctl(task, code, addr):
    """Implements arch_prctl(2): FS/GS bases and the CPUID-faulting query."""
    code = i32(code)
    if code == ARCH_SET_FS:
        if addr >= USER_TOP:
            raise SyscallError(errno.EPERM)
        task.ctx.set_fs_base(addr)
        return 0
    if code == ARCH_GET_FS:
        task.mm.copy_out(addr, struct.pack("<Q", task.ctx.fs_base))
        return 0
    if code == ARCH_SET_GS:
        if addr >= USER_TOP:
            raise SyscallError(errno.EPERM)
        task.ctx.set_gs_base(addr)
        return 0
    if code == ARCH_GET_GS:
        task.mm.copy_out(addr, struct.pack("<Q", task.ctx.gs_base))
        return 0
    if code == ARCH_GET_CPUID:
        return 1
    if code == ARCH_SET_CPUID:
        raise SyscallError(errno.ENODEV)   # no CPUID faulting in the guest
    raise SyscallError(errno.EINVAL)


def set_tid_address(task, tidptr):
    """Implements set_tid_address(2)."""
    task.clear_child_tid = tidptr
    return task.tid


def set_robust_list(task, head, length):
    """Implements set_robust_list(2) (the list is walked at exit once
    there are threads to wake)."""
    if length != ROBUST_LIST_HEAD_SIZE:
        raise SyscallError(errno.EINVAL)
    task.robust_list = head
    return 0


def rseq(task, rseq_addr, rseq_len, flags, sig):
    """Implements rseq(2) registration. A task's CPU number never changes
    while it holds its vCPU, so cpu_id is written once at registration."""
    flags, rseq_len, sig = i32(flags), u32(rseq_len), u32(sig)
    if flags & RSEQ_FLAG_UNREGISTER:
        if flags & ~RSEQ_FLAG_UNREGISTER:
            raise SyscallError(errno.EINVAL)
        if task.rseq is None or task.rseq[0] != rseq_addr:
            raise SyscallError(errno.EINVAL)
        if task.rseq[1] != rseq_len:
            raise SyscallError(errno.EINVAL)
        if task.rseq[2] != sig:
            raise SyscallError(errno.EPERM)
        task.rseq = None
        return 0
    if flags:
        raise SyscallError(errno.EINVAL)
    if task.rseq is not None:
        if task.rseq == (rseq_addr, rseq_len, sig):
            raise SyscallError(errno.EBUSY)
        raise SyscallError(errno.EINVAL)
    if rseq_addr & 31 or rseq_len < RSEQ_MIN_SIZE:
        raise SyscallError(errno.EINVAL)
    task.mm.check_access(rseq_addr, rseq_len, write=True)
    cpu = task.ctx.cpu_index
    task.mm.copy_out(rseq_addr, struct.pack("<II", cpu, cpu))
    task.rseq = (rseq_addr, rseq_len, sig)
    return 0


def sched_yield(task):
    """Implements sched_yield(2)."""
    os.sched_yield()
    return 0
