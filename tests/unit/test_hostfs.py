"""hostfs: a host directory seen only through the sentry.

The host tree has the links an escape would use (absolute, `../..`, to a
host path outside the root, dangling, looping); through the Inode
interface and through the VFS walker, nothing outside the root is ever
opened and every link resolves inside the sandbox.
"""
import errno
import gc
import os
import resource
import stat as st
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings, strategies as hst

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl import hostfs
from kvmsentry.fsimpl.hostfs import HostFilesystem, set_open_audit
from kvmsentry.vfs.inode import DT_DIR, DT_FIFO, DT_LNK, RENAME_EXCHANGE, RENAME_NOREPLACE
from kvmsentry.vfs.mount import MountTable
from kvmsentry.vfs.path import Walker

ROOT_CREDS = SimpleNamespace(uid=0, euid=0, gid=0, egid=0, groups=())


def build_tree(base):
    """root/ with files and the links an escape would try; outside/secret
    next to it. Returns (root, outside) as str paths."""
    root, outside = base / "root", base / "outside"
    for d in ("etc", "bin", "dir/sub", "emptydir", "outside_dir"):
        (root / d).mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_bytes(b"host secret\n")
    (root / "etc/passwd").write_bytes(b"sandbox passwd\n")
    (root / "etc/hostname").write_bytes(b"sandbox\n")
    (root / "bin/sh").write_bytes(b"\x7fELF fake")
    os.chmod(root / "bin/sh", 0o755)
    (root / "dir/sub/file.txt").write_bytes(b"x" * 5000)
    os.symlink("/etc/passwd", root / "dir/abs")
    os.symlink("../../../../../../../../etc/hostname", root / "dir/rel_up")
    os.symlink(str(outside / "secret"), root / "dir/outside")
    os.symlink(str(outside), root / "dir/outside_dir")
    os.symlink("/nonexistent", root / "dir/dangling")
    os.symlink("loop", root / "dir/loop")
    os.symlink("sub", root / "dir/to_sub")
    os.symlink("..", root / "dir/dotdot")
    os.mkfifo(root / "fifo")
    return str(root), str(outside)


