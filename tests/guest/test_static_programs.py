"""Static programs run natively and in the sandbox must behave the same:
same stdout, same stderr, same exit status. Linux is the oracle.

Every test is parametrized over the build flavours (musl-gcc -static,
gcc -static, gcc -static-pie) through the `flavour` fixture.
"""
import difflib
import re
import signal
import subprocess

import pytest

# Programs compared as they are, with the argv / stdin they need.
STDIN_DATA = bytes(range(256)) * 1200            # 300 KiB through a pipe
COMPARED = {
    "hello": {},
    "exit42": {},
    "floats": {},
    "malloc_heavy": {},
    "args_env_auxv": {"args": ["first", "a b", "", "--strace", "-", "\u00fcn\u00efcode"]},
    "enosys": {},
    "efault": {"stdin": b"some data on stdin\n"},
    "mmap_edges": {},
    "brk_edges": {},
    "time_sanity": {},
    "sysinfo": {},
    "stack_growth": {},
    "big_bss": {},
    "tls": {},
    "lifecycle": {},
    "simd": {},
    "regs_preserved": {},
    "stdio_pipe": {"stdin": STDIN_DATA},
    "fd_edges": {"stdin": b"unread\n"},
}


def _diff(what, native, sandbox):
    lines = difflib.unified_diff(
        native.decode(errors="replace").splitlines(keepends=True),
        sandbox.decode(errors="replace").splitlines(keepends=True),
        what + " (native)", what + " (sandbox)")
    shown = [l if len(l) <= 160 else l[:150] + "...[%d chars]\n" % len(l)
             for l in list(lines)[:80]]
    return "%s differs:\n%s" % (what, "".join(shown))


def assert_same(native, sandbox):
    n_status, n_out, n_err = native
    s_status, s_out, s_err = sandbox
    assert s_out == n_out, _diff("stdout", n_out, s_out)
    assert s_err == n_err, _diff("stderr", n_err, s_err)
    assert s_status == n_status, "exit status differs"


def compare(programs, name, flavour, args=(), stdin=None, env=None, extra=()):
    path = programs.path(name, flavour)
    native = programs.run_native(path, args, env=env, stdin=stdin, cwd=programs.root)
    sandbox = programs.run_sandbox(path, args, env=env, extra=extra, stdin=stdin, cwd=programs.root)
    assert_same(native, sandbox)
    return native


@pytest.mark.parametrize("name", sorted(COMPARED))
def test_same_as_native(programs, flavour, name):
    compare(programs, name, flavour, **COMPARED[name])


def test_exit_status_reaches_parent(programs, flavour):
    status, out, err = compare(programs, "exit42", flavour)
    assert (status, out, err) == (42, b"", b"")


def test_hello_output(programs, flavour):
    status, out, err = compare(programs, "hello", flavour)
    assert status == 0
    assert out.startswith(b"hello, world! 42 beef printf\nhello from puts\n")
    assert err == b"hello on stderr: -7\n"


def test_args_env_auxv_content(programs, flavour):
    status, out, _ = compare(programs, "args_env_auxv", flavour, args=["x", "y z"])
    text = out.decode()
    assert status == 0
    assert "argv[2]=\"y z\"" in text
    assert [l[5:] for l in text.splitlines() if l.startswith("env: ")] == \
        ["%s=%s" % kv for kv in programs.env.items()]
    for line in ("AT_PAGESZ=4096", "AT_ENTRY==_start: 1", "AT_PLATFORM=x86_64",
                 "AT_RANDOM mostly nonzero=1"):
        assert line in text


@pytest.mark.parametrize("env", [
    {"LANG": "C.UTF-8"},
    {"LANG": "C.UTF-8", "EMPTY": "", "EQ": "a=b=c", "SPACES": " x  y ",
     "LONG": "v" * 5000, "PATH": "/nonexistent"},
], ids=["one-var", "odd-values"])
def test_environment_passed_verbatim(programs, flavour, env):
    compare(programs, "args_env_auxv", flavour, env=env)


@pytest.mark.xfail(strict=True, reason=(
    "sentry bug: with no locale or LANG=C in the caller's environment, "
    "Python's PEP 538 locale coercion adds LC_CTYPE=C.UTF-8 to os.environ "
    "and `kvmsentry do` hands it to the guest"))
@pytest.mark.parametrize("env", [{}, {"PATH": "/usr/bin:/bin", "FOO": "bar", "LANG": "C"}],
                         ids=["empty", "LANG=C"])
def test_environment_without_utf8_locale(programs, env):
    compare(programs, "args_env_auxv", "gcc-static", env=env)


def test_many_arguments(programs, flavour):
    args = ["arg%d-%s" % (i, "x" * (i % 50)) for i in range(300)]
    compare(programs, "args_env_auxv", flavour, args=args)


