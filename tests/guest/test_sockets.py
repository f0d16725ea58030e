"""Sockets in the sandbox compared with native Linux: Unix domain sockets
served by the sentry, internet sockets on host sockets the sentry owns,
NETLINK_ROUTE for getifaddrs, and the --network modes.

The C programs are tests/netprograms/*.c, one behaviour per mode (the
first argument), built with `gcc -static` and plain `gcc` (dynamic). They
print only what must be identical natively and in the sandbox. Native
runs create their socket files in fresh directories under /tmp and
remove them; inet tests use 127.0.0.1/::1 and ephemeral ports only.
"""
import os
import socket
import subprocess
import sys

import pytest
from progbuild import ENV, FLAVOURS, build_all, run

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = os.path.join(os.path.dirname(HERE), "netprograms")


@pytest.fixture(scope="module")
def netprogs(tmp_path_factory):
    return build_all(SOURCES, tmp_path_factory.mktemp("net"))


# Native inet baselines run in a network namespace of their own holding only
# `lo` (as the sandbox's own namespace has), never on the host's network.
IN_FRESH_NETNS = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']


def same(argv, native_prefix=()):
    native, boxed = run([*native_prefix, *argv], False), run(argv, True)
    assert boxed[1].decode() == native[1].decode(), boxed[2].decode()[-3000:]
    assert boxed[0] == native[0], boxed[2].decode()[-3000:]
    return boxed[0], boxed[1].decode()


flavours = pytest.mark.parametrize("flavour", list(FLAVOURS))

UNIX_MODES = ["stream", "peek_waitall", "dgram", "seqpacket", "paths", "nonblocking_accept",
              "abstract", "rights_stream", "rights_dgram", "credentials", "peercred", "epipe",
              "sndbuf", "sockopts", "mmsg", "dgram_names", "shutdown_types",
              "zero_length", "option_values", "read_write_buffers",
              "fork_during_read_stream", "fork_during_read_dgram",
              "fork_during_read_pipe", "fork_during_read_tcp", "fork_during_recv_tcp",
              "unmap_during_read_pipe", "unmap_during_read_tcp", "unmap_during_readv_pipe",
              "unmap_during_readv_tcp", "unmap_during_read_stream", "unmap_during_readv_stream",
              "unmap_during_recv_stream", "unmap_during_recv_tcp",
              "unmap_during_recvmsg_stream", "unmap_during_recvmsg_tcp", "tee_cut"]


@flavours
@pytest.mark.parametrize("mode", UNIX_MODES)
def test_unix_sockets(netprogs, flavour, mode):
    status, out = same([netprogs[("unix_sockets", flavour)], mode])
    assert status == 0 and "FAIL" not in out


def test_unix_socket_results_are_not_vacuous(netprogs):
    """The comparisons above would pass if both runs failed alike: check
    a few answers against what Linux documents."""
    _, out = same([netprogs[("unix_sockets", "static")], "rights_stream"])
    assert "passed file reads 'contents of the file'" in out
    assert "pipe reads 'via passed pipe'" in out
    _, out = same([netprogs[("unix_sockets", "static")], "epipe"])
    assert "sigpipes 1" in out and "child killed by 13" in out
    _, out = same([netprogs[("unix_sockets", "static")], "peek_waitall"])
    assert "waitall 40" in out
    _, out = same([netprogs[("unix_sockets", "static")], "read_write_buffers"])
    assert "readv 'abc' 'defg' 'hij'" in out and "cut 'mes'" in out and "next 'message2'" in out
    assert "write(sv[0], out, big) = 3145728" in out and "child read 3145728" in out
    child_sum = out.split("child read 3145728 sum ", 1)[1].split()[0]
    assert "sent sum %s\n" % child_sum in out


# bad_buffers.c: a read or write whose buffer is partly or wholly unmapped,
# per kind and per call (pipes have no send/recv).
BAD_BUFFER_CASES = [(kind, call) for kind in ("pipe", "stream", "dgram", "seqpacket")
                    for call in ("read", "write", "readv", "writev", "recv", "send", "recvmsg",
                                 "sendmsg")
                    if kind != "pipe" or call in ("read", "write", "readv", "writev")]


@pytest.mark.parametrize("kind,call", BAD_BUFFER_CASES)
def test_bad_buffers(netprogs, kind, call):
    status, out = same([netprogs[("bad_buffers", "static")], kind, call])
    assert status == 0 and "FAIL" not in out


def test_bad_buffer_results_are_not_vacuous(netprogs):
    """What Linux answers, as the reads and writes above found it: a pipe
    counts whole pipe buffers, a stream whole messages, a datagram that
    faults is gone."""
    _, out = same([netprogs[("bad_buffers", "static")], "pipe", "read"])
    assert "read 3 of 8 mapped = -1 EFAULT\n  buffer 'hel'" in out
    assert "then: 11 'hello world'" in out and "read 4000 of 8092 mapped = 3996" in out
    _, out = same([netprogs[("bad_buffers", "static")], "pipe", "write"])
    assert "write 5000 of 8292 mapped = 4196" in out and "write 50000 of 100000 mapped = 49152" in out
    _, out = same([netprogs[("bad_buffers", "static")], "stream", "read"])
    assert "read 7 of 11 mapped = 5 \n  buffer 'firstse'" in out and "then: 6 'second'" in out
    assert "the passed pipe = 0" in out
    _, out = same([netprogs[("bad_buffers", "static")], "stream", "write"])
    assert "write 50000 of 100000 mapped = 36544" in out
    _, out = same([netprogs[("bad_buffers", "static")], "dgram", "read"])
    assert "read 0 of 5 mapped = -1 EFAULT\n  buffer ''" in out
    assert "read 3 of 8 mapped = -1 EAGAIN" in out


