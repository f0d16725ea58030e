"""sandbox/preload.py: every module the confined sentry may import after
pivot_root is served from code read before it, without the host."""
import subprocess
import sys

# Reads the code of every module, then loses the host's files (chroot
# into an empty directory, as pivot_root does to the sentry) and imports
# each module read: one that needs a host file, a shared library or a
# standard-library module missing from preload.STDLIB fails here.
_CHILD = r"""
import os, sys, tempfile
from kvmsentry.cli import main
from kvmsentry.sandbox import preload
count = preload.fix_modules(skip=("kvmsentry.cli.oci", "kvmsentry.runtime"))
snapshot = sys.meta_path[0]
names = sorted(snapshot.modules)
empty = tempfile.mkdtemp()
os.chroot(empty)
os.chdir("/")
failed = []
for name in names:
    try:
        __import__(name)
    except Exception as e:
        failed.append("%s: %s: %s" % (name, type(e).__name__, e))
kvm = [n for n in names if n.startswith("kvmsentry.")]
print("read %d, kvmsentry %d, imported %d" % (count, len(kvm), len(names) - len(failed)))
print("oci:", [n for n in sys.modules if n.startswith(("kvmsentry.cli.oci", "kvmsentry.runtime"))])
for line in failed:
    print("FAILED", line)
"""


def test_every_module_read_imports_without_the_host():
    out = subprocess.run(["unshare", "-Urm", sys.executable, "-c", _CHILD],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [l for l in lines if l.startswith("FAILED")] == [], out.stdout
    read, kvm, imported = (int(w.rstrip(",")) for w in lines[0].split()[1::2])
    # The most of the sentry is read, not run, before the program starts.
    assert kvm > 40 and imported == read, lines[0]
    assert lines[1] == "oci: []"
