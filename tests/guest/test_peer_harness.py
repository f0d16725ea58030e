"""benchmarks/peers.py in --quick mode on one workload, so the harness
cannot rot: it builds, runs natively and in the sandbox, and reports a
table row and JSON whose numbers are real measurements (no time bounds)."""
import json
import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "benchmarks" / "peers.py"


def test_peer_harness_quick_getpid(tmp_path):
    out = tmp_path / "peers.json"
    proc = subprocess.run(
        [sys.executable, str(HARNESS), "--quick", "--workloads", "getpid,hello",
         "--libc", "musl", "--peers", "kvmsentry", "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    rows = [ln for ln in lines if ln.startswith("| getpid")]
    assert len(rows) == 1 and "| musl |" in rows[0], proc.stdout
    doc = json.loads(lines[-1])
    assert doc == json.loads(out.read_text())
    assert doc["peers"] == ["native", "kvmsentry"]
    for workload in ("getpid", "hello"):
        per_peer = doc["ns_per_op"][workload]["musl"]
        assert set(per_peer) == {"native", "kvmsentry"}
        assert all(v > 0 for v in per_peer.values()), per_peer
