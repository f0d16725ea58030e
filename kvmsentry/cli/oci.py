"""The OCI runtime commands, with runc's command line and exit codes:
spec, create, start, run, state, list, kill, delete, ps, wait, events.

Errors print one line (and a JSON record in --log with --log-format json,
which containerd's shim reads back) and exit 1, as runc does.
"""
import argparse
import datetime
import fcntl
import json
import os
import select
import signal
import sys

from kvmsentry.runtime import hooks
import socket

from kvmsentry.runtime.bundle import default_config, load_bundle, parse_process
from kvmsentry.runtime.sandbox import Sandbox, request, start_detached
from kvmsentry.runtime.state import (RuntimeError_, StateDir, check_id, now_rfc3339,
                                     public_state)

RUNNING_STATES = ("created", "running")


class Log:
    """--log FILE with --log-format text|json; stderr gets the message too."""

    def __init__(self, path, fmt, debug):
        self.path, self.fmt, self.debug_on = path, fmt, debug

    def _write(self, level, msg):
        if not self.path:
            return
        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        line = (json.dumps({"level": level, "msg": msg, "time": now}) if self.fmt == "json"
                else 'time="%s" level=%s msg="%s"' % (now, level, msg))
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass

    def error(self, msg):
        sys.stderr.write("kvmsentry: %s\n" % msg)
        self._write("error", msg)

    def debug(self, msg):
        if self.debug_on:
            self._write("debug", msg)


def add_commands(sub):
    """Register the OCI commands on the top-level subparsers."""
    s = sub.add_parser("spec", help="write a default config.json in the bundle")
    s.add_argument("--bundle", "-b", default=".")
    for name in ("create", "run"):
        c = sub.add_parser(name, help="%s a container from an OCI bundle" % name)
        c.add_argument("--bundle", "-b", default=".")
        c.add_argument("--pid-file")
        c.add_argument("--console-socket")
        c.add_argument("--no-pivot", action="store_true")
        c.add_argument("--no-new-keyring", action="store_true")
        c.add_argument("--preserve-fds", type=int, default=0)
        if name == "run":
            c.add_argument("--detach", "-d", action="store_true")
        c.add_argument("id")
    for name, text in (("start", "start a created container"),
                       ("state", "print a container's state as JSON"),
                       ("ps", "list the processes inside a container"),
                       ("wait", "wait for a container to exit; print its exit status"),
                       ("events", "print container events or stats")):
        c = sub.add_parser(name, help=text)
        if name == "ps":
            c.add_argument("--format", "-f", default="table", choices=["table", "json"])
        if name == "events":
            c.add_argument("--stats", action="store_true")
            c.add_argument("--interval", default="5s")
        c.add_argument("id")
    c = sub.add_parser("exec", help="run a new process inside a running container")
    c.add_argument("--process", "-p", help="a process.json (the config's process object)")
    c.add_argument("--cwd")
    c.add_argument("--env", "-e", action="append", default=[])
    c.add_argument("--user", "-u", help="UID[:GID]")
    c.add_argument("--additional-gids", "-g", action="append", type=int, default=[])
    c.add_argument("--tty", "-t", action="store_true")
    c.add_argument("--detach", "-d", action="store_true")
    c.add_argument("--pid-file")
    c.add_argument("--console-socket")
    c.add_argument("id")
    c.add_argument("exec_args", nargs=argparse.REMAINDER, metavar="COMMAND")
    c = sub.add_parser("list", help="list containers")
    c.add_argument("--format", "-f", default="table", choices=["table", "json"])
    c.add_argument("--quiet", "-q", action="store_true")
    c = sub.add_parser("kill", help="send a signal to a container")
    c.add_argument("--all", "-a", action="store_true")
    c.add_argument("id")
    c.add_argument("signal", nargs="?", default="SIGTERM")
    c = sub.add_parser("delete", help="delete a container's state (and sandbox)")
    c.add_argument("--force", "-f", action="store_true")
    c.add_argument("id")


COMMANDS = ("spec", "create", "run", "start", "state", "ps", "wait", "events", "list",
            "kill", "delete", "exec")


def dispatch(args):
    log = Log(args.log, args.log_format, args.debug)
    if args.systemd_cgroup:
        log.debug("--systemd-cgroup ignored: the sandbox has no host cgroups of its own")
    states = StateDir(args.state_root)
    try:
        return globals()["cmd_" + args.command](args, states, log)
    except RuntimeError_ as e:
        log.error(str(e))
        return 1


