"""The sentry confines itself before the program's first instruction:
its own user/mount/pid/ipc/uts namespaces, pivot_root into an empty
directory, capabilities dropped, no_new_privs, a seccomp allowlist.

Checked from the host side (/proc of the running sentry) and from inside
(a hidden probe that tries to open /etc/shadow and execve after
confinement, with the same attempts before it as the positive control).
"""
import os
import signal
import subprocess
import sys
import time

from kvmsentry.platform import choice
from kvmsentry.sandbox import capabilities, host_syscalls
from kvmsentry.sandbox.seccomp import _resolve

KVMSENTRY = [sys.executable, "-m", "kvmsentry", "do"]
TIMEOUT = 60
PROBE = "confinement-probe: "


def _probe(tmp_path, *extra):
    log = tmp_path / "debug.log"
    proc = subprocess.run([*KVMSENTRY, "--debug-log", str(log), "--confinement-probe",
                           *extra, "--", "/bin/true"],
                          capture_output=True, timeout=TIMEOUT, cwd=str(tmp_path))
    lines = [ln[len(PROBE):] for ln in proc.stderr.decode().splitlines()
             if ln.startswith(PROBE)]
    return proc.returncode, lines, log.read_text()


def _natively_readable(path):
    try:
        os.close(os.open(path, os.O_RDONLY))
        return True
    except OSError:
        return False


def test_after_confinement_no_host_file_and_no_execve(tmp_path):
    assert _natively_readable("/etc/shadow"), "the control needs a readable /etc/shadow"
    status, lines, log = _probe(tmp_path)
    assert status == 0, (lines, log)
    # Before: the sentry could read the host's secrets and name programs.
    assert "before open /etc/shadow: ok" in lines
    assert "before open /bin/true: ok" in lines
    # After: no host path exists, not even through /proc.
    assert "after open /etc/shadow: No such file or directory" in lines
    assert "after open /proc/self/root/etc/shadow: No such file or directory" in lines
    assert "after open /proc/1/root/etc/shadow: No such file or directory" in lines
    # A program opened beforehand cannot be executed: seccomp refuses it,
    # and says so in the debug log.
    assert "after execve /bin/true: Operation not permitted" in lines
    assert "kvmsentry: seccomp refused host syscall execveat (322)" in log
    # What still reaches for the host fails, and the log names it.
    assert "after import colorsys: No module named 'colorsys'" in lines
    assert "kvmsentry: confinement: host path /etc/shadow opened after pivot_root" in log
    assert "kvmsentry: confinement: module colorsys not found" in log


def test_probe_detects_an_unconfined_sentry(tmp_path):
    # The same probe against --unsafe-no-confine: the secret opens, and
    # execve replaces the sentry by /bin/true (no line after it).
    status, lines, log = _probe(tmp_path, "--unsafe-no-confine")
    assert status == 0
    assert "after open /etc/shadow: ok" in lines
    assert "after import colorsys: ok" in lines
    assert not [ln for ln in lines if ln.startswith("after execve")]
    assert "confinement: OFF (--unsafe-no-confine)" in log


def _children(pid):
    """The supervisor's children but slirp4netns (--network=sandbox's NAT,
    started before the fork): the sentry."""
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        kids = [int(p) for p in f.read().split()]
    return [k for k in kids if _comm(k) != "slirp4netns"]


def _comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().strip()


