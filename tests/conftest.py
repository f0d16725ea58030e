"""Shared fixtures for the tests that boot real guests.

Every tests/programs/*.c is compiled three ways (musl-gcc -static,
gcc -static, gcc -static-pie) once per session. A test runs a binary
natively and in the sandbox with the same argv, environment, stdin and
cwd, and compares the two: Linux is the oracle.

Nothing here skips: CI runs on machines with /dev/kvm and the compilers, and
a guest test that skips there is a hidden failure.
"""
import compileall
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

PROGRAMS_DIR = Path(__file__).parent / "programs"

# Build flavour -> compiler command (before the sources). -lm is harmless
# for programs that do not need it.
FLAVOURS = {
    "musl-static": ["musl-gcc", "-static"],
    "gcc-static": ["gcc", "-static"],
    "gcc-static-pie": ["gcc", "-static-pie"],
}
CFLAGS = ["-O2", "-Wall"]
LIBS = ["-lm"]

# A small fixed environment for both runs so their output is comparable.
# LANG is a UTF-8 locale: with LANG=C, Python coerces the locale and adds
# LC_CTYPE to the environment the sandbox hands to the guest (PEP 538; a
# known bug, see test_environment_without_utf8_locale).
GUEST_ENV = {"PATH": "/usr/bin:/bin", "FOO": "bar", "LANG": "C.UTF-8"}

TIMEOUT = 60                     # seconds, for every subprocess


def _require_tools():
    missing = [cc[0] for cc in FLAVOURS.values() if shutil.which(cc[0]) is None]
    if missing:
        pytest.fail("compiler(s) missing: %s (install gcc and musl-tools)"
                    % ", ".join(sorted(set(missing))), pytrace=False)
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.fail("/dev/kvm is not usable: guest tests need KVM", pytrace=False)


def _compile(source, flavour, out_dir):
    out = out_dir / flavour / source.stem
    cmd = [*FLAVOURS[flavour], *CFLAGS, "-o", str(out), str(source), *LIBS]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    if proc.returncode != 0:
        return "%s failed:\n%s" % (" ".join(cmd), proc.stderr)
    return None


