"""Helpers of the OCI runtime tests: busybox bundles, and a runtime's command line
with a private state directory."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

APPLETS = ("sh", "echo", "cat", "ls", "sleep", "true", "false", "touch", "mkdir", "id",
           "hostname", "env", "pwd")
TIMEOUT = 60


def make_rootfs(path):
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.fail("busybox missing (install busybox-static)", pytrace=False)
    os.makedirs(os.path.join(path, "bin"))
    shutil.copy(busybox, os.path.join(path, "bin", "busybox"))
    for a in APPLETS:
        os.symlink("busybox", os.path.join(path, "bin", a))


DEV_MOUNTS = [  # what runc needs for a terminal (its default spec has them)
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
]


def write_bundle(path, args, extra_mounts=(), **process):
    """A bundle at path with a busybox rootfs running args."""
    os.makedirs(path, exist_ok=True)
    if not os.path.exists(os.path.join(path, "rootfs")):
        make_rootfs(os.path.join(path, "rootfs"))
    config = {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": list(args),
                    "env": ["PATH=/bin", "HOME=/"], "cwd": "/", **process},
        "root": {"path": "rootfs", "readonly": False},
        "hostname": "box",
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                    "options": ["nosuid", "mode=1777"]}, *extra_mounts],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                                 {"type": "mount"}, {"type": "network"}]},
    }
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    return path


class Runtime:
    """One runtime's command line with a private state directory."""

    def __init__(self, name, argv, state_root):
        self.name, self.argv, self.state_root = name, argv, state_root

    def cmd(self, *args):
        return [*self.argv, "--root", self.state_root, *args]

    def run(self, *args, stdout=None, check=False, timeout=TIMEOUT):
        """Run a command; its output goes through files, not pipes: a
        container started by `create` inherits them and would hold a pipe
        open long after the command returned."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.run(self.cmd(*args), stdin=subprocess.DEVNULL,
                                  stdout=stdout or out, stderr=err, timeout=timeout)
            out.seek(0)
            err.seek(0)
            proc.stdout, proc.stderr = out.read(), err.read()
        if check and proc.returncode != 0:
            raise AssertionError("%s %s: exit %d: %s" % (self.name, " ".join(args),
                                                         proc.returncode, proc.stderr))
        return proc

    def state(self, cid):
        proc = self.run("state", cid, check=True)
        return json.loads(proc.stdout)


KVMSENTRY = [sys.executable, "-m", "kvmsentry"]


