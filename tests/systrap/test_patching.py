"""Syscall-site patching on systrap (kvmsentry/platform/systrap/patching.py):
programs whose hot loops call through glibc's and musl's wrappers behave
as natively while their sites are patched (signals, restarts, threads,
fork, exec, a mapping over the table, the program's own gs base, a
debugger's breakpoints and single steps), and the new entry gives a program that jumps into it nothing a syscall would
not."""
import os
import subprocess
import sys

import pytest

from kvmsentry._systrap import ffi

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 120
GUEST_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
CC = {"glibc": ["gcc", "-pthread"], "musl": ["musl-gcc"]}


def _build(tmp_path, name, cc, defines=()):
    out = tmp_path / name
    subprocess.run(cc + ["-O2", "-static", *defines, "-o", str(out),
                         os.path.join(HERE, name.split("-")[0] + ".c")],
                   check=True, timeout=TIMEOUT)
    return str(out)


def _run(cmd, cwd):
    proc = subprocess.run(cmd, env=GUEST_ENV, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=TIMEOUT, cwd=cwd)
    return proc.returncode, proc.stdout, proc.stderr.decode(errors="replace")


def _systrap(args, extra=()):
    return [sys.executable, "-m", "kvmsentry", "--platform", "systrap", "do", *extra,
            "--", *args]


@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_patched_sites_behave_as_natively(tmp_path, libc):
    prog = _build(tmp_path, "patched_sites-" + libc, CC[libc])
    native = _run([prog], tmp_path)
    boxed = _run(_systrap([prog]), tmp_path)
    assert native[0] == 0 and b"exec: bad=0" in native[1], native
    assert boxed[:2] == native[:2], boxed[2]
    # The sites were patched (natively getpid starts with its mov, b8).
    assert "getpid code: b8" in native[2]
    assert "getpid code: ff" in boxed[2], boxed[2]


def test_musl_cancellable_calls(tmp_path):
    prog = _build(tmp_path, "cp_calls", CC["musl"])
    native = _run([prog], tmp_path)
    boxed = _run(_systrap([prog]), tmp_path)
    assert native[0] == 0 and native[1] == b"bad=0 sum=375876\n", native
    assert "read site patched: no" in native[2]
    assert boxed[:2] == native[:2], boxed[2]
    assert "read site patched: yes" in boxed[2], boxed[2]


def test_musl_cancellable_calls_with_threads(tmp_path):
    """musl's __syscall_cp_asm (a program that links pthread_cancel) is
    patched, and a thread blocked in a patched read is cancelled."""
    prog = _build(tmp_path, "cancel_sites", CC["musl"])
    native = _run([prog], tmp_path)
    boxed = _run(_systrap([prog]), tmp_path)
    assert native[0] == 0 and b"blocked reader 2: cancelled" in native[1], native
    assert "cancellable site patched: no" in native[2]
    assert boxed[:2] == native[:2], boxed[2]
    assert "cancellable site patched: yes" in boxed[2], boxed[2]


@pytest.mark.parametrize("link", ["static", "dynamic"])
def test_glibc_read_sites(tmp_path, link):
    """read's fast path (`xor %eax,%eax` after a branch: the compare and
    the branch move into the trampoline, relocated: rel32 in a static
    program, absolute addresses from a shared libc) and its cancellable
    path are patched; calls into its middle, restarts, EINTR, a traced
    child's single steps and breakpoint, forks and threads behave as
    natively."""
    prog = str(tmp_path / ("read_sites-" + link))
    subprocess.run(CC["glibc"] + ["-O2", *(["-static"] if link == "static" else []), "-o", prog,
                                  os.path.join(HERE, "read_sites.c")], check=True, timeout=TIMEOUT)
    native = _run([prog], tmp_path)
    boxed = _run(_systrap([prog]), tmp_path)
    assert native[0] == 0 and b"threads: bad=0" in native[1], native
    assert b"restarted read: 1 'R', interrupted: yes" in native[1], native
    assert boxed[:2] == native[:2], boxed[2]
    assert "read sites patched with threads: 0" in native[2]
    assert "read sites patched single-threaded: 1" in boxed[2], boxed[2]
    assert "read sites patched with threads: 2" in boxed[2], boxed[2]


@pytest.mark.parametrize("platform, extra", [("kvm", ()), ("systrap", ("--no-patch-syscalls",))])
def test_read_sites_unpatched(tmp_path, platform, extra):
    """The same program where systrap patches nothing: as natively."""
    prog = _build(tmp_path, "read_sites", CC["glibc"])
    native = _run([prog], tmp_path)
    boxed = _run([sys.executable, "-m", "kvmsentry", "--platform", platform, "do", *extra,
                  "--", prog], tmp_path)
    assert native[0] == 0 and b"threads: bad=0" in native[1], native
    assert boxed[:2] == native[:2], boxed[2]
    assert "read sites patched with threads: 0" in boxed[2], boxed[2]


def test_unpatched_run_is_the_same(tmp_path):
    prog = _build(tmp_path, "patched_sites-glibc", CC["glibc"])
    native = _run([prog], tmp_path)
    boxed = _run(_systrap([prog], ("--no-patch-syscalls",)), tmp_path)
    assert boxed[:2] == native[:2], boxed[2]
    assert "getpid code: b8" in boxed[2]


def test_debugger_sees_the_original_code(tmp_path):
    prog = _build(tmp_path, "ptrace_site", ["gcc"])
    native = _run([prog], tmp_path)
    boxed = _run(_systrap([prog]), tmp_path)
    assert native[0] == 0 and b"child status: 0" in native[1], native
    assert boxed[:2] == native[:2], boxed[2]


def test_jumping_into_the_entry_gets_only_a_syscall(tmp_path):
    offsets = ["-DMSG_%s=%d" % (f.upper(), ffi.offsetof("struct systrap_msg", f))
               for f in ("entry", "entry_rsp", "entry_rip")]
    prog = _build(tmp_path, "escape_entry", ["gcc"], offsets)
    status, out, err = _run(_systrap([prog]), tmp_path)
    assert status == 0, err
    assert out.decode().splitlines() == [
        "getpid patched: yes",
        "entry getpid: same",
        "entry x32 getpid: -38",       # ENOSYS, as the x32 call by SIGSYS answers
        "entry 500: -38",
        "entry -1: -38",
        "trampoline getpid: same",
        "table write: Segmentation fault",
        "foreign gs base: Segmentation fault",
    ], err
    assert "internal error" not in err.lower()


@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_a_site_is_patched_on_its_second_trap(tmp_path, libc):
    prog = _build(tmp_path, "patch_once-" + libc, CC[libc])
    native = _run([prog], tmp_path)
    boxed = _run(_systrap([prog]), tmp_path)
    assert native[0] == 0 and native[1] == b"same answer: 1\n", native
    assert "after three calls: b8" in native[2], native[2]
    assert boxed[:2] == native[:2], boxed[2]
    assert "after one call: b8\nafter two calls: ff\nafter three calls: ff\n" in boxed[2], boxed[2]