def normalize_status(returncode):
    """Death by signal N as a shell reports it: 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def _run(cmd, env, stdin, cwd):
    proc = subprocess.run(
        cmd, env=dict(GUEST_ENV if env is None else env),
        input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True, timeout=TIMEOUT, cwd=cwd)
    return normalize_status(proc.returncode), proc.stdout, proc.stderr


# How to start the sandbox: this interpreter, the installed package, and
# the platform KVMSENTRY_PLATFORM names (kvm, systrap, auto) if set: the
# suite runs on the default (auto) platform, and its second pass
# (tests/systrap/test_suite_on_other_platform.py) runs tests/guest again
# with KVMSENTRY_PLATFORM naming the other one.
PINNED_PLATFORM = os.environ.get("KVMSENTRY_PLATFORM")
KVMSENTRY = [sys.executable, "-m", "kvmsentry"]
if PINNED_PLATFORM:
    KVMSENTRY += ["--platform", PINNED_PLATFORM]


def pin_platform(argv):
    """argv with `--platform P` after `-m kvmsentry` when KVMSENTRY_PLATFORM
    names P and argv starts the sandbox without choosing a platform."""
    if not PINNED_PLATFORM or isinstance(argv, (str, bytes)):
        return argv
    words = [os.fsdecode(a) if isinstance(a, bytes) else a for a in argv]
    for i in range(len(words) - 1):
        if words[i:i + 2] == ["-m", "kvmsentry"]:
            if any(w == "--platform" or str(w).startswith("--platform=") for w in words):
                return argv
            return [*argv[:i + 2], "--platform", PINNED_PLATFORM, *argv[i + 2:]]
    return argv


class _PinnedPopen(subprocess.Popen):
    def __init__(self, args, *rest, **kwargs):
        super().__init__(pin_platform(args), *rest, **kwargs)


def _pinned_execve(path, argv, env, _execve=os.execve):
    return _execve(path, pin_platform(argv), env)


def pytest_configure(config):
    """Many tests start `python -m kvmsentry do` themselves, with an
    environment of their own (so the guest's matches the native run's):
    KVMSENTRY_PLATFORM would not reach them, and the environment is not
    the place for it anyway (the sandbox passes its environment to the
    program). Under a pinned platform every such command line gets the
    option instead, so a pass on the other platform runs all of them there."""
    if PINNED_PLATFORM:
        subprocess.Popen = _PinnedPopen
        os.execve = _pinned_execve


def pytest_sessionstart(session):
    """Every sandbox a test starts imports the sentry's ~330 modules. An
    editable install run with PYTHONDONTWRITEBYTECODE never caches their
    bytecode, so each start would compile them all from source (about a
    third of its CPU time): write the caches once, as `pip install` does."""
    import kvmsentry
    compileall.compile_dir(os.path.dirname(kvmsentry.__file__), quiet=1)


def sandbox_command(path, args=(), extra=()):
    return [*KVMSENTRY, "do", *extra, "--", path, *args]


def run_native(path, args=(), env=None, stdin=None, cwd=None):
    """Run path natively: (status, stdout bytes, stderr bytes). env defaults
    to GUEST_ENV, stdin to /dev/null (or these bytes through a pipe)."""
    return _run([path, *args], env, stdin, cwd)


def run_sandbox(path, args=(), env=None, extra=(), stdin=None, cwd=None):
    """Run path under `kvmsentry do [extra] --`, like run_native."""
    return _run(sandbox_command(path, args, extra), env, stdin, cwd)


def run_kvmsentry(args, env=None, stdin=None, cwd=None):
    """Run `python -m kvmsentry ARGS`: (status, stdout bytes, stderr bytes)."""
    return _run([*KVMSENTRY, *args], env, stdin, cwd)


class Programs:
    """The compiled test programs, and the ways to run them.

    Test modules reach the helpers through this fixture object (or the
    run_* fixtures) rather than `from conftest import`: with several
    conftest.py files in the tree, the module named `conftest` is whichever
    pytest loaded last.
    """

    env = GUEST_ENV
    run_native = staticmethod(run_native)
    run_sandbox = staticmethod(run_sandbox)
    run_kvmsentry = staticmethod(run_kvmsentry)

    def __init__(self, root):
        self.root = root

    @staticmethod
    def sandbox_command(path, args=(), extra=()):
        """The argv that runs path in the sandbox (for Popen)."""
        return sandbox_command(path, args, extra)

    def path(self, name, flavour):
        p = self.root / flavour / name
        assert p.exists(), "no program %s (tests/programs/%s.c)" % (p, name)
        return str(p)


@pytest.fixture(scope="session")
def programs(tmp_path_factory):
    """Every tests/programs/*.c, built in every flavour (once a session)."""
    _require_tools()
    root = tmp_path_factory.mktemp("programs")
    sources = sorted(PROGRAMS_DIR.glob("*.c"))
    for flavour in FLAVOURS:
        (root / flavour).mkdir()
    jobs = [(src, fl) for src in sources for fl in FLAVOURS]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        errors = [e for e in pool.map(lambda j: _compile(j[0], j[1], root), jobs) if e]
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)
    return Programs(root)


@pytest.fixture(params=list(FLAVOURS))
def flavour(request):
    """Each build flavour in turn: musl-static, gcc-static, gcc-static-pie."""
    return request.param


@pytest.fixture(name="run_native")
def run_native_fixture():
    return run_native


@pytest.fixture(name="run_sandbox")
def run_sandbox_fixture():
    _require_tools()
    return run_sandbox


@pytest.fixture(name="run_kvmsentry")
def run_kvmsentry_fixture():
    return run_kvmsentry