def _status(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def _ns(pid, name):
    return os.readlink("/proc/%s/ns/%s" % (pid, name))


def test_running_sentry_seen_from_the_host():
    proc = subprocess.Popen([*KVMSENTRY, "--", "/bin/sh", "-c", "echo started; sleep 30"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"started\n"
        # `kvmsentry do` is the supervisor; the sentry is its one child.
        deadline = time.monotonic() + TIMEOUT
        while not _children(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        [sentry] = _children(proc.pid)
        status = _status(sentry)
        assert status["Seccomp"] == "2"
        assert status["NoNewPrivs"] == "1"
        kept = sum(1 << bit for bit in capabilities.KEEP.values())
        assert int(status["CapEff"], 16) == kept
        assert int(status["CapBnd"], 16) == kept
        assert int(status["CapAmb"], 16) == 0
        assert status["NSpid"].split() == [str(sentry), "1"]   # pid 1 inside
        for ns in ("mnt", "user", "pid", "ipc", "uts"):
            assert _ns(sentry, ns) != _ns("self", ns), ns
        # --network=sandbox (the default) gives the sentry a network namespace
        # of its own (net/netns.py), set up before confinement.
        assert _ns(sentry, "net") != _ns("self", "net")
        # The supervisor (which only forwards signals) is locked down too.
        supervisor = _status(proc.pid)
        assert (supervisor["Seccomp"], supervisor["NoNewPrivs"]) == ("2", "1")
        assert int(supervisor["CapEff"], 16) == int(supervisor["CapBnd"], 16) == 0
        # The sentry's root is an empty directory: nothing of the host's.
        assert sorted(os.listdir("/proc/%d/root" % sentry)) == ["proc"]
        # ... but a procfs of its own pid namespace, where it is pid 1;
        # on systrap its zygote and the program's processes live there
        # too, with no capabilities and no way to gain any.
        inside = "/proc/%d/root/proc" % sentry
        others = [e for e in os.listdir(inside) if e.isdigit() and e != "1"]
        if choice.resolve(choice.requested(None)) == "kvm":
            assert others == []
        for pid in others:
            with open("%s/%s/status" % (inside, pid)) as f:
                fields = dict(line.split(":\t", 1) for line in f.read().splitlines())
            assert int(fields["CapEff"], 16) == 0 and fields["NoNewPrivs"].strip() == "1"
            assert fields["Seccomp"].strip() == "2"
        if choice.resolve(choice.requested(None)) == "systrap":
            # The zygote (which now forks the program's first process as
            # soon as the machine is made, before the sentry confines
            # itself) is the sentry's child in every one of its
            # namespaces, and locked down like the processes it makes.
            with open("/proc/%d/task/%d/children" % (sentry, sentry)) as f:
                [zygote] = [int(p) for p in f.read().split()]
            for ns in ("mnt", "user", "pid", "ipc", "uts", "net"):
                assert _ns(zygote, ns) == _ns(sentry, ns), ns
            fields = _status(zygote)
            assert (fields["Seccomp"], fields["NoNewPrivs"]) == ("2", "1")
            assert int(fields["CapEff"], 16) == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 128 + signal.SIGTERM


def test_debug_log_shows_namespaces_and_filter(tmp_path):
    log = tmp_path / "debug.log"
    proc = subprocess.run([*KVMSENTRY, "--debug-log", str(log), "--", "/bin/true"],
                          capture_output=True, timeout=TIMEOUT)
    assert (proc.returncode, proc.stderr) == (0, b"")
    text = log.read_text()
    assert "confinement: namespaces entered: user,mnt,pid,ipc,uts" in text
    assert "confinement: pivot_root into an empty read-only tmpfs" in text
    assert "confinement: no_new_privs set" in text
    assert "seccomp: allow read  (" in text
    # The KVM ioctls only where the sentry runs on KVM (systrap opens no /dev/kvm).
    on_kvm = choice.resolve(choice.requested(None)) == "kvm"
    assert ("seccomp: allow ioctl if arg1 == 0xae80  (KVM KVM_RUN)" in text) == on_kvm
    assert "seccomp: allow socket if arg0 == 0x10 && arg2 == 0x0" in text
    allowed = {ln.split()[2] for ln in text.splitlines() if ln.startswith("seccomp: allow ")}
    assert {"execve", "execveat", "ptrace", "mount", "bpf", "open"} & allowed == set()
    # Everything up to the filter happened before the program ran.
    assert text.index("seccomp filter loaded") < text.index("machine:")


def test_allowlist_names_real_calls_and_no_dangerous_ones():
    names = {e.name for e in host_syscalls.policy(1)}
    for name in names | set(host_syscalls.QUIET_ENOSYS):
        assert _resolve(name) >= 0
    forbidden = {"execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev",
                 "mount", "umount2", "pivot_root", "chroot", "setns", "unshare", "bpf",
                 "perf_event_open", "kexec_load", "kexec_file_load", "init_module",
                 "finit_module", "delete_module", "keyctl", "add_key", "request_key",
                 "reboot", "userfaultfd", "open_by_handle_at", "open", "fork", "vfork"}
    assert names & forbidden == set()
    # Every ioctl and socket entry carries an argument condition.
    for e in host_syscalls.policy(1):
        if e.name in ("mmap", "mprotect", "ioctl", "socket", "socketpair", "clone", "prctl", "kill", "tgkill"):
            assert e.conds, e


def test_stop_and_continue_of_the_sentry_is_survived():
    # SIGSTOP/SIGCONT make the kernel resume every thread's interrupted
    # sleep (futex, nanosleep with a timeout) through restart_syscall;
    # refusing that one crashed the sentry ("The futex facility returned
    # an unexpected error code").
    proc = subprocess.Popen([*KVMSENTRY, "--", "/bin/sh", "-c",
                             "echo started; sleep 1; echo done"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"started\n"
    deadline = time.monotonic() + TIMEOUT
    while not _children(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    [sentry] = _children(proc.pid)
    try:
        for _ in range(3):
            os.kill(sentry, signal.SIGSTOP)
            time.sleep(0.05)
            os.kill(sentry, signal.SIGCONT)
            time.sleep(0.05)
    except ProcessLookupError:
        pass                        # the sentry died: the assertion below says how
    out, err = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, out, err) == (0, b"done\n", b"")
