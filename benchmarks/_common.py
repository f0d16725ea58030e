"""Shared helpers for benchmarks: build C programs, run them natively and in
the sandbox, interleaved, and read their one-line JSON results."""
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(tempfile.gettempdir(), "kvmsentry-bench")


def build(source, flags=("-O2", "-static"), compiler="gcc"):
    """Compile benchmarks/<source> once; return the binary path."""
    os.makedirs(BUILD, exist_ok=True)
    src = os.path.join(HERE, source)
    out = os.path.join(BUILD, os.path.splitext(os.path.basename(source))[0]
                       + ("-static" if "-static" in flags else ""))
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        subprocess.run([compiler, *flags, "-o", out, src], check=True)
    return out


def run_json(cmd, timeout=600):
    """Run cmd; return the JSON object on its last stdout line."""
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (cmd, proc.returncode,
                                                   proc.stderr.decode(errors="replace")))
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def sandbox(args, extra=()):
    return [sys.executable, "-m", "kvmsentry", "do", *extra, "--", *args]


def median(values):
    return statistics.median(values)
