"""What `kvmsentry do` imports to run a static hello, confined, on the
platform under test: not the modules start-up was cut free of (each cost
milliseconds of every start), so a later change cannot bring them back
unnoticed. Python's -X importtime lists every module the supervisor and
the sentry import, on stderr."""
import os
import re
import subprocess
import sys

from kvmsentry.platform import choice

# Standard-library modules a run never needs (dataclasses imports inspect,
# ast and dis; argparse is for command lines do_args cannot read; the
# others are for error reports, --publish and the OCI front end), and
# sentry modules only other commands or rarer calls use.
NOT_ON_THE_START_PATH = (
    "dataclasses", "inspect", "ast", "dis", "argparse", "gettext", "traceback", "shutil",
    "tempfile", "json", "random",
    # Helpers start with posix_spawn (sandbox/spawn.py), sockets of the
    # start path are _socket's: no subprocess (with locale and re), no
    # socket (its enums), no nsenter.
    "subprocess", "_posixsubprocess", "locale", "re", "socket", "selectors",
    # The sentry's modules use _signal: signal.py only adds enums (and
    # imports enum, ~1.5 ms).
    "signal", "enum",
    "kvmsentry.cli.oci", "kvmsentry.runtime", "kvmsentry.platform.report",
    "kvmsentry.fsimpl.procfs.task_dir", "kvmsentry.fsimpl.procfs.task_files",
    "kvmsentry.net.proc_net", "kvmsentry.syscalls.sys_socket", "kvmsentry.syscalls.sys_ipc",
    "kvmsentry.syscalls.sys_ptrace", "kvmsentry.syscalls.sys_aio",
    # SysV IPC and POSIX queues load with their first use, host sockets
    # with the first socket, --strace's printer and the fault report with
    # theirs.
    "kvmsentry.kernel.ipc.namespace", "kvmsentry.kernel.ipc.shm", "kvmsentry.kernel.ipc.sem",
    "kvmsentry.kernel.ipc.msg",
    "kvmsentry.kernel.mqueue", "kvmsentry.net.host_unix", "kvmsentry.net.hostinet",
    "kvmsentry.syscalls.strace", "kvmsentry.kernel.fault_report",
    # The names Unix sockets bind load with the first socket, the timers
    # with the first timer, alarm or CPU limit (or fork), ptrace's state
    # and stops with the first ptrace call.
    "kvmsentry.net.unix_names", "kvmsentry.kernel.timers", "kvmsentry.kernel.ptrace",
    "kvmsentry.kernel.ptrace_syscall",
    # epoll with the first epoll_create (or poll/select: sys_poll), PI
    # futexes with the first FUTEX_LOCK_PI, pipes with the first pipe or FIFO.
    "kvmsentry.kernel.epoll", "kvmsentry.kernel.futex_pi", "kvmsentry.kernel.pipe",
    # a pty's files with the first open of /dev/ptmx (or /dev/tty on one).
    "kvmsentry.fsimpl.pty_files",
)
if choice.resolve(choice.requested(None)) == "systrap":
    # ctypes's Python layer loads at the first call that needs it (a fault
    # report's disassembly, renameat2 with flags): libcapstone and libgcc_s
    # are dlopen'd through _ctypes. (The KVM binding uses it.)
    NOT_ON_THE_START_PATH += ("ctypes",)


def _imports_of_a_run(cmd, env=None):
    """The modules the supervisor and the sentry of `cmd` (a hello run,
    Python told to list its imports) imported."""
    out = subprocess.run(cmd, capture_output=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr.decode(errors="replace")[-3000:]
    assert out.stdout.startswith(b"hello, world! 42 beef printf\n")
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \| *(\S+)$",
                              out.stderr.decode(), re.M))
    # The sentry itself was imported and listed (the checks mean something).
    assert {"kvmsentry.cli.main", "kvmsentry.kernel.kernel",
            "kvmsentry.syscalls.dispatch"} <= imported
    return imported


def test_start_path_imports_only_what_a_run_needs(programs):
    cmd = programs.sandbox_command(programs.path("hello", "musl-static"))
    cmd[1:1] = ["-X", "importtime"]
    imported = _imports_of_a_run(cmd)
    assert sorted(imported & set(NOT_ON_THE_START_PATH)) == []
    # The KVM binding only where the sentry runs on KVM.
    if choice.resolve(choice.requested(None)) == "systrap":
        assert sorted(m for m in imported if m.startswith("kvmsentry.kvm")) == []


# A static glibc reads /proc/self/exe at its start, so procfs's task
# directory loads; the handlers of calls it never makes must not load with
# it, nor the texts of the directory's files (a lookup needs none).
NOT_ON_A_GLIBC_START = ("kvmsentry.syscalls.sys_prctl", "kvmsentry.syscalls.sys_seccomp",
                        "kvmsentry.kernel.seccomp_filter", "kvmsentry.kernel.ptrace_mem",
                        "kvmsentry.fsimpl.procfs.process_attrs",
                        "kvmsentry.fsimpl.procfs.mem_file")


def test_a_static_glibc_start_loads_procfs_without_other_handlers(programs):
    cmd = programs.sandbox_command(programs.path("hello", "gcc-static"))
    cmd[1:1] = ["-X", "importtime"]
    imported = _imports_of_a_run(cmd)
    # (the lookup that matters happened: procfs's task directory is there)
    assert "kvmsentry.fsimpl.procfs.task_dir" in imported
    assert sorted(imported & set(NOT_ON_A_GLIBC_START + NOT_ON_THE_START_PATH)) == \
        ["kvmsentry.fsimpl.procfs.task_dir"]


def test_the_installed_command_starts_as_lean(programs):
    """`kvmsentry` as pip installs it next to the interpreter (bin/kvmsentry,
    a plain script: a console_scripts wrapper imports re to tidy argv[0])."""
    command = os.path.join(os.path.dirname(sys.executable), "kvmsentry")
    cmd = programs.sandbox_command(programs.path("hello", "musl-static"))
    assert cmd[:3] == [sys.executable, "-m", "kvmsentry"]
    imported = _imports_of_a_run([command, *cmd[3:]],
                                 env=dict(os.environ, PYTHONPROFILEIMPORTTIME="1"))
    assert sorted(imported & set(NOT_ON_THE_START_PATH)) == []