def cmd_spec(args, states, log):
    path = os.path.join(args.bundle, "config.json")
    if os.path.exists(path):
        raise RuntimeError_("File %s exists. Remove it first" % path)
    with open(path, "w") as f:
        json.dump(default_config(), f, indent="\t")
    return 0


class _Options:
    def __init__(self, args):
        self.memory = args.memory
        self.strace = args.strace
        self.patch_syscalls = True
        self.confine = not args.unsafe_no_confine
        self.max_vcpus = None
        self.platform = args.platform           # None: $KVMSENTRY_PLATFORM, else auto
        self.network = args.oci_network
        self.console_socket = getattr(args, "console_socket", None)


def _open_debug_log(args, cid):
    path = args.debug_log
    if not path:
        return None
    if path.endswith("/"):                 # runsc: one file per command
        os.makedirs(path, exist_ok=True)
        path = os.path.join(path, "%s.%s.log" % (cid, args.command))
    return open(path, "a")


def _new_state(args, cid, spec):
    return {"id": cid, "status": "creating", "pid": 0, "bundle": os.path.abspath(args.bundle),
            "rootfs": spec.root_path, "created": now_rfc3339(), "owner": "",
            "annotations": spec.annotations}


def _prepare(args, states, log):
    """Validate and record a new container; return (lock, spec)."""
    check_id(args.id)
    spec = load_bundle(args.bundle)
    lock = states.lock(args.id)
    if states.exists(args.id):
        lock.close()
        raise RuntimeError_("container with id exists: %s" % args.id)
    detached = args.command == "create" or getattr(args, "detach", False)
    if spec.terminal and detached and not args.console_socket:
        lock.close()
        raise RuntimeError_("cannot allocate tty if runc will detach without setting "
                            "console socket")
    if args.console_socket and not spec.terminal:
        lock.close()
        raise RuntimeError_("--console-socket given but process.terminal is false")
    states.save(_new_state(args, args.id, spec))
    return lock, spec


def _write_pid_file(path, pid):
    if path:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(pid))
        os.rename(tmp, path)


def cmd_create(args, states, log):
    lock, spec = _prepare(args, states, log)
    with lock:
        debug_log = _open_debug_log(args, args.id)
        sandbox = Sandbox(args.id, spec, states, _Options(args), debug_log)
        pid, error = start_detached(sandbox.run, close_in_child=[lock.fd])
        if error is not None:
            states.remove(args.id)
            raise RuntimeError_(error)
        _write_pid_file(args.pid_file, pid)
    return 0


def cmd_run(args, states, log):
    if args.detach:
        code = cmd_create(args, states, log)
        return code or cmd_start(args, states, log)
    lock, spec = _prepare(args, states, log)
    with lock:
        debug_log = _open_debug_log(args, args.id)
        sandbox = Sandbox(args.id, spec, states, _Options(args), debug_log)
        # The sandbox is a child in this session: the terminal's signals
        # reach it directly; this process only waits and cleans up.
        pid, error = start_detached(lambda report: sandbox.run(report, wait_for_start=False),
                                    close_in_child=[lock.fd], new_session=False)
        if error is not None:
            states.remove(args.id)
            raise RuntimeError_(error)
        _write_pid_file(args.pid_file, pid)
        states.update(args.id, status="running")
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signo, _f: os.kill(pid, signo))
    _, status = os.waitpid(pid, 0)
    with states.lock(args.id):
        states.remove(args.id)          # a foreground run leaves nothing behind, as runc
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else \
        128 + os.WTERMSIG(status)


def _live(states, cid):
    with states.lock(cid):
        return states.load(cid)


def cmd_start(args, states, log):
    with states.lock(args.id):
        state = states.load(args.id)
        if state["status"] != "created":
            raise RuntimeError_("cannot start a container that has stopped"
                                if state["status"] == "stopped"
                                else "cannot start an already running container")
        try:
            reply = request(states, args.id, {"op": "start"}, timeout=10)
        except OSError as e:
            raise RuntimeError_("cannot start container: %s" % e) from None
        if "error" in reply:
            raise RuntimeError_(reply["error"])
        state = states.update(args.id, status="running")
    try:
        hooks.run(load_bundle(state["bundle"]), "poststart", public_state(state), fatal=False)
    except RuntimeError_ as e:
        log.debug("poststart: %s" % e)
    return 0