def snapshot(path):
    """Everything about a host tree a sandbox must not change."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [""] + dirnames + filenames:
            p = os.path.join(dirpath, name)
            s = os.lstat(p)
            body = None
            if st.S_ISREG(s.st_mode):
                with open(p, "rb") as f:
                    body = f.read()
            elif st.S_ISLNK(s.st_mode):
                body = os.readlink(p)
            out[os.path.relpath(p, path)] = (s.st_mode, s.st_uid, s.st_gid, s.st_size,
                                            s.st_mtime_ns, s.st_ino, body)
    return out


class Audit:
    """Records every host open of hostfs; checks it stays under `root`."""

    def __init__(self, root):
        self.root = os.path.realpath(root).encode()
        self.seen = []

    def __call__(self, base, name):
        self.seen.append(os.path.normpath(os.path.join(base, name)) if name else base)

    def outside(self):
        return [p for p in self.seen
                if p != self.root and not p.startswith(self.root + b"/")]


@pytest.fixture
def tree(tmp_path):
    root, outside = build_tree(tmp_path)
    audit = Audit(root)
    old = set_open_audit(audit)
    t = SimpleNamespace(root=root, outside=outside, audit=audit, before=snapshot(root))
    yield t
    set_open_audit(old)
    assert audit.outside() == []
    assert snapshot(root) == t.before


def make_walker(fs):
    mounts = MountTable(fs, readonly=fs.readonly)
    root = mounts.root_location()
    ctx = SimpleNamespace(root=root, cwd=root)
    return mounts, Walker(mounts, ctx, ROOT_CREDS)


def err(fn, *args, **kw):
    with pytest.raises(SyscallError) as e:
        fn(*args, **kw)
    return e.value.errno


def walk_host_path(walker, path, follow=True):
    """The host path (by the kernel) of what a sandbox path resolves to."""
    loc = walker.walk(walker.ctx.root, path, follow)
    return os.readlink("/proc/self/fd/%d" % loc.inode.fd)


# --- the read-only root --------------------------------------------------------

def test_lookup_and_attributes_match_host(tree):
    fs = HostFilesystem(7, tree.root)
    f = fs.root().lookup(b"etc").lookup(b"passwd")
    s, h = f.getattr(), os.lstat(os.path.join(tree.root, "etc/passwd"))
    assert (s.dev, s.ino, s.mode, s.size, s.uid, s.gid, s.mtime_ns, s.nlink) == \
        (7, h.st_ino, h.st_mode, h.st_size, h.st_uid, h.st_gid, h.st_mtime_ns, h.st_nlink)
    assert f.is_reg() and f.read_at(0, 100) == b"sandbox passwd\n"
    assert f.read_at(8, 3) == b"pas" and f.read_at(100, 10) == b""
    assert fs.root().lookup(b"etc").is_dir()
    big = fs.root().lookup(b"dir").lookup(b"sub").lookup(b"file.txt")
    assert big.read_at(0, 1 << 40) == b"x" * 5000         # a huge length is bounded
    assert fs.root().lookup(b"etc") is fs.root().lookup(b"etc")   # cached while used


def test_symlinks_are_read_not_followed(tree):
    fs = HostFilesystem(7, tree.root)
    d = fs.root().lookup(b"dir")
    link = d.lookup(b"outside")
    assert link.is_symlink()
    assert link.readlink() == os.path.join(tree.outside, "secret").encode()
    assert link.getattr().ino == os.lstat(os.path.join(tree.root, "dir/outside")).st_ino
    assert err(link.read_at, 0, 10) == errno.EINVAL
    assert err(link.lookup, b"x") == errno.ENOTDIR
    assert d.lookup(b"dangling").readlink() == b"/nonexistent"


def test_readdir_matches_host(tree):
    fs = HostFilesystem(7, tree.root)
    got = {n: (ino, dt) for n, ino, dt in fs.root().lookup(b"dir").readdir()}
    want = {}
    for e in os.scandir(os.path.join(tree.root, "dir")):
        want[e.name.encode()] = e.inode()
    assert {n: i for n, (i, _) in got.items()} == want
    assert got[b"sub"][1] == DT_DIR and got[b"abs"][1] == DT_LNK
    kinds = {n: dt for n, _, dt in fs.root().readdir()}
    assert kinds[b"fifo"] == DT_FIFO and kinds[b"etc"] == DT_DIR
    assert {n for n, _, _ in fs.root().lookup(b"emptydir").readdir()} == set()
    assert err(fs.root().lookup(b"etc").lookup(b"passwd").readdir) == errno.ENOTDIR


def test_fifo_is_never_opened_on_the_host(tree):
    fs = HostFilesystem(7, tree.root)
    fifo = fs.root().lookup(b"fifo")
    assert st.S_ISFIFO(fifo.getattr().mode)
    assert err(fifo.read_at, 0, 1) == errno.EINVAL      # would block if opened
    # Opens get the sentry's own pipe: no writer yet, so a non-blocking
    # writer is refused as Linux refuses it; with a reader it connects.
    assert err(fifo.open, None, os.O_WRONLY | os.O_NONBLOCK) == errno.ENXIO
    reader = fifo.open(None, os.O_RDONLY | os.O_NONBLOCK)
    writer = fs.root().lookup(b"fifo").open(None, os.O_WRONLY | os.O_NONBLOCK)
    assert writer.write(b"through the sentry") == 18
    assert reader.read(100) == b"through the sentry"
    writer.release()
    reader.release()
    fifo_path = os.path.join(tree.root, "fifo").encode()
    assert tree.audit.seen.count(fifo_path) == 1        # the O_PATH lookup only


@pytest.mark.parametrize("name", [b".", b"..", b"", b"a/b", b"/etc", b"x\0y"])
def test_dot_slash_and_nul_names_are_refused(tree, name):
    fs = HostFilesystem(7, tree.root)
    assert err(fs.root().lookup, name) == errno.EINVAL


def test_readonly_refuses_every_mutation(tree):
    fs = HostFilesystem(7, tree.root)
    root = fs.root()
    etc = root.lookup(b"etc")
    passwd = etc.lookup(b"passwd")
    assert err(etc.create, b"new", 0o100644, 0, 0) == errno.EROFS
    assert err(etc.create, b"passwd", 0o100644, 0, 0) == errno.EEXIST   # as Linux
    assert err(root.mkdir, b"d", 0o40755, 0, 0) == errno.EROFS
    assert err(root.mkdir, b"etc", 0o40755, 0, 0) == errno.EEXIST
    assert err(root.mknod, b"p", st.S_IFIFO | 0o644, 0, 0, 0) == errno.EROFS
    assert err(root.symlink, b"l", b"/x", 0, 0) == errno.EROFS
    assert err(root.link, b"l", passwd) == errno.EROFS
    assert err(etc.unlink, b"passwd") == errno.EROFS
    assert err(root.rmdir, b"emptydir") == errno.EROFS
    assert err(etc.rename, b"passwd", root, b"p") == errno.EROFS
    assert err(passwd.setattr, mode=0o777) == errno.EROFS
    assert err(passwd.setattr, size=0) == errno.EROFS
    assert err(passwd.write_at, 0, b"pwned") == errno.EROFS
    assert fs.statfs()["flags"] & hostfs.ST_RDONLY
    assert snapshot(tree.root) == tree.before


def test_statfs_is_the_hosts(tree):
    fs = HostFilesystem(7, tree.root)
    s, h = fs.statfs(), os.statvfs(tree.root)
    assert (s["bsize"], s["blocks"], s["files"], s["namelen"]) == \
        (h.f_bsize, h.f_blocks, h.f_files, h.f_namemax)
    assert s["type"] == hostfs.V9FS_MAGIC


def test_nofile_limit_raised(tree):
    HostFilesystem(7, tree.root)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft == hard or hard == resource.RLIM_INFINITY


def test_unreferenced_inodes_close_their_fds(tree):
    fs = HostFilesystem(7, tree.root)
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    held = [fs.root().lookup(b"dir").lookup(n) for n in (b"sub", b"abs", b"loop")]
    held.append(fs.root().lookup(b"etc").lookup(b"passwd"))
    held[-1].read_at(0, 1)                               # plus an I/O fd
    assert len(os.listdir("/proc/self/fd")) >= before + 6
    del held
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before


# --- the VFS walker over hostfs ---------------------------------------------------

def test_walker_resolves_every_link_inside_the_root(tree):
    fs = HostFilesystem(7, tree.root)
    _, w = make_walker(fs)
    r = os.path.realpath(tree.root)
    assert walk_host_path(w, b"/dir/abs") == r + "/etc/passwd"
    assert walk_host_path(w, b"/dir/rel_up") == r + "/etc/hostname"
    assert walk_host_path(w, b"/dir/to_sub/file.txt") == r + "/dir/sub/file.txt"
    assert walk_host_path(w, b"/dir/dotdot/etc/passwd") == r + "/etc/passwd"
    assert walk_host_path(w, b"/../../..") == r
    assert walk_host_path(w, b"/dir/../../../../etc/passwd") == r + "/etc/passwd"
    assert walk_host_path(w, b"/dir/dotdot/dir/dotdot/..") == r
    # A link to a host path outside the root means that path in the sandbox.
    assert err(w.walk, w.ctx.root, b"/dir/outside") == errno.ENOENT
    assert err(w.walk, w.ctx.root, b"/dir/outside_dir/secret") == errno.ENOENT
    assert err(w.walk, w.ctx.root, b"/dir/dangling") == errno.ENOENT
    assert err(w.walk, w.ctx.root, b"/dir/loop") == errno.ELOOP
    assert walk_host_path(w, b"/dir/outside", follow=False) == r + "/dir/outside"
    assert err(w.walk, w.ctx.root, b"/etc/passwd/") == errno.ENOTDIR
    loc = w.walk(w.ctx.root, b"/dir/abs")
    assert loc.inode.read_at(0, 100) == b"sandbox passwd\n"


def test_outside_link_target_present_in_sandbox_is_the_sandbox_copy(tree):
    """The outside absolute path, recreated inside the root, is what the
    link reaches; the host's copy stays unreachable."""
    inner = os.path.join(tree.root, tree.outside.lstrip("/"))
    os.makedirs(inner)
    with open(os.path.join(inner, "secret"), "wb") as f:
        f.write(b"decoy\n")
    tree.before = snapshot(tree.root)
    fs = HostFilesystem(7, tree.root)
    _, w = make_walker(fs)
    assert w.walk(w.ctx.root, b"/dir/outside").inode.read_at(0, 99) == b"decoy\n"


