"""The sandbox process a container is.

`create` forks it: it builds the machine, the mounts and the kernel,
loads the container's init, records state "created" and then waits at
the edge of the program's first instruction until `start` (or `kill`,
`delete`) arrives on its control socket. Its pid is the container's pid;
its exit status is the init's (128 + N for a signal), which is what a
container manager waiting on that pid (containerd's shim) reports.

The control socket (--root/ID/control.sock) takes one JSON request per
connection and answers one JSON line: {"op": "start"}, {"op": "signal",
"signo": N, "all": bool}, {"op": "ps"}, {"op": "wait"} (answered when the
sandbox ends).
"""
import fcntl
import json
import os
import signal
import socket
import sys
import termios
import threading

from kvmsentry.runtime import hooks
from kvmsentry.runtime.state import RuntimeError_, process_start_time

CONTROL = "control.sock"


class Sandbox:
    def __init__(self, cid, spec, states, options, debug_log=None):
        self.cid = cid
        self.spec = spec
        self.states = states
        self.options = options          # memory, strace, patch_syscalls
        self.debug_log = debug_log
        self.kernel = None
        self.started = threading.Event()
        self.early_signal = None        # a signal that arrived before start
        self.exit_code = None
        self.finished = threading.Event()

    # --- life ---------------------------------------------------------------------
    def run(self, on_created, wait_for_start=True):
        """Confine, build, load, report created (on_created(None) or
        on_created(error message)), wait for start, run; returns the exit
        code. The host pid recorded is this process's: with confinement it
        becomes the supervisor and the sentry runs in a child (pid 1 of its
        own pid namespace), whose status the supervisor exits with."""
        from kvmsentry.runtime.build import build_kernel, guest_creds, guest_rlimits
        host_pid = os.getpid()
        self.states.update(self.cid, pid=host_pid, _start_time=process_start_time(host_pid))
        if self.options.console_socket:
            try:
                _terminal_from_console_socket(self.options.console_socket)
            except OSError as e:
                on_created("--console-socket %s: %s" % (self.options.console_socket, e))
                return 1
        try:        # the hooks see the sandbox's pid (docker's joins its netns)
            hooks.run(self.spec, "createRuntime", self._public_state("creating"))
            hooks.run(self.spec, "prestart", self._public_state("creating"))
        except RuntimeError_ as e:
            on_created(str(e))
            return 1
        from kvmsentry.net import netns
        try:
            network = netns.enter(self.options.network)
        except netns.NetworkError as e:
            on_created(str(e))
            return 1
        confinement = None
        if self.options.confine:
            from kvmsentry.sandbox.confine import Confinement
            confinement = Confinement()
            confinement.enter()                   # returns in the sentry
        server = self._listen()
        try:
            kernel, machine = build_kernel(self.spec, self.options, self.debug_log)
            network.configure_files(kernel.mounts)
        except Exception as e:                 # noqa: BLE001 (reported to `create`)
            on_created("%s" % e)
            network.close()
            return 1
        self.kernel = kernel
        threading.Thread(target=self._serve, args=(server,), daemon=True,
                         name="control").start()

        def before_start():
            for line in self.spec.ignored:
                kernel.debug("oci: " + line)
            self.states.update(self.cid, status="created")
            if confinement is None:
                kernel.debug("confinement: OFF (--unsafe-no-confine)")
            else:
                # From here on no host path is reachable: `start` records
                # "running", and "stopped" is the recorded pid being gone.
                confinement.debug = kernel.debug
                confinement.describe_filter = self.debug_log is not None
                confinement.lock_down(self.debug_log.fileno() if self.debug_log else 2)
            on_created(None)
            if wait_for_start:
                self.started.wait()
            if self.early_signal is not None:
                os._exit(128 + self.early_signal)
        try:
            env = [e.encode() for e in self.spec.env]
            argv = [a.encode() for a in self.spec.args]
            status = kernel.run(argv, env, creds=guest_creds(self.spec),
                                cwd=self.spec.cwd.encode(),
                                rlimits=guest_rlimits(self.spec), before_start=before_start)
        finally:
            try:
                machine.close()
            except (OSError, BufferError):
                pass
            network.close()
        from kvmsentry.kernel.task import Task
        self.exit_code = Task.exit_code(status)
        self.finished.set()
        return self.exit_code

    def _public_state(self, status):
        from kvmsentry.runtime.state import public_state
        st = self.states.load(self.cid)
        st["status"] = status
        return public_state(st)

    # --- control socket -------------------------------------------------------------
    def _listen(self):
        path = self.states.path(self.cid, CONTROL)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with _short_path(path) as short:
            server.bind(short)
        os.chmod(path, 0o600)
        server.listen(16)
        return server

    def _serve(self, server):
        while True:
            conn, _ = server.accept()
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        fds = []
        with conn:
            try:
                data, fds, _, _ = socket.recv_fds(conn, 65536, 3)
                if not data.endswith(b"\n"):
                    data += _read_line(conn)
                request = json.loads(data)
                if request.get("op") == "exec":
                    self._exec(conn, request, fds)
                    return
                reply = self._dispatch(request)
            except Exception as e:             # noqa: BLE001 (answered, not fatal)
                reply = {"error": "%s: %s" % (type(e).__name__, e)}
            except BaseException:
                for fd in fds:
                    os.close(fd)
                raise
            _reply(conn, reply)

    def _exec(self, conn, request, fds):
        """Start a process in the running sandbox with the caller's stdio;
        answer {"pid"} at once, then {"exit_status"} when it ends."""
        from kvmsentry.kernel.creds import Credentials
        from kvmsentry.loader.load import ExecError
        from kvmsentry.kernel.task import Task
        from kvmsentry.runtime.build import guest_rlimits
        from kvmsentry.runtime.bundle import parse_process
        spec = parse_process(request["process"])
        creds = Credentials(spec.uid, spec.uid, spec.gid, spec.gid,
                            groups=tuple(spec.additional_gids),
                            no_new_privs=spec.no_new_privileges)
        stdio, bridge, before_start = tuple(fds), None, None
        if spec.terminal and fds:
            # exec --tty: the caller passed a host terminal; the process
            # gets a pty of the sandbox's own as its controlling terminal.
            from kvmsentry.kernel.tty.host_bridge import Bridge, open_pty
            with self.kernel.lock:
                master, slave = open_pty(self.kernel, creds)
            bridge = Bridge(self.kernel, master, fds[0])
            stdio = (slave, slave, slave)

            def before_start(group):
                master.pty.session, master.pty.pgrp = group.sid, group.pgid
        try:
            group = self.kernel.spawn([a.encode() for a in spec.args],
                                      [e.encode() for e in spec.env], creds,
                                      spec.cwd.encode(), stdio, guest_rlimits(spec),
                                      before_start)
        except ExecError as e:
            for fd in fds:
                os.close(fd)
            if bridge is not None:
                with self.kernel.lock:
                    slave.release()
                    master.release()
            _reply(conn, {"error": str(e), "errno": e.errno})
            return
        if bridge is not None:
            bridge.start()
        # The stdio fds stay open for the sandbox's life: a process the
        # exec'd one started may still use them, and a closed host fd
        # number could be reused under it by the sentry's own files.
        _reply(conn, {"pid": group.tgid})
        status = self.kernel.wait_spawned(group)
        if bridge is not None:
            bridge.finish()
            for fd in fds:                 # only the bridge used them: the caller sees EOF
                os.close(fd)
        _reply(conn, {"exit_status": Task.exit_code(status)})

    def _dispatch(self, request):
        op = request.get("op")
        if op == "start":
            if self.started.is_set():
                return {"error": "container already started"}
            self.started.set()
            return {"ok": True}
        if op == "signal":
            return self._signal(int(request["signo"]), bool(request.get("all")))
        if op == "ps":
            return {"processes": self._processes()}
        if op == "wait":
            self.finished.wait()
            return {"exit_status": self.exit_code}
        return {"error": "unknown request %r" % op}

    def _signal(self, signo, everyone):
        if not self.started.is_set():
            # Not started: nothing ran yet; the container just ends, as a
            # runc container killed in "created" does.
            if signo == 0:
                return {"ok": True}
            self.early_signal = signo
            self.started.set()
            return {"ok": True}
        kernel = self.kernel
        with kernel.lock:
            targets = [t for t in kernel.tasks.values()
                       if everyone or t.tgid == 1]
            seen = set()
            for task in targets:
                if task.tgid in seen:
                    continue
                seen.add(task.tgid)
                if signo and not _init_ignores(task, signo):
                    kernel.post_signal(task, signo)
        return {"ok": True}

    def _processes(self):
        kernel = self.kernel
        with kernel.lock:
            out = {}
            for task in kernel.tasks.values():
                if task.tgid not in out:
                    out[task.tgid] = {"pid": task.tgid, "ppid": task.ppid,
                                      "comm": task.comm, "uid": task.creds.uid}
        return [out[p] for p in sorted(out)]


