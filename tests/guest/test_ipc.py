"""System V IPC, POSIX message queues, mlock and scheduling attributes,
compared with native Linux (same stdout and exit status).

The C programs are tests/ipcprograms/*.c, each with several modes (its
first argument), built with `gcc -static` and plain `gcc`. The native run
gets a fresh IPC namespace (`unshare --ipc`), as the sandbox has its own:
ids are then deterministic on both sides and nothing is left behind in
the host's namespace. Tests run as root (CI does); the programs drop to
nobody in children to check the unprivileged rules.
"""
import os

import pytest
from progbuild import FLAVOURS, build_all, run

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = os.path.join(os.path.dirname(HERE), "ipcprograms")


@pytest.fixture(scope="module")
def ipcprogs(tmp_path_factory):
    return build_all(SOURCES, tmp_path_factory.mktemp("ipc"))


def same(argv):
    """Run argv natively (in a fresh IPC namespace) and sandboxed; stdout
    and status must match."""
    native = run(["unshare", "--ipc", "--", *argv], False)
    assert native[0] == 0, native[2].decode()[-2000:]
    boxed = run(argv, True)
    assert boxed[1].decode() == native[1].decode(), boxed[2].decode()[-3000:]
    assert boxed[0] == native[0], boxed[2].decode()[-3000:]
    return boxed[1].decode()


flavours = pytest.mark.parametrize("flavour", list(FLAVOURS))


@flavours
@pytest.mark.parametrize("mode", ["shm", "sem", "msg", "proc"])
def test_sysv_ipc(ipcprogs, flavour, mode):
    out = same([ipcprogs[("sysv", flavour)], mode])
    assert "= -1 ENOSYS" not in out


@flavours
def test_posix_message_queues(ipcprogs, flavour):
    out = same([ipcprogs[("mqueue", flavour)]])
    assert "signal 10 code -3 value 42 pid_ok 1" in out
    assert "thread got T" in out                    # SIGEV_THREAD through libc's netlink helper


@flavours
@pytest.mark.parametrize("mode", ["sched", "nice", "mlock"])
def test_sched_nice_mlock(ipcprogs, flavour, mode):
    out = same([ipcprogs[("sched", flavour)], mode])
    assert "ENOSYS" not in out


IPC_TOOLS = r"""
ipcmk -M 4096 -p 0640 | sed 's/[0-9]*$/N/'
ipcmk -S 3 | sed 's/[0-9]*$/N/'
ipcmk -Q | sed 's/[0-9]*$/N/'
ipcs -m | awk '{print $2, $3, $4, $5, $6}'
ipcs -s | awk '{print $2, $3, $4, $5}'
ipcs -q | awk '{print $2, $3, $4, $5, $6}'
ipcs -l
ipcs -u | grep -v '^$'
ipcs -m -i 0 | grep -v time | sed 's/cpid=[0-9]*/cpid=P/'
ipcrm -a
ipcs | awk 'NF'
"""


def test_util_linux_ipc_tools(tmp_path):
    """ipcmk, ipcs (through /proc/sysvipc and the *_INFO calls) and ipcrm
    as users run them."""
    script = tmp_path / "ipc.sh"
    script.write_text(IPC_TOOLS)
    out = same(["/bin/sh", str(script)])
    assert "0 root 640 4096 0" in out and "max ops per semop call = 500" in out