def cmd_state(args, states, log):
    state = _live(states, args.id)
    print(json.dumps(public_state(state), indent=2))
    return 0


def cmd_list(args, states, log):
    rows = []
    for cid in states.ids():
        try:
            rows.append(public_state(states.load(cid)))
        except RuntimeError_:
            continue
    if args.quiet:
        for r in rows:
            print(r["id"])
    elif args.format == "json":
        print(json.dumps(rows))
    else:
        print("%-12s%-10s%-10s%-40s%-31s%s" % ("ID", "PID", "STATUS", "BUNDLE", "CREATED",
                                               "OWNER"))
        for r in rows:
            print("%-12s%-10d%-10s%-40s%-31s%s" % (r["id"], r["pid"], r["status"],
                                                   r["bundle"], r["created"], r["owner"]))
    return 0


def parse_signal(text):
    text = str(text).upper()
    if text.isdigit():
        signo = int(text)
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        try:
            signo = int(signal.Signals[name])
        except KeyError:
            raise RuntimeError_("unknown signal %r" % text) from None
    if not 0 <= signo < 65:
        raise RuntimeError_("invalid signal %d" % signo)
    return signo


def cmd_kill(args, states, log):
    signo = parse_signal(args.signal)
    with states.lock(args.id):
        state = states.load(args.id)
        if state["status"] not in RUNNING_STATES:
            raise RuntimeError_("container not running")
        _signal(states, state, signo, args.all)
    return 0


def _signal(states, state, signo, everyone):
    try:
        reply = request(states, state["id"], {"op": "signal", "signo": signo,
                                              "all": everyone}, timeout=10)
    except OSError:
        reply = None
    if reply is None or "error" in reply:
        if signo != signal.SIGKILL:
            raise RuntimeError_("sandbox not answering: %s" % (reply or {}).get(
                "error", "no control connection"))
        os.kill(state["pid"], signal.SIGKILL)      # unresponsive: the host kill


def cmd_delete(args, states, log):
    with states.lock(args.id):
        try:
            state = states.load(args.id)
        except RuntimeError_:
            if args.force:
                return 0
            raise
        if state["status"] in RUNNING_STATES:
            if state["status"] == "running" and not args.force:
                raise RuntimeError_("cannot delete container %s that is not stopped: running"
                                    % args.id)
            _signal(states, state, signal.SIGKILL, True)
            _wait_gone(state["pid"])
        try:
            spec = load_bundle(state["bundle"])
            hooks.run(spec, "poststop", public_state(state), fatal=False)
        except RuntimeError_:
            pass
        states.remove(args.id)
    return 0