def _terminal_from_console_socket(path):
    """process.terminal with --console-socket, as runc does it: a new pty
    whose master goes to the socket (SCM_RIGHTS, with its name as the
    message), whose slave becomes this session's controlling terminal and
    the container's stdio (the sandbox's devfs serves it as /dev/tty)."""
    master, slave = os.openpty()
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with sock:
            connect(sock, path)
            socket.send_fds(sock, [b"/dev/ptmx"], [master])
    finally:
        os.close(master)
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)


def _init_ignores(task, signo):
    """A container's init, like any pid namespace's init, only gets from
    outside the signals it has a handler for, plus SIGKILL and SIGSTOP
    (so `docker stop` of a `sleep` waits and then kills, as with runc)."""
    if task.tgid != 1 or signo in (signal.SIGKILL, signal.SIGSTOP):
        return False
    return task.sighand.get(signo).is_default


class _short_path:
    """A name for path that fits sockaddr_un (108 bytes): container
    managers' state paths are longer, so long ones go through
    /proc/self/fd/N of their directory."""

    def __init__(self, path):
        self.path, self.fd = path, None

    def __enter__(self):
        if len(os.fsencode(self.path)) < 100:
            return self.path
        self.fd = os.open(os.path.dirname(self.path), os.O_PATH | os.O_DIRECTORY)
        return "/proc/self/fd/%d/%s" % (self.fd, os.path.basename(self.path))

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)


