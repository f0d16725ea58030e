"""The sandbox never changes the host's files it was not given, and never
reaches outside its root.

- Mutations of host files seen through the overlay land in memory: the
  host tree is byte-for-byte unchanged afterwards.
- With --root, symlinks (absolute, relative, through /proc/self/root) and
  `..` walks fail exactly as they do inside a chroot(8) on a copy of the
  same tree (Linux is the oracle), and a marker file planted outside the
  root never shows up.
- --volume writes reach the host directory; :ro refuses them with EROFS.
- Every host object the sentry opens for the guest lies inside the root
  or a volume (kvmsentry.fsimpl.hostfs.set_open_audit, plus Python's own
  audit events for opens by path).

Native runs only ever happen under chroot(8), on copies inside tmp_path,
and only with operations whose effects stay in that copy.
"""
import difflib
import hashlib
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys

import pytest

ENV = {"PATH": "/bin", "LANG": "C.UTF-8", "LC_ALL": "C"}
CHROOT = "/usr/sbin/chroot"
UNSHARE = "/usr/bin/unshare"
BUSYBOX = "/bin/busybox"
T0 = 1_500_000_000


def fingerprint(root):
    """Everything under root (root included) byte for byte: names, types,
    modes, owners, sizes, mtimes, link targets, content hashes."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for path in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
            s = os.lstat(path)
            desc = (s.st_mode, s.st_uid, s.st_gid, s.st_nlink, s.st_mtime_ns)
            if stat.S_ISLNK(s.st_mode):
                desc += (os.readlink(path),)
            elif stat.S_ISREG(s.st_mode):
                with open(path, "rb") as f:
                    desc += (s.st_size, hashlib.sha256(f.read()).hexdigest())
            out[os.path.relpath(path, root)] = desc
    return out


def assert_same(native, sandbox):
    """Same (status, stdout, stderr), with a readable diff when not."""
    for what, n, b in zip(("stdout", "stderr"), native[1:], sandbox[1:]):
        assert b == n, "%s differs:\n%s" % (what, "".join(difflib.unified_diff(
            n.decode(errors="replace").splitlines(True),
            b.decode(errors="replace").splitlines(True), "native", "sandbox")))
    assert sandbox[0] == native[0], "exit status differs"


def set_times(root, t=T0):
    """Fixed mtimes everywhere, deepest first."""
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        paths += [os.path.join(dirpath, n) for n in dirnames + filenames]
    for i, p in enumerate(sorted(paths, key=lambda p: -p.count("/"))):
        os.utime(p, ns=((t + i) * 10**9 + 7, (t + i) * 10**9 + 7), follow_symlinks=False)
    os.utime(root, ns=(t * 10**9, t * 10**9))


# --- the host tree seen through the overlay ------------------------------
MUTATE_SCRIPT = r"""
import os, shutil, sys
t = sys.argv[1]
def show(what):
    out = []
    for d, dirs, files in os.walk(t):
        dirs.sort()
        for n in sorted(dirs + files):
            p = os.path.join(d, n)
            s = os.lstat(p)
            extra = os.readlink(p) if os.path.islink(p) else (
                open(p, "rb").read()[:40] if os.path.isfile(p) else "")
            size = 0 if os.path.isdir(p) else s.st_size   # the file system's business
            out.append("%s %o %d %r" % (os.path.relpath(p, t), s.st_mode, size, extra))
    print("--", what)
    print("\n".join(out))
show("before")
os.unlink(t + "/delete_me.txt")
os.rename(t + "/rename_me.txt", t + "/renamed.txt")
# (A host directory with entries cannot move in the overlay: EXDEV, as in
# Linux overlayfs without redirect_dir; an empty one can.)
os.rename(t + "/empty", t + "/empty_renamed")
os.chmod(t + "/chmod_me.txt", 0o600)
os.chmod(t + "/dir", 0o700)
os.truncate(t + "/truncate_me.txt", 3)
with open(t + "/overwrite_me.txt", "r+b") as f:
    f.write(b"OVERWRITTEN")
with open(t + "/append_me.txt", "ab") as f:
    f.write(b" appended")
with open(t + "/new.txt", "w") as f:
    f.write("new file")
