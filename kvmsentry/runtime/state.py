"""Container state under the runtime's --root directory, as runc keeps it.

Each container has a directory --root/ID holding state.json (written
atomically: a temporary file renamed over it) and the sandbox process's
control socket. Commands on one id are serialized by an flock on
--root/ID.lock, taken for the length of the command. The status a
command reports is derived, like runc's: a recorded "created"/"running"
whose process is gone (or is another process now: pid plus start time
decide) is "stopped".
"""
import datetime
import fcntl
import json
import os
import re

OCI_VERSION = "1.0.2"
DEFAULT_ROOT = "/run/kvmsentry"
_VALID_ID = re.compile(r"^[\w+.-]+$")


class RuntimeError_(Exception):
    """A command failed: message for the user, exit code 1 as runc."""


def check_id(cid):
    if not cid or not _VALID_ID.match(cid) or cid in (".", ".."):
        raise RuntimeError_("invalid container id format: %s" % cid)


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def process_start_time(pid):
    """The process's start time in clock ticks (field 22 of /proc/PID/stat),
    or None if there is no such process: tells a live sandbox from a
    reused pid."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None                       # exited, not yet reaped: as good as gone
    return int(fields[19])


class StateDir:
    def __init__(self, root):
        self.root = root or DEFAULT_ROOT

    def path(self, cid, *names):
        return os.path.join(self.root, cid, *names)

    def lock(self, cid):
        """An exclusive lock on one container id (held until closed)."""
        check_id(cid)
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        fd = os.open(os.path.join(self.root, cid + ".lock"),
                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return _Lock(fd)

    def exists(self, cid):
        return os.path.exists(self.path(cid, "state.json"))

    def ids(self):
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        return [n for n in names if os.path.isfile(os.path.join(self.root, n, "state.json"))]

    def load(self, cid):
        check_id(cid)
        try:
            with open(self.path(cid, "state.json")) as f:
                state = json.load(f)
        except FileNotFoundError:
            raise RuntimeError_("container does not exist") from None
        except (OSError, ValueError) as e:
            raise RuntimeError_("container %s: unreadable state: %s" % (cid, e)) from None
        state["status"] = live_status(state)
        return state

    def save(self, state):
        """Write state.json atomically (rename over the old one)."""
        d = self.path(state["id"])
        os.makedirs(d, mode=0o711, exist_ok=True)
        tmp = os.path.join(d, ".state.json.tmp%d" % os.getpid())
        with open(tmp, "w") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(d, "state.json"))

    def update(self, cid, **changes):
        with open(self.path(cid, "state.json")) as f:
            state = json.load(f)
        state.update(changes)
        self.save(state)
        return state

    def remove(self, cid):
        d = self.path(cid)
        for name in os.listdir(d) if os.path.isdir(d) else ():
            try:
                os.unlink(os.path.join(d, name))
            except IsADirectoryError:
                pass
        try:
            os.rmdir(d)
        except FileNotFoundError:
            pass
        try:
            os.unlink(os.path.join(self.root, cid + ".lock"))
        except FileNotFoundError:
            pass


class _Lock:
    def __init__(self, fd):
        self.fd = fd

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def live_status(state):
    status = state.get("status", "stopped")
    if status in ("creating", "created", "running"):
        pid = state.get("pid") or 0
        if not pid or process_start_time(pid) != state.get("_start_time"):
            return "stopped"
    return status


def public_state(state):
    """The JSON `state` prints (the OCI runtime spec's fields, runc's order;
    the sandbox's pid is 0 once it has stopped, as runc reports)."""
    status = state["status"]
    out = {
        "ociVersion": OCI_VERSION,
        "id": state["id"],
        "pid": state.get("pid", 0) if status != "stopped" else 0,
        "status": status,
        "bundle": state["bundle"],
        "rootfs": state.get("rootfs", ""),
        "created": state.get("created", ""),
        "owner": state.get("owner", ""),
    }
    if state.get("annotations"):
        out["annotations"] = state["annotations"]
    return out