def test_volume_mount_and_dotdot_across_it(tree, tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "data").write_bytes(b"volume data")
    os.symlink("/etc/passwd", vol / "abs")
    os.symlink("../../../..", vol / "up")
    root_fs = HostFilesystem(7, tree.root)
    mounts, w = make_walker(root_fs)
    where = w.walk(w.ctx.root, b"/emptydir")
    vfs = HostFilesystem(8, str(vol), readonly=False)
    tree.audit.root = os.path.realpath(tmp_path).encode()     # volume too
    mounts.mount(vfs, where)
    assert w.walk(w.ctx.root, b"/emptydir/data").inode.read_at(0, 99) == b"volume data"
    # An absolute link in a volume is relative to the sandbox root.
    assert w.walk(w.ctx.root, b"/emptydir/abs").inode.read_at(0, 99) == b"sandbox passwd\n"
    assert walk_host_path(w, b"/emptydir/up") == os.path.realpath(tree.root)
    assert walk_host_path(w, b"/emptydir/..") == os.path.realpath(tree.root)
    assert w.walk(w.ctx.root, b"/emptydir").inode is vfs.root()


names = hst.sampled_from([b"..", b".", b"dir", b"sub", b"etc", b"passwd", b"abs",
                          b"rel_up", b"outside", b"outside_dir", b"dotdot", b"to_sub",
                          b"dangling", b"loop", b"file.txt", b"secret", b"nope"])


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hst.lists(names, min_size=1, max_size=8), hst.booleans(), hst.booleans())
def test_no_walk_reaches_outside_the_root(tree, parts, absolute, follow):
    fs = HostFilesystem(7, tree.root)
    _, w = make_walker(fs)
    path = (b"/" if absolute else b"") + b"/".join(parts)
    try:
        host = walk_host_path(w, path, follow)
    except SyscallError as e:
        assert e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)
        return
    r = os.path.realpath(tree.root)
    assert host == r or host.startswith(r + "/")
    assert tree.audit.outside() == []


