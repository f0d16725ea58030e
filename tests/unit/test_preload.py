"""sandbox/preload.py: every module the confined sentry may import after
pivot_root is served from code read before it, without the host."""
import os
import site
import subprocess
import sys

import pytest

import kvmsentry

# Reads the code of every module, then loses the host's files (chroot
# into an empty directory, as pivot_root does to the sentry) and imports
# each module read: one that needs a host file, a shared library or a
# standard-library module missing from preload.STDLIB fails here. Python
# starts without site (-S), as lean as a non-editable install: nothing but
# the start path has imported what the sentry may need later.
_CHILD = r"""
import sys
sys.path[:0] = sys.argv[3:]
import os
from kvmsentry.cli import main
from kvmsentry.sandbox import preload
count = preload.fix_modules(skip=preload.FRONT_ENDS if sys.argv[1] == "do" else ())
snapshot = sys.meta_path[0]
names = sorted(snapshot.modules)
os.chroot(sys.argv[2])
os.chdir("/")
failed = []
for name in names:
    try:
        __import__(name)
    except Exception as e:
        failed.append("%s: %s: %s" % (name, type(e).__name__, e))
kvm = [n for n in names if n.startswith("kvmsentry.")]
print("read %d, kvmsentry %d, imported %d" % (count, len(kvm), len(names) - len(failed)))
print("front ends:", [n for n in sys.modules if n.startswith(preload.FRONT_ENDS)])
for line in failed:
    print("FAILED", line)
"""


@pytest.mark.parametrize("command", ["do", "oci"])
def test_every_module_read_imports_without_the_host(command, tmp_path):
    package_root = os.path.dirname(os.path.dirname(kvmsentry.__file__))
    paths = [package_root] + site.getsitepackages()
    out = subprocess.run(["unshare", "-Urm", sys.executable, "-S", "-c", _CHILD, command,
                          str(tmp_path), *paths],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [l for l in lines if l.startswith("FAILED")] == [], out.stdout
    read, kvm, imported = (int(w.rstrip(",")) for w in lines[0].split()[1::2])
    # The most of the sentry is read, not run, before the program starts.
    assert kvm > 40 and imported == read, lines[0]
    if command == "do":
        assert lines[1] == "front ends: []"


def test_snapshot_takes_bytecode_only_while_it_matches_the_source(tmp_path):
    import py_compile
    from kvmsentry.sandbox.preload import Snapshot
    src = tmp_path / "m.py"
    modes = py_compile.PycInvalidationMode
    for mode in (modes.TIMESTAMP, modes.CHECKED_HASH, modes.UNCHECKED_HASH):
        src.write_text("X = 41\n")
        os.utime(src, (1_000_000_000, 1_000_000_000))
        py_compile.compile(str(src), invalidation_mode=mode)
        snapshot = Snapshot()
        snapshot.add("m", str(src), False)
        assert snapshot.modules["m"][3], mode          # marshalled code taken
        src.write_text("X = 42\n")                     # same size, other text
        os.utime(src, (1_000_000_001, 1_000_000_001))
        snapshot.add("m", str(src), False)
        # A stale timestamp or hash means the source; an unchecked pyc is trusted.
        assert snapshot.modules["m"][3] == (mode == modes.UNCHECKED_HASH), mode
        module = type(os)("m")
        module.__spec__ = snapshot.find_spec("m")
        snapshot.exec_module(module)
        assert module.X == (41 if mode == modes.UNCHECKED_HASH else 42)
