"""The network namespace the sandbox's internet sockets live in
(`--network`, runsc's names).

Every inet socket is a host socket the sentry creates, so the namespace
the sentry runs in IS the sandbox's network:

- host: the host's namespace, unchanged.
- none: a fresh namespace holding only `lo` (brought up here).
- sandbox: a fresh namespace with `lo` and a tap device whose traffic
  goes out through slirp4netns (Debian's user-mode NAT: 10.0.2.100/24,
  gateway 10.0.2.2, DNS 10.0.2.3; the host's loopback is not reachable),
  and `--publish [ADDR:]HOST:SANDBOX[/tcp|udp]` forwards a host port to
  a port inside through slirp4netns's API socket.

Unlike runsc's netstack, the host kernel's TCP/IP stack serves the
namespace; the sentry still mediates every call. enter() must run on the
main thread before any other thread starts (unshare(2) changes the
calling thread's namespace; threads started later inherit it).
"""
import fcntl
import os
import select
import struct

from kvmsentry._sandbox import ffi, lib
from kvmsentry.sandbox import spawn

MODES = ("sandbox", "host", "none")
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914
IFF_UP = 0x1
TAP_NAME = "tap0"
SLIRP_MTU = 65520
READY_TIMEOUT = 10.0
SANDBOX_ADDR = "10.0.2.100"
RESOLV_CONF = b"nameserver 10.0.2.3\n"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class NetworkError(Exception):
    """The network could not be set up as asked (the sandbox does not start)."""


class Publish:
    """One --publish: host (addr, port) -> sandbox port."""

    def __init__(self, spec):
        proto = "tcp"
        if "/" in spec:
            spec, proto = spec.rsplit("/", 1)
        parts = spec.rsplit(":", 2)
        if proto not in ("tcp", "udp") or len(parts) < 2:
            raise NetworkError("--publish %r: expected [ADDR:]HOST:SANDBOX[/tcp|udp]" % spec)
        try:
            self.host_port, self.sandbox_port = int(parts[-2]), int(parts[-1])
        except ValueError:
            raise NetworkError("--publish %r: ports must be numbers" % spec) from None
        self.host_addr = parts[0] if len(parts) == 3 else "0.0.0.0"
        self.proto = proto


class Network:
    """The set-up network of one sandbox; close() tears down what it started."""

    def __init__(self, mode):
        self.mode = mode
        self.slirp = None
        self._dir = None
        self._exit_w = None
        self._owner = os.getpid()
        self._ready_r = None         # slirp4netns's ready pipe, until wait_ready()
        self._stderr_r = None        # what slirp4netns says on stderr
        self._publish = ()

    def wait_ready(self):
        """Wait until slirp4netns has configured the tap device, add the
        --publish forwards, and remove the API socket's directory (once
        the sentry is confined no host path can be removed). Idempotent;
        on failure the network is closed and NetworkError raised."""
        if self._ready_r is None:
            return
        try:
            _await_slirp(self)
            for p in self._publish:
                _add_hostfwd(self, p)
        except BaseException:
            self.close()
            raise
        self._remove_dir()

    def resolv_conf(self):
        """What /etc/resolv.conf should say inside, or None to keep the host's."""
        return RESOLV_CONF if self.mode == "sandbox" else None

    def configure_files(self, mounts):
        """Make the sandbox's /etc follow the mode: in `sandbox`,
        /etc/resolv.conf names slirp4netns's DNS forwarder (the host's may
        name a resolver on the host's loopback, which the sandbox cannot
        reach). Written into the root overlay's memory, never the host."""
        data = self.resolv_conf()
        if data is not None:
            _replace_file(mounts, b"/etc", b"resolv.conf", data)

    def close(self):
        if self._ready_r is not None:
            os.close(self._ready_r)
            self._ready_r = None
        if self._exit_w is not None:
            os.close(self._exit_w)            # slirp4netns exits when this closes
            self._exit_w = None
        if self.slirp is not None and os.getpid() != self._owner:
            # A confined sentry (a child of the process that started
            # slirp4netns, in a pid namespace of its own) cannot wait for
            # it; its parent reaps it.
            self.slirp = None
        if self.slirp is not None:
            if self.slirp.wait(timeout=2) is None:
                self.slirp.kill()
                self.slirp.wait()
            self.slirp = None
        if self._stderr_r is not None:
            os.close(self._stderr_r)
            self._stderr_r = None
        self._remove_dir()

    def _remove_dir(self):
        """Remove the API socket's directory (it holds nothing else)."""
        if self._dir is not None:
            for path, remove in ((self.api_socket, os.unlink), (self._dir, os.rmdir)):
                try:
                    remove(path)
                except OSError:
                    pass
            self._dir = None


class _Root:
    uid = euid = gid = egid = 0
    groups = ()


def _replace_file(mounts, directory, name, data):
    from kvmsentry.errors import SyscallError
    from kvmsentry.vfs.path import Walker

    class ctx:
        root = cwd = mounts.root_location()
    try:
        where = Walker(mounts, ctx, _Root()).walk(ctx.root, directory)
    except SyscallError:
        return                                    # no /etc in this root
    try:
        where.inode.lookup(name)
        where.inode.unlink(name)                  # a file or a symlink to elsewhere
    except SyscallError:
        pass
    where.dentry.forget(name)
    inode = where.inode.create(name, 0o644, 0, 0)
    inode.write_at(0, data)


def _unshare_net():
    if lib.kvmsentry_unshare(CLONE_NEWNET) != 0:
        raise NetworkError("cannot create a network namespace: %s (needs CAP_SYS_ADMIN; "
                           "--network=host runs without one)" % os.strerror(ffi.errno))