# --- read-write volumes -------------------------------------------------------------

@pytest.fixture
def vol(tmp_path):
    d = tmp_path / "vol"
    d.mkdir()
    (d / "f").write_bytes(b"hello world")
    (d / "sub").mkdir()
    os.symlink("f", d / "lnk")
    audit = Audit(str(d))
    old = set_open_audit(audit)
    old_umask = os.umask(0o077)                  # must not leak into the guest's modes
    yield SimpleNamespace(path=str(d), fs=HostFilesystem(9, str(d), readonly=False))
    os.umask(old_umask)
    set_open_audit(old)
    assert audit.outside() == []


def test_rw_create_write_read_truncate(vol):
    root = vol.fs.root()
    f = root.create(b"new", st.S_IFREG | 0o644, os.getuid(), os.getgid())
    assert f.is_reg() and f.write_at(0, b"abc") == 3 and f.write_at(5, b"Z") == 1
    assert f.read_at(0, 10) == b"abc\0\0Z"
    p = os.path.join(vol.path, "new")
    assert open(p, "rb").read() == b"abc\0\0Z"
    assert st.S_IMODE(os.lstat(p).st_mode) == 0o644             # not the sentry's umask
    f.setattr(size=2)
    assert open(p, "rb").read() == b"ab" and f.getattr().size == 2
    assert err(root.create, b"new", 0o100644, 0, 0) == errno.EEXIST
    assert err(root.lookup(b"f").create, b"x", 0o100644, 0, 0) == errno.ENOTDIR


