"""OCI runtime: create + start + wait + delete of a busybox hello container,
kvmsentry next to Debian's runc, interleaved in one run (medians).

    python benchmarks/oci_lifecycle.py [ROUNDS]

Each round runs the four commands as a container manager would, timing
them together and `create` alone (the sandbox process starting and
loading the program).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from _common import median

APPLETS = ("sh", "echo")


def make_bundle(path):
    rootfs = os.path.join(path, "rootfs", "bin")
    os.makedirs(rootfs)
    shutil.copy(shutil.which("busybox"), os.path.join(rootfs, "busybox"))
    for a in APPLETS:
        os.symlink("busybox", os.path.join(rootfs, a))
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump({"ociVersion": "1.0.2",
                   "process": {"args": ["echo", "hello"], "env": ["PATH=/bin"], "cwd": "/",
                               "user": {"uid": 0, "gid": 0}},
                   "root": {"path": "rootfs"},
                   "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
                   "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"},
                                            {"type": "ipc"}, {"type": "uts"}]}}, f)


def one_round(argv, state, bundle, cid):
    def run(*args):
        subprocess.run([*argv, "--root", state, *args], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    t0 = time.monotonic()
    run("create", "--bundle", bundle, cid)
    t1 = time.monotonic()
    run("start", cid)
    while True:                      # `wait`: until the container has stopped
        out = subprocess.run([*argv, "--root", state, "state", cid], capture_output=True,
                             timeout=60)
        if json.loads(out.stdout)["status"] == "stopped":
            break
        time.sleep(0.005)
    run("delete", cid)
    return time.monotonic() - t0, t1 - t0


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    work = tempfile.mkdtemp(prefix="oci-bench-")
    try:
        bundle = os.path.join(work, "bundle")
        make_bundle(bundle)
        runtimes = {"runc": ["runc"],
                    "kvmsentry": [os.path.join(os.path.dirname(sys.executable), "kvmsentry")]}
        times = {name: ([], []) for name in runtimes}
        for i in range(rounds):
            for name, argv in runtimes.items():          # interleaved
                total, create = one_round(argv, os.path.join(work, name), bundle, "b%d" % i)
                times[name][0].append(total)
                times[name][1].append(create)
        r, k = times["runc"], times["kvmsentry"]
        print("create+start+wait+delete (median of %d): runc %.0f ms, kvmsentry %.0f ms, "
              "ratio %.1fx" % (rounds, median(r[0]) * 1e3, median(k[0]) * 1e3,
                               median(k[0]) / median(r[0])))
        print("create alone: runc %.0f ms, kvmsentry %.0f ms"
              % (median(r[1]) * 1e3, median(k[1]) * 1e3))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