os.utime(t + "/renamed.txt", (1, 1))
os.symlink("renamed.txt", t + "/newlink")
os.unlink(t + "/link")
os.link(t + "/new.txt", t + "/hardlink")
shutil.rmtree(t + "/dir/sub")
os.mkdir(t + "/newdir", 0o751)
os.rename(t + "/newdir", t + "/newdir_renamed")
os.rmdir(t + "/empty2")
show("after")
"""


@pytest.fixture
def host_tree(tmp_path):
    t = tmp_path / "tree"
    (t / "dir" / "sub" / "subsub").mkdir(parents=True)
    (t / "empty").mkdir()
    (t / "empty2").mkdir()
    for name in ("delete_me", "rename_me", "chmod_me", "truncate_me", "overwrite_me",
                 "append_me"):
        (t / (name + ".txt")).write_bytes(("contents of %s\n" % name).encode() * 3)
    (t / "dir" / "sub" / "subsub" / "deep.txt").write_text("deep")
    (t / "dir" / "keep.txt").write_text("keep")
    os.symlink("dir/keep.txt", t / "link")
    set_times(t)
    return t


def test_overlay_mutations_never_reach_host(run_native, run_sandbox, host_tree, tmp_path):
    """Python in the sandbox deletes, renames, chmods, truncates,
    overwrites and creates in a host tree: it sees its changes, exactly as
    the same script run natively on a copy sees them, and the host tree is
    unchanged."""
    before = fingerprint(host_tree)
    copy = tmp_path / "copy"
    shutil.copytree(host_tree, copy, symlinks=True)
    set_times(copy)
    native = run_native("/usr/bin/python3", ["-c", MUTATE_SCRIPT, str(copy)], env=ENV,
                        cwd=tmp_path)
    sandbox = run_sandbox("/usr/bin/python3", ["-c", MUTATE_SCRIPT, str(host_tree)],
                          env=ENV, cwd=tmp_path)
    assert native[0] == 0, native[2]
    assert_same(native, sandbox)
    assert b"overwrite_me.txt 100644 75 b'OVERWRITTEN overwrite_me" in sandbox[1]
    assert fingerprint(host_tree) == before


def test_busybox_mutations_never_reach_host(run_sandbox, host_tree):
    """busybox applets, each in a sandbox of its own, and shell redirections
    (busybox sh opens those itself, no fork)."""
    before = fingerprint(host_tree)
    t = str(host_tree)
    for argv in (["rm", "-rf", t + "/dir"], ["rm", t + "/delete_me.txt"],
                 ["mv", t + "/rename_me.txt", t + "/x"], ["chmod", "-R", "000", t],
                 ["truncate", "-s", "0", t + "/truncate_me.txt"],
                 ["touch", t + "/new", t + "/append_me.txt"],
                 ["mkdir", "-p", t + "/a/b/c"], ["ln", "-sf", "/etc/passwd", t + "/link"],
                 ["rmdir", t + "/empty"]):
        status, out, err = run_sandbox(BUSYBOX, argv, env=ENV)
        assert (status, err) == (0, b""), (argv, status, err)
    # Builtins only (no fork yet); `.` reads the file back in the shell.
    status, out, err = run_sandbox(BUSYBOX, [
        "sh", "-c", "echo 'echo sourced' > %s/overwrite_me.txt && echo more >> %s/append_me.txt"
        " && . %s/overwrite_me.txt" % (t, t, t)], env=ENV)
    assert (status, out, err) == (0, b"sourced\n", b"")
    assert fingerprint(host_tree) == before


def test_shared_mapping_never_reaches_host(run_sandbox, programs, host_tree):
    """Stores through a MAP_SHARED mapping of a host file, and writes to an
    O_RDWR fd of it, stay in the sandbox."""
    before = fingerprint(host_tree)
    t = str(host_tree)
    status, out, err = run_sandbox(programs.path("fs_probe", "gcc-static"), [
        "mmap:%s/overwrite_me.txt:MAPPED" % t, "cat:%s/overwrite_me.txt" % t,
        "mmap:%s/dir/keep.txt:KEEP" % t, "append:%s/dir/keep.txt:+" % t,
        "cat:%s/dir/keep.txt" % t], env=ENV)
    assert (status, err) == (0, b"")
    assert out.decode().splitlines() == [
        "mmap %s/overwrite_me.txt MAPPED: ok" % t,
        'cat %s/overwrite_me.txt: "MAPPEDts of overwrite_me\\x0acontents of overwrite_me'
        '\\x0acontents of overwrite_me\\x0a"' % t,
        "mmap %s/dir/keep.txt KEEP: ok" % t, "append %s/dir/keep.txt +: ok" % t,
        'cat %s/dir/keep.txt: "KEEP+"' % t]
    assert fingerprint(host_tree) == before


# --- --root: symlinks and .. never leave the root --------------------------
@pytest.fixture
def outside(tmp_path):
    """A host directory outside every sandbox root, with a unique marker."""
    d = tmp_path / "outside"
    d.mkdir()
    marker = ("HOST-MARKER-%s" % secrets.token_hex(8)).encode()
    (d / "marker.txt").write_bytes(marker + b"\n")
    (d / "victim.txt").write_bytes(b"victim must stay\n")
    set_times(d)
    return d, marker


def make_root(root, programs, outside_dir):
    """A sandbox root: static busybox and probe, its own /etc, and symlinks
    that try to leave it every way a path can."""
    o = str(outside_dir)
    up = "../" * (str(root).count("/") + 4)          # more than enough to reach /
    for d in ("bin", "etc", "tmp", "dev", "proc", "sys", "links", "sub/deeper"):
        (root / d).mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    shutil.copy(programs.path("fs_probe", "gcc-static"), root / "bin" / "probe")
    (root / "etc" / "shadow").write_text("the sandbox's own shadow\n")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\n")
    (root / "sub" / "deeper" / "file").write_text("inside\n")
    links = {
        "links/abs_shadow": "/etc/shadow",
        "links/abs_marker": o + "/marker.txt",
        "links/abs_outside": o,
        "links/abs_victim": o + "/victim.txt",
        "links/rel_outside": "../../outside",
        "links/rel_marker": up + o.lstrip("/") + "/marker.txt",
        "links/rel_victim": "../../outside/victim.txt",
        "links/proc_root": "/proc/self/root",
        "links/proc_marker": "/proc/self/root" + o + "/marker.txt",
        "links/chain": "rel_outside",
        "links/dotdot": "..",
        "links/loop": "loop",
        "up": "../..",
        "sub/deeper/climb": "../../../../../../..",
    }
    for name, target in links.items():
        os.symlink(target, root / name)
    os.chmod(root / "tmp", 0o1777)
    set_times(root)
    return root


@pytest.fixture
def roots(tmp_path, programs, outside):
    """(sandbox root, identical root for the native chroot run)."""
    return (make_root(tmp_path / "root", programs, outside[0]),
            make_root(tmp_path / "chroot", programs, outside[0]))


def in_chroot(run_native, root, argv):
    """argv run natively by chroot(8) in root: cwd /, like the sandbox's,
    with a procfs of its own pid namespace at /proc, as the sandbox has."""
    assert os.geteuid() == 0, "the chroot oracle needs root"
    return run_native(UNSHARE, ["--mount", "--pid", "--fork",
                                "--mount-proc=%s/proc" % root, CHROOT, str(root), *argv],
                      env=ENV)


def in_root(run_sandbox, root, argv, extra=()):
    # The host cwd does not exist inside the root, so the guest starts at /.
    return run_sandbox(argv[0], argv[1:], env=ENV, cwd=root.parent,
                       extra=["--root", str(root), *extra])


def escape_reads(outside_dir):
    o = str(outside_dir)
    rel = "../" * 12 + o.lstrip("/")
    return [
        "cat:/etc/shadow", "cat:/links/abs_shadow", "cat:/links/abs_marker",
        "cat:/links/rel_marker", "cat:/links/rel_outside/marker.txt",
        "cat:/links/abs_outside/marker.txt", "cat:/links/chain/marker.txt",
        "cat:/links/proc_marker", "ls:/links/proc_root", "ls:/links/rel_outside",
        "ls:/links/abs_outside", "ls:/..", "ls:/../../..", "ls:/up", "ls:/up/up/..",
        "ls:/sub/deeper/climb", "cat:/sub/deeper/climb/etc/shadow",
        "cat:/../../../../.." + o + "/marker.txt", "cat:" + rel + "/marker.txt",
        "cat:/links/dotdot/links/dotdot/../etc/passwd", "cat:/links/loop",
        "cd:/..", "cd:/up", "cd:/links/dotdot/..", "cd:/sub/deeper/climb",
        "at:/:../../../../" + o.lstrip("/") + "/marker.txt",
        "at:/links:" + rel + "/marker.txt", "at:/sub:../../etc/shadow",
        "readlink:/links/proc_root", "stat:/links/rel_outside", "stat:" + o,
        "ls:/", "ls:/links",
    ]


def test_symlinks_and_dotdot_stay_in_root(run_native, run_sandbox, roots, outside):
    root, twin = roots
    outside_dir, marker = outside
    before = fingerprint(root), fingerprint(outside_dir)
    ops = escape_reads(outside_dir)
    native = in_chroot(run_native, twin, ["/bin/probe", *ops])
    sandbox = in_root(run_sandbox, root, ["/bin/probe", *ops])
    assert native[0] == 0, native[2]
    assert_same(native, sandbox)
    assert marker not in sandbox[1] + sandbox[2]
    assert b"the sandbox's own shadow" in sandbox[1]
    assert (fingerprint(root), fingerprint(outside_dir)) == before


@pytest.mark.parametrize("applet", [
    ["cat", "/links/abs_marker"], ["cat", "/links/rel_marker"], ["cat", "/links/abs_shadow"],
    ["cat", "/links/proc_marker"], ["cat", "/links/rel_outside/marker.txt"],
    ["ls", "-la", "/links/rel_outside/"], ["ls", "/up", "/up/..", "/../.."],
    ["readlink", "-f", "/links/chain"], ["find", "/", "-name", "marker*"],
    ["ls", "-1", "/links/proc_root/"], ["head", "-c", "1000", "/links/abs_victim"],
], ids=lambda a: "-".join(a).replace("/", "_"))
def test_busybox_in_root_like_chroot(run_native, run_sandbox, roots, outside, applet):
    root, twin = roots
    native = in_chroot(run_native, twin, ["/bin/busybox", *applet])
    sandbox = in_root(run_sandbox, root, ["/bin/busybox", *applet])
    assert_same(native, sandbox)
    assert outside[1] not in sandbox[1] + sandbox[2]


def test_symlinks_planted_at_run_time(run_native, run_sandbox, roots, outside):
    """Symlinks and writes made by the guest itself, in the overlay, used
    in the same process (busybox sh cannot chain applets without fork)."""
    root, twin = roots
    outside_dir, marker = outside
    o = str(outside_dir)
    before = fingerprint(root), fingerprint(outside_dir)
    ops = ["ln:/../../../.." + o + "/marker.txt:/tmp/x", "cat:/tmp/x",
           "ln:" + "../" * 12 + o.lstrip("/") + "/marker.txt:/tmp/y", "cat:/tmp/y",
           "ln:/proc/self/root" + o + ":/tmp/z", "ls:/tmp/z", "ln:" + o + ":/tmp/w",
           "cat:/tmp/w/marker.txt", "readlink:/tmp/w",
           "write:/links/abs_victim:PWNED", "write:/links/rel_victim:PWNED",
           "append:/links/abs_victim:PWNED", "write:/links/rel_outside/new:PWNED",
           "write:/../../escaped:inside-the-root-really", "cat:/escaped",
           "mkdir:/../../../made", "rename:/etc/shadow:/links/rel_outside/stolen",
           "link:/etc/shadow:/links/abs_outside/stolen", "truncate:/links/abs_victim:0",
           "chmod:/links/abs_victim:777", "unlink:/links/abs_marker", "ls:/links", "ls:/"]
    native = in_chroot(run_native, twin, ["/bin/probe", *ops])
    sandbox = in_root(run_sandbox, root, ["/bin/probe", *ops])
    assert native[0] == 0, native[2]
    assert_same(native, sandbox)
    assert marker not in sandbox[1] + sandbox[2]
    assert (fingerprint(root), fingerprint(outside_dir)) == before


# --- volumes -------------------------------------------------------------
@pytest.fixture
def volume(tmp_path):
    v = tmp_path / "vol"
    v.mkdir()
    (v / "existing.txt").write_text("existing\n")
    (v / "old.txt").write_text("old\n")
    (v / "gone.txt").write_text("gone\n")
    (v / "dir").mkdir()
    set_times(v)
    return v


def probe(run_sandbox, programs, ops, extra=(), root=None):
    argv = [programs.path("fs_probe", "gcc-static"), *ops]
    if root is not None:
        return in_root(run_sandbox, root, ["/bin/probe", *ops], extra)
    return run_sandbox(argv[0], argv[1:], env=ENV, extra=extra)


def test_volume_writes_reach_source(run_sandbox, programs, volume):
    status, out, err = probe(run_sandbox, programs, [
        "write:/data/new.txt:hello", "append:/data/existing.txt:more", "mkdir:/data/made",
        "rename:/data/old.txt:/data/dir/moved.txt", "unlink:/data/gone.txt",
        "chmod:/data/existing.txt:600", "ln:existing.txt:/data/link",
        "link:/data/new.txt:/data/made/hard", "truncate:/data/dir/moved.txt:2",
        "ls:/data", "cat:/data/existing.txt"], extra=["--volume", "%s:/data" % volume])
    assert (status, err) == (0, b"")
    assert b"ls /data: . .. dir existing.txt link made new.txt\n" in out
    assert (volume / "new.txt").read_text() == "hello"
    assert (volume / "existing.txt").read_text() == "existing\nmore"
    assert stat.S_IMODE(os.stat(volume / "existing.txt").st_mode) == 0o600
    assert (volume / "made").is_dir() and os.readlink(volume / "link") == "existing.txt"
    assert (volume / "dir" / "moved.txt").read_text() == "ol"
    assert not (volume / "old.txt").exists() and not (volume / "gone.txt").exists()
    assert os.stat(volume / "made" / "hard").st_ino == os.stat(volume / "new.txt").st_ino


def test_readonly_volume_is_erofs(run_sandbox, programs, volume):
    before = fingerprint(volume)
    status, out, err = run_sandbox(BUSYBOX, ["touch", "/data/x"], env=ENV,
                                   extra=["--volume", "%s:/data:ro" % volume])
    assert (status, out) == (1, b"")
    assert err == b"touch: /data/x: Read-only file system\n"
    status, out, err = probe(run_sandbox, programs, [
        "cat:/data/existing.txt", "write:/data/new:x", "write:/data/existing.txt:x",
        "append:/data/existing.txt:x", "mkdir:/data/d", "rmdir:/data/dir",
        "unlink:/data/gone.txt", "rename:/data/old.txt:/data/o", "ln:x:/data/l",
        "link:/data/old.txt:/data/l2", "chmod:/data/old.txt:777",
        "truncate:/data/old.txt:0", "rename:/data/old.txt:/tmp/old"],
        extra=["--volume", "%s:/data:ro" % volume])
    assert (status, err) == (0, b"")
    assert out.decode().splitlines() == [
        'cat /data/existing.txt: "existing\\x0a"',
        "write /data/new x: EROFS", "write /data/existing.txt x: EROFS",
        "append /data/existing.txt x: EROFS", "mkdir /data/d: EROFS",
        "rmdir /data/dir: EROFS", "unlink /data/gone.txt: EROFS",
        "rename /data/old.txt /data/o: EROFS", "ln x /data/l: EROFS",
        "link /data/old.txt /data/l2: EROFS", "chmod /data/old.txt 777: EROFS",
        "truncate /data/old.txt 0: EROFS", "rename /data/old.txt /tmp/old: EXDEV"]
    assert fingerprint(volume) == before


def test_volume_symlinks_resolve_inside_sandbox(run_sandbox, programs, volume, outside,
                                                tmp_path):
    """Host symlinks in a volume that point out of it are resolved by the
    sentry, in the sandbox's namespace. Under --root that namespace has no
    outside; under the default root the target is the overlay's read-only
    view of the host, so a write through the link is copied up in memory."""
    outside_dir, marker = outside
    os.symlink(str(outside_dir / "victim.txt"), volume / "abs_victim")
    os.symlink("../outside/victim.txt", volume / "rel_victim")
    os.symlink(str(outside_dir), volume / "abs_dir")
    before = fingerprint(outside_dir), fingerprint(volume)
    ops = ["cat:/data/abs_victim", "write:/data/abs_victim:PWNED", "cat:/data/abs_victim",
           "write:/data/rel_victim:PWNED", "cat:/data/abs_dir/marker.txt",
           "write:/data/abs_dir/new:PWNED"]
    vol = ["--volume", "%s:/data" % volume]
    status, out, err = probe(run_sandbox, programs, ops, extra=vol)
    assert (status, err) == (0, b"")
    assert out.decode().splitlines() == [
        'cat /data/abs_victim: "victim must stay\\x0a"', "write /data/abs_victim PWNED: ok",
        'cat /data/abs_victim: "PWNED"', "write /data/rel_victim PWNED: ENOENT",
        'cat /data/abs_dir/marker.txt: "%s\\x0a"' % marker.decode(),
        "write /data/abs_dir/new PWNED: ok"]
    root = make_root(tmp_path / "root", programs, outside_dir)
    status, out, err = probe(run_sandbox, programs, ops, extra=vol, root=root)
    assert (status, err) == (0, b"")
    assert out.decode().splitlines() == [
        "cat /data/abs_victim: ENOENT", "write /data/abs_victim PWNED: ENOENT",
        "cat /data/abs_victim: ENOENT", "write /data/rel_victim PWNED: ENOENT",
        "cat /data/abs_dir/marker.txt: ENOENT", "write /data/abs_dir/new PWNED: ENOENT"]
    assert (fingerprint(outside_dir), fingerprint(volume)) == before


# --- every host open lies inside the root or a volume ---------------------
AUDIT_RUNNER = r"""
import json, os, sys
# Opened first: the confined sentry cannot reach host paths later (and
# creating it changes the cwd, which the import system lists again).
log_file = open(sys.argv[1], "w")
from kvmsentry.fsimpl import hostfs
from kvmsentry.cli.main import main