def connect(sock, path):
    with _short_path(path) as short:
        sock.connect(short)


def _reply(conn, reply):
    try:
        conn.sendall(json.dumps(reply).encode() + b"\n")
    except OSError:
        pass


def _read_line(conn):
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def request(states, cid, message, timeout=None):
    """Send one request to a container's sandbox process; its reply (dict).
    OSError when the sandbox is not there to answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    with s:
        connect(s, states.path(cid, CONTROL))
        s.sendall(json.dumps(message).encode() + b"\n")
        line = _read_line(s)
    if not line:
        raise ConnectionError("the sandbox closed the control connection")
    return json.loads(line)


def start_detached(run_sandbox, close_in_child=(), new_session=True):
    """Fork the sandbox process; return (pid, error message or None) once
    it has reported "created" (or failed). run_sandbox(report) runs in the
    child and returns its exit code. close_in_child: the command's own fds
    (its id lock) that the sandbox must not keep."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                        # the sandbox process
        os.close(r)
        for fd in close_in_child:
            os.close(fd)
        if new_session:
            os.setsid()
        code = 1
        try:
            def report(error):
                os.write(w, (b"ok\n" if error is None else
                             b"error: " + error.encode(errors="replace") + b"\n"))
                os.close(w)
            code = run_sandbox(report)
        except BaseException as e:                      # noqa: BLE001
            try:
                os.write(w, b"error: %s\n" % str(e).encode(errors="replace"))
            except OSError:
                pass
            import traceback
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        line = f.readline().decode(errors="replace").strip()
    if line == "ok":
        return pid, None
    os.waitpid(pid, 0)
    return pid, (line[len("error: "):] if line.startswith("error: ") else
                 "the sandbox process died before the container was created")



def read_replies(conn):
    """The JSON lines a control connection answers, one at a time."""
    buf = b""
    while True:
        while b"\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        yield json.loads(line)
