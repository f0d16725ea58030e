"""What gVisor's syscall test suite (tools/gvisor-tests/) found the
sandbox doing differently from Linux, one program per area in
tests/gvfixprograms/, compared with native Linux: same stdout and exit
status.

Natively the programs run as root of a fresh user namespace (`unshare
-Ur`) in a scratch directory, so nothing they do reaches the host.
"""
import os
import subprocess
import sys

import pytest
from progbuild import ENV, TIMEOUT, build_all

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = os.path.join(os.path.dirname(HERE), "gvfixprograms")
CONFINE = ["unshare", "--user", "--map-root-user", "--mount", "--ipc", "--fork"]


@pytest.fixture(scope="module")
def gvfixprogs(tmp_path_factory):
    """{(name, flavour): path} for every C program in SOURCES."""
    return build_all(SOURCES, tmp_path_factory.mktemp("gvfix"))


def run(argv, sandbox, cwd):
    cmd = [sys.executable, "-m", "kvmsentry", "do", "--", *argv] if sandbox else \
        [*CONFINE, *argv]
    p = subprocess.run(cmd, capture_output=True, env=ENV, timeout=TIMEOUT,
                       stdin=subprocess.DEVNULL, cwd=cwd)
    code = p.returncode if p.returncode >= 0 else 128 - p.returncode
    return code, p.stdout.decode(), p.stderr.decode()


def same(progs, tmp_path, name, *args):
    """The static build of `name` natively and sandboxed, each in a
    fresh directory; stdout and status must match."""
    results = []
    for sandbox in (False, True):
        d = tmp_path / ("sandbox" if sandbox else "native")
        d.mkdir()
        results.append(run([progs[(name, "static")], *args], sandbox, d))
    (n_code, n_out, _), (s_code, s_out, s_err) = results
    assert s_out == n_out, s_err[-3000:]
    assert s_code == n_code, s_err[-3000:]
    return s_out


def test_pipe_edges(gvfixprogs, tmp_path):
    """Positional calls on pipes, a write cut short by the reader leaving,
    a read end closed under a blocked reader (gVisor pipe_test)."""
    out = same(gvfixprogs, tmp_path, "pipe_edges")
    assert "SIGPIPEs: 2" in out


def test_aio_ring(gvfixprogs, tmp_path):
    """io_setup's ring in the process's memory, submissions and their
    events, mremap/mprotect of the ring, RESFD, fork (gVisor aio_test)."""
    out = same(gvfixprogs, tmp_path, "aio_ring")
    assert "magic a10a10a1" in out and "moved to the new place: 1" in out


def test_futex_edges(gvfixprogs, tmp_path):
    """FUTEX_LOCK_PI/LOCK_PI2/TRYLOCK_PI/UNLOCK_PI: owner and waiters bits,
    errors, timeouts, hand-over under contention, glibc's PI mutex; wakes
    of count 0 and of the other kind (gVisor futex_test)."""
    out = same(gvfixprogs, tmp_path, "futex_edges")
    assert "counter 180, errors 0, word 0" in out
    assert "wake with count 0 woke 1" in out


def test_affinity(gvfixprogs, tmp_path):
    """The mask sched_setaffinity sets is the one sched_getaffinity
    returns, in a new thread and a forked child too (gVisor affinity_test,
    fork_test Affinity)."""
    out = same(gvfixprogs, tmp_path, "affinity")
    assert "got what was set: 1" in out


def test_record_locks(gvfixprogs, tmp_path):
    """POSIX locks on pipes and sockets; OFD locks released by the open
    file's last close (gVisor fcntl_test SetLockPipe/Socket,
    TestOFDUnlocksOnLastClose)."""
    out = same(gvfixprogs, tmp_path, "record_locks")
    assert "after the last close of both: 2" in out


def test_fork_advice(gvfixprogs, tmp_path):
    """MADV_DONTFORK/DOFORK/WIPEONFORK/KEEPONFORK as a forked child sees
    them (gVisor madvise_test Dontfork*)."""
    out = same(gvfixprogs, tmp_path, "fork_advice")
    assert "child: [1] [unmapped] [3]" in out


def test_dirents(gvfixprogs, tmp_path):
    """getdents/getdents64 into a buffer shorter than claimed, counts past
    INT_MAX; SEEK_END on procfs and tmpfs directories (gVisor
    getdents_test, lseek_test)."""
    out = same(gvfixprogs, tmp_path, "dirents")
    assert "entries through 256 bytes claimed as 4096: 102" in out


def test_socket_async(gvfixprogs, tmp_path):
    """SIGIO for O_ASYNC Unix sockets (FIOASYNC or F_SETFL, either order
    with the owner), none after the armed socket's close; SIOCGIFCONF on
    sockets of every family (gVisor ioctl_test)."""
    out = same(gvfixprogs, tmp_path, "socket_async")
    assert "SIGIOs after write 1" in out and "lo listed 1" in out


def test_mremap_edges(gvfixprogs, tmp_path):
    """A shrink in place across mappings; old_size 0 duplicating a shared
    mapping (gVisor mremap_test *_Copy, InPlace_ShrinkingAcrossVMAs)."""
    out = same(gvfixprogs, tmp_path, "mremap_edges")
    assert "read through the copy: written through the original" in out


def test_vm_limits(gvfixprogs, tmp_path):
    """RLIMIT_DATA stops brk, RLIMIT_AS stops mmap, MAP_FIXED_NOREPLACE
    wins over MAP_FIXED (gVisor mmap_test ExceedLimit*, MapFixedNoReplace*)."""
    out = same(gvfixprogs, tmp_path, "vm_limits")
    assert "map 200 MiB                                      Cannot allocate memory" in out


def test_mlock_edges(gvfixprogs, tmp_path):
    """Locked pages refuse MS_INVALIDATE and MADV_DONTNEED; PROT_NONE
    mlock; MAP_LOCKED and mremap against RLIMIT_MEMLOCK without
    CAP_IPC_LOCK (gVisor mlock_test)."""
    out = same(gvfixprogs, tmp_path, "mlock_edges")
    assert "locked after: 1 0" in out


def test_mount_edges(gvfixprogs, tmp_path):
    """Mounts stacked on the cwd and unmounted through "."; MS_NOEXEC for
    execve, mmap and mprotect (gVisor mount_test UmountMountsStackedOnDot,
    *NoExec*)."""
    out = same(gvfixprogs, tmp_path, "mount_edges")
    assert "execve there: Permission denied" in out


def test_inotify_events(gvfixprogs, tmp_path):
    """IN_ACCESS for reads and listings, O_TRUNC's IN_OPEN then IN_MODIFY,
    ftruncate/fallocate/utimensat/link events (gVisor inotify_test)."""
    out = same(gvfixprogs, tmp_path, "inotify_events")
    assert "[dir 0x1 f] [file 0x1]" in out


def test_inotify_inode_lifetime(gvfixprogs, tmp_path):
    """IN_DELETE_SELF of a removed file or directory waits for its last
    open file; IN_EXCL_UNLINK watches ignore a file whose name is gone."""
    out = same(gvfixprogs, tmp_path, "inotify_lifetime")
    assert "close it                   [dir 0x40000010 s] [file 0x40000010] [file 0x400]" in out


def test_exec_files(gvfixprogs, tmp_path):
    """An exec in a CLONE_FILES child unshares the fd table before closing
    O_CLOEXEC fds (gVisor exec_test ExecveatTest.UnshareFiles)."""
    out = same(gvfixprogs, tmp_path, "exec_files")
    assert "after the child's exec: 0" in out
