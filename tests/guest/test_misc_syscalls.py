"""The less common syscalls (privileged calls, old file calls, per-call
I/O flags, personality, ioprio, kcmp, NUMA, protection keys, membarrier,
process_vm_*, splice family, seccomp, namespaces and mounts) compared
with native Linux.

The programs are tests/miscprograms/*.c (modes as their first argument),
built with `gcc -static` and plain `gcc`. Natively they run as root of a
fresh user namespace (`unshare -Ur`): the sandbox's root answers as a
container's root does, and the host's clock, modules and mounts stay out
of reach of the native run.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from progbuild import ENV, FLAVOURS, TIMEOUT, build_all

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = os.path.join(os.path.dirname(HERE), "miscprograms")
CONFINE = ["unshare", "--user", "--map-root-user", "--mount", "--uts", "--ipc", "--fork"]
# A user without capabilities: uid 1000 of its own user namespace.
CONFINE_USER = ["unshare", "--user", "--map-user=1000", "--map-group=1000", "--mount", "--uts",
                "--ipc", "--fork"]


@pytest.fixture(scope="module")
def miscprogs(tmp_path_factory):
    """{(name, flavour): path} for every C program in SOURCES."""
    return build_all(SOURCES, tmp_path_factory.mktemp("misc"))


def run(argv, sandbox, cwd, confine=CONFINE):
    cmd = [sys.executable, "-m", "kvmsentry", "do", "--", *argv] if sandbox else \
        [*confine, *argv]
    p = subprocess.run(cmd, capture_output=True, env=ENV, timeout=TIMEOUT,
                       stdin=subprocess.DEVNULL, cwd=cwd)
    code = p.returncode if p.returncode >= 0 else 128 - p.returncode
    return code, p.stdout.decode(), p.stderr.decode()


def without_pku(out):
    """Linux's answers on a CPU without protection keys, from a native
    run's on one with them: the sandbox is such a CPU on both platforms
    (sys_mm_policy), though systrap's CPUID still shows the host's PKU
    (the program runs its own CPUID instruction), so that line is left out
    of the comparison on either side. Without PKU, pkey_alloc's key 1 is
    EINVAL, and so is freeing it (the only two answers that differ)."""
    lines = [line for line in out.splitlines(True) if not line.startswith("cpuid pku ")]
    if "cpuid pku 1\n" in out:
        lines = [{"pkey_alloc: = 1\n": "pkey_alloc: errno EINVAL\n",
                  "pkey_free: = 0\n": "pkey_free: errno EINVAL\n"}.get(line, line)
                 for line in lines]
    return "".join(lines)


def same(miscprogs, tmp_path, name, flavour, mode, with_dir=False, confine=CONFINE,
         native_votes=1, normalize=None):
    """Run the mode natively (confined) and sandboxed, each in a fresh
    directory; stdout and status must match. native_votes=2: the native
    answer is one that two native runs agree on (of up to three), for a
    mode whose native run other activity on the host can disturb.
    normalize(out), if given, maps both outputs before they are compared."""
    def one(sandbox, attempt=0):
        d = tmp_path / ("%s%d" % ("sandbox" if sandbox else "native", attempt))
        d.mkdir()
        d.chmod(0o755)
        argv = [miscprogs[(name, flavour)], mode] + ([str(d)] if with_dir else [])
        return run(argv, sandbox, d, confine)
    natives = [one(False)[:2]]
    while max(map(natives.count, natives)) < native_votes and len(natives) < 3:
        natives.append(one(False, len(natives))[:2])
    n_code, n_out = max(natives, key=natives.count)
    s_code, s_out, s_err = one(True)
    if normalize:
        n_out, s_out = normalize(n_out), normalize(s_out)
    assert s_out == n_out, s_err[-3000:]
    assert s_code == n_code, s_err[-3000:]
    return s_out


flavours = pytest.mark.parametrize("flavour", list(FLAVOURS))


@flavours
@pytest.mark.parametrize("mode", ["priv", "attrs", "numa", "vm", "futexv", "pidfd_mm"])
def test_misc_calls(miscprogs, tmp_path, flavour, mode):
    same(miscprogs, tmp_path, "misc_calls", flavour, mode,
         normalize=without_pku if mode == "numa" else None)


@flavours
@pytest.mark.parametrize("mode", ["packets", "flags"])
def test_pipe_modes(miscprogs, tmp_path, flavour, mode):
    """Pipes' less common modes (tests/miscprograms/pipe_modes.c)."""
    same(miscprogs, tmp_path, "pipe_modes", flavour, mode)


@flavours
def test_pipe_sizes(miscprogs, flavour):
    """F_SETPIPE_SZ and F_GETPIPE_SZ: rounding, limits, EBUSY; natively
    as uid 1000 (the sandboxed program drops to it for pipe-max-size)."""
    # pytest's tmp_path lies below a 0700 directory uid 1000 could not search.
    base = Path(tempfile.mkdtemp(prefix="kvmsentry-pipesz-", dir="/tmp"))
    try:
        base.chmod(0o755)
        same(miscprogs, base, "pipe_modes", flavour, "sizes", confine=CONFINE_USER)
    finally:
        shutil.rmtree(base)


