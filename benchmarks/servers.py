"""Server throughput: redis-server in the sandbox next to the same server
run natively, from one run, driven by redis-benchmark on the host.

    python benchmarks/servers.py [--rounds 3] [--requests 20000]

Each round starts a fresh server (sandboxed with --network=host, so both
listen on the host's 127.0.0.1, then native, interleaved) and runs
`redis-benchmark -q -n N -t set,get,lpush -P 1` and `-P 16` against it.
Medians of requests/s are printed with the sandbox/native ratio; a
benchmark run that reports an error or a lost reply fails the whole run.
Not pinned: client and server run on different host cores when they can,
as they would in production.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import median, sandbox  # noqa: E402

TESTS = ("SET", "GET", "LPUSH")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(sandboxed):
    port = free_port()
    cmd = ["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
           "--save", "", "--appendonly", "no", "--daemonize", "no"]
    if sandboxed:
        cmd = sandbox(cmd, ["--network=host"])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("redis-server exited: %s" % proc.stderr.read().decode())
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def bench(port, requests, pipeline):
    out = subprocess.run(["redis-benchmark", "-q", "-p", str(port), "-n", str(requests),
                          "-t", "set,get,lpush", "-P", str(pipeline)],
                         capture_output=True, timeout=900, text=True)
    text = out.stdout.replace("\r", "\n")
    if out.returncode != 0 or "error" in text.lower():
        raise RuntimeError("redis-benchmark failed: %s %s" % (text, out.stderr))
    rates = {}
    for test in TESTS:
        m = re.findall(r"^%s: ([\d.]+) requests per second" % test, text, re.M)
        if not m:
            raise RuntimeError("no %s result in: %s" % (test, text))
        rates[test] = float(m[-1])
    return rates


def check_replies(port, requests):
    """Every SET of the benchmark landed: no lost replies."""
    dbsize = subprocess.run(["redis-cli", "-p", str(port), "DBSIZE"], capture_output=True,
                            text=True, timeout=60).stdout.strip()
    llen = subprocess.run(["redis-cli", "-p", str(port), "LLEN", "mylist"],
                          capture_output=True, text=True, timeout=60).stdout.strip()
    if int(llen) < requests:
        raise RuntimeError("LPUSH lost replies: LLEN %s < %d (DBSIZE %s)" % (llen, requests, dbsize))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=20000)
    args = ap.parse_args()
    results = {(where, p): [] for where in ("sandbox", "native") for p in (1, 16)}
    for _ in range(args.rounds):
        for where in ("sandbox", "native"):
            proc, port = start_redis(where == "sandbox")
            try:
                for pipeline in (1, 16):
                    subprocess.run(["redis-cli", "-p", str(port), "FLUSHALL"],
                                   capture_output=True, timeout=60)
                    results[(where, pipeline)].append(bench(port, args.requests, pipeline))
                    check_replies(port, args.requests)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=120)
    print("redis-server, redis-benchmark -q -n %d -t set,get,lpush, %d rounds, medians "
          "(requests/s):" % (args.requests, args.rounds))
    print("  %-12s %12s %12s %16s" % ("", "sandbox", "native", "sandbox/native"))
    summary = {}
    for pipeline in (1, 16):
        for test in TESTS:
            s = median([r[test] for r in results[("sandbox", pipeline)]])
            n = median([r[test] for r in results[("native", pipeline)]])
            summary["%s -P %d" % (test, pipeline)] = {"sandbox": s, "native": n, "ratio": s / n}
            print("  %-12s %12.0f %12.0f %15.2fx" % ("%s -P %d" % (test, pipeline), s, n, s / n))
    print(json.dumps({"benchmark": "servers", "redis": summary}))


if __name__ == "__main__":
    main()
