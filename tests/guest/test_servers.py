"""Debian's servers in the sandbox, driven by real clients on the host and
stopped with SIGTERM, as a user would run them.

Host ports are free ephemeral ones on 127.0.0.1; data lives in the test's
temporary directory, mounted as a volume.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

ENV = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8"}
START_TIMEOUT = 60
TIMEOUT = 120


def kvmsentry(*args):
    return [sys.executable, "-m", "kvmsentry", "do", *args]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail("missing %s (see the README's test dependencies)" % ", ".join(missing),
                    pytrace=False)


def wait_for_port(port, proc):
    """Until 127.0.0.1:port accepts a connection (the server is up)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("server exited %s:\n%s" % (proc.returncode,
                                                    proc.stderr.read().decode()[-3000:]))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return
        except OSError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail("server did not listen on %d:\n%s" % (port, proc.stderr.read().decode()[-3000:]))


def wait_for_http(port, proc):
    """Until an HTTP GET of / answers: a published port accepts connections
    (slirp4netns listens on the host) before the server inside does."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("server exited %s:\n%s" % (proc.returncode,
                                                    proc.stderr.read().decode()[-3000:]))
        p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-m", "5",
                            "http://127.0.0.1:%d/" % port], timeout=TIMEOUT)
        if p.returncode == 0:
            return
        time.sleep(0.3)
    proc.kill()
    pytest.fail("no HTTP answer on %d:\n%s" % (port, proc.stderr.read().decode()[-3000:]))


def stop(proc):
    """SIGTERM, as `docker stop` sends; the sandbox exits with the server."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode


def test_python_http_server_published_port(tmp_path):
    require("curl")
    blob = os.urandom(100 * 1024)
    (tmp_path / "blob.bin").write_bytes(blob)
    host_port = free_port()
    proc = subprocess.Popen(kvmsentry("--network=sandbox", "-p", "127.0.0.1:%d:8000" % host_port,
                                      "-v", "%s:/www:ro" % tmp_path, "--",
                                      "/usr/bin/python3", "-m", "http.server", "-d", "/www",
                                      "8000"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    try:
        wait_for_http(host_port, proc)
        got = subprocess.run(["curl", "-sS", "--fail", "-m", "60",
                              "http://127.0.0.1:%d/blob.bin" % host_port],
                             capture_output=True, timeout=TIMEOUT)
        assert got.returncode == 0, got.stderr.decode()
        assert got.stdout == blob
        listing = subprocess.run(["curl", "-sS", "-m", "60", "http://127.0.0.1:%d/" % host_port],
                                 capture_output=True, timeout=TIMEOUT)
        assert b'href="blob.bin"' in listing.stdout
    finally:
        status = stop(proc)
    assert status == 128 + signal.SIGTERM          # Python's default SIGTERM action


def test_redis_server_network_host(tmp_path):
    require("redis-server", "redis-cli")
    port = free_port()
    proc = subprocess.Popen(kvmsentry("--network=host", "-v", "%s:/data" % tmp_path, "--",
                                      "/usr/bin/redis-server", "--port", str(port),
                                      "--bind", "127.0.0.1", "--dir", "/data",
                                      "--save", "3600 1", "--daemonize", "no",
                                      "--protected-mode", "yes"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)

    def cli(*args):
        p = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True,
                           timeout=TIMEOUT)
        assert p.returncode == 0, p.stderr.decode()
        return p.stdout.decode()

    try:
        wait_for_port(port, proc)
        assert cli("SET", "sandboxed", "value-1") == "OK\n"
        assert cli("GET", "sandboxed") == "value-1\n"
        assert cli("RPUSH", "list", "a", "b", "c") == "3\n"
        assert cli("LRANGE", "list", "0", "-1") == "a\nb\nc\n"
        info = cli("INFO", "server")
        assert "redis_version:" in info and "tcp_port:%d" % port in info
    finally:
        status = stop(proc)
    out = proc.stdout.read().decode()
    assert status == 0, out[-3000:]
    assert "ready to exit" in out.lower() or "Redis is now ready to exit" in out
    dump = (tmp_path / "dump.rdb").read_bytes()
    assert dump.startswith(b"REDIS") and b"sandboxed" in dump and b"value-1" in dump


APACHE_CONF = """\
ServerName localhost
ServerRoot /etc/apache2
Listen 127.0.0.1:{port}
PidFile /site/run/apache2.pid
DefaultRuntimeDir /site/run
ErrorLog /site/run/error.log
LogLevel warn
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
TypesConfig /etc/mime.types
User www-data
Group www-data
DocumentRoot /site/www
<Directory /site/www>
    Require all granted
</Directory>
# One child of 8 threads: ab -c 8 in the benchmark.
StartServers 1
ServerLimit 1
ThreadLimit 8
ThreadsPerChild 8
MaxRequestWorkers 8
MinSpareThreads 1
MaxSpareThreads 8
"""


def apache_site(root, port):
    """A DocumentRoot with a 100 KB file and a config for it under root
    (mounted at /site in the sandbox)."""
    (root / "www").mkdir()
    (root / "run").mkdir()
    blob = os.urandom(100 * 1024)
    (root / "www" / "file.bin").write_bytes(blob)
    (root / "apache2.conf").write_text(APACHE_CONF.format(port=port))
    for d in (root, root / "www"):
        d.chmod(0o755)                    # the workers run as www-data
    (root / "www" / "file.bin").chmod(0o644)
    return blob


def test_apache2_foreground(tmp_path):
    """apache2 itself in the foreground, as container images exec it
    (apache2ctl would leave a shell as the sandbox's init, which SIGTERM
    kills before Apache hears of it)."""
    require("apache2", "curl")
    port = free_port()
    blob = apache_site(tmp_path, port)
    proc = subprocess.Popen(kvmsentry("--network=host", "-v", "%s:/site" % tmp_path, "--",
                                      "/usr/sbin/apache2", "-f", "/site/apache2.conf",
                                      "-D", "FOREGROUND"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    try:
        wait_for_port(port, proc)
        for _ in range(3):
            got = subprocess.run(["curl", "-sS", "--fail", "-m", "60",
                                  "http://127.0.0.1:%d/file.bin" % port],
                                 capture_output=True, timeout=TIMEOUT)
            assert got.returncode == 0, got.stderr.decode()
            assert got.stdout == blob
        missing = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                  "http://127.0.0.1:%d/nothing-here" % port],
                                 capture_output=True, timeout=TIMEOUT)
        assert missing.stdout == b"404"
    finally:
        status = stop(proc)
    log = (tmp_path / "run" / "error.log").read_text()
    assert status == 0, log[-3000:]
    assert "resuming normal operations" in log and "shutting down" in log