@flavours
def test_sysctl_files_poll(miscprogs, tmp_path, flavour):
    """Every /proc/sys file polls ready; hostname and domainname report a
    change (sethostname, setdomainname or a write to the file) once to each
    open file, as POLLERR|POLLPRI, and wake epoll waiters for it."""
    # (Linux's hostname poll counter is one for all UTS namespaces: a
    # sethostname anywhere on the host, a sandbox starting say, is an
    # event to the native run too. The sandbox's are its own.)
    out = same(miscprogs, tmp_path, "misc_calls", flavour, "sysctlpoll", native_votes=2)
    assert "woken: = 1\n  events 8\n" in out, out


@flavours
@pytest.mark.parametrize("mode", ["oldfs", "rwflags", "splice", "ns", "mount", "devpts"])
def test_misc_file_calls(miscprogs, tmp_path, flavour, mode):
    same(miscprogs, tmp_path, "misc_calls", flavour, mode, with_dir=True)


@flavours
@pytest.mark.parametrize("mode", ["errno", "trap", "kill", "tsync", "errors"])
def test_seccomp_filters(miscprogs, tmp_path, flavour, mode):
    same(miscprogs, tmp_path, "seccomp_filters", flavour, mode)


@flavours
def test_root_without_a_capability(miscprogs, tmp_path, flavour):
    """Root that dropped CAP_SYS_ADMIN or CAP_SYS_CHROOT is refused what
    they guard, as natively."""
    out = same(miscprogs, tmp_path, "misc_calls", flavour, "capdrop", with_dir=True)
    assert "without CAP_SYS_ADMIN:\n  sethostname: errno EPERM" in out


@flavours
def test_root_without_cap_net_bind_service(miscprogs, tmp_path, flavour):
    """Ports below 1024 need CAP_NET_BIND_SERVICE (the host socket is the
    sentry's, so the sentry checks). Natively in a network namespace of
    the user namespace's own, whose root has the capability."""
    out = same(miscprogs, tmp_path, "misc_calls", flavour, "netbind", confine=CONFINE + ["--net"])
    assert "without CAP_NET_BIND_SERVICE:\n  port 1023: errno EACCES" in out


@flavours
def test_root_without_cap_sys_resource(miscprogs, tmp_path, flavour):
    """Raising a hard limit, lowering oom_score_adj and a pipe size over
    pipe-max-size need CAP_SYS_RESOURCE of the init namespace natively (a
    user namespace's root never has it, nor has the root these tests run
    as on the development machines), so the sandbox's root is checked
    against the rules."""
    code, out, err = run([miscprogs[("misc_calls", flavour)], "capres"], True, tmp_path)
    assert code == 0, err[-3000:]
    assert out.splitlines() == [
        "without nothing:", "  lower hard NOFILE: = 0", "  raise hard NOFILE: = 0",
        "  oom_score_adj 100: = 3", "  oom_score_adj -100: = 4",
        "  pipe size over pipe-max-size: = 1",
        "without CAP_SYS_RESOURCE:", "  lower hard NOFILE: = 0",
        "  raise hard NOFILE: errno EPERM", "  oom_score_adj 100: = 3",
        "  oom_score_adj -100: errno EACCES", "  pipe size over pipe-max-size: = 0"]


@flavours
def test_signal_permissions(miscprogs, tmp_path, flavour):
    """kill, tgkill and sigqueue between users: EPERM unless the same user,
    CAP_KILL, or SIGCONT within the session. Natively the program runs as
    root in a pid namespace of its own (it switches to uids 1000 and 1001)."""
    out = same(miscprogs, tmp_path, "misc_calls", flavour, "killperm",
               confine=["unshare", "--pid", "--fork", "--kill-child"])
    assert "other user: kill 0: errno EPERM" in out


@flavours
def test_syslog_reads_an_empty_log(miscprogs, tmp_path, flavour):
    """The host's kernel log is neither empty nor readable from a user
    namespace, so this one is checked against what an empty log gives."""
    code, out, err = run([miscprogs[("misc_calls", flavour)], "syslog"], True, tmp_path)
    assert code == 0, err[-3000:]
    assert out.splitlines() == [
        "size buffer > 0: = 1", "read all: = 0", "size unread: = 0",
        "read all null: errno EINVAL", "read all negative: errno EINVAL",
        "read all efault: = 0", "console level 9: errno EINVAL", "open: = 0",
        "bad action: errno EINVAL"]


@flavours
def test_privileged_calls_without_capabilities(miscprogs, tmp_path, flavour):
    """mount, chroot, pivot_root, unshare, setns, sethostname, seccomp
    without no_new_privs: what a user without CAP_SYS_ADMIN gets."""
    # pytest's tmp_path lies below a 0700 directory uid 1000 could not search.
    base = Path(tempfile.mkdtemp(prefix="kvmsentry-nonroot-", dir="/tmp"))
    try:
        base.chmod(0o755)
        out = same(miscprogs, base, "misc_calls", flavour, "nonroot", with_dir=True,
                   confine=CONFINE_USER)
    finally:
        shutil.rmtree(base)
    assert "uid 1000 euid 1000" in out
