"""Run natively (in a fresh network namespace with lo up) and in the
sandbox (--network=none): open a known set of sockets, then print
/proc/net/* and what netstat and ss make of them, with each socket's
inode number replaced by the name given to it here (and the temporary
directory holding its Unix socket path by DIR).
"""
import os
import re
import socket
import subprocess
import sys
import tempfile

FILES = ("tcp", "tcp6", "udp", "udp6", "unix", "dev", "if_inet6", "route")


def main():
    directory = tempfile.mkdtemp(prefix="proc-net-")
    named = {}

    def name(sock, label):
        named[os.fstat(sock.fileno()).st_ino] = label
        return sock

    lst = name(socket.socket(), "tcp-listen")
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", 5001))
    lst.listen(8)
    cli = name(socket.socket(), "tcp-client")
    cli.bind(("127.0.0.1", 5002))
    cli.connect(("127.0.0.1", 5001))
    srv, _ = lst.accept()
    name(srv, "tcp-accepted")
    cli.sendall(b"12345")                          # unread: rx_queue 5 on the accepted side
    name(socket.socket(), "tcp-unbound")           # not listed: not hashed
    lst6 = name(socket.socket(socket.AF_INET6), "tcp6-listen")
    lst6.bind(("::1", 5005))
    lst6.listen(4)
    udp = name(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), "udp-bound")
    udp.bind(("127.0.0.1", 5003))
    udpc = name(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), "udp-connected")
    udpc.bind(("127.0.0.1", 5007))
    udpc.connect(("127.0.0.1", 5003))
    udpc.send(b"x" * 100)                          # queued on udp-bound
    udp6 = name(socket.socket(socket.AF_INET6, socket.SOCK_DGRAM), "udp6-bound")
    udp6.bind(("::1", 5004))
    ulst = name(socket.socket(socket.AF_UNIX), "unix-listen")
    ulst.bind(os.path.join(directory, "s.sock"))
    ulst.listen(4)
    ucli = name(socket.socket(socket.AF_UNIX), "unix-client")
    ucli.connect(os.path.join(directory, "s.sock"))
    uacc, _ = ulst.accept()
    name(uacc, "unix-accepted")
    uabs = name(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM), "unix-abstract")
    uabs.bind(b"\0proc-net-test\0x")
    a, b = socket.socketpair()
    name(a, "pair-a")
    name(b, "pair-b")
    seq = name(socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET), "unix-seqpacket")
    seq.bind(b"")                                  # autobind: @xxxxx

    def relabel(text):
        def sub(m):
            return m.group(1) + named.get(int(m.group(2)), m.group(2))
        return re.sub(r"(\s)(\d+)(?=(\s|$))", sub, text)

    for f in FILES:
        with open("/proc/net/" + f) as fp:
            text = fp.read()
        print("== /proc/net/%s (line widths %s)" % (f, sorted({len(x) for x in text.split("\n")})))
        if f in ("tcp", "tcp6", "udp", "udp6", "unix"):
            text = "\n".join(relabel(line) for line in text.split("\n"))
            text = text.replace(directory, "DIR")
        sys.stdout.write(text)
    for cmd in (["netstat", "-tuanxW"], ["ss", "-tuanl"], ["ss", "-tuan"]):
        print("== %s" % " ".join(cmd))
        # PROC_ROOT: ss reads /proc/net as it does without sock_diag (the sandbox has none)
        out = subprocess.run(cmd, capture_output=True, text=True,
                             env=dict(os.environ, PROC_ROOT="/proc")).stdout
        sys.stdout.write(relabel(out.replace(directory, "DIR")))
    sys.stdout.flush()
    os.unlink(os.path.join(directory, "s.sock"))
    os.rmdir(directory)


if __name__ == "__main__":
    main()