INET_MODES = ["tcp", "tcp6", "nonblocking_connect", "udp", "udp6", "epipe", "options", "ifaddrs",
              "epoll", "writev_accept", "addr_out"]


@flavours
@pytest.mark.parametrize("mode", INET_MODES)
def test_inet_sockets(netprogs, flavour, mode):
    status, out = same([netprogs[("inet_sockets", flavour)], mode], IN_FRESH_NETNS)
    assert status == 0 and "FAIL" not in out


def test_inet_results_are_not_vacuous(netprogs):
    _, out = same([netprogs[("inet_sockets", "static")], "tcp"], IN_FRESH_NETNS)
    assert "echo 5 'hello'" in out and "waitall 20 '0123456789abcdefghij'" in out
    assert "child status 0" in out
    _, out = same([netprogs[("inet_sockets", "static")], "options"], IN_FRESH_NETNS)
    assert "keepidle 77" in out and "keepintvl 33" in out and "linger 1 9" in out
    assert "&minus, sizeof minus) = -1 EINVAL" in out
    assert "&narrow, sizeof narrow) = -1 EINVAL" in out
    assert "&idle, -1) = -1 EINVAL" in out
    assert "12345, 1, &idle, sizeof idle) = -1 ENOPROTOOPT" in out
    assert "9999, &idle, sizeof idle) = -1 ENOPROTOOPT" in out
    _, out = same([netprogs[("inet_sockets", "static")], "ifaddrs"], IN_FRESH_NETNS)
    assert "lo family 2 addr 127.0.0.1 up 1 loopback 1" in out
    assert "lo packet entries 1" in out
    _, out = same([netprogs[("inet_sockets", "static")], "epoll"], IN_FRESH_NETNS)
    assert "et again: 0\n" in out and "oneshot re-armed: 1 [4:0x1]" in out
    assert "dup added: 2 [8:0x1] [9:0x1]" in out and "file released: 0" in out
    assert "peer shut down: 1 [11:0x2001]" in out and "distinct 1" in out
    _, out = same([netprogs[("inet_sockets", "static")], "writev_accept"], IN_FRESH_NETNS)
    assert "blocking writev = 1048826 of 1048826" in out and "identical 1" in out
    assert "nonblocking writev partial 1 then -1 EAGAIN" in out and "= -1 EAGAIN" in out
    assert "= -1 EPIPE" in out and "waited accept 1 nonblock 1 read 4 'late'" in out
    _, out = same([netprogs[("inet_sockets", "static")], "addr_out"], IN_FRESH_NETNS)
    assert "getpeername adjacent = 0  len 16 family 2 same 1" in out
    assert "room 4: port written 1, address left 0 1" in out
    assert "getpeername address faults = -1 EFAULT len 16" in out
    assert "getpeername after reset = -1 ENOTCONN" in out


# --- --host-uds -------------------------------------------------------------------------
def _sandbox(argv, extra):
    return [sys.executable, "-m", "kvmsentry", "do", "--network=none", *extra, "--", *argv]


@pytest.mark.parametrize("mode,allowed", [("open", True), ("all", True), ("none", False),
                                          ("create", False)])
def test_host_uds_connect_to_host_listener(netprogs, tmp_path, mode, allowed):
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "host.sock"))
    listener.listen(1)
    listener.settimeout(60)
    proc = subprocess.Popen(_sandbox([netprogs[("host_uds", "static")], "connect", "/vol/host.sock"],
                                     ["--host-uds=%s" % mode, "-v", "%s:/vol" % tmp_path]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    if allowed:
        conn, _ = listener.accept()
        conn.sendall(b"hi guest")
        assert conn.recv(64) == b"from sandbox"
        conn.close()
    out, err = proc.communicate(timeout=60)
    listener.close()
    if allowed:
        assert (proc.returncode, out) == (0, b"got hi guest\n"), err.decode()[-2000:]
    else:
        assert (proc.returncode, out) == (1, b"connect: ECONNREFUSED\n"), err.decode()[-2000:]


@pytest.mark.parametrize("mode,allowed", [("create", True), ("all", True), ("none", False),
                                          ("open", False)])
def test_host_uds_bind_reachable_from_host(netprogs, tmp_path, mode, allowed):
    proc = subprocess.Popen(_sandbox([netprogs[("host_uds", "static")], "serve", "/vol/guest.sock"],
                                     ["--host-uds=%s" % mode, "-v", "%s:/vol" % tmp_path]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    line = proc.stdout.readline()
    if allowed:
        assert line == b"listening\n", proc.stderr.read().decode()[-2000:]
        client = socket.socket(socket.AF_UNIX)
        client.settimeout(60)
        client.connect(str(tmp_path / "guest.sock"))
        assert client.recv(64) == b"hello host"
        client.sendall(b"from host")
        client.close()
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode, out) == (0, b"server got from host\n"), err.decode()[-2000:]
    else:
        proc.communicate(timeout=60)
        assert line == b"bind: EPERM\n" and proc.returncode == 1
        assert not (tmp_path / "guest.sock").exists()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_socket_calls_with_random_arguments(netprogs, seed):
    """Sandbox only: random socket-call arguments get errnos, never a sentry
    error (exit 134); --network=none keeps any inet traffic in the sandbox."""
    p = subprocess.run(_sandbox([netprogs[("socket_fuzz", "static")], str(seed)], []),
                       capture_output=True, timeout=600, env=ENV)
    assert (p.returncode, p.stdout) == (0, b"done\n"), p.stderr.decode()[-3000:]
