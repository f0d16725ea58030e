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

The sentry's filter is the same on every run (it is pid 1 of its pid
namespace), and libseccomp takes ~1.3 ms to build and compile it: the
compiled program is kept in the package's __pycache__ (compiled()),
keyed by everything it is made from, and loaded as it is on later runs.
"""
import errno
import marshal
import os

import kvmsentry
from kvmsentry._sandbox import ffi, lib
from kvmsentry.sandbox import code_cache, host_syscalls

_INSN_BYTES = 8         # one struct sock_filter


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
            kvm=True, program=None):
    """Load the filter (default: the sentry's allowlist, with the KVM
    ioctls unless kvm is False) on every thread of this process; refusals
    are reported on log_fd. program: the filter compiled() already (else
    libseccomp builds it now). Returns a function that gives the debug-log
    description (only a debug log asks for it)."""
    if entries is None:
        entries = host_syscalls.policy(own_pid, kvm=kvm)
    ctx = build(entries, quiet_enosys) if program is None else None
    try:
        if lib.kvmsentry_install_sigsys(log_fd) != 0:
            raise SeccompError("seccomp: SIGSYS handler: %s" % os.strerror(ffi.errno))
        if ctx is None:
            _check(lib.kvmsentry_seccomp_load_bpf(ffi.from_buffer(program),
                                                  len(program) // _INSN_BYTES), "load")
        else:
            _check(lib.seccomp_load(ctx), "load")
    finally:
        if ctx is not None:
            lib.seccomp_release(ctx)
    return lambda: describe(entries, quiet_enosys)


def cache_path(label):
    return os.path.join(os.path.dirname(kvmsentry.__file__), "__pycache__",
                        "seccomp-%s.bin" % label)


def _key(entries, quiet_enosys):
    """All the compiled program depends on: the rules (not their reasons),
    the calls answered ENOSYS, libseccomp's version, and the code that
    hands them to libseccomp (build(), _arg_array(): an edit there makes
    another key)."""
    version = lib.seccomp_version()
    code = tuple((c.co_code, c.co_consts, c.co_names)
                 for c in (build.__code__, _arg_array.__code__))
    return ((version.major, version.minor, version.micro), code,
            tuple((e.name, tuple(tuple(c) for c in e.conds)) for e in entries),
            tuple(quiet_enosys))


def compiled(entries, label, quiet_enosys=host_syscalls.QUIET_ENOSYS):
    """The BPF program (bytes) of the filter install() would build from
    entries: the one kept under `label` when it was made from the same
    key, else compiled by libseccomp now and kept (as Python keeps
    bytecode: not where that is not allowed). Reads and writes the host's
    files: call it before pivot_root."""
    key = _key(entries, quiet_enosys)
    path = cache_path(label)
    try:
        with open(path, "rb") as f:
            kept_key, program = marshal.loads(f.read())
        if kept_key == key and isinstance(program, bytes):
            return program
    except (OSError, EOFError, ValueError, TypeError):
        pass
    program = _export(entries, quiet_enosys)
    code_cache.write_atomically(path, [marshal.dumps((key, program))])
    return program


def _export(entries, quiet_enosys):
    ctx = build(entries, quiet_enosys)
    fd = os.memfd_create("kvmsentry-seccomp", os.MFD_CLOEXEC)
    try:
        _check(lib.seccomp_export_bpf(ctx, fd), "export")
        return os.pread(fd, os.fstat(fd).st_size, 0)
    finally:
        os.close(fd)
        lib.seccomp_release(ctx)


def refused_count():
    """How many host calls the filter has refused so far."""
    return lib.kvmsentry_sigsys_denied_count()