def test_large_argv_and_environment(programs):
    """About 1 MiB of strings on the initial stack (ARG_MAX is 2 MiB)."""
    args = ["%04d" % i + "a" * 495 for i in range(1000)]
    env = dict(programs.env, **{"VAR%d" % i: "e" * 1000 for i in range(500)})
    compare(programs, "args_env_auxv", "gcc-static", args=args, env=env)


def test_stdin_from_devnull(programs, flavour):
    status, out, err = compare(programs, "stdio_pipe", flavour)
    assert status == 0
    assert err.startswith(b"copied 0 bytes")


def test_stdio_pipe_content(programs, flavour):
    status, out, err = compare(programs, "stdio_pipe", flavour, stdin=STDIN_DATA)
    assert status == 0
    assert out.startswith(STDIN_DATA + b"read after EOF: 0\n")
    assert err.startswith(b"copied %d bytes" % len(STDIN_DATA))


# Without syscall-site rewriting every call takes the slow path; programs
# that watch registers and their own code must not see a difference.
@pytest.mark.parametrize("name", ["hello", "regs_preserved", "simd", "efault"])
def test_same_without_syscall_patching(programs, flavour, name):
    compare(programs, name, flavour, extra=["--no-patch-syscalls"], **COMPARED[name])


@pytest.mark.xfail(strict=True, reason=(
    "sentry bug: a syscall site in a writable (JIT) mapping is rewritten to "
    "`out %al, $0x4a` (e6 4a) after it first runs, and the program reads the "
    "rewritten bytes back instead of the 0f 05 it wrote"))
def test_generated_code(programs, flavour):
    compare(programs, "jit", flavour)


def test_generated_code_without_syscall_patching(programs, flavour):
    compare(programs, "jit", flavour, extra=["--no-patch-syscalls"])


# --- programs killed by a signal -------------------------------------------

# A sandbox report of a fatal fault: one line naming the signal, the
# faulting address and the disassembled instruction.
REPORT = re.compile(r"^kvmsentry: .*\b(?P<sig>SIG[A-Z]+)\b.*"
                    r"0x[0-9a-f]+: (?P<insn>[a-z][a-z0-9]*\b.*|<instruction not readable>)$")

# name, argv, signal, address in the report (None: not known in advance)
CRASHES = {
    "nullwrite": ([], signal.SIGSEGV, 0),
    "use_after_munmap": ([], signal.SIGSEGV, 0x3f0001000),
    "write_readonly": ([], signal.SIGSEGV, 0x3f100000a),
    "stack_overflow": ([], signal.SIGSEGV, None),
    "traps-int3": (["int3"], signal.SIGTRAP, None),
    "traps-ud2": (["ud2"], signal.SIGILL, None),
    "traps-divzero": (["divzero"], signal.SIGFPE, None),
    "traps-hlt": (["hlt"], signal.SIGSEGV, None),
    "traps-kernel_read": (["kernel_read"], signal.SIGSEGV, 0xffffffff81000000),
    "traps-noncanonical": (["noncanonical"], signal.SIGSEGV, None),
    "traps-exec_data": (["exec_data"], signal.SIGSEGV, None),
    "traps-null_call": (["null_call"], signal.SIGSEGV, 0),
    "traps-in_port": (["in_port"], signal.SIGSEGV, None),
}


def crash(programs, flavour, name, args, signo, address=None):
    path = programs.path(name.split("-")[0], flavour)
    n_status, n_out, n_err = programs.run_native(path, args, cwd=programs.root)
    s_status, s_out, s_err = programs.run_sandbox(path, args, cwd=programs.root)
    assert n_status == 128 + signo, "native run did not die by %s" % signo.name
    assert s_status == n_status
    assert s_out == n_out
    lines = s_err.decode(errors="replace").splitlines(keepends=True)
    report = [l for l in lines if l.startswith("kvmsentry:")]
    assert len(report) == 1, "expected one report line, got %r" % report
    assert "".join(l for l in lines if l not in report).encode() == n_err
    m = REPORT.match(report[0].rstrip("\n"))
    assert m, "report not understood: %r" % report[0]
    assert m.group("sig") == signo.name
    if address is not None:
        assert re.search(r"\b%#x\b" % address, report[0]), "fault address missing"
    return m


@pytest.mark.parametrize("case", sorted(CRASHES))
def test_crash(programs, flavour, case):
    args, signo, address = CRASHES[case]
    m = crash(programs, flavour, case, args, signo, address)
    if case in ("nullwrite", "use_after_munmap", "write_readonly"):
        assert m.group("insn").startswith("mov"), m.group(0)


