"""The sandbox's paths that differ between KVMs: how SYSCALL enters the
stub, returning with sysretq or iretq, rip at I/O exits, restarting a
syscall at a patched site after a signal handler.

These run in the normal suite (kvm_pvm here: SYSCALL stays at CPL 3) and,
through tools/svm/run.py, inside a QEMU TCG guest whose /dev/kvm is kvm_amd
(SYSCALL enters ring 0, as on bare metal); test_svm_guest.py drives that.
Each program runs natively and sandboxed (with syscall-site patching on and
off) and the outputs are compared: Linux is the oracle.
"""
import os
import subprocess
import sys

import pytest

import progbuild

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
# Set by tools/svm/run.py inside its guest ("npt=0" or "npt=1").
SVM_GUEST = os.environ.get("KVMSENTRY_SVM_GUEST")
PATCHING = {"patched": [], "unpatched": ["--no-patch-syscalls"]}


@pytest.fixture(scope="module")
def progs(tmp_path_factory):
    return progbuild.build_all(os.path.join(HERE, "programs"),
                               tmp_path_factory.mktemp("svm-programs"))


def sandboxed(argv, extra=()):
    # Pinned: these are KVM's paths, and auto is systrap on kvm_pvm.
    cmd = [sys.executable, "-m", "kvmsentry", "--platform", "kvm", "do", *extra, "--", *argv]
    p = subprocess.run(cmd, capture_output=True, env=progbuild.ENV,
                       timeout=progbuild.TIMEOUT * 5, stdin=subprocess.DEVNULL)
    return (p.returncode if p.returncode >= 0 else 128 - p.returncode), p.stdout, p.stderr


def same(progs, name, flavour, extra=()):
    """Run natively and sandboxed; assert the same status and stdout."""
    exe = progs[(name, flavour)]
    native = progbuild.run([exe], sandbox=False)
    boxed = sandboxed([exe], extra)
    assert boxed[0] == native[0], (boxed, native)
    assert boxed[1] == native[1], (boxed[1].decode(), native[1].decode(), boxed[2].decode())
    return boxed


def expected_kvm():
    return "kvm_amd" if SVM_GUEST else None


def test_auto_picks_kvm_on_hardware_virtualization(tmp_path):
    """The default platform (auto) is kvm where /dev/kvm is VMX/SVM, as in
    the SVM guest, and systrap on the nested kvm_pvm."""
    log = tmp_path / "debug.log"
    p = subprocess.run([sys.executable, "-m", "kvmsentry", "do", "--debug-log", str(log),
                        "--", "/bin/true"], capture_output=True, env=progbuild.ENV,
                       timeout=progbuild.TIMEOUT * 5, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    picked = "kvm" if SVM_GUEST or not os.path.isdir("/sys/module/kvm_pvm") else "systrap"
    machine = [ln for ln in log.read_text().splitlines() if ln.startswith("machine: syscall=")]
    assert machine and machine[0].startswith("machine: syscall=systrap") == (picked == "systrap"), \
        machine


def test_machine_reports_how_syscall_enters_the_stub():
    """`kvmsentry machine` self-tests a vCPU: on kvm_pvm SYSCALL stays at
    CPL 3, on VMX/SVM (and in the TCG guest's kvm_amd) it enters ring 0."""
    p = subprocess.run([sys.executable, "-m", "kvmsentry", "machine"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    facts = dict(line.split(":", 1) for line in p.stdout.splitlines())
    facts = {k: v.strip() for k, v in facts.items()}
    print(p.stdout)
    if expected_kvm():
        assert facts["kvm"] == expected_kvm()
    # 2 MiB ranges: one PS entry only where the CPU walks the guest tables.
    assert facts["2m-pages"].startswith("one PS entry" if SVM_GUEST == "npt=1"
                                        else "512 entries" if SVM_GUEST or
                                        facts["kvm"] == "kvm_pvm" else "")
    if facts["kvm"] == "kvm_pvm":
        assert facts["syscall"].startswith("cpl-3 syscall")
        assert facts["io-exit"] == "rip past the out"
    else:
        assert facts["syscall"] == "ring-0 syscall"
        assert facts["io-exit"] == "rip at the out"


@pytest.mark.parametrize("patching", PATCHING)
@pytest.mark.parametrize("flavour", ["static", "dynamic"])
def test_signal_restarts_a_blocked_patched_read(progs, flavour, patching):
    """A handler interrupts a read blocked at a site that already ran once
    (patched, unless patching is off): EINTR without SA_RESTART, the same
    call again with SA_RESTART, every other register intact."""
    _, out, err = same(progs, "restart_read", flavour, PATCHING[patching])
    out = out.decode()
    assert "no SA_RESTART: read=-4 EINTR handled>0=1 hit=yes saved_rax=-EINTR " \
           "regs=intact" in out
    assert "SA_RESTART: read=4 late handled>0=1 hit=yes saved_rax=__NR_read " \
           "regs=intact" in out
    # The site the read blocked at: patched into `out $0x4a, %al`, or not.
    assert ("site bytes e6 4a" if patching == "patched" else "site bytes 0f 05") \
        in err.decode()


@pytest.mark.parametrize("patching", PATCHING)
@pytest.mark.parametrize("flavour", ["static", "dynamic"])
def test_async_signals_keep_every_register(progs, flavour, patching):
    """Handlers that interrupt user code return to it with all registers,
    rcx and r11 included, also when rt_sigreturn came through SYSCALL."""
    _, out, _ = same(progs, "async_regs", flavour, PATCHING[patching])
    assert b"4 signals handled in user code, all registers intact" in out


@pytest.mark.parametrize("flavour", ["static", "dynamic"])
def test_threads_fork_exec_signal(progs, flavour):
    _, out, _ = same(progs, "threads_fork_exec", flavour)
    assert out.decode().splitlines() == [
        "threads: 300 300", "child after exec: hello", "child exit 7",
        "handled signal 12"]


def test_null_syscall_benchmark_prints_its_ratio(capsys):
    """The benchmark runs on this KVM and reports sandbox/exit; the number
    itself is not judged (under TCG absolute costs mean nothing)."""
    p = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "null_syscall.py"),
                        "--rounds", "1", "--calls", "300"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    ratio = [line for line in p.stdout.splitlines() if "ratio sandbox/exit" in line]
    assert ratio, p.stdout
    with capsys.disabled():                  # in the log even when it passes
        print("\nnull syscall benchmark:", ratio[0].strip())


def test_2m_ranges_split_like_linux(tmp_path):
    """2 MiB ranges cut by munmap, mprotect, MADV_DONTNEED, fork and mremap
    (tests/programs/huge_pages.c) print what Linux prints. Where the CPU
    walks the guest's tables (EPT/NPT: the npt=1 guest) they are single
    PS entries that the sentry splits; under shadow paging, whole tables."""
    exe = str(tmp_path / "huge_pages")
    subprocess.run(["gcc", "-static", "-O2", "-o", exe,
                    os.path.join(REPO, "tests", "programs", "huge_pages.c")],
                   check=True, timeout=progbuild.TIMEOUT)
    native = progbuild.run([exe], sandbox=False)
    boxed = sandboxed([exe])
    assert native[0] == boxed[0] == 0, (native[2], boxed[2])
    assert boxed[1].decode().splitlines() == native[1].decode().splitlines()
