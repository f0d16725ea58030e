"""/proc/net in the sandbox: the same socket set opened natively (in a
fresh network namespace with lo up) and sandboxed (--network=none) reads
the same in /proc/net/{tcp,tcp6,udp,udp6,unix,dev,if_inet6,route}, and
netstat and ss (which parse those files) print the same. Kernel pointers,
hash-bucket numbers, reference counts, delayed-ACK timers and listing
order are Linux's internals and are left out of the comparison."""
import os
import re
import subprocess
import sys

from test_servers import ENV, TIMEOUT, kvmsentry, require

PROGRAM = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "netprograms", "proc_net.py")
AUTOBIND = re.compile(r"@[0-9a-f]{5}$")


def sections(text):
    out, name = {}, None
    for line in text.splitlines():
        if line.startswith("== "):
            name = line[3:]
            out[name] = []
        elif name is not None:
            out[name].append(line)
    return out


def keep(line, fields):
    parts = line.split()
    return " ".join(parts[i] for i in fields if i < len(parts))


def normalize(text):
    got = {}
    for name, lines in sections(text).items():
        header, rows = lines[:1], lines[1:]
        base = name.split(" (")[0]
        if base in ("/proc/net/tcp", "/proc/net/tcp6"):
            # sl | local rem st tx:rx tr:when retrnsmt uid timeout inode | ref pointer
            # rto ato quick/pingpong cwnd ssthresh
            rows = sorted(keep(r, list(range(1, 10)) + [12, 16]) for r in rows)
        elif base in ("/proc/net/udp", "/proc/net/udp6"):
            rows = sorted(keep(r, list(range(1, 11)) + [12]) for r in rows)   # no sl, pointer
        elif base == "/proc/net/unix":
            rows = sorted(AUTOBIND.sub("@AUTO", keep(r, range(1, 8))) for r in rows)
        elif base == "/proc/net/dev":
            rows = [re.sub(r"\d+", "N", r) for r in rows]      # counters: loopback traffic
        elif base in ("/proc/net/if_inet6", "/proc/net/route"):
            pass
        else:                                  # netstat, ss: order is the files'
            header, rows = [], sorted(AUTOBIND.sub("@AUTO", " ".join(r.split())) for r in lines)
        if base not in ("/proc/net/tcp", "/proc/net/udp"):
            name = base                        # line widths: only IPv4 tables are padded
        got[name] = header + rows
    return got


def test_proc_net_matches_native_for_a_known_socket_set():
    require("netstat", "ss", "unshare", "ip")
    native = subprocess.run(["unshare", "--net", "sh", "-c",
                             "ip link set lo up && exec %s %s" % (sys.executable, PROGRAM)],
                            capture_output=True, text=True, timeout=TIMEOUT, env=ENV)
    assert native.returncode == 0, native.stderr
    boxed = subprocess.run(kvmsentry("--network=none", "--", "/usr/bin/python3", PROGRAM),
                           capture_output=True, text=True, timeout=TIMEOUT, env=ENV)
    assert boxed.returncode == 0, boxed.stderr
    want, got = normalize(native.stdout), normalize(boxed.stdout)
    assert list(got) == list(want)
    for name in want:
        assert got[name] == want[name], name
    # The set is really there (a comparison of two empty files proves nothing).
    assert len(got["/proc/net/tcp (line widths [0, 149])"]) == 4
    assert any("unix-accepted DIR/s.sock" in r for r in got["/proc/net/unix"])
    assert got["/proc/net/if_inet6"] == ["00000000000000000000000000000001 01 80 10 80       lo"]


def test_proc_net_dev_and_route_under_network_sandbox():
    """The slirp4netns interface and its routes, as netstat -rn and
    /proc/net/dev show them (no native twin: checked against what
    slirp4netns configures)."""
    require("netstat")
    p = subprocess.run(kvmsentry("--network=sandbox", "--", "/bin/sh", "-c",
                                 "cat /proc/net/route; netstat -rn; cat /proc/net/dev; "
                                 "ls /proc/net"),
                       capture_output=True, text=True, timeout=TIMEOUT, env=ENV)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("Iface\tDestination\tGateway \tFlags") and len(lines[0]) == 127
    assert "tap0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\t0\t0\t0".ljust(127) in lines
    assert "tap0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0".ljust(127) in lines
    routes = [" ".join(x.split()) for x in lines]
    assert "0.0.0.0 10.0.2.2 0.0.0.0 UG 0 0 0 tap0" in routes
    assert "10.0.2.0 0.0.0.0 255.255.255.0 U 0 0 0 tap0" in routes
    devs = [x.split(":")[0].strip() for x in lines if re.match(r"^ *\w+: *\d+( +\d+){15}$", x)]
    assert devs == ["lo", "tap0"]
    assert lines[-8:] == sorted(["dev", "if_inet6", "route", "tcp", "tcp6", "udp", "udp6", "unix"])