def test_rw_namespace_operations(vol):
    root = vol.fs.root()
    d = root.mkdir(b"d", st.S_IFDIR | 0o750, 0, 0)
    assert d.is_dir() and st.S_IMODE(os.lstat(os.path.join(vol.path, "d")).st_mode) == 0o750
    s = d.symlink(b"s", b"/etc/passwd", 0, 0)
    assert s.readlink() == b"/etc/passwd"
    assert os.readlink(os.path.join(vol.path, "d/s")) == "/etc/passwd"
    p = d.mknod(b"p", st.S_IFIFO | 0o600, 0, 0, 0)
    assert st.S_ISFIFO(p.getattr().mode)
    assert err(d.mknod, b"c", st.S_IFCHR | 0o600, os.makedev(1, 3), 0, 0) == errno.EPERM
    f = root.lookup(b"f")
    root.link(b"f2", f)
    assert os.lstat(os.path.join(vol.path, "f2")).st_ino == f.getattr().ino
    assert f.getattr().nlink == 2
    root.unlink(b"f2")
    assert err(root.lookup, b"f2") == errno.ENOENT
    assert err(root.unlink, b"sub") == errno.EISDIR
    assert err(root.rmdir, b"d") == errno.ENOTEMPTY
    d.unlink(b"s")
    d.unlink(b"p")
    root.rmdir(b"d")
    assert not os.path.exists(os.path.join(vol.path, "d"))
    assert err(root.link, b"x", root.lookup(b"sub")) == errno.EPERM


def test_rw_rename_keeps_inode_objects_usable(vol):
    root = vol.fs.root()
    sub, lnk, f = root.lookup(b"sub"), root.lookup(b"lnk"), root.lookup(b"f")
    root.rename(b"lnk", sub, b"lnk2")
    assert not os.path.lexists(os.path.join(vol.path, "lnk"))
    assert sub.lookup(b"lnk2") is lnk and lnk.readlink() == b"f"
    lnk.setattr(uid=os.getuid())                      # needs its new parent/name
    root.create(b"g", 0o100600, 0, 0)
    assert err(root.rename, b"f", root, b"g", RENAME_NOREPLACE) == errno.EEXIST
    g = root.lookup(b"g")
    root.rename(b"f", root, b"g", RENAME_EXCHANGE)
    assert root.lookup(b"g") is f and root.lookup(b"f") is g
    assert open(os.path.join(vol.path, "g"), "rb").read() == b"hello world"
    root.rename(b"g", root, b"f")                     # replaces the other one
    assert root.lookup(b"f") is f and err(root.lookup, b"g") == errno.ENOENT
    assert f.read_at(0, 99) == b"hello world"


