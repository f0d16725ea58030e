"""The sentry's seccomp filter, built with libseccomp from the allowlist in
sandbox/host_syscalls.py.

Refusals use SECCOMP_RET_TRAP: the kernel raises SIGSYS in the thread
that made the call, and a small C handler (cdefs/sandbox_helpers.c) makes
the call return -EPERM and writes one line naming it ("kvmsentry: seccomp
refused host syscall execve (59) ...") to the debug log, or stderr without
one. So a refused call fails closed in Python as an ordinary OSError, and
the user sees which call it was. RET_ERRNO would be silent and RET_LOG
goes to the host's audit log, which a user running the sandbox may not
read. A call on another architecture (int 0x80, x32) kills the sentry.
"""
import errno
import os

from kvmsentry._sandbox import ffi, lib
from kvmsentry.sandbox import host_syscalls


class SeccompError(Exception):
    pass


def _check(rc, what):
    if rc < 0:
        raise SeccompError("seccomp: %s: %s" % (what, os.strerror(-rc)))


def _resolve(name):
    nr = lib.seccomp_syscall_resolve_name(name.encode())
    if nr < 0:
        raise SeccompError("seccomp: unknown syscall %r in the allowlist" % name)
    return nr


def _arg_array(conds):
    arr = ffi.new("struct scmp_arg_cmp[]", max(len(conds), 1))
    for i, c in enumerate(conds):
        arr[i].arg = c.index
        if c.mask is None:
            arr[i].op = lib.SCMP_CMP_EQ
            arr[i].datum_a, arr[i].datum_b = c.value, 0
        else:
            arr[i].op = lib.SCMP_CMP_MASKED_EQ
            arr[i].datum_a, arr[i].datum_b = c.mask, c.value
    return arr


def build(entries, quiet_enosys=()):
    """A libseccomp context (caller releases) allowing `entries`."""
    ctx = lib.seccomp_init(lib.SCMP_ACT_TRAP)
    if ctx == ffi.NULL:
        raise SeccompError("seccomp_init failed")
    try:
        _check(lib.seccomp_attr_set(ctx, lib.SCMP_FLTATR_ACT_BADARCH,
                                    lib.SCMP_ACT_KILL_PROCESS), "bad-arch action")
        # Every thread of the sentry gets the filter (and no_new_privs).
        _check(lib.seccomp_attr_set(ctx, lib.SCMP_FLTATR_CTL_TSYNC, 1), "TSYNC")
        _check(lib.seccomp_attr_set(ctx, lib.SCMP_FLTATR_CTL_NNP, 1), "NNP")
        # A binary tree over syscall numbers rather than a linear list:
        # every KVM_RUN and futex passes through the filter.
        _check(lib.seccomp_attr_set(ctx, lib.SCMP_FLTATR_CTL_OPTIMIZE, 2), "optimize")
        for e in entries:
            _check(lib.seccomp_rule_add_array(ctx, lib.SCMP_ACT_ALLOW, _resolve(e.name),
                                              len(e.conds), _arg_array(e.conds)),
                   "rule for %s" % e.name)
        for name in quiet_enosys:
            _check(lib.seccomp_rule_add_array(ctx, lib.kvmsentry_scmp_act_errno(errno.ENOSYS),
                                              _resolve(name), 0, ffi.NULL),
                   "rule for %s" % name)
    except BaseException:
        lib.seccomp_release(ctx)
        raise
    return ctx


def describe(entries, quiet_enosys=()):
    """The filter as lines for the debug log: one per allowed call."""
    by_name = {}
    for e in entries:
        by_name.setdefault(e.name, []).append(e)
    lines = []
    for name in sorted(by_name):
        alts = by_name[name]
        if all(not e.conds for e in alts):
            lines.append("seccomp: allow %s  (%s)" % (name, alts[0].why))
            continue
        for e in alts:
            conds = " && ".join(
                ("arg%d == %#x" % (c.index, c.value)) if c.mask is None else
                ("arg%d & %#x == %#x" % (c.index, c.mask, c.value)) for c in e.conds)
            lines.append("seccomp: allow %s if %s  (%s)" % (name, conds or "always", e.why))
    for name in quiet_enosys:
        lines.append("seccomp: %s fails with ENOSYS (C library falls back)" % name)
    lines.append("seccomp: anything else fails with EPERM and a 'seccomp refused' line")
    return lines


def install(own_pid, log_fd, entries=None, quiet_enosys=host_syscalls.QUIET_ENOSYS,
            kvm=True):
    """Load the filter (default: the sentry's allowlist, with the KVM
    ioctls unless kvm is False) on every thread of this process; refusals
    are reported on log_fd. Returns a function that gives the debug-log
    description (only a debug log asks for it)."""
    if entries is None:
        entries = host_syscalls.policy(own_pid, kvm=kvm)
    ctx = build(entries, quiet_enosys)
    try:
        if lib.kvmsentry_install_sigsys(log_fd) != 0:
            raise SeccompError("seccomp: SIGSYS handler: %s" % os.strerror(ffi.errno))
        _check(lib.seccomp_load(ctx), "load")
    finally:
        lib.seccomp_release(ctx)
    return lambda: describe(entries, quiet_enosys)


def refused_count():
    """How many host calls the filter has refused so far."""
    return lib.kvmsentry_sigsys_denied_count()
