"""Run a pytest selection inside a QEMU TCG guest whose /dev/kvm is kvm_amd.

    python tools/svm/run.py [--npt 0|1] [--smp 2] [-- PYTEST ARGS...]

Without pytest arguments it runs default_selection(npt): the tests whose paths differ
between KVMs (what tests/svm/test_svm_guest.py runs in CI).

Under TCG, QEMU emulates AMD SVM well enough for Debian's kvm_amd, so the
sandbox there meets a KVM with hardware semantics: a ring-3 `syscall`
enters CPL 0 at LSTAR, `sysretq` returns, rip stays on an `out` at an I/O
exit. The guest sees the host's / read-only (this repository and its .venv
included) and runs `.venv/bin/python -m pytest ARGS` from the repository;
the exit status of pytest is this command's. A guest that never reports a
status (no boot, a panic, the time limit) exits 125 with the reason.
The guest image comes from tools/svm/image.py (cached).
"""
import argparse
import glob
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import image  # noqa: E402

HARNESS_FAILED = 125
# The tests whose paths differ between KVMs. CORE runs in every guest (NPT
# on and off); the ring-0 security tests (RING0, by pattern, so new ones
# join) meet segment and CPL checks rather than the MMU mode, so to keep
# both guests within CI's budget they are split: the far transfers, iretq
# and compatibility-mode cases with NPT off, the rest with NPT on.
CORE = ("tests/svm/test_bare_metal_path.py", "tests/kvm/test_machine.py",
        "tests/kvm/test_syscall_restart.py", "tests/security/test_ring0_machine.py")
RING0 = ("tests/security/test_ring0.py",)
SEGMENT_CASES = "(test_far_transfer or test_iret or test_compat_mode)"
SPLIT = {0: "not (test_ring0.py and not %s)" % SEGMENT_CASES,
         1: "not (test_ring0.py and %s)" % SEGMENT_CASES}
# Under TCG one sandboxed program costs 10-20 s, so the ring-0 suite's wide
# sweeps (every selector, privileged instruction and kernel address; the
# 300-exec loop) run on the host's KVM only; here they keep the cases that
# meet SVM's own paths: far transfers to 0x23 (compatibility mode), CSTAR
# and SYSENTER, iretq, mmap_min_addr, TLS bases, exec errors.
# QEMU's TCG up to 9.0 (QEMU issue #249) reads the stack of a CPL-3 iretq
# or lretq with supervisor accesses, which SMAP refuses: a legitimate
# user-mode iretq cannot work there (the guest's own Linux oopses on it
# natively; in the sandbox the program gets SIGSEGV), so the test that
# needs one runs on the host's KVM only.
DESELECT = ("not (test_far_transfer_to_other_segments_is_sigsegv and not 23)"
            " and not test_privileged_instruction_as_on_linux"
            " and not test_machine_memory_is_out_of_reach and not test_exec_loop_300"
            " and not test_iret_to_user_selectors_still_works")


def default_selection(npt=1):
    files = []
    for pattern in CORE + RING0:
        files += sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, pattern)))
    # -v: a line per test, which the harness watches for progress.
    return ["-v", "-rfEs", "--durations=10", "-k", "%s and %s" % (DESELECT, SPLIT[npt]), *files]


QEMU = "qemu-system-x86_64"
# One host thread runs both guest vCPUs (QEMU's default for x86 is a thread
# per vCPU, "multi"). With "multi" the whole guest froze (both vCPUs in its
# kernel with interrupts off, no task running) a few times in tens of runs;
# two guests run at once on two host cores anyway, so one thread each
# costs little.
TCG_THREAD = os.environ.get("KVMSENTRY_SVM_TCG_THREAD", "single")
TASKS_FILE = "tasks.txt"          # the guest's last task snapshot (snapshot.sh)


def job_script(repo, python, pytest_args, env, command=None):
    lines = ["cd %s" % shlex.quote(repo)]
    lines += ["export %s=%s" % (k, shlex.quote(v)) for k, v in sorted(env.items())]
    lines.append("mkdir -p \"$HOME\"")
    # Its own output elsewhere: an open pipe would keep init's tee waiting.
    lines.append("/bin/sh tools/svm/snapshot.sh /tmp/svm-out/%s </dev/null >/dev/null 2>&1 &"
                 % TASKS_FILE)
    lines.append("snapshots=$!")
    if command is None:
        # What the sandbox's machine self-test finds here, in the log.
        lines.append("%s -m kvmsentry machine | sed 's/^/svm-guest: machine: /'"
                     % shlex.quote(python))
    lines.append("echo svm-guest: running %s" % ("the command" if command else "pytest"))
    argv = command or [python, "-m", "pytest", "-p", "no:cacheprovider", *pytest_args]
    lines.append(" ".join(shlex.quote(a) for a in argv))
    lines.append("echo $? > /tmp/svm-out/status")
    lines.append("kill $snapshots")
    return "\n".join(lines) + "\n"


