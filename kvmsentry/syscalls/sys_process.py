"""Processes: fork, vfork, clone, clone3, execve, wait4, waitid, and the
process-group and session calls."""
import errno
import struct

from kvmsentry.arch.layout import PAGE_SIZE
from kvmsentry.errors import SyscallError
from kvmsentry.kernel import lifecycle
from kvmsentry.kernel import process_tree as pt
from kvmsentry.kernel.exit import ExitThread
from kvmsentry.loader.stack import MAX_ARG_STRLEN
from kvmsentry.syscalls.args import i32, u32

SIGCHLD = 17
MAX_ARG_STRINGS = 0x7FFFFFFF
ARG_MAX = 2 << 20
POINTERS_AT_ONCE = 32           # argv/envp pointers execve reads in one copy_in
NO_RETURN = None          # dispatch: the handler already set the registers


def fork(task):
    """Implements fork(2)."""
    return lifecycle.clone(task, SIGCHLD, 0, 0, 0, 0)


def vfork(task):
    """Implements vfork(2)."""
    return lifecycle.clone(task, lifecycle.CLONE_VM | lifecycle.CLONE_VFORK | SIGCHLD,
                           0, 0, 0, 0)


def clone(task, flags, newsp, parent_tid, child_tid, tls):
    """Implements clone(2) (x86-64 argument order); with CLONE_PIDFD the
    child's pidfd goes where parent_tid points."""
    flags &= 0xFFFFFFFF
    if flags & lifecycle.CLONE_PIDFD:
        if flags & (lifecycle.CLONE_PARENT_SETTID | lifecycle.CLONE_DETACHED):
            raise SyscallError(errno.EINVAL)
        return _clone_with_pidfd(task, flags, newsp, parent_tid, child_tid, tls, parent_tid)
    return lifecycle.clone(task, flags, newsp, parent_tid, child_tid, tls)


def _clone_with_pidfd(task, flags, newsp, parent_tid, child_tid, tls, pidfd_addr):
    """CLONE_PIDFD: a pidfd (close-on-exec) for the new process, its number
    stored at pidfd_addr. The fd slot and the address are checked before
    the child exists; the fd is installed just after."""
    from kvmsentry.fsimpl.pidfd import PidFd
    if flags & lifecycle.CLONE_THREAD:
        raise SyscallError(errno.EINVAL)
    limit = task.rlimits[7][0]
    if len(task.fds.fds()) >= limit:
        raise SyscallError(errno.EMFILE)
    task.mm.check_access(pidfd_addr, 4, write=True)
    tid = lifecycle.clone(task, flags & ~lifecycle.CLONE_PIDFD, newsp, parent_tid, child_tid,
                          tls)
    pidfd = PidFd(task.kernel.tree.groups[tid], 2, task.kernel)
    fd = task.fds.install(pidfd, cloexec=True, limit=limit)
    task.mm.copy_out(pidfd_addr, struct.pack("<i", fd))
    return tid


def clone3(task, args, size):
    """Implements clone3(2) (no set_tid, no cgroup; CLONE_PIDFD stores the
    child's pidfd at args->pidfd)."""
    if size < 64 or size > 4096:
        raise SyscallError(errno.EINVAL)
    raw = task.mm.copy_in(args, size)
    (flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size,
     tls) = struct.unpack_from("<8Q", raw)
    if any(raw[64:]) and size > 88:
        raise SyscallError(errno.E2BIG)
    if size >= 80 and struct.unpack_from("<QQ", raw, 64)[1]:
        raise SyscallError(errno.EINVAL)          # set_tid
    if exit_signal > 64 or flags & 0xFF or (stack == 0) != (stack_size == 0):
        raise SyscallError(errno.EINVAL)
    newsp = stack + stack_size if stack else 0
    if flags & lifecycle.CLONE_PIDFD:
        return _clone_with_pidfd(task, flags | exit_signal, newsp, parent_tid, child_tid, tls,
                                 pidfd)
    return lifecycle.clone(task, flags | exit_signal, newsp, parent_tid, child_tid, tls)


