"""Changing and reading credentials: set*uid/set*gid, getres*id,
supplementary groups, capget/capset. The rules are in kernel/creds.py;
each change installs a new Credentials on the calling thread only (glibc
makes every thread of a process call set*id itself)."""
import errno
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import creds as cr
from kvmsentry.kernel.dumpable import set_dumpable
from kvmsentry.syscalls.args import i32, u32

_LINUX_CAPABILITY_VERSION_1 = 0x19980330
_LINUX_CAPABILITY_VERSION_2 = 0x20071026
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_CAP_WORDS = {_LINUX_CAPABILITY_VERSION_1: 1, _LINUX_CAPABILITY_VERSION_2: 2,
              _LINUX_CAPABILITY_VERSION_3: 2}
_CAP_DATA = struct.Struct("<III")          # effective, permitted, inheritable


def _install(task, new):
    """Make new the task's credentials; the process's uid (si_uid of the
    signals it sends its parent) follows the real uid. As Linux's
    commit_creds, a change of effective or filesystem ids makes the
    process non-dumpable (its /proc files then belong to root)."""
    old = task.creds
    if new is not old:
        task.creds = new
        task.group.uid = new.uid
        if (old.euid, old.egid, old.fsuid, old.fsgid) != \
                (new.euid, new.egid, new.fsuid, new.fsgid):
            set_dumpable(task.mm, False)
    return 0


def setuid(task, uid):
    """Implements setuid(2)."""
    return _install(task, task.creds.setuid(u32(uid)))


def setgid(task, gid):
    """Implements setgid(2)."""
    return _install(task, task.creds.setgid(u32(gid)))


def setreuid(task, ruid, euid):
    """Implements setreuid(2)."""
    return _install(task, task.creds.setreuid(u32(ruid), u32(euid)))


def setregid(task, rgid, egid):
    """Implements setregid(2)."""
    return _install(task, task.creds.setregid(u32(rgid), u32(egid)))


def setresuid(task, ruid, euid, suid):
    """Implements setresuid(2)."""
    return _install(task, task.creds.setresuid(u32(ruid), u32(euid), u32(suid)))


def setresgid(task, rgid, egid, sgid):
    """Implements setresgid(2)."""
    return _install(task, task.creds.setresgid(u32(rgid), u32(egid), u32(sgid)))


def setfsuid(task, fsuid):
    """Implements setfsuid(2): returns the previous fsuid, never fails."""
    new, old = task.creds.setfsuid(u32(fsuid))
    _install(task, new)
    return old


def setfsgid(task, fsgid):
    """Implements setfsgid(2)."""
    new, old = task.creds.setfsgid(u32(fsgid))
    _install(task, new)
    return old


def _put_ids(task, addrs, ids):
    for addr, value in zip(addrs, ids):
        task.mm.copy_out(addr, struct.pack("<I", value))
    return 0


def getresuid(task, ruid, euid, suid):
    """Implements getresuid(2)."""
    c = task.creds
    return _put_ids(task, (ruid, euid, suid), (c.uid, c.euid, c.suid))


def getresgid(task, rgid, egid, sgid):
    """Implements getresgid(2)."""
    c = task.creds
    return _put_ids(task, (rgid, egid, sgid), (c.gid, c.egid, c.sgid))


def getgroups(task, size, grouplist):
    """Implements getgroups(2)."""
    size, groups = i32(size), task.creds.groups
    if size < 0:
        raise SyscallError(errno.EINVAL)
    if size == 0:
        return len(groups)
    if size < len(groups):
        raise SyscallError(errno.EINVAL)
    if groups:
        task.mm.copy_out(grouplist, struct.pack("<%dI" % len(groups), *groups))
    return len(groups)


def setgroups(task, size, grouplist):
    """Implements setgroups(2): CAP_SETGID only."""
    size = i32(size)
    if not 0 <= size <= cr.NGROUPS_MAX:
        raise SyscallError(errno.EINVAL)
    if not task.creds.capable(cr.CAP_SETGID):
        raise SyscallError(errno.EPERM)
    groups = struct.unpack("<%dI" % size, task.mm.copy_in(grouplist, 4 * size)) if size else ()
    if cr.NO_ID in groups:
        raise SyscallError(errno.EINVAL)          # (gid_t)-1 is no group
    # Linux keeps the list sorted (groups_sort), and getgroups shows it so.
    return _install(task, task.creds.setgroups(sorted(groups)))


# --- capabilities -------------------------------------------------------------------
def _cap_header(task, hdrp):
    """(words, pid) of a __user_cap_header_struct; an unknown version is
    answered with the preferred one written back and EINVAL."""
    version, pid = struct.unpack("<Ii", task.mm.copy_in(hdrp, 8))
    words = _CAP_WORDS.get(version)
    if words is None:
        task.mm.copy_out(hdrp, struct.pack("<I", _LINUX_CAPABILITY_VERSION_3))
        raise SyscallError(errno.EINVAL)
    return words, pid


def _cap_target(task, pid):
    if pid < 0:
        raise SyscallError(errno.EINVAL)
    if pid == 0 or pid == task.tid:
        return task
    target = task.kernel.tasks.get(pid)
    if target is None:
        raise SyscallError(errno.ESRCH)
    return target


def capget(task, hdrp, datap):
    """Implements capget(2)."""
    try:
        words, pid = _cap_header(task, hdrp)
    except SyscallError as e:
        if e.errno == errno.EINVAL and not datap:
            return 0                           # a version probe
        raise
    c = _cap_target(task, pid).creds
    if not datap:
        return 0
    data = b"".join(_CAP_DATA.pack(c.cap_effective >> (32 * i) & 0xFFFFFFFF,
                                   c.cap_permitted >> (32 * i) & 0xFFFFFFFF,
                                   c.cap_inheritable >> (32 * i) & 0xFFFFFFFF)
                    for i in range(words))
    task.mm.copy_out(datap, data)
    return 0


def capset(task, hdrp, datap):
    """Implements capset(2) for the calling thread."""
    words, pid = _cap_header(task, hdrp)
    if pid not in (0, task.tid):
        raise SyscallError(errno.EPERM)
    raw = task.mm.copy_in(datap, _CAP_DATA.size * words)
    effective = permitted = inheritable = 0
    for i in range(words):
        e, p, inh = _CAP_DATA.unpack_from(raw, _CAP_DATA.size * i)
        effective |= e << (32 * i)
        permitted |= p << (32 * i)
        inheritable |= inh << (32 * i)
    return _install(task, task.creds.capset(effective, permitted, inheritable))
