"""Containers through Debian's docker.io (dockerd started and stopped by
the test): `docker run --runtime=kvmsentry` next to runc; docker stop."""
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time

import pytest

from ocihelpers import make_rootfs

KVMSENTRY_BIN = os.path.join(os.path.dirname(sys.executable), "kvmsentry")
IMAGE = "kvmsentry-test-busybox:latest"


@pytest.fixture(scope="module")
def docker(tmp_path_factory):
    if shutil.which("dockerd") is None:
        pytest.fail("dockerd missing (install Debian's docker.io)", pytrace=False)
    base = tmp_path_factory.mktemp("docker")
    # kvmsentry-kvm: a platform named in docker's runtime configuration
    # (its runtimeArgs come before the command, as runsc's flags do).
    (base / "daemon.json").write_text(json.dumps(
        {"runtimes": {"kvmsentry": {"path": KVMSENTRY_BIN},
                      "kvmsentry-kvm": {"path": KVMSENTRY_BIN, "runtimeArgs": [
                          "--platform=kvm", "--debug-log=%s/" % (base / "kvm-logs")]}}}))
    sock = base / "docker.sock"
    log = open(base / "dockerd.log", "wb")
    proc = subprocess.Popen(
        ["dockerd", "--config-file", str(base / "daemon.json"), "--iptables=false",
         "--bridge=none", "--storage-driver=vfs", "--data-root", str(base / "data"),
         "--exec-root", str(base / "exec"), "-H", "unix://%s" % sock,
         "--pidfile", str(base / "docker.pid")],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    env = dict(os.environ, DOCKER_HOST="unix://%s" % sock)

    def docker_cmd(*args, timeout=120):
        return subprocess.run(["docker", *args], env=env, capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=timeout)
    deadline = time.monotonic() + 60
    while docker_cmd("version").returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("dockerd did not start: %s" % (base / "dockerd.log").read_text())
        time.sleep(0.2)
    rootfs = base / "rootfs"
    make_rootfs(str(rootfs))
    with tarfile.open(base / "rootfs.tar", "w") as tar:
        tar.add(rootfs, arcname=".")
    imported = docker_cmd("import", str(base / "rootfs.tar"), IMAGE)
    assert imported.returncode == 0, imported.stderr
    docker_cmd.kvm_logs = base / "kvm-logs"
    yield docker_cmd
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_docker_run_output_and_exit_status(docker):
    seen = {}
    for runtime in ("runc", "kvmsentry"):
        proc = docker("run", "--rm", "--runtime", runtime, "--network=none", IMAGE,
                      "/bin/sh", "-c", "echo hello; echo oops >&2; ls /; exit 4")
        seen[runtime] = (proc.returncode, proc.stdout, proc.stderr)
    assert seen["runc"][0] == 4, seen["runc"]
    assert seen["kvmsentry"] == seen["runc"]


def test_docker_runtime_args_pick_the_platform(docker):
    """runtimeArgs ["--platform=kvm"] run the container on kvm, whatever
    the default (auto) picks on this host."""
    proc = docker("run", "--rm", "--runtime", "kvmsentry-kvm", "--network=none", IMAGE,
                  "/bin/sh", "-c", "echo hello; exit 3")
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, b"hello\n", b"")
    lines = [ln for log in sorted(docker.kvm_logs.iterdir())
             for ln in log.read_text().splitlines() if ln.startswith("machine: syscall=")]
    assert lines and not any("syscall=systrap" in ln for ln in lines), lines


def test_docker_stop_of_sleeping_container(docker):
    codes = {}
    for runtime in ("runc", "kvmsentry"):
        name = "sleeper-" + runtime
        started = docker("run", "-d", "--name", name, "--runtime", runtime,
                         "--network=none", IMAGE, "/bin/sleep", "100")
        assert started.returncode == 0, started.stderr
        stopped = docker("stop", "-t", "1", name)
        assert stopped.returncode == 0, stopped.stderr
        codes[runtime] = docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout
        docker("rm", name)
    assert codes["kvmsentry"] == codes["runc"] == b"137\n"