def qemu_command(kernel, initrd, out_dir, npt, smp, memory_mb, monitor=None,
                 tcg_thread=TCG_THREAD):
    return [
        QEMU, "-accel", "tcg,thread=%s" % tcg_thread, "-cpu", "max",
        "-smp", str(smp), "-m", str(memory_mb),
        "-nodefaults", "-no-reboot", "-display", "none",
        "-monitor", "unix:%s,server=on,wait=off" % monitor if monitor else "none",
        "-serial", "stdio",
        "-kernel", kernel, "-initrd", initrd,
        # no5lvl: -cpu max offers LA57, and a guest kernel with 5-level paging
        # gives its native programs (the tests' oracle) a 56-bit user space
        # where the sandbox, like a 4-level x86-64 Linux, has 47 bits.
        # no_timer_check: the kernel's boot-time check that the timer
        # interrupt arrives within a few loops fails on a loaded host with
        # one TCG thread for both vCPUs ("IO-APIC + timer doesn't work").
        "-append", "console=ttyS0 quiet panic=-1 mitigations=off no5lvl no_timer_check "
                   "svm_npt=%d" % npt,
        # The host's root, read-only; multidevs=remap keeps inode numbers of
        # the filesystems mounted under it distinct.
        "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,"
                   "readonly=on,multidevs=remap",
        "-virtfs", "local,path=%s,mount_tag=svmout,security_model=none" % out_dir,
    ]


