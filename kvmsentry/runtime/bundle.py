"""An OCI bundle's config.json, read into what the sandbox needs.

Everything the runtime spec defines is either honoured, recorded (process
capabilities: the sandbox's credentials are the process user's), or
ignored with a debug-log line saying so (Linux namespaces, cgroups,
seccomp, apparmor: the sandbox is all of those at once). A bundle the
runtime cannot run as written is a clear error, never a silent guess.
"""
import json
import os
import resource
from dataclasses import dataclass, field

from kvmsentry.runtime.state import RuntimeError_

RLIMIT_NAMES = {n: getattr(resource, n)
                for n in dir(resource) if n.startswith("RLIMIT_")}
# createContainer and startContainer run in the container's namespaces:
# there is no host process there to run them in.
IN_CONTAINER_HOOKS = ("createContainer", "startContainer")
HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer",
              "poststart", "poststop")
IGNORED_MOUNT_TYPES = ("devpts", "mqueue", "cgroup", "cgroup2", "sysfs", "proc")
SKIPPED_DESTINATIONS = ("/dev",)       # the sandbox's own devfs is always there


@dataclass
class Mount:
    destination: str
    kind: str                 # "bind", "tmpfs", "proc", "sysfs" or "mountpoint"
    source: str = ""
    readonly: bool = False
    size: int = 0             # tmpfs bytes (0: default)
    mode: int = 0o1777


@dataclass
class Hook:
    path: str
    args: list
    env: list
    timeout: float = None


@dataclass
class ContainerSpec:
    bundle: str
    args: list
    env: list
    cwd: str
    uid: int = 0
    gid: int = 0
    additional_gids: list = field(default_factory=list)
    terminal: bool = False
    rlimits: dict = field(default_factory=dict)      # resource -> (soft, hard)
    no_new_privileges: bool = False
    capabilities: dict = field(default_factory=dict)
    root_path: str = ""
    root_readonly: bool = False
    hostname: str = ""
    mounts: list = field(default_factory=list)
    annotations: dict = field(default_factory=dict)
    hooks: dict = field(default_factory=dict)         # kind -> [Hook]
    ignored: list = field(default_factory=list)       # debug-log lines


def load_bundle(bundle):
    """Read bundle/config.json; RuntimeError_ with a one-line reason."""
    bundle = os.path.abspath(bundle)
    path = os.path.join(bundle, "config.json")
    try:
        with open(path) as f:
            config = json.load(f)
    except FileNotFoundError:
        raise RuntimeError_("bundle %s: config.json: no such file" % bundle) from None
    except ValueError as e:
        raise RuntimeError_("bundle %s: config.json: invalid JSON: %s" % (bundle, e)) from None
    if not isinstance(config, dict):
        raise RuntimeError_("bundle %s: config.json is not a JSON object" % bundle)
    return parse_config(bundle, config)


def _need(cond, message):
    if not cond:
        raise RuntimeError_("config.json: " + message)


def parse_config(bundle, config):
    process = config.get("process")
    _need(isinstance(process, dict), "process is missing")
    spec = parse_process(process, bundle)
    root = config.get("root") or {}
    _need(isinstance(root, dict) and isinstance(root.get("path"), str) and root["path"],
          "root.path is missing")
    # Relative to the bundle as runc sees it (it chdirs there first: links
    # in the bundle's own path are resolved), then no link at all: a
    # rootfs that is a symlink could name any host directory (/ itself),
    # and runc refuses it in the same words.
    spec.root_path = os.path.normpath(os.path.join(os.path.realpath(bundle), root["path"]))
    spec.root_readonly = bool(root.get("readonly", False))
    if not os.path.isdir(spec.root_path):
        raise RuntimeError_("rootfs (%s) does not exist" % spec.root_path)
    if os.path.realpath(spec.root_path) != spec.root_path:
        raise RuntimeError_("invalid rootfs: not an absolute path, or a symlink")
    spec.hostname = config.get("hostname", "") or ""
    spec.annotations = dict(config.get("annotations") or {})
    for m in config.get("mounts") or []:
        mount = _parse_mount(m, bundle, spec.ignored)
        if mount is not None:
            spec.mounts.append(mount)
    hooks = config.get("hooks") or {}
    for kind in HOOK_KINDS:
        spec.hooks[kind] = [_parse_hook(h) for h in hooks.get(kind) or []]
        if spec.hooks[kind] and kind in IN_CONTAINER_HOOKS:
            spec.ignored.append("hooks.%s ignored: they run inside the container's "
                                "namespaces, which are the sandbox's own" % kind)
    for key in sorted(set(config) - {"ociVersion", "process", "root", "hostname", "mounts",
                                     "annotations", "hooks"}):
        spec.ignored.append("config.json: %s ignored (the sandbox provides its own)" % key)
    return spec