def _string_array(task, addr):
    out, total = [], 0
    if not addr:
        return out
    mm, ptrs = task.mm, ()
    for i in range(MAX_ARG_STRINGS):
        if i == len(ptrs):
            # Up to POINTERS_AT_ONCE pointers at once, never past the end
            # of their page (where the next one may fault): a whole page's
            # worth was ~270 words read and unpacked for an argv of two.
            at = addr + 8 * i
            n = min(POINTERS_AT_ONCE, max(1, (PAGE_SIZE - (at & (PAGE_SIZE - 1))) // 8))
            ptrs = ptrs + struct.unpack("<%dQ" % n, mm.copy_in(at, 8 * n))
        ptr = ptrs[i]
        if not ptr:
            return out
        try:
            s = mm.read_cstring(ptr, MAX_ARG_STRLEN)
        except SyscallError as e:
            if e.errno != errno.ENAMETOOLONG:
                raise
            raise SyscallError(errno.E2BIG) from None      # copy_strings' valid_arg_len
        total += len(s) + 9
        if total > ARG_MAX:
            raise SyscallError(errno.E2BIG)
        out.append(s)
    raise SyscallError(errno.E2BIG)


def execve(task, pathname, argv, envp):
    """Implements execve(2)."""
    path = task.mm.read_cstring(pathname)
    if not path:
        raise SyscallError(errno.ENOENT)
    args, env = _string_array(task, argv), _string_array(task, envp)
    lifecycle.execve(task, path, args, env)
    return NO_RETURN


AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH = 0x100, 0x1000


def execveat(task, dirfd, pathname, argv, envp, flags):
    """Implements execveat(2)."""
    from kvmsentry.kernel.fs_context import lookup_at
    from kvmsentry.kernel.kernel import read_whole
    from kvmsentry.vfs import writecount
    from kvmsentry.vfs.path import AT_FDCWD, X_OK, may_access
    dirfd, flags = i32(dirfd), i32(flags)
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise SyscallError(errno.EINVAL)
    path = task.mm.read_cstring(pathname)
    loc = lookup_at(task, dirfd, path, follow=not flags & AT_SYMLINK_NOFOLLOW,
                    empty_path=bool(flags & AT_EMPTY_PATH))
    inode = loc.inode
    if inode.is_symlink():
        raise SyscallError(errno.ELOOP)
    if not inode.is_reg() or not may_access(inode.getattr(), task.creds, X_OK) \
            or loc.mount.noexec():
        raise SyscallError(errno.EACCES)
    writecount.check_executable(inode)                # open for writing: ETXTBSY
    if not path:
        name = b"/dev/fd/%d" % dirfd
    elif path.startswith(b"/") or dirfd == AT_FDCWD:
        name = path
    else:
        name = b"/dev/fd/%d/%s" % (dirfd, path)
    args, env = _string_array(task, argv), _string_array(task, envp)
    data = read_whole(inode)
    if data.startswith(b"#!") and dirfd != AT_FDCWD and not path.startswith(b"/") \
            and task.fds.cloexec(dirfd):
        # The interpreter would be handed /dev/fd/N, which the exec closes
        # (BINPRM_FLAGS_PATH_INACCESSIBLE).
        raise SyscallError(errno.ENOENT)
    lifecycle.execve(task, name, args, env, program=(name, data))
    return NO_RETURN


def exit(task, status):
    """Implements exit(2): the calling thread ends; the process ends with
    its last thread."""
    raise ExitThread((i32(status) & 0xFF) << 8)


def _rusage(result):
    """The reported child's struct rusage: times and peak RSS."""
    from kvmsentry.syscalls.sys_timer import _rusage as pack
    child = result.child
    return pack(result.utime_ns, result.stime_ns, max(child.maxrss_kb, child.cmaxrss_kb))


def wait4(task, pid, wstatus, options, rusage):
    """Implements wait4(2)."""
    options = pt.wait4_options(u32(options))
    result = lifecycle.wait_for_child(task, i32(pid), options)
    if result is None:
        return 0
    if wstatus:
        task.mm.copy_out(wstatus, struct.pack("<i", result.wait_status))
    if rusage:
        task.mm.copy_out(rusage, _rusage(result))
    return result.pid


def waitid(task, idtype, id_, infop, options, rusage):
    """Implements waitid(2)."""
    options = pt.waitid_options(u32(options))
    idtype, id_ = i32(idtype), i32(id_)
    if idtype == pt.P_PIDFD:
        from kvmsentry.fsimpl.pidfd import PidFd
        file = task.fds.get(id_)
        if not isinstance(file, PidFd):
            raise SyscallError(errno.EINVAL)
        idtype, id_ = pt.P_PID, file.group.tgid
    result = lifecycle.wait_for_child(task, (idtype, id_), options, waitid=True)
    if infop:
        if result is None:
            task.mm.copy_out(infop, bytes(128))
        else:
            info = struct.pack("<iii4xiIi", SIGCHLD, 0, result.si_code, result.pid,
                               result.uid, result.si_status)
            task.mm.copy_out(infop, info + bytes(128 - len(info)))
    if rusage and result is not None:
        task.mm.copy_out(rusage, _rusage(result))
    return 0


def setpgid(task, pid, pgid):
    """Implements setpgid(2)."""
    task.kernel.tree.setpgid(task.group, i32(pid), i32(pgid))
    return 0


def getpgid(task, pid):
    """Implements getpgid(2)."""
    return task.kernel.tree.getpgid(task.group, i32(pid))


def getpgrp(task):
    """Implements getpgrp(2)."""
    return task.group.pgid


def setsid(task):
    """Implements setsid(2)."""
    return task.kernel.tree.setsid(task.group)


def getsid(task, pid):
    """Implements getsid(2)."""
    return task.kernel.tree.getsid(task.group, i32(pid))
