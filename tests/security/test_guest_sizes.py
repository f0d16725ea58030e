"""Sizes, counts and lengths the guest controls must not blow up the
sentry: each syscall of sizeprograms/guest_sizes.c asks for gigabytes
(a 2 GiB send into a socket with room for 200 KiB, 1024 iovecs of 2 GiB,
poll of 2^20 fds, a 1 GiB msg_controllen, an execve of 4M arguments...)
from a mapping never touched, which costs Linux nothing. The sandbox must
answer as Linux does (the same lines on stdout, run natively in a
temporary directory) and its peak RSS (the whole sentry, guest memory
included: programs/peak_rss.c's ru_maxrss) must stay within SLACK_MB of a
trivial program's. Both runs have an address-space limit (RLIMIT_AS,
which the guest inherits), so a sentry that does allocate what it is
asked for fails here rather than taking the host's memory."""
import os
import resource
import shutil
import subprocess
import sys
import tempfile

import pytest

from progbuild import build_all

SOURCES = os.path.join(os.path.dirname(__file__), "sizeprograms")
PEAK_RSS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "programs",
                        "peak_rss.c")
SECTIONS = ["pipes", "pipe_buffers", "unix", "inet", "polls", "aio", "files", "tasks",
            "sockopts", "execs", "maps"]
SLACK_MB = 128
POOL_MB = 1024                   # --memory: the guest touches little
ADDRESS_SPACE = 8 << 30          # the guest's 7 GiB of mappings; the sentry's pool and heap
TIMEOUT = 300


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    out = tmp_path_factory.mktemp("sizes")
    launcher = str(out / "peak_rss")
    subprocess.run(["gcc", "-O2", "-o", launcher, PEAK_RSS], check=True)
    return build_all(SOURCES, out)[("guest_sizes", "static")], launcher


def _capped():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _measured(launcher, cmd, cwd, sandbox, extra=()):
    """(exit status, stdout, stderr without the launcher's line, peak RSS in MiB)."""
    if sandbox:
        cmd = [sys.executable, "-m", "kvmsentry", "do", "--memory", str(POOL_MB), *extra,
               "--", *cmd]
    p = subprocess.run([launcher, *cmd], capture_output=True, timeout=TIMEOUT, cwd=cwd,
                       stdin=subprocess.DEVNULL, preexec_fn=_capped)
    lines = p.stderr.decode(errors="replace").splitlines()
    assert lines and lines[-1].startswith("peak_rss_kib="), lines
    return p.returncode, p.stdout.decode(), "\n".join(lines[:-1]), \
        int(lines[-1].split("=")[1]) / 1024


@pytest.fixture(scope="module")
def trivial_mb(programs, tmp_path_factory):
    prog, launcher = programs
    code, _, err, mb = _measured(launcher, [prog, "trivial"], tmp_path_factory.mktemp("t"),
                                 sandbox=True)
    assert code == 0, err
    return mb


@pytest.mark.parametrize("section", SECTIONS)
def test_hostile_sizes_match_linux_in_bounded_memory(programs, trivial_mb, tmp_path, section):
    prog, launcher = programs
    native_dir, sandbox_dir = tmp_path / "native", tmp_path / "sandbox"
    native_dir.mkdir()
    sandbox_dir.mkdir()
    native = _measured(launcher, [prog, section, str(native_dir)], native_dir, sandbox=False)
    assert native[0] == 0, native
    code, out, err, mb = _measured(launcher, [prog, section, str(sandbox_dir)], sandbox_dir,
                                   sandbox=True)
    assert "MemoryError" not in err and code != 134, err
    assert (code, err) == (0, ""), err
    assert out == native[1]
    assert mb < trivial_mb + SLACK_MB, (section, mb, trivial_mb)


def test_in_memory_storage_bounded_by_tmpfs_size(programs, trivial_mb, tmp_path):
    """64 KiB extended attributes by the thousand and a 64 MiB memfd: the
    sandbox's in-memory filesystems share --tmpfs-size (ENOSPC past it).
    Natively the directory is a tmpfs of 8 MiB whose inode space bounds
    the attributes alike; a memfd is bounded only by the cgroup there, so
    its line is Linux's "written" and the sandbox's ENOSPC."""
    prog, launcher = programs
    native_dir, sandbox_dir = tmp_path / "native", tmp_path / "sandbox"
    native_dir.mkdir()
    sandbox_dir.mkdir()
    script = 'mount -t tmpfs -o size=8m,nr_inodes=8192 none "$1" && exec "$2" "$3" storage "$1"'
    native = _measured(launcher, ["unshare", "-m", "--propagation", "private", "sh", "-c",
                                  script, "sh", str(native_dir), launcher, prog],
                       native_dir, sandbox=False)
    assert native[0] == 0, native
    code, out, err, mb = _measured(launcher, [prog, "storage", str(sandbox_dir)], sandbox_dir,
                                   sandbox=True, extra=("--tmpfs-size", "8", "--network", "none"))
    assert (code, err) == (0, ""), err
    native_lines = native[1].splitlines()
    assert native_lines[-1] == "memfd of 64M: written"
    assert out.splitlines() == native_lines[:-1] + ["memfd of 64M: ENOSPC"]
    assert mb < trivial_mb + SLACK_MB, mb


def test_fork_until_it_fails_matches_linux(programs, trivial_mb):
    """Processes until fork fails, then the program goes on. Natively as
    an unprivileged user under RLIMIT_NPROC (root is exempt from it);
    sandboxed, what runs out first under the address-space limit is the
    host's room for another stub process: EAGAIN for the guest, as Linux
    gives, never a dead sandbox (exit 134)."""
    prog, launcher = programs
    where = tempfile.mkdtemp()
    try:
        os.chmod(where, 0o755)
        for path in (prog, launcher):
            shutil.copy(path, where)
        native = _measured(os.path.join(where, os.path.basename(launcher)),
                           ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "prlimit", "--nproc=64", os.path.join(where, os.path.basename(prog)),
                            "forks"], where, sandbox=False)
    finally:
        shutil.rmtree(where)
    assert native[0] == 0, native
    code, out, err, mb = _measured(launcher, [prog, "forks"], None, sandbox=True)
    assert "MemoryError" not in err and code != 134, err
    assert (code, err) == (0, ""), err
    assert out == native[1] == "fork 20000: EAGAIN\nreaped\n"


@pytest.mark.parametrize("section", ["signals", "timers"])
def test_queued_signals_and_timers_bounded_by_rlimit_sigpending(programs, trivial_mb, tmp_path,
                                                                section):
    """RT signals queued by the 300,000 and POSIX timers by the 200,000:
    EAGAIN once the user's RLIMIT_SIGPENDING (the limit getrlimit shows,
    or a lower one setrlimit sets) are queued, counted per user across
    processes, until dequeued, discarded, deleted or their process is
    gone. Natively in a user namespace of its own, so that the host's
    other processes' pending signals do not count."""
    prog, launcher = programs
    native = _measured(launcher, ["unshare", "-U", "-r", prog, section], tmp_path, sandbox=False)
    assert native[0] == 0, native
    code, out, err, mb = _measured(launcher, [prog, section], tmp_path, sandbox=True)
    assert "MemoryError" not in err and code != 134, err
    assert (code, err) == (0, ""), err
    assert out == native[1]
    assert "near the limit" in out and "not near" not in out
    assert mb < trivial_mb + SLACK_MB, (section, mb, trivial_mb)