log = []
def hostfs_open(base, name):
    log.append(["hostfs", os.fsdecode(base), os.fsdecode(name)])
def python_event(event, args):
    if event == "open" and isinstance(args[0], (str, bytes)):
        log.append(["open", os.fsdecode(args[0]), ""])
    elif event in ("os.listdir", "os.scandir", "os.rename", "os.remove", "os.rmdir",
                   "os.mkdir", "os.symlink", "os.link", "os.chmod", "os.truncate",
                   "os.utime", "os.chown") and isinstance(args[0], (str, bytes)):
        log.append([event, os.fsdecode(args[0]), ""])
hostfs.set_open_audit(hostfs_open)
sys.addaudithook(python_event)
status = main(sys.argv[2:])
json.dump(log, log_file)
log_file.close()
sys.exit(status)
"""


def test_host_opens_stay_inside_root_and_volumes(programs, roots, outside, volume,
                                                 tmp_path):
    root = roots[0]
    outside_dir, marker = outside
    log_path = tmp_path / "audit.json"
    ops = escape_reads(outside_dir) + [
        "write:/data/new:x", "cat:/data/existing.txt", "ls:/data", "write:/tmp/t:x",
        "ln:" + str(outside_dir) + ":/tmp/o", "cat:/tmp/o/marker.txt", "cat:/dev/null"]
    pinned = os.environ.get("KVMSENTRY_PLATFORM")      # the suite's second pass
    proc = subprocess.run(
        [sys.executable, "-c", AUDIT_RUNNER, str(log_path),
         *(["--platform", pinned] if pinned else []), "do", "--root", str(root),
         "--volume", "%s:/data" % volume, "--", "/bin/probe", *ops],
        capture_output=True, timeout=60, env=ENV, cwd=str(tmp_path))
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert marker not in proc.stdout
    log = json.load(open(log_path))
    inside = [os.path.realpath(p) for p in (root, volume)]

    def within(path):
        path = path.removesuffix(" (deleted)")
        return any(path == top or path.startswith(top + "/") for top in inside)

    hostfs_opens = [(b, n) for kind, b, n in log if kind == "hostfs"]
    assert len(hostfs_opens) > 20
    assert [(b, n) for b, n in hostfs_opens
            if not within(os.path.join(b, n) if n else b)] == []
    # Opens by path (not by the hostfs' parent fd): nothing outside may be
    # named, and nothing of the guest's may be reached but through
    # /proc/self/fd re-opens of objects already audited above.
    by_path = [p for kind, p, _ in log if kind != "hostfs"]
    assert [p for p in by_path if str(outside_dir) in p or str(tmp_path / "chroot") in p] == []
    assert [p for p in by_path
            if str(tmp_path) in p and not within(p) and p != str(log_path)] == []
