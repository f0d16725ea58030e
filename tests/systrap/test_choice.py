"""Platform choice (platform/choice.py) and the measuring program of
`kvmsentry platforms` (platform/report.py)."""
import os
import subprocess
import sys

import pytest

from kvmsentry.platform import choice, report


def test_requested_order(monkeypatch):
    monkeypatch.delenv("KVMSENTRY_PLATFORM", raising=False)
    assert choice.requested(None) == "auto"           # the default: decided by the host
    monkeypatch.setenv("KVMSENTRY_PLATFORM", "systrap")
    assert choice.requested(None) == "systrap"
    assert choice.requested("kvm") == "kvm"           # the option wins
    with pytest.raises(ValueError):
        choice.requested("ptrace")


def test_auto_follows_the_host():
    nested = os.path.isdir("/sys/module/kvm_pvm") or not os.path.exists("/dev/kvm")
    assert choice.resolve("auto") == ("systrap" if nested else "kvm")
    assert choice.resolve("kvm") == "kvm"


def test_getpid_program_runs_natively_and_on_both_platforms(tmp_path):
    path = tmp_path / "getpid"
    path.write_bytes(report.tiny_getpid_elf(100))
    path.chmod(0o755)
    assert subprocess.run([str(path)], timeout=60).returncode == 0
    for platform in ("kvm", "systrap"):
        proc = subprocess.run([sys.executable, "-m", "kvmsentry", "--platform", platform,
                               "do", "--", str(path)], capture_output=True, timeout=120)
        assert proc.returncode == 0, (platform, proc.stderr)


def test_handshake_spins_only_with_a_second_cpu(monkeypatch):
    """The stub and the sentry spin for each other only where the other
    can be running at the same time, and KVMSENTRY_SYSTRAP_SPIN_US=0
    turns it off."""
    from kvmsentry.platform.systrap.machine import spin_cycles
    monkeypatch.delenv("KVMSENTRY_SYSTRAP_SPIN_US", raising=False)
    assert spin_cycles(cpus=1) == 0
    two = spin_cycles(cpus=2)
    monkeypatch.setenv("KVMSENTRY_SYSTRAP_SPIN_US", "0")
    assert spin_cycles(cpus=2) == 0
    monkeypatch.setenv("KVMSENTRY_SYSTRAP_SPIN_US", "10")
    ten = spin_cycles(cpus=2)
    # RDTSCP is on every x86-64 host these tests run on.
    assert ten > 0 and two == ten * 5