# The sandbox's own machinery must be invisible to the guest.
@pytest.mark.parametrize("case", [
    pytest.param("out_port", marks=pytest.mark.xfail(strict=True, reason=(
        "sentry bug: `out %al, $0x4a` at CPL 3 is the patched-syscall "
        "instruction; a program executing it makes a syscall instead of "
        "dying with SIGSEGV (the TSS I/O bitmap opens port 0x4a to ring 3)"))),
    pytest.param("gate_read", marks=pytest.mark.xfail(strict=True, reason=(
        "sentry bug: the syscall gate page at 0xffffff8000003000 is "
        "user-readable in every address space; on Linux the upper half is "
        "never readable and the read dies with SIGSEGV"))),
])
def test_sandbox_machinery_invisible(programs, case):
    crash(programs, "gcc-static", "traps-" + case, [case], signal.SIGSEGV)


@pytest.mark.xfail(strict=True, reason=(
    "sentry bug: abort() does not die with SIGABRT (134): tgkill/kill are "
    "unimplemented and signals are not delivered, so glibc/musl fall back to "
    "`hlt` and the program dies with SIGSEGV (139) instead"))
def test_abort(programs, flavour):
    crash(programs, flavour, "abort", [], signal.SIGABRT)


@pytest.mark.parametrize("status, how", [
    *[("257", how) for how in ("return", "exit", "_exit", "SYS_exit_group", "SYS_exit")],
    *[(status, "exit") for status in ("0", "1", "255", "256", "-1")],
])
def test_exit_code(programs, status, how):
    compare(programs, "exit_code", "musl-static", args=[status, how])


def _run_until_reader_leaves(programs, argv):
    """Read a little of argv's stdout, close the pipe, and wait."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=dict(programs.env), cwd=programs.root)
    try:
        head = p.stdout.read(10)
        p.stdout.close()
        err = p.stderr.read()
        status = p.wait(timeout=60)
    finally:
        p.kill()
        p.wait()
    return 128 - status if status < 0 else status, head, err


@pytest.mark.xfail(strict=True, reason=(
    "sentry bug: a write to a pipe whose reader has gone fails with EPIPE "
    "but raises no SIGPIPE, so the program carries on instead of dying with "
    "status 141 (Python runs the sentry with SIGPIPE ignored)"))
def test_sigpipe(programs, flavour):
    path = programs.path("sigpipe", flavour)
    native = _run_until_reader_leaves(programs, [path])
    assert native == (128 + signal.SIGPIPE, b"p" * 10, b"")
    assert _run_until_reader_leaves(programs, programs.sandbox_command(path)) == native


# --- one behaviour at a time -----------------------------------------------

def _overcommit_policy():
    with open("/proc/sys/vm/overcommit_memory") as f:
        return f.read().strip()


def _corner(case, reason=None):
    if reason is None:
        return case
    return pytest.param(case, marks=pytest.mark.xfail(strict=True, reason="sentry bug: " + reason))


@pytest.mark.parametrize("case", [
    _corner("syscall_site_bytes"),
    _corner("getrandom_partial",
            "getrandom into a buffer that runs into an unmapped page returns "
            "-EFAULT; Linux returns the bytes copied before the fault (8)"),
    _corner("write_partial",
            "write/writev to a pipe from a buffer that runs into an unmapped "
            "page return -EFAULT and write nothing; Linux writes the bytes "
            "before the hole and returns their count"),
    _corner("read_large_count",
            "read(0, buf, 1 << 40) from a pipe holding 16 bytes returns "
            "-EFAULT; Linux only checks that the range is below the user "
            "address limit and returns the 16 bytes"),
    _corner("mprotect_partial",
            "mprotect over [mapped, hole) returns ENOMEM without changing the "
            "mapped part; Linux has already changed the pages before the hole"),
    _corner("madvise_partial",
            "madvise(MADV_DONTNEED) over [mapped, hole) returns ENOMEM without "
            "dropping anything; Linux drops the mapped pages, then reports ENOMEM"),
    _corner("map_shared_validate_anon",
            "mmap(MAP_SHARED_VALIDATE|MAP_ANONYMOUS) succeeds; Linux: EINVAL"),
    _corner("negative_offset",
            "pread/pwrite with a negative offset on a pipe return ESPIPE; "
            "Linux checks the offset first: EINVAL"),
    _corner("cputime_nanosleep",
            "clock_nanosleep(CLOCK_THREAD_CPUTIME_ID) returns EINVAL; Linux "
            "(this kernel) returns EOPNOTSUPP"),
    # Linux refuses only under the heuristic overcommit policy (the default).
    pytest.param("overcommit", marks=pytest.mark.xfail(
        _overcommit_policy() == "0", strict=True, reason=(
            "sentry bug: mmap and brk of 32 TiB succeed; Linux "
            "(vm.overcommit_memory=0) refuses a single request larger than "
            "RAM + swap with ENOMEM"))),
])
def test_corner_case(programs, case):
    compare(programs, "corner_cases", "musl-static", args=[case], stdin=b"stdin is a pipe\n")
