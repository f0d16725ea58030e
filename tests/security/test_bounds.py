"""Crash inputs 5-8 of issue 13 and the limits around them: ids >= 2^31
and (u32)-1, offsets near 2^63, huge lengths for copy_file_range,
sendfile and fallocate, sparse files and SEEK_DATA/SEEK_HOLE.

boundsprograms/bounds.c prints each call and its answer. Linux is the
oracle on the same kind of filesystem: the sandbox's /tmp (an overlay
whose upper layer is its tmpfs) against a native run on a tmpfs mounted
in a private mount namespace, and a volume (the host's filesystem)
against a native run on that filesystem. Native runs only write inside
their temporary directory.
"""
import os
import subprocess
import sys

import pytest

from progbuild import build_all, run

SOURCES = os.path.join(os.path.dirname(__file__), "boundsprograms")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_all(SOURCES, tmp_path_factory.mktemp("bounds"))


@pytest.fixture(scope="module")
def bounds(built):
    return built[("bounds", "static")]


def _native_on_tmpfs(prog, where, section):
    """prog run natively with its directory on a fresh tmpfs of its own."""
    script = 'mount -t tmpfs none "$1" && exec "$2" "$1" "$3"'
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                        "sh", str(where), prog, section],
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def _sandboxed(prog, where, section, extra=()):
    cmd = ["do", *extra, "--", prog, str(where), *([section] if section else [])]
    p = subprocess.run([sys.executable, "-m", "kvmsentry", *cmd], capture_output=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


@pytest.mark.parametrize("section", ["ids", "offsets", "copies", "allocs", "sparse",
                                     "counts"])
def test_tmpfs_limits_match_linux(bounds, tmp_path, section):
    native_dir, sandbox_dir = tmp_path / "native", tmp_path / "sandbox"
    native_dir.mkdir()
    sandbox_dir.mkdir()
    sandbox_dir.chmod(0o1777)          # as the root of a fresh tmpfs
    native = _native_on_tmpfs(bounds, native_dir, section)
    assert native[0] == 0, native
    sandbox = _sandboxed(bounds, sandbox_dir, section)
    assert sandbox[2] == b"", sandbox[2].decode(errors="replace")
    assert sandbox[1].decode() == native[1].decode()
    assert sandbox[0] == 0


# "offsets" is left out: the host filesystem's own maximum file size
# (ext4: 16 TiB) limits lseek there, and the sandbox does not know it.
@pytest.mark.parametrize("section", ["ids", "copies", "allocs", "sparse"])
def test_volume_limits_match_linux(bounds, tmp_path, section):
    native_dir, volume = tmp_path / "native", tmp_path / "volume"
    native_dir.mkdir()
    volume.mkdir()
    native = run([bounds, str(native_dir), section], sandbox=False)
    assert native[0] == 0, native
    sandbox = _sandboxed(bounds, volume, section, extra=("-v", "%s:%s" % (volume, volume)))
    assert sandbox[2] == b"", sandbox[2].decode(errors="replace")
    assert sandbox[1].decode() == native[1].decode()
    assert sandbox[0] == 0


@pytest.fixture(scope="module")
def many_maps(built):
    return built[("many_maps", "static")]


def test_max_map_count_matches_linux(many_maps):
    """65,530 single-page mappings (vm.max_map_count), then ENOMEM, also
    for a split at the limit; every mapping is still found and freed.
    This takes linear time now (20,000 mappings once took 28 s). Each page
    is touched: on systrap each is then a host mapping, and the host's
    own limit (less the stub's mappings) must come as ENOMEM from mmap
    before the host refuses one, never as a dead program."""
    args = [many_maps, "touch"]
    native = subprocess.run(args, capture_output=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert native.returncode == 0, native
    sandbox = subprocess.run([sys.executable, "-m", "kvmsentry", "do", "--", *args],
                             capture_output=True, timeout=600, stdin=subprocess.DEVNULL)
    assert sandbox.stderr == b"", sandbox.stderr.decode(errors="replace")
    assert sandbox.stdout.decode() == native.stdout.decode()
    assert sandbox.returncode == 0


def test_tmpfs_size_limit_matches_linux(built, tmp_path):
    """--tmpfs-size caps what the root overlay keeps in memory: a file
    grows to exactly the size of a native tmpfs mounted with size=8m,
    then ENOSPC; unlinking it gives the space back."""
    fill = built[("fill", "static")]
    native_dir, sandbox_dir = tmp_path / "native", tmp_path / "sandbox"
    native_dir.mkdir()
    sandbox_dir.mkdir()
    script = 'mount -t tmpfs -o size=8m none "$1" && exec "$2" "$1"'
    native = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                             "sh", str(native_dir), fill],
                            capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert native.returncode == 0, native
    # --network=none: the default mode writes /etc/resolv.conf into the
    # overlay, which would take its share of the 8 MiB.
    sandbox = _sandboxed(fill, sandbox_dir, "", extra=("--tmpfs-size", "8", "--network", "none"))
    assert sandbox[2] == b"", sandbox[2].decode(errors="replace")
    assert sandbox[1].decode() == native.stdout.decode()
    assert b"ENOSPC" in native.stdout


def test_far_timers_match_linux(built):
    """setitimer/timer_settime with the largest expiries: accepted, still
    pending, and the sentry's timer thread survives them."""
    prog = built[("far_timers", "static")]
    native = run([prog], sandbox=False)
    assert native[0] == 0, native
    sandbox = run([prog], sandbox=True)
    assert sandbox[2] == b"", sandbox[2].decode(errors="replace")
    assert sandbox[:2] == native[:2]