def test_rw_setattr(vol):
    f = vol.fs.root().lookup(b"f")
    f.setattr(mode=st.S_IFREG | 0o4711, atime_ns=1_000_000_123, mtime_ns=2_000_000_456)
    h = os.lstat(os.path.join(vol.path, "f"))
    assert st.S_IMODE(h.st_mode) == 0o4711 and f.mode == h.st_mode
    assert (h.st_atime_ns, h.st_mtime_ns) == (1_000_000_123, 2_000_000_456)
    f.setattr(mtime_ns=3_000_000_000)
    h = os.lstat(os.path.join(vol.path, "f"))
    assert (h.st_atime_ns, h.st_mtime_ns) == (1_000_000_123, 3_000_000_000)
    lnk = vol.fs.root().lookup(b"lnk")
    assert err(lnk.setattr, mode=0o600) == errno.EOPNOTSUPP
    lnk.setattr(mtime_ns=5_000_000_000)
    assert os.lstat(os.path.join(vol.path, "lnk")).st_mtime_ns == 5_000_000_000
    assert os.lstat(os.path.join(vol.path, "f")).st_mtime_ns == 3_000_000_000
    assert err(vol.fs.root().lookup(b"sub").setattr, size=0) == errno.EISDIR
    if os.geteuid() == 0:
        f.setattr(uid=1234, gid=4321)
        h = os.lstat(os.path.join(vol.path, "f"))
        assert (h.st_uid, h.st_gid) == (1234, 4321)
        vol.fs.root().create(b"owned", 0o100644, 1000, 1001)
        h = os.lstat(os.path.join(vol.path, "owned"))
        assert (h.st_uid, h.st_gid) == (1000, 1001)


def test_rw_symlink_created_by_guest_still_resolves_inside(vol):
    fs = vol.fs
    fs.root().symlink(b"up", b"/" + b"../" * 10, 0, 0)
    fs.root().symlink(b"host", vol.path.encode() + b"/f", 0, 0)
    _, w = make_walker(fs)
    assert walk_host_path(w, b"/up") == os.path.realpath(vol.path)
    assert err(w.walk, w.ctx.root, b"/host") == errno.ENOENT


# --- missing names (negative dentries) -------------------------------------------

def _opens_of(audit, path, name):
    target = os.path.realpath(os.path.join(path, name)).encode()
    return audit.seen.count(target)


def test_missing_name_is_remembered_without_a_host_open(vol):
    root = vol.fs.root()
    audit = Audit(vol.path)
    old = set_open_audit(audit)
    try:
        assert err(root.lookup, b"nope") == errno.ENOENT
        first = _opens_of(audit, vol.path, "nope")
        for _ in range(5):
            assert err(root.lookup, b"nope") == errno.ENOENT
        assert first and _opens_of(audit, vol.path, "nope") == first
    finally:
        set_open_audit(old)


HOST_MAKERS = {
    "file": lambda p: open(p, "wb").close(),
    "dir": os.mkdir,
    "symlink": lambda p: os.symlink("f", p),
    "fifo": os.mkfifo,
    "rename": lambda p: (open(p + ".tmp", "wb").close(), os.rename(p + ".tmp", p)),
    "link": lambda p: os.link(os.path.join(os.path.dirname(p), "f"), p),
}


@pytest.mark.parametrize("how", sorted(HOST_MAKERS))
def test_name_made_by_the_host_after_a_miss_is_seen_at_once(vol, how):
    """The host changing the directory changes its stamp: the remembered
    miss is not believed (many rounds: timestamps must not hide one)."""
    root = vol.fs.root()
    for i in range(50):
        name = "n%d" % i
        assert err(root.lookup, name.encode()) == errno.ENOENT
        assert err(root.lookup, name.encode()) == errno.ENOENT
        HOST_MAKERS[how](os.path.join(vol.path, name))
        assert root.lookup(name.encode()).getattr().ino == \
            os.lstat(os.path.join(vol.path, name)).st_ino


def _same_stamp_always(monkeypatch):
    # A filesystem whose directory timestamps are too coarse to show a
    # change: only the sandbox's own bookkeeping can tell.
    from kvmsentry.fsimpl import hostfs
    monkeypatch.setattr(hostfs, "_dir_stamp", lambda fd: (0, 0, 0, 0))