def parse_process(process, bundle=""):
    args = process.get("args")
    _need(isinstance(args, list) and args and all(isinstance(a, str) for a in args),
          "process.args must be a non-empty list of strings")
    env = process.get("env") or []
    _need(all(isinstance(e, str) for e in env), "process.env must be strings")
    cwd = process.get("cwd") or "/"
    _need(cwd.startswith("/"), "process.cwd must be an absolute path")
    user = process.get("user") or {}
    spec = ContainerSpec(bundle=bundle, args=list(args), env=list(env), cwd=cwd,
                         uid=_u32(user.get("uid", 0), "user.uid"),
                         gid=_u32(user.get("gid", 0), "user.gid"),
                         additional_gids=[_u32(g, "user.additionalGids")
                                          for g in user.get("additionalGids") or []],
                         terminal=bool(process.get("terminal", False)),
                         no_new_privileges=bool(process.get("noNewPrivileges", False)),
                         capabilities=dict(process.get("capabilities") or {}))
    for rl in process.get("rlimits") or []:
        name = rl.get("type")
        _need(name in RLIMIT_NAMES, "unknown rlimit %r" % name)
        soft, hard = _u64(rl.get("soft"), name), _u64(rl.get("hard"), name)
        _need(soft <= hard, "%s: soft limit above hard limit" % name)
        spec.rlimits[RLIMIT_NAMES[name]] = (soft, hard)
    return spec


def _u32(v, what):
    _need(isinstance(v, int) and 0 <= v < 1 << 32, "%s must be a 32-bit unsigned integer" % what)
    return v


def _u64(v, what):
    _need(isinstance(v, int) and 0 <= v < 1 << 64, "%s must be a 64-bit unsigned integer" % what)
    return v


def _parse_mount(m, bundle, ignored):
    dest = m.get("destination")
    _need(isinstance(dest, str) and dest.startswith("/"),
          "mount destination must be an absolute path: %r" % dest)
    kind = m.get("type") or ""
    options = m.get("options") or []
    if dest.rstrip("/") in SKIPPED_DESTINATIONS or any(
            dest.startswith(d + "/") for d in SKIPPED_DESTINATIONS):
        ignored.append("mount %s (%s): the sandbox's own /dev provides it" % (dest, kind))
        return None
    if kind in IGNORED_MOUNT_TYPES:
        if kind in ("proc", "sysfs"):
            return Mount(dest, kind, readonly="ro" in options)
        ignored.append("mount %s (%s): only its directory is made" % (dest, kind))
        return Mount(dest, "mountpoint")
    if kind == "bind" or "bind" in options or "rbind" in options:
        source = m.get("source") or ""
        source = os.path.normpath(os.path.join(bundle, source))
        if not os.path.exists(source):
            raise RuntimeError_("mount %s: source %s does not exist" % (dest, source))
        return Mount(dest, "bind", source, readonly="ro" in options)
    if kind == "tmpfs":
        mount = Mount(dest, "tmpfs", readonly="ro" in options)
        for opt in options:
            if opt.startswith("size="):
                mount.size = _size(opt[5:])
            elif opt.startswith("mode="):
                mount.mode = int(opt[5:], 8)
        return mount
    raise RuntimeError_("mount %s: type %r is not supported" % (dest, kind))


def _size(text):
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.lower()
    if text and text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)


def _parse_hook(h):
    _need(isinstance(h, dict) and isinstance(h.get("path"), str), "hook without a path")
    return Hook(h["path"], list(h.get("args") or [h["path"]]), list(h.get("env") or []),
                h.get("timeout"))


def default_config(args=("sh",), terminal=True):
    """What `spec` writes: runc's default shape, trimmed to what the sandbox uses."""
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "kvmsentry",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777"]},
        ],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                                 {"type": "mount"}, {"type": "network"}]},
    }
