"""Can a sandboxed program reach host files it was not given?

An adversarial review of every way a path can reach the host: symlinks
(absolute and relative) in a volume and in the root, followed by every
call that takes a path; `..` at the root of a volume and of the sandbox,
chroot and fchdir escapes, openat from a volume's mount point, a
directory renamed out from under a bind mount; the magic links of /proc;
openat2's RESOLVE_* scopes (with `..`, absolute paths and symlinks, a
bind mount, the volume's mount and the magic links) and open_how's
checks; read-only volumes written through every call, remounted and
bound again; the root's own hardlinks and symlinks to outside files
(copy-up); Unix socket names; host device nodes, file handles, a host
file given as stdin, host procfs/sysfs mounted below the root or a
volume; a thread, a process and the host itself swapping a directory for
a symlink while the sentry walks (the time-of-check/time-of-use class of
runc's CVEs); and the OCI runtime's set-up from config.json.

The canary is a directory next to the sandbox's root and volumes
(tmp_path/outside): it must never be read, listed, written, renamed,
chmod-ed, linked to nor removed. hostpathprograms/hostpaths.c makes the
attempts; the same binary run natively in a twin tree made the root of
a private mount namespace (pivot_root, volumes bound) is the oracle
where Linux has an answer (runc for the OCI set-up), and the canary's
fingerprint is compared byte for byte before and after every run.
"""
import difflib
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time

import pytest

from progbuild import build_all

SOURCES = os.path.join(os.path.dirname(__file__), "hostpathprograms")
KVMSENTRY = [sys.executable, "-m", "kvmsentry"]
TIMEOUT = 120
MARKER = "CANARY-3f9a1c77e2"
BUSYBOX = "/bin/busybox"


@pytest.fixture(scope="module")
def hostpaths(tmp_path_factory):
    return build_all(SOURCES, tmp_path_factory.mktemp("hostpaths"))[("hostpaths", "static")]


