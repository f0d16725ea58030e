"""Server throughput: redis-server and apache2 in the sandbox next to the
same servers run natively, from one run, driven by clients on the host.

    python benchmarks/servers.py [--platform kvm|systrap|auto] [--rounds 3] [--requests 20000]
                                 [--ab-requests 2000] [--no-apache]

Each round starts fresh servers (sandboxed with --network=host, so both
listen on the host's 127.0.0.1, then native, interleaved) and runs
`redis-benchmark -q -n N -t set,get,lpush -P 1` and `-P 16`, and
`ab -n 2000 -c 8` fetching a 4 KB file from apache2 (event MPM, one child
of 8 threads). Medians of requests/s are printed with the sandbox/native
ratio; an error, a lost reply or a failed request fails the whole run.
Not pinned: client and server run on different host cores when they can,
as they would in production.

Next to requests/s it prints the host CPU time the server used per request
(user + system of the server's whole process tree, from /proc, over the
benchmark): on a shared, loaded machine requests/s moves with whatever
else runs, while CPU per request mostly does not, so the CPU ratio is the
steadier figure of what the sandbox costs.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import median, sandbox  # noqa: E402

TESTS = ("SET", "GET", "LPUSH")
TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid):
    """Seconds of CPU (user + system) used so far by pid and its
    descendants (those alive now; waited-for children count in their
    parent's cutime/cstime)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])       # utime stime cutime cstime
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            pass                    # gone meanwhile
    return total / TICKS


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PLATFORM = []          # ["--platform", NAME] when one was asked for


def start_redis(sandboxed):
    port = free_port()
    cmd = ["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
           "--save", "", "--appendonly", "no", "--daemonize", "no"]
    if sandboxed:
        cmd = sandbox(cmd, PLATFORM + ["--network=host"])
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


def bench(port, requests, pipeline, pid):
    """requests/s per test, and the server's CPU seconds per request."""
    cpu = tree_cpu(pid)
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
    rates["cpu"] = (tree_cpu(pid) - cpu) / (requests * len(TESTS))
    return rates


def check_replies(port, requests):
    """Every SET of the benchmark landed: no lost replies."""
    dbsize = subprocess.run(["redis-cli", "-p", str(port), "DBSIZE"], capture_output=True,
                            text=True, timeout=60).stdout.strip()
    llen = subprocess.run(["redis-cli", "-p", str(port), "LLEN", "mylist"],
                          capture_output=True, text=True, timeout=60).stdout.strip()
    if int(llen) < requests:
        raise RuntimeError("LPUSH lost replies: LLEN %s < %d (DBSIZE %s)" % (llen, requests, dbsize))


APACHE_CONF = """\
ServerName localhost
ServerRoot /etc/apache2
Listen 127.0.0.1:{port}
PidFile {root}/run/apache2.pid
DefaultRuntimeDir {root}/run
ErrorLog {root}/run/error.log
LogLevel warn
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
TypesConfig /etc/mime.types
User www-data
Group www-data
DocumentRoot {root}/www
<Directory {root}/www>
    Require all granted
</Directory>
StartServers 1
ServerLimit 1
ThreadLimit 8
ThreadsPerChild 8
MaxRequestWorkers 8
MinSpareThreads 1
MaxSpareThreads 8
"""


def wait_port(proc, port, what):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("%s exited: %s" % (what, proc.stderr.read().decode()))
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("%s did not start" % what)


def run_apache(sandboxed, requests):
    """requests/s of `ab -n requests -c 8` against a fresh apache2."""
    site = tempfile.mkdtemp(prefix="kvmsentry-apache-")
    try:
        os.chmod(site, 0o755)
        os.mkdir(os.path.join(site, "www"), 0o755)
        os.mkdir(os.path.join(site, "run"))
        with open(os.path.join(site, "www", "page.html"), "wb") as f:
            f.write(b"x" * 4096)
        os.chmod(os.path.join(site, "www", "page.html"), 0o644)
        port = free_port()
        root = "/site" if sandboxed else site
        with open(os.path.join(site, "apache2.conf"), "w") as f:
            f.write(APACHE_CONF.format(port=port, root=root))
        cmd = ["/usr/sbin/apache2", "-f", root + "/apache2.conf", "-D", "FOREGROUND"]
        if sandboxed:
            cmd = sandbox(cmd, PLATFORM + ["--network=host", "-v", "%s:/site" % site])
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_port(proc, port, "apache2")
            cpu = tree_cpu(proc.pid)
            out = subprocess.run(["ab", "-q", "-n", str(requests), "-c", "8",
                                  "http://127.0.0.1:%d/page.html" % port],
                                 capture_output=True, text=True, timeout=900)
            cpu = (tree_cpu(proc.pid) - cpu) / requests
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
        failed = re.search(r"^Failed requests:\s+(\d+)", out.stdout, re.M)
        rate = re.search(r"^Requests per second:\s+([\d.]+)", out.stdout, re.M)
        if out.returncode != 0 or not failed or int(failed.group(1)) or not rate or \
                "Non-2xx" in out.stdout:
            raise RuntimeError("ab failed: %s %s" % (out.stdout, out.stderr))
        return float(rate.group(1)), cpu
    finally:
        shutil.rmtree(site, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--platform", default="", help="the sandbox's platform (default: kvmsentry's)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--ab-requests", type=int, default=2000)
    ap.add_argument("--no-apache", action="store_true", help="redis only")
    args = ap.parse_args()
    if args.platform:
        PLATFORM[:] = ["--platform", args.platform]
    platform = args.platform or "default"
    ab = {"sandbox": [], "native": []}
    results = {(where, p): [] for where in ("sandbox", "native") for p in (1, 16)}
    for _ in range(args.rounds):
        for where in ("sandbox", "native"):
            proc, port = start_redis(where == "sandbox")
            try:
                for pipeline in (1, 16):
                    subprocess.run(["redis-cli", "-p", str(port), "FLUSHALL"],
                                   capture_output=True, timeout=60)
                    results[(where, pipeline)].append(bench(port, args.requests, pipeline,
                                                            proc.pid))
                    check_replies(port, args.requests)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=120)
            if not args.no_apache:
                ab[where].append(run_apache(where == "sandbox", args.ab_requests))
    load = os.getloadavg()[0]
    print("redis-server, redis-benchmark -q -n %d -t set,get,lpush, %d rounds, platform %s, "
          "medians (requests/s; 1-minute load average at the end %.1f):"
          % (args.requests, args.rounds, platform, load))
    print("  %-12s %12s %12s %16s" % ("", "sandbox", "native", "sandbox/native"))
    summary = {}
    for pipeline in (1, 16):
        for test in TESTS:
            s = median([r[test] for r in results[("sandbox", pipeline)]])
            n = median([r[test] for r in results[("native", pipeline)]])
            summary["%s -P %d" % (test, pipeline)] = {"sandbox": s, "native": n, "ratio": s / n}
            print("  %-12s %12.0f %12.0f %15.2fx" % ("%s -P %d" % (test, pipeline), s, n, s / n))
    # Each round's own ratio (its sandboxed and native runs are minutes
    # apart at most): how far one round is from the median on a shared machine.
    print("sandbox/native round by round:")
    for pipeline in (1, 16):
        for test in TESTS:
            ratios = [s[test] / n[test] for s, n in zip(results[("sandbox", pipeline)],
                                                        results[("native", pipeline)])]
            summary["%s -P %d" % (test, pipeline)]["rounds"] = ratios
            print("  %-12s %s" % ("%s -P %d" % (test, pipeline),
                                  " ".join("%5.2fx" % r for r in ratios)))
    print("server CPU time per request (us; the three tests together), medians:")
    print("  %-12s %12s %12s %16s" % ("", "sandbox", "native", "native/sandbox"))
    for pipeline in (1, 16):
        s = median([r["cpu"] for r in results[("sandbox", pipeline)]]) * 1e6
        n = median([r["cpu"] for r in results[("native", pipeline)]]) * 1e6
        summary["cpu_us_per_request -P %d" % pipeline] = {"sandbox": s, "native": n}
        print("  %-12s %12.1f %12.1f %15.2fx" % ("-P %d" % pipeline, s, n, n / s if s else 0))
    if args.no_apache:
        print(json.dumps({"benchmark": "servers", "platform": platform, "redis": summary,
                          "load_average": load}))
        return
    s, n = median([a[0] for a in ab["sandbox"]]), median([a[0] for a in ab["native"]])
    cs, cn = median([a[1] for a in ab["sandbox"]]) * 1e6, median([a[1] for a in ab["native"]]) * 1e6
    print("apache2, ab -n %d -c 8 (4 KB page), medians (requests/s, sandbox/native; "
          "CPU us per request, native/sandbox):" % args.ab_requests)
    print("  %-12s %12.0f %12.0f %15.2fx" % ("ab -c 8", s, n, s / n))
    print("  %-12s %12.1f %12.1f %15.2fx" % ("CPU/request", cs, cn, cn / cs if cs else 0))
    print(json.dumps({"benchmark": "servers", "platform": platform, "redis": summary,
                      "load_average": load,
                      "apache2_ab": {"sandbox": s, "native": n, "ratio": s / n,
                                     "cpu_us_per_request": {"sandbox": cs, "native": cn}}}))


if __name__ == "__main__":
    main()
