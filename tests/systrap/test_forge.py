"""A hostile sibling on systrap (tests/systrap/forge.c): one thread of a
process scribbles over its siblings' slots in the control memfd (random
words, forged posts, replies, exits, thread ops, tids, frame pointers)
while they block in the sentry, spin with the kick blocked, take signals,
make threads and exec. Whatever it does to its own process, the sentry
does not fail, the other process in the sandbox finishes its work as
natively and sees the hostile one end when it kills it, no host thread
outside that process is touched (its CPU affinity), and the host keeps
nothing: no file changes, no process of the sandbox's left behind.

vfork: the targeted attack while H's vfork child shares its host process
and outlives it, as natively (H's SIGKILL does not wait for the child).

FORGE_SEED=N pins the random part's seed (printed on failure)."""
import os
import random
import re
import subprocess
import sys
import time

import pytest

from kvmsentry.platform.systrap import layout

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 120
BOXED_TIMEOUT = 60                 # (a hang is a failure, the attack takes 2 s)
GUEST_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
ATTACK_MS = 2000
DEFINES = ("CTL_VA", "SLOT_SIZE", "OPS_OFF", "ALTSTACK_OFF", "ALTSTACK_SIZE", "ENTRY_UC",
           "STUB_BASE", "KICK_SIGNAL")
EXPECTED = [b"hostile: ended", b"benign: file ok, sum ok", b"benign: affinity same"]


@pytest.fixture(scope="module")
def forge(tmp_path_factory):
    out = tmp_path_factory.mktemp("forge") / "forge"
    flags = ["-D%s=%#xUL" % (n, getattr(layout, n)) for n in DEFINES]
    subprocess.run(["gcc", "-O2", "-static", "-pthread", *flags, "-o", str(out),
                    os.path.join(HERE, "forge.c")], check=True, timeout=TIMEOUT)
    return str(out)


def _pid_ns(pid):
    try:
        return os.readlink("/proc/%d/ns/pid_for_children" % pid)
    except OSError:
        return None


def _in_ns(ns):
    """Host processes whose pid namespace is ns."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink("/proc/%s/ns/pid" % name) == ns:
                    found.append(int(name))
            except OSError:
                pass
    return found


def _run_boxed(cmd, cwd):
    """Run the sandbox; return (status, stdout, stderr, its pid namespace)."""
    own = _pid_ns(os.getpid())
    proc = subprocess.Popen(cmd, env=GUEST_ENV, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    ns = None
    while ns is None and proc.poll() is None:
        found = _pid_ns(proc.pid)
        if found is not None and found != own:
            ns = found
        else:
            time.sleep(0.02)
    try:
        out, err = proc.communicate(timeout=BOXED_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()                   # (the supervisor: the sentry dies with it)
        out, err = proc.communicate()
        err += b"\n(the sandbox did not end)"
    return proc.returncode, out, err.decode(errors="replace"), ns


@pytest.mark.parametrize("mode", ["random", "targeted", "vfork"])
def test_a_hostile_sibling_reaches_only_its_own_process(forge, tmp_path, mode):
    seed = int(os.environ.get("FORGE_SEED", random.randrange(1, 1 << 62)))
    why = "FORGE_SEED=%d mode %s" % (seed, mode)
    canary = tmp_path / "canary"
    canary.write_bytes(b"host data\n")
    args = [forge, str(seed), mode, str(ATTACK_MS)]
    expected = EXPECTED[:1] + [b"vfork child: left"] * (mode == "vfork") + EXPECTED[1:]
    native = subprocess.run(args, env=GUEST_ENV, stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=TIMEOUT, cwd=tmp_path)
    assert native.returncode == 0 and native.stdout.splitlines() == expected, native

    status, out, err, ns = _run_boxed(
        [sys.executable, "-m", "kvmsentry", "--platform", "systrap", "do",
         "--network=none", "--", *args], tmp_path)
    assert status != 134 and "internal error" not in err and "Traceback" not in err, \
        (why, err[-3000:])
    assert status == 0, (why, status, err[-3000:])
    assert out.splitlines() == expected, (why, out, err[-3000:])
    # B's kill ended H. The targeted attack leaves H alive for it, which
    # tests that a process whose threads do not answer (their kick
    # blocked, their host thread gone) still dies; the random one may
    # kill H first (a fault, a forged exit_group), as it may.
    if mode != "random":
        assert "hostile: alive at the kill\n" in err, (why, err[-3000:])
        assert "hostile: signal 9 " in err, (why, err[-3000:])
    else:
        assert re.search(r"^hostile: (signal|exit) \d+ ", err, re.M), (why, err[-3000:])
    assert canary.read_bytes() == b"host data\n"
    assert sorted(os.listdir(tmp_path)) == ["canary"], why
    # Nothing of the sandbox outlives it (the stub's processes included).
    assert ns is not None, why
    deadline = time.monotonic() + 30
    while _in_ns(ns) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _in_ns(ns) == [], why


def test_a_reused_host_process_keeps_nothing_of_the_last_program(tmp_path):
    """recycle.c: a process that blocked the kick on its host thread through
    the stub's own call, and ended, leaves the next process on that thread
    a thread that takes its signals (the stub resets the host thread's
    signal mask and stack for each new program)."""
    out = tmp_path / "recycle"
    flags = ["-D%s=%#xUL" % (n, getattr(layout, n)) for n in ("CTL_VA", "STUB_BASE",
                                                                "KICK_SIGNAL")]
    subprocess.run(["gcc", "-O2", "-static", *flags, "-o", str(out),
                    os.path.join(HERE, "recycle.c")], check=True, timeout=TIMEOUT)
    status, out, err, _ = _run_boxed(
        [sys.executable, "-m", "kvmsentry", "--platform", "systrap", "do",
         "--network=none", "--", str(out)], tmp_path)
    assert status == 0, err[-3000:]
    assert out.splitlines() == [b"recycled: same host thread", b"next process: exit 0"], err
