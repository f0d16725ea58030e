"""Peer harness: kvmsentry next to native Linux and the other ways of
intercepting a program's system calls, one table.

Builds benchmarks/programs/peer_workload.c static for musl and glibc,
runs each workload natively (in a temporary directory) and under every
peer found on this machine (kvmsentry on kvm and on systrap, `strace
-f`, proot, qemu-user), interleaved in rounds and pinned with `taskset -c CPU`, and prints one
markdown table of medians with the slowdown against native, then one
JSON line (also written to --json FILE). A peer that is not installed is
left out with a line saying so. No assertions: it reports.

    python benchmarks/peers.py [--rounds 3] [--quick] [--cpu 0]
                               [--workloads getpid,pipe] [--libc musl,glibc]
                               [--peers kvmsentry,strace] [--json FILE]

Every workload but hello is timed inside the program (CLOCK_MONOTONIC
around N operations after a warm-up, so start-up is left out); hello is
the wall time of the whole run, start to exit, taken here. Under
qemu-user, fork_exec's child runs natively (execve of a host-arch binary
leaves qemu unless binfmt_misc sends it back), so that row flatters it.
"""
import argparse
import compileall
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "programs", "peer_workload.c")

# workload -> (operations per run, quick operations, unit of one operation)
WORKLOADS = {
    "hello": (1, 1, "run"),
    "getpid": (20000, 1000, "call"),
    "compute": (20000, 2000, "1000 hash rounds"),
    "file_read": (4, 1, "MiB"),
    "small_io": (5000, 300, "pwrite+pread 64 B"),
    "pipe": (2000, 200, "round trip"),
    "epoll": (2000, 200, "round trip"),
    "fork_exec": (100, 10, "spawn"),
    "mmap_touch": (32768, 4096, "4 KiB page"),
    "threads": (300, 30, "create+join"),
}
FILE_MIB, QUICK_FILE_MIB = 32, 4
LIBCS = {"musl": ["musl-gcc", "-static"], "glibc": ["gcc", "-static"]}
TIMEOUT = 600


def peer_commands():
    """peer name -> (argv prefix, or None with the reason it is missing)."""
    peers = {"native": ([], None),
             # Pinned: the default (auto) is systrap on nested hosts.
             "kvmsentry": ([sys.executable, "-m", "kvmsentry", "--platform", "kvm", "do",
                            "--"], None),
             # The same sentry on its second platform (platform/systrap).
             "systrap": ([sys.executable, "-m", "kvmsentry", "--platform", "systrap", "do",
                          "--"], None)}
    strace = shutil.which("strace")
    peers["strace"] = (([strace, "-f", "-qq", "-o", "/dev/null"], None) if strace
                       else (None, "strace not installed (apt-get install strace)"))
    proot = shutil.which("proot")
    peers["proot"] = (([proot], None) if proot
                      else (None, "proot not installed (apt-get install proot)"))
    qemu = shutil.which("qemu-x86_64-static") or shutil.which("qemu-x86_64")
    peers["qemu-user"] = (([qemu], None) if qemu else
                          (None, "qemu-user not installed (apt-get install qemu-user-static)"))
    return peers


def build(libc, out_dir):
    out = os.path.join(out_dir, "peer_workload-" + libc)
    subprocess.run([*LIBCS[libc], "-O2", "-o", out, SOURCE, "-lpthread"], check=True,
                   timeout=TIMEOUT)
    return out


def run_once(prefix, binary, workload, ops, data_file, cpu, cwd):
    """One run; returns nanoseconds per operation."""
    args = [binary, workload]
    if workload != "hello":
        args.append(str(ops))
    if workload == "file_read":
        args.append(data_file)
    cmd = (["taskset", "-c", str(cpu)] if cpu is not None else []) + prefix + args
    start = time.perf_counter_ns()
    proc = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, cwd=cwd,
                          stdin=subprocess.DEVNULL)
    wall = time.perf_counter_ns() - start
    if proc.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (" ".join(cmd), proc.returncode,
                                                  proc.stderr.decode(errors="replace")[-2000:]))
    if workload == "hello":
        if proc.stdout != b"hello\n":
            raise RuntimeError("%s printed %r" % (" ".join(cmd), proc.stdout))
        return float(wall)
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])["ns_per_op"]


