"""`kvmsentry do --strace` and `--debug-log`.

--strace prints one line per syscall on stderr, strace-style: the name,
the decoded arguments and the result (`= N`, `= -1 ENAME (message)`, or
`= ?` for calls that do not return), then `+++ exited with N +++` or
`+++ killed by SIG... +++`. The program's own output is unchanged.
"""
import re

# One traced call: name(args) = result [note]
CALL = re.compile(r"^(?P<name>[a-z_0-9]+)\((?P<args>.*)\) = "
                  r"(?P<result>\?|-?\d+|0x[0-9a-f]+|-1 E[A-Z0-9]+ \([^)]*\))(?P<note> .*)?$")


def traced(programs, name, flavour="gcc-static", args=(), stdin=None, extra=()):
    """Run name natively and under --strace; the program's stdout and exit
    status must not change. Returns (status, stderr lines of the trace run)."""
    path = programs.path(name, flavour)
    n_status, n_out, n_err = programs.run_native(path, args, stdin=stdin, cwd=programs.root)
    s_status, s_out, s_err = programs.run_sandbox(path, args, stdin=stdin, cwd=programs.root,
                                         extra=["--strace", *extra])
    assert s_out == n_out
    assert s_status == n_status
    lines = s_err.decode(errors="replace").splitlines()
    # The program's own stderr is still there, in order, between the calls.
    own = n_err.decode(errors="replace").splitlines()
    it = iter(lines)
    assert all(any(l == o for l in it) for o in own), "program stderr missing"
    return s_status, lines


def calls(lines):
    return [m for m in map(CALL.match, lines) if m]


def test_hello_trace(programs, flavour):
    status, lines = traced(programs, "hello", flavour)
    assert status == 0
    found = calls(lines)
    writes = [m.group(0) for m in found if m.group("name") in ("write", "writev")
              and m.group("args").startswith("1, ")]
    assert writes, "no write to stdout traced"
    assert re.match(r'^(write\(1, "hello, world! 42 beef printf\\n|'
                    r'writev\(1, \[\{iov_base="hello, world! 42 beef printf)', writes[0])
    assert all(re.search(r"\) = \d+$", w) for w in writes)
    assert any(re.match(r'^(write|writev)\(2, .*"hello on stderr: -7\\n.* = 20$', l)
               for l in lines)
    assert lines[-2:] == ["exit_group(0) = ?", "+++ exited with 0 +++"]


def test_every_line_is_a_call_or_an_outcome(programs):
    _, lines = traced(programs, "hello", "gcc-static")
    other = [l for l in lines if not CALL.match(l) and not l.startswith("+++ ")
             and l != "hello on stderr: -7"]
    assert other == []


def test_exit_status_in_trace(programs):
    status, lines = traced(programs, "exit42")
    assert status == 42
    assert lines[-2:] == ["exit_group(42) = ?", "+++ exited with 42 +++"]


def test_results_are_shown(programs):
    _, lines = traced(programs, "sysinfo")
    assert "getpid() = 1" in lines or any(re.match(r"^getpid\(\) = [1-9]\d*$", l) for l in lines)
    assert any(re.match(r'^uname\(0x[0-9a-f]+\) = 0$', l) or l.startswith("uname({")
               for l in lines)
    assert any(re.match(r"^getrandom\(.*, 16, 0(x0)?\) = 16$", l) for l in lines)


def test_enosys_trace(programs):
    _, lines = traced(programs, "enosys")
    enosys = [l for l in lines if l.endswith("= -1 ENOSYS (Function not implemented)")
              or "= -1 ENOSYS (Function not implemented) " in l]
    # syscall(1000), (512), (100000), (-1) at least.
    assert len(enosys) >= 4
    assert any("1000" in l.split("(")[0] for l in enosys), enosys


def test_efault_trace(programs):
    _, lines = traced(programs, "efault", stdin=b"some data on stdin\n")
    efault = [l for l in lines if l.endswith("= -1 EFAULT (Bad address)")]
    assert any(l.startswith("write(1, ") for l in efault)
    assert any(l.startswith("read(0, ") for l in efault)
    assert any(l.startswith("uname(") for l in efault)


def test_killed_trace(programs):
    status, lines = traced_crash(programs, "nullwrite")
    assert status == 139
    assert lines[-1] == "+++ killed by SIGSEGV +++"
    assert any(l.startswith("kvmsentry:") and "SIGSEGV" in l for l in lines)


def traced_crash(programs, name):
    path = programs.path(name, "gcc-static")
    status, _, err = programs.run_sandbox(path, cwd=programs.root, extra=["--strace"])
    return status, err.decode(errors="replace").splitlines()


def test_strace_without_patching(programs):
    """The slow path traces the same calls."""
    _, patched = traced(programs, "hello")
    _, slow = traced(programs, "hello", extra=["--no-patch-syscalls"])
    names = lambda ls: [m.group("name") for m in calls(ls)]
    assert names(slow) == names(patched)


def test_debug_log_records_unimplemented(programs, tmp_path):
    log = tmp_path / "debug.log"
    path = programs.path("enosys", "gcc-static")
    n = programs.run_native(path, cwd=programs.root)
    s = programs.run_sandbox(path, cwd=programs.root, extra=["--debug-log", str(log)])
    assert s == n, "--debug-log must not change what the program sees"
    unimplemented = [l for l in log.read_text().splitlines() if "unimplemented:" in l]
    # syscall(1000) is no Linux syscall: it is never going to be implemented.
    assert any("1000" in l for l in unimplemented), unimplemented
