"""prctl(2) and getcpu(2).

State prctl keeps that no other part of the kernel reads yet lives here,
in weak tables keyed by its owner: the parent-death signal by task (a
fork child starts without one, as in Linux). The parent-death signal is
recorded and reported, not delivered. The dumpable flag, which /proc
reads too, is kernel/dumpable.py's.
"""
import errno
import struct
import weakref

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import creds as cr
from kvmsentry.kernel.dumpable import is_dumpable, set_dumpable
from kvmsentry.kernel import signals as sg
from kvmsentry.record import replace
from kvmsentry.syscalls import sys_seccomp
from kvmsentry.syscalls.args import i32

PR_SET_PDEATHSIG, PR_GET_PDEATHSIG = 1, 2
PR_GET_DUMPABLE, PR_SET_DUMPABLE = 3, 4
PR_GET_KEEPCAPS, PR_SET_KEEPCAPS = 7, 8
PR_SET_NAME, PR_GET_NAME = 15, 16
PR_GET_SECCOMP, PR_SET_SECCOMP = 21, 22
PR_CAPBSET_READ, PR_CAPBSET_DROP = 23, 24
PR_GET_TSC = 25
PR_GET_SECUREBITS, PR_SET_SECUREBITS = 27, 28
PR_SET_TIMERSLACK, PR_GET_TIMERSLACK = 29, 30
PR_SET_MM = 35
PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37
PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 38, 39
PR_GET_TID_ADDRESS = 40
PR_SET_THP_DISABLE, PR_GET_THP_DISABLE = 41, 42
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_IS_SET, PR_CAP_AMBIENT_RAISE = 1, 2
PR_CAP_AMBIENT_LOWER, PR_CAP_AMBIENT_CLEAR_ALL = 3, 4
PR_SET_PTRACER = 0x59616D61
PR_SET_VMA = 0x53564D41
PR_TSC_ENABLE = 1
SECBIT_KEEP_CAPS = 1 << 4
SECURE_ALL_BITS = 0xFF                 # the four securebits and their locks
TASK_COMM_LEN = 16
DEFAULT_TIMER_SLACK_NS = 50_000

_pdeathsig = weakref.WeakKeyDictionary()      # Task -> signal
_timer_slack = weakref.WeakKeyDictionary()    # Task -> ns


def _put_int(task, addr, value):
    task.mm.copy_out(addr, struct.pack("<i", value))
    return 0


def _set_name(task, addr):
    """PR_SET_NAME: at most 15 bytes of the string (strncpy_from_user)."""
    n = task.mm.accessible(addr, TASK_COMM_LEN - 1, False)
    data = task.mm.copy_in(addr, n)
    nul = data.find(b"\0")
    if nul < 0 and n < TASK_COMM_LEN - 1:
        raise SyscallError(errno.EFAULT)            # the string runs into a hole
    task.comm = (data if nul < 0 else data[:nul]).decode(errors="surrogateescape")
    return 0


def _get_name(task, addr):
    name = task.comm.encode(errors="surrogateescape")[:TASK_COMM_LEN - 1]
    task.mm.copy_out(addr, name.ljust(TASK_COMM_LEN, b"\0"))
    return 0


def _set_creds(task, **changes):
    task.creds = replace(task.creds, **changes)
    return 0


def _cap_valid(cap):
    if not 0 <= cap <= cr.CAP_LAST_CAP:
        raise SyscallError(errno.EINVAL)
    return cap


def _ambient(task, op, cap):
    creds = task.creds
    if op == PR_CAP_AMBIENT_CLEAR_ALL:
        return _set_creds(task, cap_ambient=0)
    if op not in (PR_CAP_AMBIENT_IS_SET, PR_CAP_AMBIENT_RAISE, PR_CAP_AMBIENT_LOWER):
        raise SyscallError(errno.EINVAL)
    bit = cr.cap_bit(_cap_valid(cap))
    if op == PR_CAP_AMBIENT_IS_SET:
        return int(bool(creds.cap_ambient & bit))
    if op == PR_CAP_AMBIENT_LOWER:
        return _set_creds(task, cap_ambient=creds.cap_ambient & ~bit)
    task.creds = creds.raise_ambient(cap)
    return 0


