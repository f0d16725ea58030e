"""--network modes: what the sandbox can reach and what reaches it.

Only loopback on the host and the namespaces the sandbox creates are
used; every host port is a free ephemeral one picked by the test.
Each isolation check has a positive control (--network=host, or a
published port) so that it cannot pass by everything failing.
"""
import os
import socket
import subprocess
import sys
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.path.join(os.path.dirname(HERE), "netprograms", "net_probe.py")
ECHO = os.path.join(os.path.dirname(HERE), "netprograms", "asyncio_echo.py")
PYTHON = "/usr/bin/python3"
TIMEOUT = 120
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def kvmsentry(*args):
    return [sys.executable, "-m", "kvmsentry", "do", *args]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def host_connect(port):
    """The greeting a sandboxed server sends, or the errno name."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.settimeout(10)
            return s.recv(100).decode().strip()
    except OSError as e:
        return type(e).__name__


class HostListener:
    """A greeting server on 127.0.0.1 of the host, for the sandbox to try."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.sendall(b"hello from the host\n")
            conn.close()

    def close(self):
        self.sock.close()


@pytest.fixture
def host_listener():
    listener = HostListener()
    yield listener
    listener.close()


class SandboxServer:
    """net_probe.py serve in the sandbox, until stop()."""

    def __init__(self, ports, extra=()):
        self.proc = subprocess.Popen(kvmsentry(*extra, "--", PYTHON, PROBE, "serve",
                                               *map(str, ports)),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=ENV)
        line = self.proc.stdout.readline()
        assert line == b"listening\n", self.proc.stderr.read().decode()[-2000:]

    def stop(self):
        self.proc.stdin.close()
        assert self.proc.wait(timeout=TIMEOUT) == 0, self.proc.stderr.read().decode()[-2000:]


def sandbox_connect(port, mode):
    p = subprocess.run(kvmsentry("--network=%s" % mode, "--", PYTHON, PROBE, "connect",
                                 "127.0.0.1", str(port)),
                       capture_output=True, timeout=TIMEOUT, env=ENV)
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    return p.stdout.decode().strip()


@pytest.mark.parametrize("mode", ["none", "sandbox"])
def test_sandbox_cannot_reach_host_loopback(host_listener, mode):
    assert sandbox_connect(host_listener.port, mode) == "ECONNREFUSED"


def test_network_host_reaches_host_loopback(host_listener):
    assert sandbox_connect(host_listener.port, "host") == "connected: hello from the host"


@pytest.mark.parametrize("mode", ["none", "sandbox"])
def test_host_cannot_reach_sandboxed_server(mode):
    port = free_port()
    server = SandboxServer([port], ["--network=%s" % mode])
    try:
        assert host_connect(port) == "ConnectionRefusedError"
    finally:
        server.stop()


def test_network_host_server_is_reachable():
    port = free_port()
    server = SandboxServer([port], ["--network=host"])
    try:
        assert host_connect(port) == "hello from port %d" % port
    finally:
        server.stop()


def test_published_port_reachable_unpublished_not():
    host_port, inside, unpublished = free_port(), 8080, free_port()
    server = SandboxServer([inside, unpublished],
                           ["--network=sandbox", "-p", "127.0.0.1:%d:%d" % (host_port, inside)])
    try:
        assert host_connect(host_port) == "hello from port %d" % inside
        assert host_connect(unpublished) == "ConnectionRefusedError"
    finally:
        server.stop()


def test_asyncio_echo_between_two_processes_network_none():
    p = subprocess.run(kvmsentry("--network=none", "--", PYTHON, ECHO),
                       capture_output=True, timeout=TIMEOUT, env=ENV)
    assert p.stdout.decode() == ("client got ALPHA\nclient got BETA\nclient got GAMMA\n"
                                 "client exited 0\nserver done\n"), p.stderr.decode()[-2000:]
    assert p.returncode == 0


def test_bad_network_arguments():
    p = subprocess.run(kvmsentry("--network=host", "-p", "1:2", "--", "/bin/true"),
                       capture_output=True, timeout=TIMEOUT, env=ENV)
    assert p.returncode == 125 and b"--publish needs --network=sandbox" in p.stderr


def test_raw_and_packet_sockets_refused():
    script = ("import socket\n"
              "for args in ((socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),\n"
              "             (socket.AF_PACKET, socket.SOCK_RAW, 0)):\n"
              "    try:\n"
              "        socket.socket(*args)\n"
              "        print('created')\n"
              "    except OSError as e:\n"
              "        print(e.errno == 1)\n")
    p = subprocess.run(kvmsentry("--network=none", "--", PYTHON, "-c", script),
                       capture_output=True, timeout=TIMEOUT, env=ENV)
    assert p.stdout == b"True\nTrue\n", p.stderr.decode()[-2000:]


def test_netlink_route_reads_namespace_and_refuses_changes():
    p = subprocess.run(kvmsentry("--network=none", "--", "/bin/sh", "-c",
                                 "ip addr; ip link set lo down; echo status $?; ip -br link"),
                       capture_output=True, timeout=TIMEOUT, env=ENV)
    out = p.stdout.decode()
    assert "1: lo: <LOOPBACK,UP,LOWER_UP>" in out, p.stderr.decode()[-2000:]
    assert "inet 127.0.0.1/8 scope host lo" in out and "inet6 ::1/128" in out
    assert "2:" not in out.split("status")[0]            # only lo in a `none` namespace
    assert "status 2" in out and b"Operation not permitted" in p.stderr
    assert out.split("status 2")[1].split()[:2] == ["lo", "UNKNOWN"]   # still up


def test_network_sandbox_interfaces():
    p = subprocess.run(kvmsentry("--", "/usr/sbin/ip", "-4", "-br", "addr"),
                       capture_output=True, timeout=TIMEOUT, env=ENV)
    assert p.stdout.decode().split() == ["lo", "UNKNOWN", "127.0.0.1/8",
                                         "tap0", "UNKNOWN", "10.0.2.100/24"], p.stderr.decode()


@pytest.mark.parametrize("mode", ["sandbox", "none", "host"])
def test_resolv_conf_follows_mode(mode):
    p = subprocess.run(kvmsentry("--network=%s" % mode, "--", "/bin/cat", "/etc/resolv.conf"),
                       capture_output=True, timeout=TIMEOUT, env=ENV)
    with open("/etc/resolv.conf", "rb") as f:
        host = f.read()
    expected = b"nameserver 10.0.2.3\n" if mode == "sandbox" else host
    assert (p.returncode, p.stdout) == (0, expected), p.stderr.decode()[-2000:]