def fingerprint(top):
    """Names, types, modes, owners, times, link targets, contents and user
    xattrs of everything under top (top included)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for path in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
            s = os.lstat(path)
            desc = (s.st_mode, s.st_uid, s.st_gid, s.st_nlink, s.st_size, s.st_mtime_ns,
                    s.st_ctime_ns)
            if stat.S_ISLNK(s.st_mode):
                desc += (os.readlink(path),)
            else:
                desc += (sorted(os.listxattr(path, follow_symlinks=False)),)
                if stat.S_ISREG(s.st_mode):
                    with open(path, "rb") as f:
                        desc += (hashlib.sha256(f.read()).hexdigest(),)
            out[os.path.relpath(path, top)] = desc
    return out


def make_outside(d):
    d.mkdir()
    (d / "canary.txt").write_text(MARKER + "\n")
    os.setxattr(d / "canary.txt", "user.canary", MARKER.encode())
    (d / "canary_dir").mkdir()
    (d / "canary_dir" / "inner.txt").write_text(MARKER + " inner\n")
    # Hardlinked into the root (which is given to the sandbox, read-only):
    # readable there, never changed.
    (d / "hl_target.txt").write_text("hardlinked\n")
    (d / "hl_target2.txt").write_text("hardlinked 2\n")
    return d


def make_tree(t, prog, outside, canary_path):
    """A sandbox root, its volumes and outside dir under t; canary_path is
    the outside path the guest is told (the same for the twin tree)."""
    o = str(canary_path)
    root, vol, rovol = t / "root", t / "vol", t / "rovol"
    for d in ("bin", "etc", "tmp", "data", "ro", "proc", "dev", "sys"):
        (root / d).mkdir(parents=True)
    os.chmod(root / "tmp", 0o1777)
    shutil.copy(prog, root / "bin" / "hostpaths")
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\n")
    os.link(outside / "hl_target.txt", root / "etc" / "hl")
    os.link(outside / "hl_target2.txt", root / "etc" / "hl2")
    os.symlink(o + "/canary.txt", root / "etc" / "sl")
    (vol / "dir").mkdir(parents=True)
    (vol / "file").write_text("volume file\n")
    os.symlink(o, vol / "abs_dir")
    # Relative: from the host's vol/ this names the outside dir next to it.
    os.symlink("../" + outside.name, vol / "rel_dir")
    os.symlink(o + "/canary.txt", vol / "abs_canary")
    os.symlink(o + "/new.txt", vol / "dangling")
    (rovol / "dir").mkdir(parents=True)
    (rovol / "file.txt").write_text("read-only volume\n")
    (rovol / "other.txt").write_text("other\n")
    os.setxattr(rovol / "file.txt", "user.keep", b"kept")
    return root, vol, rovol


@pytest.fixture
def trees(tmp_path, hostpaths):
    """(sandbox tree, native twin tree, outside dir): the twin's root
    hardlinks files of a twin outside dir, so a native run never touches
    the canary either."""
    outside = make_outside(tmp_path / "outside")
    sandbox = make_tree(tmp_path / "s", hostpaths, outside, outside)
    twin_outside = make_outside(tmp_path / "twin_outside")
    twin = make_tree(tmp_path / "n", hostpaths, twin_outside, outside)
    return sandbox, twin, outside


def run_sandbox(tree, args, cwd, env=None, extra=(), stdin=subprocess.DEVNULL):
    root, vol, rovol = tree
    cmd = [*KVMSENTRY, "do", "--root", str(root), "--volume", "%s:/data" % vol,
           "--volume", "%s:/ro:ro" % rovol, *extra, "--", "/bin/hostpaths", *args]
    p = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, cwd=str(cwd),
                       stdin=stdin, env=env or {"PATH": "/bin"})
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


# pivot_root, not chroot(8): the native run's own chroot escape (the
# "dotdot" scenario) must end at the twin's root, not the host's.
NATIVE_SCRIPT = """set -e
root=$1
mount --bind "$root" "$root"
mount --bind "$2" "$root/data"
mount --bind "$3" "$root/ro"
mount -o remount,bind,ro "$root/ro"
mount -t proc proc "$root/proc"
mkdir "$root/tmp/.old"
cd "$root"
pivot_root . tmp/.old
cd /
/bin/busybox umount -l /tmp/.old
/bin/busybox rmdir /tmp/.old
shift 3
exec /bin/hostpaths "$@"
"""


def run_native(tree, args, env=None):
    """The same attempts natively, in the twin root made the root of a
    private mount namespace (pivot_root, the old root unmounted), with
    its volumes bound there and a procfs of its own pid namespace."""
    assert os.geteuid() == 0, "the native oracle needs root (pivot_root, mount)"
    root, vol, rovol = tree
    p = subprocess.run(["unshare", "--mount", "--pid", "--fork", "sh", "-c", NATIVE_SCRIPT,
                        "sh", str(root), str(vol), str(rovol), *args],
                       capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                       env=env or {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def assert_same(native, sandbox):
    assert native[0] == 0, native
    diff = "".join(difflib.unified_diff(native[1].splitlines(True), sandbox[1].splitlines(True),
                                        "native", "sandbox"))
    assert sandbox[1] == native[1], diff + sandbox[2]
    assert (sandbox[0], sandbox[2]) == (0, "")


def outside_untouched(outside, before, *outputs):
    assert fingerprint(outside) == before
    for out in outputs:
        assert MARKER not in out


@pytest.mark.parametrize("scenario", ["follow", "plant", "dotdot", "proc", "openat2", "readonly",
                                      "copyup", "uds", "bindmove"])
def test_attempts_match_linux_and_never_reach_outside(trees, scenario, tmp_path):
    sandbox, twin, outside = trees
    before = fingerprint(outside)
    native = run_native(twin, [scenario, str(outside)])
    # uds: Unix sockets bound in a volume are host sockets there.
    extra = ["--host-uds", "all"] if scenario == "uds" else []
    got = run_sandbox(sandbox, [scenario, str(outside)], tmp_path, extra=extra)
    outside_untouched(outside, before, got[1], got[2])
    assert_same(native, got)


def test_readonly_volume_stays_readonly_after_remount_and_bind(trees, tmp_path):
    """Natively, root may remount a read-only bind mount read-write, or
    bind it again without MS_RDONLY; a read-only volume is read-only for
    the whole sandbox, however it is mounted again."""
    sandbox, _, outside = trees
    rovol = sandbox[2]
    before = fingerprint(rovol), fingerprint(outside)
    status, out, err = run_sandbox(sandbox, ["remount", str(outside)], tmp_path)
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "remount rw: ok", "remount rw (fs): ok", "open O_RDWR after remount: EROFS",
        "creat after remount: EROFS", "unlink after remount: EROFS",
        "chmod after remount: EROFS", "bind /ro rw: ok", "open rebound O_RDWR: EROFS",
        "truncate rebound: EROFS", "mkdir rebound: EROFS",
        'read back: "read-only volume."']
    assert (fingerprint(rovol), fingerprint(outside)) == before


def test_host_devices_and_file_handles_unreachable(trees, tmp_path):
    """Sandbox only: natively these reach the host. A device node on a
    volume or in the root opens nothing (the sentry never opens a host
    device), the guest cannot make one on a volume, and there are no
    file handles (open_by_handle_at is the "shocker" container escape)."""
    sandbox, _, outside = trees
    root, vol, _ = sandbox
    os.mknod(vol / "zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    os.mknod(root / "etc" / "zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    before = fingerprint(vol), fingerprint(outside)
    status, out, err = run_sandbox(sandbox, ["devices", str(outside)], tmp_path)
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "open /data/zero: ENXIO", "open /data/zero O_RDWR: ENXIO", "open /etc/zero: ENXIO",
        "mknod /data/made c 1 5: EPERM", "mknod /tmp/made c 1 5: ok",
        "open /tmp/made: ENXIO", "name_to_handle_at /data/file: ENOSYS",
        "open_by_handle_at root inode: ENOSYS"]
    assert (fingerprint(vol), fingerprint(outside)) == before


def test_host_stdin_file_gives_only_its_open_file(trees, tmp_path):
    """stdin a host file outside, opened read-only by the caller: the
    program reads it, and no call through fd 0 or /proc/self/fd/0
    writes, truncates, chmods, links or renames the file, nor names its
    directory (natively, its owner could chmod or relink it)."""
    sandbox, _, outside = trees
    stdin_file = outside / "stdin.txt"
    stdin_file.write_text("given on stdin\n")
    before = fingerprint(outside), fingerprint(sandbox[1])
    with open(stdin_file, "rb") as f:
        status, out, err = run_sandbox(sandbox, ["stdio", str(outside)], tmp_path, stdin=f)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[-1].startswith("readlink /proc/self/fd/0: host:[")
    assert lines[:-1] == [
        'read stdin: "given on stdin."', "write stdin: EBADF", "ftruncate stdin: EINVAL",
        "fallocate stdin: EBADF", "fchmod stdin: EBADF", "fchown stdin: EBADF",
        "futimens stdin: EBADF", "fsetxattr stdin: EOPNOTSUPP",
        "open /proc/self/fd/0 O_WRONLY|O_TRUNC: EINVAL",
        "write via /proc/self/fd/0 O_RDWR: EBADF", "truncate /proc/self/fd/0: EINVAL",
        "chmod /proc/self/fd/0: EPERM", "utimensat /proc/self/fd/0: EPERM",
        "linkat stdin -> /data: EBADF", "link /proc/self/fd/0 -> /data: EXDEV",
        "rename /proc/self/fd/0 -> /data: EXDEV", "open /proc/self/fd/0/..: ENOTDIR"]
    assert str(outside) not in out
    assert (fingerprint(outside), fingerprint(sandbox[1])) == before


PSEUDO_SCRIPT = """set -e
mount -t proc proc "$1/hostproc"
mount -t sysfs sysfs "$1/hostsys"
mount -t proc proc "$2/proc"
shift 2
exec "$@"
"""


def test_host_pseudo_filesystems_below_root_show_nothing(trees, tmp_path):
    """The host's procfs and sysfs mounted below the sandbox's root or in
    a volume (in a private mount namespace here) would show the host's
    processes, its kernel's state and the sentry's own /proc entry
    (environ, mem), and in a read-write volume take writes; they show
    as empty directories, as the host's /proc and /sys are covered by the
    sandbox's own, unwritable on a volume (in the root, the overlay takes
    changes in memory, as anywhere else)."""
    sandbox, _, outside = trees
    root, vol, rovol = sandbox
    for d in (root / "hostproc", root / "hostsys", vol / "proc"):
        d.mkdir()
    cmd = ["unshare", "--mount", "sh", "-c", PSEUDO_SCRIPT, "sh", str(root), str(vol),
           *KVMSENTRY, "do", "--root", str(root), "--volume", "%s:/data" % vol,
           "--volume", "%s:/ro:ro" % rovol, "--", "/bin/hostpaths", "pseudo", str(outside)]
    p = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, cwd=str(tmp_path),
                       stdin=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"})
    out = p.stdout.decode(errors="replace")
    assert (p.returncode, p.stderr) == (0, b""), out
    expected = []
    in_root = "bin data dev etc hostproc hostsys proc ro sys tmp"
    for d, up, change in (("/hostproc", in_root, "ok"), ("/hostsys", in_root, "ok"),
                          ("/data/proc", "abs_canary abs_dir dangling dir file proc rel_dir",
                           "EROFS")):
        expected += ["list %s: . .." % d, "read %s/1/cmdline: ENOENT" % d,
                     "read %s/self/environ: ENOENT" % d,
                     "read %s/kernel/uevent_seqnum: ENOENT" % d,
                     "write %s/sys/kernel/hostname: ENOENT" % d,
                     "creat %s/x: %s" % (d, change), "mkdir %s/y: %s" % (d, change),
                     "chmod %s: %s" % (d, change), "list %s/..: . .. %s" % (d, up)]
    assert out.splitlines() == expected


@pytest.mark.parametrize("scenario", ["race", "hostrace"])
def test_symlink_swapped_in_while_walking(trees, tmp_path, scenario):
    """A directory swapped for a symlink to outside while the sentry walks
    through it: by the program's own thread (renameat2 RENAME_EXCHANGE of
    the directory with an absolute and a relative symlink in a loop) and
    child process (rename through a spare name), or by the host itself
    (another container sharing the volume), the
    time-of-check/time-of-use class of runc's CVE-2019-19921 and
    CVE-2021-30465. Every open, creat, mkdir, chmod, truncate, rename and
    readdir through the swapped name reaches the volume or nothing."""
    sandbox, _, outside = trees
    vol = sandbox[1]
    before = fingerprint(outside)
    stop = threading.Event()
    swaps = [0]

    def host_swapper():
        d, s, r = vol / "swap" / "d", vol / "swap" / "s", vol / "swap" / "r"
        while not stop.is_set():
            for link in (s, r):
                os.rename(d, vol / "swap" / "tmp")
                os.rename(link, d)                # d is now a symlink to outside
                time.sleep(0.0005)
                os.rename(d, link)
                os.rename(vol / "swap" / "tmp", d)
                swaps[0] += 1

    swapper = None
    if scenario == "hostrace":
        (vol / "swap" / "d").mkdir(parents=True)
        (vol / "swap" / "d" / "canary.txt").write_text("volume's own\n")
        os.symlink(str(outside), vol / "swap" / "s")
        os.symlink("../../" + outside.name, vol / "swap" / "r")
        swapper = threading.Thread(target=host_swapper)
        swapper.start()
    try:
        status, out, err = run_sandbox(sandbox, [scenario, str(outside), "4"], tmp_path,
                                       env={"PATH": "/bin", "MARKER": MARKER})
    finally:
        stop.set()
        if swapper is not None:
            swapper.join()
    assert (status, err) == (0, ""), out
    assert out.splitlines() == ["%s tries>0: 1" % scenario, "%s leaked: 0" % scenario]
    if swapper is not None:
        assert swaps[0] > 10
    outside_untouched(outside, before, out)


# --- the OCI runtime's set-up from config.json ----------------------------
OCI_SCRIPT = """pwd
ls /etc /etc/data /rel /rel/data
cat /etc/data/file /hostname_link
cat /etc/canary.txt
echo PWNED > /etc/canary.txt; echo PWNED > /etc/data/new; cat /etc/canary.txt
rm /etc/canary.txt; mkdir /rel/newdir; ls /etc
echo done
"""


def make_bundle(where, outside, root_path="rootfs"):
    """A bundle whose rootfs has /etc -> OUTSIDE (absolute), /rel -> a
    relative climb to OUTSIDE, /hostname_link -> OUTSIDE/hostname, and
    whose config.json mounts through them, climbs with `..`, starts in a
    cwd through a link and names its bind sources by paths relative to
    the bundle; root_path: root.path (bundle/rootlink is a symlink to
    the rootfs)."""
    o = str(outside)
    rootfs = where / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in ("sh", "cat", "ls", "pwd", "echo", "rm", "mkdir"):
        os.symlink("busybox", rootfs / "bin" / applet)
    os.symlink(o, rootfs / "etc")
    os.symlink("../" * 12 + o.lstrip("/"), rootfs / "rel")
    os.symlink(o + "/hostname", rootfs / "hostname_link")
    os.symlink("rootfs", where / "rootlink")
    vol = where / "vol"
    vol.mkdir()
    (vol / "file").write_text("volume file\n")
    config = {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0},
                    "args": ["sh", "-c", OCI_SCRIPT], "env": ["PATH=/bin"],
                    "cwd": "/rel/../../.." + o},
        "root": {"path": root_path, "readonly": False},
        "hostname": "box",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/etc/data", "type": "bind", "source": "vol",
             "options": ["rbind"]},
            {"destination": "/rel/data", "type": "bind", "source": "./vol/../vol",
             "options": ["rbind", "ro"]},
            {"destination": "/hostname_link", "type": "bind", "source": "vol/file",
             "options": ["rbind", "ro"]},
            {"destination": "/../../.." + o + "/viadotdot", "type": "tmpfs",
             "source": "tmpfs"}],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                                 {"type": "mount"}, {"type": "network"}]},
    }
    (where / "config.json").write_text(json.dumps(config))
    return where


def run_oci(argv, state, bundle):
    p = subprocess.run([*argv, "--root", str(state), "run", "--bundle", str(bundle), "c1"],
                       capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def test_oci_mounts_through_rootfs_symlinks_stay_inside(tmp_path):
    """Mount destinations through rootfs symlinks to a host path (absolute
    and relative), one that climbs with `..`, a file bind onto a symlink
    to a host file, a cwd through a link: runc resolves each inside the
    rootfs (creating what is missing there), and so must the sandbox,
    which used to stop at create with a bare 'EEXIST' where a destination
    went through a link to nothing."""
    assert shutil.which("runc"), "runc is the oracle (install Debian's runc)"
    outside = make_outside(tmp_path / "outside")
    before = fingerprint(outside)
    ours = run_oci([*KVMSENTRY, "--network", "none"], tmp_path / "ks-state",
                   make_bundle(tmp_path / "ks", outside))
    ref = run_oci(["runc"], tmp_path / "runc-state", make_bundle(tmp_path / "runc", outside))
    outside_untouched(outside, before, ours[1], ours[2])
    assert ref[0] == 0, ref
    assert ours == ref
    assert "volume file" in ours[1] and "done" in ours[1]


def test_oci_rootfs_that_is_a_symlink_is_refused(tmp_path):
    """A bundle whose rootfs is a symlink (to the host's / it would be the
    whole host, read-only) is refused, as runc refuses it."""
    outside = make_outside(tmp_path / "outside")
    for name, argv in (("ks", [*KVMSENTRY, "--network", "none"]), ("runc", ["runc"])):
        bundle = make_bundle(tmp_path / name, outside, root_path="rootlink")
        config = json.loads((bundle / "config.json").read_text())
        config["mounts"] = config["mounts"][:1]             # /proc only
        config["process"].update(cwd="/", args=["ls", "/"])
        (bundle / "config.json").write_text(json.dumps(config))
        status, out, err = run_oci(argv, tmp_path / (name + "-state"), bundle)
        assert (status, out) == (1, ""), (name, err)
        assert "invalid rootfs: not an absolute path, or a symlink" in err, (name, err)
        os.unlink(bundle / "rootlink")
        os.symlink("/", bundle / "rootlink")
        status, out, err = run_oci(argv, tmp_path / (name + "-state"), bundle)
        assert (status, out) == (1, ""), (name, err)