def prctl(task, option, arg2, arg3, arg4, arg5):
    """Implements prctl(2) for the options a program commonly uses;
    others answer EINVAL, as a kernel without them would."""
    option = i32(option)
    creds = task.creds
    if option == PR_SET_NAME:
        return _set_name(task, arg2)
    if option == PR_GET_NAME:
        return _get_name(task, arg2)
    if option == PR_SET_PDEATHSIG:
        if arg2 > sg.NSIG:
            raise SyscallError(errno.EINVAL)
        _pdeathsig[task] = arg2
        return 0
    if option == PR_GET_PDEATHSIG:
        return _put_int(task, arg2, _pdeathsig.get(task, 0))
    if option == PR_GET_DUMPABLE:
        return int(is_dumpable(task.mm))
    if option == PR_SET_DUMPABLE:
        if arg2 not in (0, 1):
            raise SyscallError(errno.EINVAL)
        set_dumpable(task.mm, arg2)
        return 0
    if option == PR_GET_KEEPCAPS:
        return int(creds.keep_caps)
    if option == PR_SET_KEEPCAPS:
        if arg2 not in (0, 1):
            raise SyscallError(errno.EINVAL)
        return _set_creds(task, keep_caps=bool(arg2))
    if option == PR_GET_SECUREBITS:
        return SECBIT_KEEP_CAPS if creds.keep_caps else 0
    if option == PR_SET_SECUREBITS:
        if not creds.capable(cr.CAP_SETPCAP):
            raise SyscallError(errno.EPERM)
        if arg2 & ~SECURE_ALL_BITS:
            raise SyscallError(errno.EPERM)       # no such bit (Linux: EPERM)
        if arg2 & ~SECBIT_KEEP_CAPS:
            raise SyscallError(errno.EINVAL)      # the other securebits are not modelled
        return _set_creds(task, keep_caps=bool(arg2 & SECBIT_KEEP_CAPS))
    if option == PR_GET_SECCOMP:
        return sys_seccomp.mode(task)
    if option == PR_SET_SECCOMP:
        return sys_seccomp.prctl_set_seccomp(task, arg2, arg3)
    if option == PR_CAPBSET_READ:
        return int(bool(creds.cap_bounding & cr.cap_bit(_cap_valid(arg2))))
    if option == PR_CAPBSET_DROP:
        task.creds = creds.drop_bounding(_cap_valid(arg2))
        return 0
    if option == PR_CAP_AMBIENT:
        return _ambient(task, arg2, arg3)
    if option == PR_SET_CHILD_SUBREAPER:
        task.group.child_subreaper = bool(arg2)
        return 0
    if option == PR_GET_CHILD_SUBREAPER:
        return _put_int(task, arg2, int(task.group.child_subreaper))
    if option == PR_SET_NO_NEW_PRIVS:
        if arg2 != 1 or arg3 or arg4 or arg5:
            raise SyscallError(errno.EINVAL)
        return _set_creds(task, no_new_privs=True)
    if option == PR_GET_NO_NEW_PRIVS:
        if arg2 or arg3 or arg4 or arg5:
            raise SyscallError(errno.EINVAL)
        return int(creds.no_new_privs)
    if option == PR_GET_TID_ADDRESS:
        task.mm.copy_out(arg2, struct.pack("<Q", task.clear_child_tid))
        return 0
    if option == PR_GET_TIMERSLACK:
        return _timer_slack.get(task, DEFAULT_TIMER_SLACK_NS)
    if option == PR_SET_TIMERSLACK:
        _timer_slack[task] = arg2 if arg2 else DEFAULT_TIMER_SLACK_NS
        return 0
    if option == PR_GET_TSC:
        return _put_int(task, arg2, PR_TSC_ENABLE)
    if option == PR_GET_THP_DISABLE:
        return 0
    if option == PR_SET_PTRACER:
        return 0                                  # nothing can ptrace here anyway
    if option == PR_SET_MM:
        raise SyscallError(errno.EPERM)
    raise SyscallError(errno.EINVAL)              # PR_SET_VMA, ...


def pdeathsig(task):
    """The parent-death signal task asked for (0: none)."""
    return _pdeathsig.get(task, 0)