def fmt_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return "%.3g %s" % (ns / scale, unit)
    return "%.3g ns" % ns


def table(results, peers, workloads, libcs):
    head = "| workload | libc | native | " + " | ".join(p for p in peers if p != "native") + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for w in workloads:
        for libc in libcs:
            row = results[w][libc]
            base = row["native"]
            cells = []
            for p in peers:
                if p == "native":
                    continue
                cells.append("%.3gx (%s)" % (row[p] / base, fmt_time(row[p])) if base else "-")
            lines.append("| %s (per %s) | %s | %s | %s |" % (
                w, WORKLOADS[w][2], libc, fmt_time(base), " | ".join(cells)))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true",
                    help="1 round, few operations (a smoke run, not a measurement)")
    ap.add_argument("--cpu", type=int, default=0, help="taskset CPU (-1: not pinned)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--libc", default=",".join(LIBCS))
    ap.add_argument("--peers", default=None, help="comma list (default: all installed)")
    ap.add_argument("--json", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    rounds = 1 if args.quick else args.rounds
    workloads = [w for w in args.workloads.split(",") if w]
    libcs = [c for c in args.libc.split(",") if c]
    for w in workloads:
        if w not in WORKLOADS:
            ap.error("unknown workload %s (known: %s)" % (w, ", ".join(WORKLOADS)))
    cpu = None if args.cpu < 0 else args.cpu

    peers = {}
    wanted = args.peers.split(",") if args.peers else None
    for name, (prefix, missing) in peer_commands().items():
        if wanted is not None and name not in wanted and name != "native":
            continue
        if prefix is None:
            print("skipped %s: %s" % (name, missing))
            continue
        peers[name] = prefix

    load_start = os.getloadavg()
    if "kvmsentry" in peers or "systrap" in peers:
        # Bytecode caches as after `pip install` (an editable install run
        # with PYTHONDONTWRITEBYTECODE would compile every module each start).
        import kvmsentry
        compileall.compile_dir(os.path.dirname(kvmsentry.__file__), quiet=1)
        # ... and sandbox/code_cache.py's file, written by the first run.
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    results = {w: {c: {} for c in libcs} for w in workloads}
    samples = {w: {c: {p: [] for p in peers} for c in libcs} for w in workloads}
    with tempfile.TemporaryDirectory(prefix="kvmsentry-peers-") as tmp:
        binaries = {c: build(c, tmp) for c in libcs}
        data_file = os.path.join(tmp, "data")
        with open(data_file, "wb") as f:
            f.write(os.urandom((QUICK_FILE_MIB if args.quick else FILE_MIB) << 20))
        work = os.path.join(tmp, "cwd")
        os.mkdir(work)
        for _ in range(rounds):
            for w in workloads:
                ops = WORKLOADS[w][1 if args.quick else 0]
                for c in libcs:
                    for p, prefix in peers.items():
                        samples[w][c][p].append(
                            run_once(prefix, binaries[c], w, ops, data_file, cpu, work))
    for w in workloads:
        for c in libcs:
            for p in peers:
                results[w][c][p] = statistics.median(samples[w][c][p])

    load = "%.1f at the start, %.1f at the end" % (load_start[0], os.getloadavg()[0])
    print("peers: %d round(s), %s, medians; slowdown against native (time per operation); "
          "1-minute load average %s" % (rounds, "pinned to CPU %d" % cpu if cpu is not None
                                        else "not pinned", load))
    print(table(results, list(peers), workloads, libcs))
    doc = {"benchmark": "peers", "date": datetime.datetime.now(datetime.timezone.utc)
           .strftime("%Y-%m-%d %H:%M UTC"), "machine": machine_line(),
           "load_average": load, "rounds": rounds, "quick": args.quick, "cpu": cpu,
           "peers": list(peers),
           "units": {w: WORKLOADS[w][2] for w in workloads},
           "ns_per_op": results, "samples": samples}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
    print(json.dumps(doc))
    return doc


def machine_line():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f
                          if ln.startswith("model name")), "")
    except OSError:
        pass
    kvm = "kvm_pvm" if os.path.exists("/sys/module/kvm_pvm") else "kvm"
    return "%s, %d CPUs, Linux %s, %s" % (model, os.cpu_count() or 0, platform.release(), kvm)


if __name__ == "__main__":
    main()
