"""sandbox/seccomp.py: the sentry's filter compiled once and kept between
runs loads as libseccomp would build it, and is rebuilt when what it is
made from changes."""
import subprocess
import sys

import pytest

from kvmsentry._sandbox import lib
from kvmsentry.sandbox import host_syscalls, seccomp


@pytest.fixture
def kept_in(tmp_path, monkeypatch):
    monkeypatch.setattr(seccomp, "cache_path", lambda label: str(tmp_path / label))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    return tmp_path


def _fresh(entries):
    return seccomp._export(entries, host_syscalls.QUIET_ENOSYS)


def test_kept_program_is_what_libseccomp_builds(kept_in):
    entries = host_syscalls.policy(1, kvm=False)
    first = seccomp.compiled(entries, "t")
    assert (kept_in / "t").exists()
    assert first == _fresh(entries)
    assert len(first) % 8 == 0 and len(first) > 8 * len(entries)


def test_a_kept_program_is_used_without_libseccomp(kept_in, monkeypatch):
    entries = host_syscalls.policy(1, kvm=False)
    first = seccomp.compiled(entries, "t")

    def no_export(*args):
        raise AssertionError("compiled again")
    monkeypatch.setattr(seccomp, "_export", no_export)
    assert seccomp.compiled(entries, "t") == first


@pytest.mark.parametrize("change", ["pid", "kvm", "enosys", "corrupt", "build"])
def test_a_changed_filter_is_compiled_again(kept_in, change, monkeypatch):
    entries = host_syscalls.policy(1, kvm=False)
    first = seccomp.compiled(entries, "t")
    quiet = host_syscalls.QUIET_ENOSYS
    if change == "build":
        # Another build(): the same rules compile to another program.
        def build(entries, quiet_enosys=()):
            ctx = lib.seccomp_init(lib.SCMP_ACT_TRAP)
            lib.seccomp_attr_set(ctx, lib.SCMP_FLTATR_ACT_BADARCH, lib.SCMP_ACT_KILL_PROCESS)
            for e in entries:
                lib.seccomp_rule_add_array(ctx, lib.SCMP_ACT_ALLOW, seccomp._resolve(e.name),
                                           len(e.conds), seccomp._arg_array(e.conds))
            return ctx
        monkeypatch.setattr(seccomp, "build", build)
        again = seccomp.compiled(entries, "t", quiet)
        assert again == seccomp._export(entries, quiet) and again != first
        return
    if change == "pid":
        entries = host_syscalls.policy(2, kvm=False)
    elif change == "kvm":
        entries = host_syscalls.policy(1, kvm=True)
    elif change == "enosys":
        quiet = tuple(quiet) + ("acct",)
    else:
        (kept_in / "t").write_bytes(b"\x00garbage")
    again = seccomp.compiled(entries, "t", quiet)
    assert again == seccomp._export(entries, quiet)
    if change != "corrupt":
        assert again != _fresh(host_syscalls.policy(1, kvm=False))


# In a child: load the kept program as the sentry does, then make a call
# the allowlist has and one it refuses.
_CHILD = r"""
import os, sys
from kvmsentry._sandbox import lib
from kvmsentry.sandbox import host_syscalls, seccomp
seccomp.cache_path = lambda label: sys.argv[1]
entries = host_syscalls.policy(os.getpid(), kvm=False)
program = seccomp.compiled(entries, "t")
assert lib.kvmsentry_prctl(38, 1) == 0          # PR_SET_NO_NEW_PRIVS, as lock_down
seccomp.install(os.getpid(), 2, entries, program=program)
print("pid", os.getpid() > 0, flush=True)
try:
    os.chroot("/")
except PermissionError:
    print("chroot refused", flush=True)
print("refused", seccomp.refused_count(), flush=True)
"""


def test_the_kept_program_confines(tmp_path):
    out = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "kept")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["pid True", "chroot refused", "refused 1"]
    assert "seccomp refused host syscall chroot (161)" in out.stderr