def monitor_command(path, command, wait=3.0):
    """Send one command to QEMU's human monitor on a Unix socket; its
    answer (as text, prompt echo included)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(wait)
        sock.connect(path)
        sock.sendall(command.encode() + b"\n")
        chunks, deadline = [], time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace").replace("\r", "")


def report_stuck_guest(monitor, out_dir, stream):
    """At the time limit: where each guest CPU is (QEMU's view: a CPU that
    sits in the sandbox's KVM guest shows its rip and CS) and what the
    guest's tasks last waited on (snapshot.sh), before the guest is killed."""
    print("svm: time limit reached; guest CPUs:", file=stream)
    try:
        regs = monitor_command(monitor, "info registers -a")
        keep = re.compile(r"^(CPU#\d+|RIP=|CS =|CR0=|EFER=)")
        for line in regs.splitlines():
            if keep.match(line):
                print("svm:   " + line.strip(), file=stream)
    except OSError as e:
        print("svm:   no answer from QEMU's monitor: %s" % e, file=stream)
    tasks = os.path.join(out_dir, TASKS_FILE)
    if os.path.exists(tasks):
        with open(tasks, errors="replace") as f:
            print("svm: the guest's last task snapshot (every 30 s):\n" + f.read(),
                  file=stream)
    stream.flush()


GUEST_TMPFS = ("/tmp", "/var/tmp", "/run")     # what init.sh mounts over


def hidden_in_guest(path):
    """The directory of GUEST_TMPFS that hides `path` from the guest, or None."""
    path = os.path.realpath(path)
    for d in GUEST_TMPFS:
        if path == d or path.startswith(d + "/"):
            return d
    return None


def run(pytest_args, npt=1, smp=2, memory_mb=2048, timeout=900, quiet=400, out_dir=None,
        cache=image.DEFAULT_CACHE, stream=sys.stdout, command=None, monitor=None,
        tcg_thread=TCG_THREAD):
    """Boot the guest, run pytest there (or `command`, an argv); return
    (status, output text)."""
    if shutil.which(QEMU) is None:
        print("svm: %s missing: apt-get install qemu-system-x86" % QEMU, file=stream)
        return HARNESS_FAILED, ""
    hidden = hidden_in_guest(REPO)
    if hidden:
        print("svm: the checkout %s is under %s, which the guest mounts a fresh tmpfs on "
              "(tools/svm/init.sh): clone it elsewhere" % (REPO, hidden), file=stream)
        return HARNESS_FAILED, ""
    try:
        kernel, initrd, package = image.prepare(cache)
    except image.ImageError as e:
        print("svm: cannot build the guest image: %s" % e, file=stream)
        return HARNESS_FAILED, ""
    own_dir = out_dir is None
    out_dir = out_dir or tempfile.mkdtemp(prefix="kvmsentry-svm-")
    monitor_dir = tempfile.mkdtemp(prefix="kvmsentry-svm-monitor-")
    monitor = monitor or os.path.join(monitor_dir, "monitor")
    try:
        env = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "HOME": "/tmp/home",
               "HYPOTHESIS_STORAGE_DIRECTORY": "/tmp/home/.hypothesis",
               "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
               "LANG": "C.UTF-8", "KVMSENTRY_SVM_GUEST": "npt=%d" % npt}
        if os.environ.get("CI"):
            env["CI"] = os.environ["CI"]
        python = os.path.join(REPO, ".venv", "bin", "python")
        with open(os.path.join(out_dir, "job.sh"), "w") as f:
            f.write(job_script(REPO, python, pytest_args, env, command))
        cmd = qemu_command(kernel, initrd, out_dir, npt, smp, memory_mb, monitor, tcg_thread)
        print("svm: %s, npt=%d, smp=%d: %s" % (package, npt, smp, " ".join(cmd)),
              file=stream, flush=True)
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)

        last_output = [start]
        stop = threading.Event()
        why_killed = []

        def watch():
            # A guest that prints nothing for `quiet` seconds is stuck (each
            # test prints its line): report where, and end it early.
            while not stop.wait(5):
                now = time.monotonic()
                if now - start >= timeout or now - last_output[0] >= quiet:
                    why_killed.append("killed at the time limit" if now - start >= timeout
                                      else "killed after %d s without output" % quiet)
                    report_stuck_guest(monitor, out_dir, stream)
                    proc.kill()
                    return
        watchdog = threading.Thread(target=watch, daemon=True)
        watchdog.start()
        try:
            for line in proc.stdout:
                last_output[0] = time.monotonic()
                stream.write(line.decode("utf-8", "replace").replace("\r", ""))
                stream.flush()
            proc.wait()
        finally:
            stop.set()
            watchdog.join()
        elapsed = time.monotonic() - start
        status_file = os.path.join(out_dir, "status")
        output = ""
        if os.path.exists(os.path.join(out_dir, "output")):
            with open(os.path.join(out_dir, "output"), errors="replace") as f:
                output = f.read()
        if not os.path.exists(status_file):
            why = "no status from the guest (qemu exit %s after %.0f s%s)" % (
                proc.returncode, elapsed, "".join(", " + w for w in why_killed))
            err = os.path.join(out_dir, "harness-error")
            if os.path.exists(err):
                why += ": " + open(err).read().strip()
            print("svm: " + why, file=stream)
            return HARNESS_FAILED, output
        status = int(open(status_file).read().strip() or HARNESS_FAILED)
        print("svm: npt=%d: exit status %d, boot + run %.1f s" % (npt, status, elapsed),
              file=stream, flush=True)
        return status, output
    finally:
        shutil.rmtree(monitor_dir, ignore_errors=True)
        if own_dir:
            shutil.rmtree(out_dir, ignore_errors=True)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--npt", type=int, choices=(0, 1), default=1,
                    help="kvm_amd nested paging (0: shadow paging)")
    ap.add_argument("--smp", type=int, default=2)
    ap.add_argument("--memory", type=int, default=2048, help="guest MiB")
    ap.add_argument("--timeout", type=int, default=900, help="seconds")
    ap.add_argument("--quiet-limit", type=int, default=400,
                    help="seconds without a line of output after which the guest is "
                    "reported stuck and killed")
    ap.add_argument("--out", help="keep job.sh, output and status here")
    ap.add_argument("--cache", default=image.DEFAULT_CACHE)
    ap.add_argument("--command", help="run this shell command instead of pytest "
                    "(from the repository, with the same environment)")
    ap.add_argument("--monitor", metavar="SOCKET",
                    help="QEMU's monitor on this Unix socket (debugging a stuck guest: "
                    "`info registers -a` through socat or nc -U)")
    ap.add_argument("--tcg-thread", choices=("single", "multi"), default=TCG_THREAD,
                    help="QEMU TCG: one host thread for all vCPUs, or one each "
                    "(default %(default)s; env KVMSENTRY_SVM_TCG_THREAD)")
    ap.add_argument("pytest_args", nargs="*")
    args = ap.parse_args(argv)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    status, _ = run(args.pytest_args or default_selection(args.npt), npt=args.npt, smp=args.smp,
                    memory_mb=args.memory, timeout=args.timeout, quiet=args.quiet_limit,
                    out_dir=os.path.abspath(args.out) if args.out else None,
                    cache=args.cache,
                    command=["/bin/sh", "-c", args.command] if args.command else None,
                    monitor=args.monitor, tcg_thread=args.tcg_thread)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
