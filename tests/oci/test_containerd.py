"""Containers through Debian's containerd (started and stopped by the
test): `ctr run --runc-binary kvmsentry` next to the same with runc."""
import os
import shutil
import subprocess
import sys
import time

import pytest

from ocihelpers import make_rootfs

KVMSENTRY_BIN = os.path.join(os.path.dirname(sys.executable), "kvmsentry")


@pytest.fixture
def containerd(tmp_path):
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        pytest.fail("containerd missing (install Debian's containerd)", pytrace=False)
    base = tmp_path / "ctrd"
    base.mkdir()
    address = str(base / "containerd.sock")
    (base / "config.toml").write_text(
        'version = 2\nroot = "%s/root"\nstate = "%s/state"\n'
        '[grpc]\n  address = "%s"\n'
        '[plugins."io.containerd.grpc.v1.cri"]\n  disable_apparmor = true\n'
        % (base, base, address))
    log = open(base / "containerd.log", "wb")
    proc = subprocess.Popen(["containerd", "--config", str(base / "config.toml")],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not os.path.exists(address):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("containerd did not start: %s" % (base / "containerd.log").read_text())
        time.sleep(0.05)
    yield address
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def ctr_run(address, rootfs, cid, runtime_args, *command):
    return subprocess.run(["ctr", "--address", address, "run", "--rm", *runtime_args,
                           "--rootfs", str(rootfs), cid, *command],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=120)


def test_ctr_run_exit_status_and_output(containerd, tmp_path):
    assert os.access(KVMSENTRY_BIN, os.X_OK), KVMSENTRY_BIN
    rootfs = tmp_path / "rootfs"
    make_rootfs(str(rootfs))
    command = ("/bin/sh", "-c", "echo hello from $(hostname); ls /; exit 6")
    ref = ctr_run(containerd, rootfs, "with-runc", [], *command)
    ours = ctr_run(containerd, rootfs, "with-kvmsentry",
                   ["--runc-binary", KVMSENTRY_BIN, "--runc-root", str(tmp_path / "ks")],
                   *command)
    assert ref.returncode == 6, ref
    assert (ours.returncode, ours.stdout) == (ref.returncode, ref.stdout), ours.stderr
    # the runtime left no container state behind (containerd's namespace dir)
    state = tmp_path / "ks" / "default"
    assert not [n for n in os.listdir(state) if not n.endswith(".lock")]