def _wait_gone(pid, timeout=10.0):
    """Wait for the sandbox process to end (a pidfd turns readable when it
    does), SIGKILL it if it has not by the timeout."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return                                   # already gone
    try:
        if not select.select([fd], [], [], timeout)[0]:
            os.kill(pid, signal.SIGKILL)
            select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    try:
        os.waitpid(pid, os.WNOHANG)              # reap it if it is our child
    except ChildProcessError:
        pass


def cmd_ps(args, states, log):
    state = _live(states, args.id)
    if state["status"] not in RUNNING_STATES:
        raise RuntimeError_("container not running")
    procs = request(states, args.id, {"op": "ps"}, timeout=10)["processes"]
    if args.format == "json":
        print(json.dumps([p["pid"] for p in procs]))
    else:
        print("%-8s%-8s%-8s%s" % ("UID", "PID", "PPID", "CMD"))
        for p in procs:
            print("%-8d%-8d%-8d%s" % (p["uid"], p["pid"], p["ppid"], p["comm"]))
    return 0


def cmd_wait(args, states, log):
    state = states.load(args.id)
    if state["status"] in RUNNING_STATES:
        try:
            reply = request(states, args.id, {"op": "wait"})
            print(reply["exit_status"])
            return 0
        except OSError:
            state = states.load(args.id)
    if "exit_status" not in state:
        raise RuntimeError_("container %s: exit status unknown" % args.id)
    print(state["exit_status"])
    return 0


def cmd_events(args, states, log):
    state = _live(states, args.id)
    if state["status"] not in RUNNING_STATES:
        raise RuntimeError_("container not running")
    procs = request(states, args.id, {"op": "ps"}, timeout=10)["processes"]
    print(json.dumps({"type": "stats", "id": args.id,
                      "data": {"pids": {"current": len(procs)}}}))
    return 0


def cmd_exec(args, states, log):
    state = _live(states, args.id)
    if state["status"] not in RUNNING_STATES:
        raise RuntimeError_("cannot exec in a stopped container")
    process = _exec_process(args, state)
    if args.tty:
        process["terminal"] = True
    spec = parse_process(process)                   # the same validation as create
    if spec.terminal and args.detach and not args.console_socket:
        raise RuntimeError_("cannot allocate tty if runc will detach without setting "
                            "console socket")
    if args.console_socket and not spec.terminal:
        raise RuntimeError_("--console-socket given but process.terminal is false")
    from kvmsentry.runtime.sandbox import CONTROL, connect, read_replies
    stdio, master = [0, 1, 2], None
    if spec.terminal:
        # As runc: a new pty; its master goes to --console-socket, or this
        # process relays it to its own stdio; the slave is the process's terminal.
        master, slave = os.openpty()
        stdio = [slave, slave, slave]
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if args.console_socket:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as console:
                connect(console, args.console_socket)
                socket.send_fds(console, [b"/dev/ptmx"], [master])
            os.close(master)
            master = None
        connect(conn, states.path(args.id, CONTROL))
        socket.send_fds(conn, [json.dumps({"op": "exec", "process": process}).encode()
                               + b"\n"], stdio)
        if spec.terminal:
            os.close(slave)
        replies = read_replies(conn)
        first = next(replies, None)
        if first is None or "error" in first:
            raise RuntimeError_("exec failed: %s" % (first or {}).get(
                "error", "the sandbox closed the connection"))
        _write_pid_file(args.pid_file, first["pid"])
        if args.detach:
            return 0
        if master is not None:
            _relay_terminal(master, conn)
        last = next(replies, None)
    finally:
        conn.close()
        if master is not None:
            os.close(master)
    if last is None:
        raise RuntimeError_("exec: the sandbox ended before the process reported its exit")
    return last["exit_status"]


def _relay_terminal(master, conn):
    """exec --tty without a console socket: copy this process's stdin to
    the pty and the pty to its stdout (the caller's terminal raw meanwhile:
    the pty inside does the cooking) until the sandbox reports the exit."""
    import termios
    import tty
    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        try:
            fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(0, termios.TIOCGWINSZ, bytes(8)))
        except OSError:
            pass
        tty.setraw(0)
    sources = [master, 0, conn]
    try:
        while master in sources:
            ready, _, _ = select.select(sources, [], [])
            if 0 in ready:
                data = os.read(0, 4096)
                if data:
                    os.write(master, data)
                else:
                    sources.remove(0)
            if master in ready:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    data = b""                   # EIO: the sandbox let go of the slave
                if data:
                    os.write(1, data)
                else:
                    sources.remove(master)
            if conn in ready:
                # The exit report is there: what the pty still holds is the last output.
                sources = [master]
                conn = None
                while select.select([master], [], [], 0.2)[0]:
                    try:
                        data = os.read(master, 4096)
                    except OSError:
                        break
                    if not data:
                        break
                    os.write(1, data)
                break
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


def _exec_process(args, state):
    """The process object for exec: --process's file, else the container's
    own process with the command line's args and overrides (as runc)."""
    if args.process:
        try:
            with open(args.process) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            raise RuntimeError_("--process %s: %s" % (args.process, e)) from None
    command = args.exec_args[1:] if args.exec_args[:1] == ["--"] else args.exec_args
    if not command:
        raise RuntimeError_("exec: no command given")
    try:
        with open(os.path.join(state["bundle"], "config.json")) as f:
            base = json.load(f).get("process") or {}
    except (OSError, ValueError):
        base = {}
    process = {"args": command, "env": list(base.get("env") or []),
               "cwd": args.cwd or base.get("cwd") or "/",
               "user": dict(base.get("user") or {"uid": 0, "gid": 0}),
               "terminal": False}
    for e in args.env:
        key = e.split("=", 1)[0]
        process["env"] = [x for x in process["env"] if x.split("=", 1)[0] != key] + [e]
    if args.user:
        uid, _, gid = args.user.partition(":")
        try:
            process["user"] = {"uid": int(uid), "gid": int(gid or 0)}
        except ValueError:
            raise RuntimeError_("--user %s: expected UID[:GID]" % args.user) from None
    if args.additional_gids:
        process["user"]["additionalGids"] = args.additional_gids
    return process
