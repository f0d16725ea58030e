"""ptrace inside the sandbox, compared with native Linux.

tests/ptraceprograms/ptrace_basics.c is a tracer that checks one request
family per subcommand (syscall stops, PEEK/POKE, SETREGS at syscall stops,
exec stops, SEIZE/INTERRUPT/signal stops/KILL, TRACECLONE, SINGLESTEP,
GET_SYSCALL_INFO and register sets); `all` runs them in turn, each in a
fresh process. It prints no pids or addresses, so its output must be
identical natively and sandboxed.

Then the real tools, inside the sandbox: `strace -f` of a shell pipeline
(the syscall names it prints are compared, as a set, with a native run)
and gdb running a crashing program to a breakpoint, single-stepping and
printing the backtrace of the crash.
"""
import os
import re
import shutil
import subprocess

import pytest
from progbuild import FLAVOURS, build_all, run

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = os.path.join(os.path.dirname(HERE), "ptraceprograms")
CRASHER = r"""
#include <stdio.h>
static int *volatile nowhere;
__attribute__((noinline)) void crash_here(int depth)
{
    if (depth == 0)
        *nowhere = 42;
    else
        crash_here(depth - 1);
}
int main(void)
{
    puts("about to crash");
    fflush(stdout);
    crash_here(2);
    return 0;
}
"""


@pytest.fixture(scope="module")
def ptraceprogs(tmp_path_factory):
    return build_all(SOURCES, tmp_path_factory.mktemp("ptrace"))


def _tool(name):
    path = shutil.which(name)
    assert path, "%s is not installed (apt-get install -y strace gdb)" % name
    return path


@pytest.mark.parametrize("flavour", list(FLAVOURS))
def test_ptrace_requests_match_native(ptraceprogs, flavour):
    argv = [ptraceprogs[("ptrace_basics", flavour)], "all"]
    n_code, n_out, n_err = run(argv, False)
    s_code, s_out, s_err = run(argv, True)
    assert n_code == 0 and b"FAIL" not in n_out, n_out.decode(errors="replace")
    assert s_out.decode() == n_out.decode(), s_err.decode(errors="replace")[-3000:]
    assert s_code == n_code


def _syscall_names(strace_output):
    """The syscall names in strace's output (resumed halves and signal
    lines left out)."""
    names = set()
    for line in strace_output.splitlines():
        line = re.sub(r"^\[pid\s+\d+\] ", "", line)
        m = re.match(r"([a-z_0-9]+)\(", line)
        if m:
            names.add(m.group(1))
    return names


def test_strace_follows_a_pipeline(tmp_path):
    """strace -f of `sh -c 'ls / | cat'`: the program's output is intact,
    strace exits with its status, and it reports the same syscalls as a
    native strace (as sets; the sandbox may differ in a few)."""
    strace = _tool("strace")
    argv = [strace, "-f", "/bin/sh", "-c", "ls -a / | cat; exit 3"]
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    p = subprocess.run(argv, capture_output=True, timeout=120, env=env, cwd=tmp_path)
    n_code, n_out, n_err = p.returncode, p.stdout, p.stderr
    s_code, s_out, s_err = run(argv, True, env=env)
    err = s_err.decode(errors="replace")
    assert s_code == n_code == 3, err[-3000:]
    assert s_out == n_out
    assert "kvmsentry" not in err, err[-3000:]
    native, sandboxed = _syscall_names(n_err.decode(errors="replace")), _syscall_names(err)
    # The calls every such run makes, followed into both children.
    for name in ("execve", "clone", "wait4", "pipe2", "dup2", "openat", "mmap",
                 "getdents64", "read", "write", "close", "exit_group"):
        assert name in sandboxed, (name, sorted(sandboxed))
    assert len(native ^ sandboxed) <= 4, (sorted(native - sandboxed), sorted(sandboxed - native))
    assert err.count("+++ exited with 0 +++") == 2           # ls and cat
    assert err.rstrip().endswith("+++ exited with 3 +++")


@pytest.fixture(scope="module")
def crasher(tmp_path_factory):
    out = tmp_path_factory.mktemp("crasher")
    src = out / "crasher.c"
    src.write_text(CRASHER)
    exe = out / "crasher"
    subprocess.run(["gcc", "-g", "-O0", "-o", str(exe), str(src)], check=True, timeout=60)
    return str(exe)


def _gdb_transcript(text):
    """gdb's answers, without its warnings (the sandbox has no ASLR to
    switch off) and addresses (a breakpoint's may differ)."""
    lines = [line for line in text.splitlines() if not line.startswith("warning:")]
    return [re.sub(r"0x[0-9a-f]+", "ADDR", line) for line in lines]


def test_gdb_breakpoint_step_and_backtrace(crasher):
    """gdb -batch: a breakpoint (int3 written with POKETEXT), two stepi
    (PTRACE_SINGLESTEP), continuing through the breakpoint twice, the
    SIGSEGV stop and its backtrace; the transcript matches native gdb's."""
    gdb = _tool("gdb")
    argv = [gdb, "-nx", "-batch", "-ex", "break crash_here", "-ex", "run", "-ex", "stepi",
            "-ex", "stepi", "-ex", "continue", "-ex", "continue", "-ex", "continue",
            "-ex", "bt", crasher]
    n_code, n_out, n_err = run(argv, False)
    s_code, s_out, s_err = run(argv, True)
    native = _gdb_transcript(n_out.decode(errors="replace"))
    sandboxed = _gdb_transcript(s_out.decode(errors="replace"))
    assert sandboxed == native, s_err.decode(errors="replace")[-3000:]
    assert any("SIGSEGV" in line for line in sandboxed)
    assert any(re.match(r"#0 .* crash_here \(depth=0\)", line) for line in sandboxed), sandboxed
    assert any(re.match(r"#3 .* main \(\)", line) for line in sandboxed), sandboxed
    assert s_code == n_code