def _setns(fd):
    """Move this (single-threaded) process into the network namespace fd."""
    if lib.kvmsentry_setns(fd, CLONE_NEWNET) != 0:
        raise NetworkError("setns(CLONE_NEWNET): %s" % os.strerror(ffi.errno))


def _loopback_up():
    import _socket            # (not socket: its enums cost ~2 ms of every start)
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        req = struct.pack("16sh22x", b"lo", 0)
        flags = struct.unpack_from("16sh", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sh22x", b"lo", flags | IFF_UP))
    finally:
        s.close()


def _all_ports_bindable():
    """The namespace is made while the sentry is still the host's root,
    so it belongs to the host's user namespace, where the confined sentry
    keeps no CAP_NET_BIND_SERVICE: the host would refuse every port below
    1024. The sentry checks that capability against the guest's own
    credentials instead (hostinet.HostSocket.bind)."""
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start", "w") as f:
            f.write("0")
    except OSError:
        pass                  # a kernel without it (< 4.11): low ports stay refused


def enter(mode, publish=(), wait=True):
    """Put the sentry (and so every inet socket of the sandbox) into the
    network `mode` asks for; returns the Network to close at exit.

    wait=False returns as soon as slirp4netns is started: its start-up
    (a fork, an exec, the tap device) then overlaps the sentry's own, and
    Network.wait_ready() must be called before the program's first
    instruction and before the sentry gives up host paths."""
    if mode not in MODES:
        raise NetworkError("--network %r: one of %s" % (mode, ", ".join(MODES)))
    publish = [Publish(p) if isinstance(p, str) else p for p in publish]
    if publish and mode != "sandbox":
        raise NetworkError("--publish needs --network=sandbox")
    net = Network(mode)
    if mode == "host":
        return net
    # slirp4netns must run in the host's namespace (its NAT and published
    # ports are host sockets) while the sentry moves out of it.
    host_ns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _unshare_net()
        _loopback_up()
        _all_ports_bindable()
        if mode == "sandbox":
            _start_slirp(net, host_ns, api=bool(publish))
    except BaseException:
        net.close()
        raise
    finally:
        os.close(host_ns)
    net._publish = publish
    if wait:
        net.wait_ready()
    return net


def _tool(name):
    """A helper program: on the caller's PATH, else where Debian puts it
    (the program's environment may carry any PATH at all)."""
    path = os.environ.get("PATH", "") + ":" + SYSTEM_PATH
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


def _start_slirp(net, host_ns, api):
    """api: with slirp4netns's API socket (in a private temporary
    directory), which --publish needs."""
    binary = _tool("slirp4netns")
    if binary is None:
        raise NetworkError("--network=sandbox needs slirp4netns "
                           "(apt-get install slirp4netns)")
    api_options = []
    if api:
        import tempfile
        net._dir = tempfile.mkdtemp(prefix="kvmsentry-net-")
        net.api_socket = os.path.join(net._dir, "slirp.sock")
        api_options = ["--api-socket", net.api_socket]
    ready_r, ready_w = os.pipe()
    exit_r, net._exit_w = os.pipe()
    net._stderr_r, stderr_w = os.pipe()
    # The sandbox's namespace by a descriptor, not by pid: slirp4netns
    # would also join the user namespace of a pid, which the sentry
    # leaves while slirp4netns starts (wait=False), and then it may not
    # enter the network namespace.
    sandbox_ns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    cmd = [binary, "--configure", "--mtu=%d" % SLIRP_MTU, "--disable-host-loopback",
           "--enable-sandbox", "--enable-seccomp", *api_options,
           "--ready-fd=%d" % ready_w, "--exit-fd=%d" % exit_r,
           "--netns-type=path", "/proc/self/fd/%d" % sandbox_ns, TAP_NAME]
    try:
        # slirp4netns itself stays in the host's namespace: this process
        # steps back into it for the spawn (nothing else runs meanwhile:
        # one thread), as `nsenter --net` would, without a program more.
        _setns(host_ns)
        try:
            net.slirp = spawn.spawn(cmd, os.environ, stderr=stderr_w,
                                    pass_fds=(ready_w, exit_r, sandbox_ns))
        finally:
            _setns(sandbox_ns)
    finally:
        os.close(ready_w)
        os.close(exit_r)
        os.close(stderr_w)
        os.close(sandbox_ns)
    net._ready_r = ready_r


def _await_slirp(net):
    ready_r, net._ready_r = net._ready_r, None
    try:
        ready, _, _ = select.select([ready_r], [], [], READY_TIMEOUT)
        got = os.read(ready_r, 1) if ready else b""
    finally:
        os.close(ready_r)
    if got != b"1":
        err = b""
        if net.slirp.poll() is not None:
            err = os.read(net._stderr_r, 65536)
        raise NetworkError("slirp4netns did not come up: %s" % err.decode(errors="replace").strip())


def _api(net, request):
    import json
    import socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(READY_TIMEOUT)
        s.connect(net.api_socket)
        s.sendall(json.dumps(request).encode())
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    reply = json.loads(data or b"{}")
    if "error" in reply:
        raise NetworkError("slirp4netns: %s" % reply["error"].get("desc", reply["error"]))
    return reply


def _add_hostfwd(net, p):
    _api(net, {"execute": "add_hostfwd", "arguments": {
        "proto": p.proto, "host_addr": p.host_addr, "host_port": p.host_port,
        "guest_addr": SANDBOX_ADDR, "guest_port": p.sandbox_port}})