SANDBOX_MAKERS = {
    "create": lambda d, n: d.create(n, st.S_IFREG | 0o644, 0, 0),
    "mkdir": lambda d, n: d.mkdir(n, st.S_IFDIR | 0o755, 0, 0),
    "mknod": lambda d, n: d.mknod(n, st.S_IFIFO | 0o644, 0, 0, 0),
    "symlink": lambda d, n: d.symlink(n, b"f", 0, 0),
    "link": lambda d, n: d.link(n, d.lookup(b"f")),
    "rename": lambda d, n: (d.create(b"tmp", st.S_IFREG | 0o644, 0, 0),
                            d.rename(b"tmp", d, n)),
}


@pytest.mark.parametrize("how", sorted(SANDBOX_MAKERS))
def test_name_made_by_the_sandbox_after_a_miss_is_seen_at_once(vol, monkeypatch, how):
    root = vol.fs.root()
    _same_stamp_always(monkeypatch)
    assert err(root.lookup, b"new") == errno.ENOENT
    assert err(root.lookup, b"new") == errno.ENOENT
    SANDBOX_MAKERS[how](root, b"new")
    assert root.lookup(b"new").getattr().ino == os.lstat(os.path.join(vol.path, "new")).st_ino


def test_rename_into_another_directory_after_a_miss_there(vol, monkeypatch):
    root = vol.fs.root()
    sub = root.lookup(b"sub")
    _same_stamp_always(monkeypatch)
    assert err(sub.lookup, b"moved") == errno.ENOENT
    root.rename(b"f", sub, b"moved")
    assert sub.lookup(b"moved").read_at(0, 99) == b"hello world"


def test_missing_names_remembered_are_bounded(vol):
    from kvmsentry.fsimpl.hostfs import ABSENT_KEPT
    root = vol.fs.root()
    for i in range(ABSENT_KEPT + 10):
        assert err(root.lookup, b"m%d" % i) == errno.ENOENT
    assert 0 < len(root._absent[1]) <= ABSENT_KEPT


USER_CREDS = SimpleNamespace(uid=1000, euid=1000, fsuid=1000, gid=1000, egid=1000,
                             fsgid=1000, groups=(), cap_effective=0)


def test_unprivileged_walk_answers_a_remembered_miss_from_its_search_check(vol, monkeypatch):
    """A non-root walk stats each directory for its search permission;
    that stat is also the look at the directory a remembered miss needs:
    no second stat, no open. The host making the name in between is seen."""
    from kvmsentry.fsimpl import hostfs
    mounts = MountTable(vol.fs)
    root = mounts.root_location()
    walker = Walker(mounts, SimpleNamespace(root=root, cwd=root), USER_CREDS)
    assert err(walker.walk, root, b"/sub/.htaccess") == errno.ENOENT
    stats = []
    real = hostfs._dir_stamp
    monkeypatch.setattr(hostfs, "_dir_stamp", lambda fd: (stats.append(fd), real(fd))[1])
    audit = Audit(vol.path)
    old = set_open_audit(audit)
    try:
        for _ in range(3):
            assert err(walker.walk, root, b"/sub/.htaccess") == errno.ENOENT
        assert stats == [] and audit.seen == []
        open(os.path.join(vol.path, "sub", ".htaccess"), "wb").close()
        assert walker.walk(root, b"/sub/.htaccess").inode.is_reg()
    finally:
        set_open_audit(old)
    # A root walk (no search checks) looks at the directory itself.
    root_walker = Walker(mounts, SimpleNamespace(root=root, cwd=root), ROOT_CREDS)
    assert err(root_walker.walk, root, b"/sub/later") == errno.ENOENT
    assert err(walker.walk, root, b"/sub/later") == errno.ENOENT
    open(os.path.join(vol.path, "sub", "later"), "wb").close()
    assert root_walker.walk(root, b"/sub/later").inode.is_reg()
