"""The overlay: a tmpfs over a read-only host tree.

Copy-up, whiteouts, opaque directories, merged readdir, rename and rmdir
rules, stable inode numbers; a hypothesis state machine drives random
mutations against a dict model of the merged tree. In every test the host
tree is compared byte for byte (contents, modes, owners, mtimes) with a
snapshot taken before, and no host open leaves the root.
"""
import errno
import gc
import os
import shutil
import stat as st
import tempfile
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, settings, strategies as hst
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.hostfs import HostFilesystem, set_open_audit
from kvmsentry.fsimpl.overlay import UPPER_INO_BIT, OverlayFilesystem
from kvmsentry.fsimpl.tmpfs import TmpfsFilesystem
from kvmsentry.vfs.inode import RENAME_EXCHANGE, RENAME_NOREPLACE
from kvmsentry.vfs.mount import MountTable
from kvmsentry.vfs.path import Walker

ROOT_CREDS = SimpleNamespace(uid=0, euid=0, gid=0, egid=0, groups=())
OLD_NS = 1_000_000_000 * 1_000_000_000 + 123        # a fixed, recognisable mtime
REG = st.S_IFREG
DIR = st.S_IFDIR


def build_tree(root):
    """The lower tree; every timestamp is set to OLD_NS."""
    files = {"etc/passwd": b"sandbox passwd\n", "etc/group": b"root:x:0:\n",
             "bin/sh": b"\x7fELF fake", "dir/a": b"lower a", "dir/b": b"lower b" * 1000,
             "dir/sub/deep/file": b"deep file", "dir/sub/x": b"x"}
    for d in ("etc", "bin", "dir/sub/deep", "emptydir"):
        os.makedirs(os.path.join(root, d))
    for p, data in files.items():
        with open(os.path.join(root, p), "wb") as f:
            f.write(data)
    os.chmod(os.path.join(root, "bin/sh"), 0o4755)
    os.chmod(os.path.join(root, "dir/sub"), 0o750)
    os.symlink("/etc/passwd", os.path.join(root, "dir/abs"))
    os.symlink("../a", os.path.join(root, "dir/sub/rel"))
    os.mkfifo(os.path.join(root, "fifo"))
    if os.geteuid() == 0:
        os.chown(os.path.join(root, "dir/a"), 1234, 4321)
        os.chown(os.path.join(root, "dir/sub"), 55, 66)
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for n in dirnames + filenames:
            os.utime(os.path.join(dirpath, n), ns=(OLD_NS, OLD_NS), follow_symlinks=False)
    os.utime(root, ns=(OLD_NS, OLD_NS))


def snapshot(path):
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
    def __init__(self, root):
        self.root = os.path.realpath(root).encode()
        self.seen = []

    def __call__(self, base, name):
        self.seen.append(os.path.normpath(os.path.join(base, name)) if name else base)

    def outside(self):
        return [p for p in self.seen
                if p != self.root and not p.startswith(self.root + b"/")]


class Sandbox:
    """Host tree + hostfs lower + tmpfs upper + overlay; check() at the end."""

    def __init__(self, root):
        self.root = root
        build_tree(root)
        self.before = snapshot(root)
        self.audit = Audit(root)
        self._old_audit = set_open_audit(self.audit)
        self.lower = HostFilesystem(20, root, readonly=True)
        self.upper = TmpfsFilesystem(21, mode=0o1777)
        self.fs = OverlayFilesystem(22, self.upper, self.lower)

    def host(self, rel):
        return os.path.join(self.root, rel)

    def path(self, rel):
        inode = self.fs.root()
        for name in rel.encode().split(b"/"):
            if name:
                inode = inode.lookup(name)
        return inode

    def names(self, rel):
        return sorted(n for n, _, _ in self.path(rel).readdir())

    def check(self):
        set_open_audit(self._old_audit)
        assert self.audit.outside() == []
        assert snapshot(self.root) == self.before


@pytest.fixture
def sb(tmp_path):
    s = Sandbox(str(tmp_path / "root"))
    yield s
    s.check()


def err(fn, *args, **kw):
    with pytest.raises(SyscallError) as e:
        fn(*args, **kw)
    return e.value.errno


# --- lookups, attributes, readdir -----------------------------------------------------

def test_merged_view_of_the_lower_tree(sb):
    f = sb.path("dir/a")
    s, h = f.getattr(), os.lstat(sb.host("dir/a"))
    assert (s.dev, s.ino, s.mode, s.uid, s.gid, s.size, s.mtime_ns) == \
        (22, h.st_ino, h.st_mode, h.st_uid, h.st_gid, h.st_size, h.st_mtime_ns)
    assert f.read_at(0, 100) == b"lower a"
    assert sb.path("dir/abs").readlink() == b"/etc/passwd"
    assert sb.names("dir") == [b"a", b"abs", b"b", b"sub"]
    root = sb.fs.root().getattr()
    assert root.ino == os.lstat(sb.root).st_ino and root.mode == os.lstat(sb.root).st_mode
    assert err(sb.path("dir").lookup, b"nope") == errno.ENOENT
    assert err(f.lookup, b"x") == errno.ENOTDIR
    assert sb.fs.statfs()["type"] == 0x794C7630


def test_readdir_inos_match_getattr(sb):
    sb.path("dir/a").write_at(0, b"A")                    # a copied-up entry
    sb.path("dir").create(b"new", REG | 0o644, 0, 0)      # an upper-only entry
    for n, ino, _ in sb.path("dir").readdir():
        assert sb.path("dir").lookup(n).getattr().ino == ino
    assert sb.path("dir/new").getattr().ino & UPPER_INO_BIT
    assert sb.path("dir/a").getattr().ino == os.lstat(sb.host("dir/a")).st_ino


# --- copy-up -----------------------------------------------------------------------

def test_write_copies_up_file_and_parent_chain(sb):
    f = sb.path("dir/sub/deep/file")
    ino = f.getattr().ino
    assert f.write_at(0, b"DEEP") == 4
    assert f.read_at(0, 100) == b"DEEP file"
    assert f.getattr().ino == ino and f.getattr().dev == 22
    assert f.upper is not None
    # The parents now exist in upper with the lower's mode, owner and times.
    up_sub = sb.upper.root().lookup(b"dir").lookup(b"sub")
    s, h = up_sub.getattr(), os.lstat(sb.host("dir/sub"))
    assert (s.mode, s.uid, s.gid, s.mtime_ns) == (h.st_mode, h.st_uid, h.st_gid, OLD_NS)
    # Copy-up is not a change to the parent: its mtime stays.
    assert sb.path("dir/sub/deep").getattr().mtime_ns == OLD_NS
    # The rest of the merged directories still shows through.
    assert sb.names("dir/sub") == [b"deep", b"rel", b"x"]
    assert sb.path("dir/sub/rel").readlink() == b"../a"


def test_copy_up_keeps_attributes(sb):
    sh = sb.path("bin/sh")
    sh.write_at(0, b"\x7fELF")
    s, h = sh.getattr(), os.lstat(sb.host("bin/sh"))
    assert (s.mode, s.uid, s.gid, s.size, s.atime_ns) == \
        (h.st_mode, h.st_uid, h.st_gid, h.st_size, h.st_atime_ns)
    big = sb.path("dir/b")
    big.setattr(mode=REG | 0o600)
    assert big.read_at(0, 10000) == b"lower b" * 1000
    assert st.S_IMODE(big.getattr().mode) == 0o600
    if os.geteuid() == 0:
        a = sb.path("dir/a")
        a.setattr(atime_ns=5)
        assert (a.getattr().uid, a.getattr().gid) == (1234, 4321)


def test_truncate_copies_only_what_is_kept(sb):
    b = sb.path("dir/b")
    b.setattr(size=3)
    assert b.read_at(0, 100) == b"low" and b.getattr().size == 3
    b.setattr(size=5)
    assert b.read_at(0, 100) == b"low\0\0"
    b2 = sb.path("dir/a")
    b2.setattr(size=0)
    assert b2.read_at(0, 100) == b"" and b2.upper.getattr().size == 0


def test_symlink_copy_up_keeps_target(sb):
    link = sb.path("dir/abs")
    link.setattr(uid=7, gid=8)
    assert link.upper is not None and link.readlink() == b"/etc/passwd"
    assert link.getattr().uid == 7
    assert link.getattr().ino == os.lstat(sb.host("dir/abs")).st_ino


def test_fifo_becomes_the_sandboxs_own_on_open(sb):
    fifo = sb.path("fifo")
    f = fifo.open(None, os.O_RDONLY | os.O_NONBLOCK)
    assert f is not None and st.S_ISFIFO(fifo.upper.getattr().mode)
    fifo_path = sb.host("fifo").encode()
    assert sb.audit.seen.count(fifo_path) == 1              # O_PATH lookup only


def test_open_file_sees_copy_up(sb):
    a = sb.path("dir/a")
    keep = a                                          # as an open file would
    sb.path("dir/a").write_at(0, b"L")
    assert keep.read_at(0, 100) == b"Lower a"


# --- whiteouts and opaque directories ---------------------------------------------

def test_unlink_of_lower_file_is_a_whiteout(sb):
    d = sb.path("dir")
    old = d.lookup(b"a")
    old_ino = old.getattr().ino
    d.unlink(b"a")
    assert err(d.lookup, b"a") == errno.ENOENT
    assert b"a" not in sb.names("dir")
    assert old.read_at(0, 100) == b"lower a"            # still open: still readable
    assert err(d.unlink, b"a") == errno.ENOENT
    new = d.create(b"a", REG | 0o600, 0, 0)
    assert new.read_at(0, 100) == b"" and new.getattr().ino != old_ino
    assert sb.names("dir").count(b"a") == 1
    d.unlink(b"a")
    assert err(d.lookup, b"a") == errno.ENOENT           # whiteout is back
    assert err(d.unlink, b"sub") == errno.EISDIR


def test_rmdir_checks_the_merged_view(sb):
    d = sb.path("dir/sub")
    assert err(sb.path("dir").rmdir, b"sub") == errno.ENOTEMPTY
    assert err(d.rmdir, b"x") == errno.ENOTDIR
    sb.path("dir/sub/deep").unlink(b"file")
    assert sb.names("dir/sub/deep") == []
    d.rmdir(b"deep")
    assert sb.names("dir/sub") == [b"rel", b"x"]
    sb.fs.root().rmdir(b"emptydir")
    assert err(sb.fs.root().lookup, b"emptydir") == errno.ENOENT


def test_directory_made_over_a_whiteout_is_opaque(sb):
    d = sb.path("dir/sub")
    d.lookup(b"deep").unlink(b"file")
    d.rmdir(b"deep")
    d.mkdir(b"deep", DIR | 0o700, 0, 0)
    del d
    gc.collect()                                          # no cached inode helps
    assert sb.names("dir/sub/deep") == []                 # the lower file stays hidden
    new = sb.path("dir/sub/deep")
    assert err(new.lookup, b"file") == errno.ENOENT
    new.create(b"mine", REG | 0o644, 0, 0)
    assert sb.names("dir/sub/deep") == [b"mine"]
    assert st.S_IMODE(new.getattr().mode) == 0o700


def test_directory_renamed_over_a_whited_out_one_hides_its_lower(sb):
    sb.path("dir/sub/deep").unlink(b"file")
    sb.fs.root().rename(b"emptydir", sb.path("dir/sub"), b"deep")
    gc.collect()
    assert sb.names("dir/sub/deep") == []
    assert err(sb.path("dir/sub/deep").lookup, b"file") == errno.ENOENT
    assert err(sb.fs.root().lookup, b"emptydir") == errno.ENOENT


def test_create_in_lower_dir_merges(sb):
    sb.path("dir/sub").create(b"new", REG | 0o644, 0, 0)
    assert sb.names("dir/sub") == [b"deep", b"new", b"rel", b"x"]
    assert err(sb.path("dir/sub").create, b"x", REG | 0o644, 0, 0) == errno.EEXIST
    assert err(sb.path("dir").mkdir, b"sub", DIR | 0o755, 0, 0) == errno.EEXIST
    assert err(sb.path("dir/a").create, b"y", REG, 0, 0) == errno.ENOTDIR


# --- rename and link ----------------------------------------------------------------

def test_rename_lower_file(sb):
    d = sb.path("dir")
    a = d.lookup(b"a")
    ino = a.getattr().ino
    d.rename(b"a", sb.path("etc"), b"moved")
    assert err(d.lookup, b"a") == errno.ENOENT and b"a" not in sb.names("dir")
    m = sb.path("etc/moved")
    assert m is a and m.read_at(0, 100) == b"lower a" and m.getattr().ino == ino
    d.rename(b"b", d, b"abs")                             # over a lower symlink
    assert sb.path("dir/abs").read_at(0, 7) == b"lower b"
    assert sb.names("dir") == [b"abs", b"sub"]


def test_rename_directories(sb):
    root = sb.fs.root()
    assert err(root.rename, b"dir", root, b"dir2") == errno.EXDEV     # has lower entries
    assert err(sb.path("dir").rename, b"sub", root, b"sub2") == errno.EXDEV
    root.rename(b"emptydir", root, b"e2")                 # empty lower: fine
    assert sb.names("") == [b"bin", b"dir", b"e2", b"etc", b"fifo"]
    n = root.mkdir(b"n", DIR | 0o755, 0, 0)
    n.create(b"f", REG | 0o644, 0, 0).write_at(0, b"in n")
    root.rename(b"n", sb.path("dir/sub"), b"n")
    assert sb.path("dir/sub/n/f").read_at(0, 9) == b"in n"
    assert err(root.rename, b"dir", sb.path("dir/sub/n"), b"x") == errno.EINVAL
    assert err(sb.path("dir/sub").rename, b"n", sb.path("dir/sub/n"), b"x") == errno.EINVAL
    # An upper directory moved over an empty lower one hides nothing it should not.
    e = root.mkdir(b"emptydir2", DIR | 0o755, 0, 0)
    e.create(b"only", REG, 0, 0)
    root.rename(b"emptydir2", root, b"e2")
    assert sb.names("e2") == [b"only"]
    assert err(root.rename, b"bin", root, b"bin2") == errno.EXDEV
    assert err(root.rename, b"e2", root, b"etc") == errno.ENOTEMPTY


def test_rename_replacement_rules(sb):
    d = sb.path("dir")
    assert err(d.rename, b"a", d, b"b", RENAME_NOREPLACE) == errno.EEXIST
    assert err(d.rename, b"a", d, b"sub") == errno.EISDIR
    sb.fs.root().mkdir(b"x", DIR | 0o755, 0, 0)
    assert err(sb.fs.root().rename, b"x", d, b"a") == errno.ENOTDIR
    assert err(d.rename, b"nope", d, b"q") == errno.ENOENT
    d.rename(b"a", d, b"b", RENAME_EXCHANGE)
    assert sb.path("dir/a").read_at(0, 7) == b"lower b"
    assert sb.path("dir/b").read_at(0, 100) == b"lower a"
    d.rename(b"a", d, b"a")                               # itself: nothing happens
    assert sb.names("dir") == [b"a", b"abs", b"b", b"sub"]


def test_hard_link_of_lower_file(sb):
    a = sb.path("dir/a")
    sb.path("etc").link(b"a_link", a)
    ln = sb.path("etc/a_link")
    assert ln.read_at(0, 100) == b"lower a"
    ln.write_at(0, b"LINK")
    assert a.read_at(0, 100) == b"LINKr a"
    assert a.getattr().nlink == 2 and ln.getattr().ino == a.getattr().ino
    sb.path("dir").rename(b"a", sb.path("etc"), b"a_link")   # same inode: no-op
    assert sb.names("etc") == [b"a_link", b"group", b"passwd"]
    assert err(sb.path("etc").link, b"d", sb.path("dir")) == errno.EPERM
    assert err(sb.path("etc").link, b"passwd", a) == errno.EEXIST


# --- through the VFS walker --------------------------------------------------------------

def test_walker_resolves_links_in_the_merged_tree(sb):
    mounts = MountTable(sb.fs)
    root = mounts.root_location()
    w = Walker(mounts, SimpleNamespace(root=root, cwd=root), ROOT_CREDS)
    assert w.walk(root, b"/dir/abs").inode.read_at(0, 99) == b"sandbox passwd\n"
    assert w.walk(root, b"/dir/sub/rel").inode.read_at(0, 99) == b"lower a"
    assert w.walk(root, b"/../../dir/../..").inode is sb.fs.root()
    etc = w.walk(root, b"/etc")
    etc.inode.unlink(b"passwd")
    etc.dentry.forget(b"passwd")
    assert err(w.walk, root, b"/dir/abs") == errno.ENOENT
    etc.inode.create(b"passwd", REG | 0o644, 0, 0).write_at(0, b"guest passwd\n")
    etc.dentry.forget(b"passwd")
    assert w.walk(root, b"/dir/abs").inode.read_at(0, 99) == b"guest passwd\n"


# --- random mutations against a model of the merged tree -------------------------------------

class MFile:
    def __init__(self, data, mode, ino=None):
        self.data, self.mode, self.ino = bytearray(data), mode, ino


class MLink:
    def __init__(self, target, ino=None):
        self.target, self.ino = target, ino


class MDir:
    def __init__(self, mode, origin=None, ino=None):
        self.children, self.mode, self.origin, self.ino = {}, mode, origin, ino


def model_of(host_dir):
    """The model of a host directory; dirs remember where their lower is."""
    s = os.lstat(host_dir)
    d = MDir(st.S_IMODE(s.st_mode), origin=host_dir, ino=s.st_ino)
    for name in os.listdir(host_dir):
        p = os.path.join(host_dir, name)
        s = os.lstat(p)
        if st.S_ISDIR(s.st_mode):
            d.children[name.encode()] = model_of(p)
        elif st.S_ISLNK(s.st_mode):
            d.children[name.encode()] = MLink(os.readlink(p).encode(), s.st_ino)
        elif st.S_ISREG(s.st_mode):
            with open(p, "rb") as f:
                d.children[name.encode()] = MFile(f.read(), st.S_IMODE(s.st_mode), s.st_ino)
    return d


NAMES = [b"a", b"b", b"sub", b"deep", b"n1", b"n2"]


class OverlayMachine(RuleBasedStateMachine):
    """Random Inode-level mutations; the merged tree must equal the model."""

    def __init__(self):
        super().__init__()
        self.tmp = tempfile.mkdtemp()
        root = os.path.join(self.tmp, "root")
        os.mkdir(root)
        for d in ("a/sub/deep", "b", "empty"):
            os.makedirs(os.path.join(root, d))
        for p, data in {"a/n1": b"one", "a/sub/n2": b"two" * 3, "b/a": b"",
                        "a/sub/deep/b": b"bee"}.items():
            with open(os.path.join(root, p), "wb") as f:
                f.write(data)
        os.symlink("../b", os.path.join(root, "a/deep"))
        self.sb = SimpleNamespace(root=root, before=snapshot(root), audit=Audit(root))
        self._old_audit = set_open_audit(self.sb.audit)
        self.fs = OverlayFilesystem(3, TmpfsFilesystem(2), HostFilesystem(1, root))
        self.model = model_of(root)

    def teardown(self):
        set_open_audit(self._old_audit)
        try:
            assert self.sb.audit.outside() == []
            assert snapshot(self.sb.root) == self.sb.before
        finally:
            shutil.rmtree(self.tmp)

    # --- helpers -------------------------------------------------------------------
    def _paths(self, want=None):
        out = []

        def visit(node, path):
            if want is None or isinstance(node, want):
                out.append(path)
            if isinstance(node, MDir):
                for n, c in node.children.items():
                    visit(c, path + (n,))
        visit(self.model, ())
        return out

    def _node(self, path):
        node = self.model
        for n in path:
            node = node.children[n]
        return node

    def _inode(self, path):
        inode = self.fs.root()
        for n in path:
            inode = inode.lookup(n)
        return inode

    def _do(self, expect, fn, *args):
        """Run fn; it must fail with `expect` (an errno) or succeed (None)."""
        try:
            fn(*args)
        except SyscallError as e:
            assert e.errno == expect, (fn.__name__, args, e)
            return False
        assert expect is None, (fn.__name__, args, "succeeded, expected", expect)
        return True

    def _pick(self, data, want=None):
        return data.draw(hst.sampled_from(self._paths(want)))

    # --- rules --------------------------------------------------------------------------
    @rule(data=hst.data(), name=hst.sampled_from(NAMES),
          kind=hst.sampled_from(["file", "dir", "link"]))
    def make(self, data, name, kind):
        dpath = self._pick(data, MDir)
        d = self._node(dpath)
        expect = errno.EEXIST if name in d.children else None
        inode = self._inode(dpath)
        if kind == "file":
            ok = self._do(expect, inode.create, name, REG | 0o640, 0, 0)
            new = MFile(b"", 0o640)
        elif kind == "dir":
            ok = self._do(expect, inode.mkdir, name, DIR | 0o710, 0, 0)
            new = MDir(0o710 | (d.mode & st.S_ISGID))         # inherited, as Linux
        else:
            ok = self._do(expect, inode.symlink, name, b"../" + name, 0, 0)
            new = MLink(b"../" + name)
        if ok:
            d.children[name] = new

    @rule(data=hst.data(), offset=hst.integers(0, 12), payload=hst.binary(max_size=8))
    def write(self, data, offset, payload):
        if not self._paths(MFile):
            return
        path = self._pick(data, MFile)
        f = self._node(path)
        assert self._inode(path).write_at(offset, payload) == len(payload)
        if payload:
            if offset > len(f.data):
                f.data.extend(bytes(offset - len(f.data)))
            f.data[offset:offset + len(payload)] = payload

    @rule(data=hst.data(), size=hst.integers(0, 12))
    def truncate(self, data, size):
        if not self._paths(MFile):
            return
        path = self._pick(data, MFile)
        f = self._node(path)
        self._inode(path).setattr(size=size)
        f.data = f.data[:size] + bytes(max(0, size - len(f.data)))

    @rule(data=hst.data(), mode=hst.sampled_from([0o700, 0o644, 0o2755]))
    def chmod(self, data, mode):
        path = self._pick(data, (MFile, MDir))
        kind = REG if isinstance(self._node(path), MFile) else DIR
        self._inode(path).setattr(mode=kind | mode)
        self._node(path).mode = mode

    @rule(data=hst.data(), name=hst.sampled_from(NAMES), rmdir=hst.booleans())
    def remove(self, data, name, rmdir):
        dpath = self._pick(data, MDir)
        d = self._node(dpath)
        c = d.children.get(name)
        if c is None:
            expect = errno.ENOENT
        elif rmdir:
            expect = (errno.ENOTDIR if not isinstance(c, MDir) else
                      errno.ENOTEMPTY if c.children else None)
        else:
            expect = errno.EISDIR if isinstance(c, MDir) else None
        inode = self._inode(dpath)
        if self._do(expect, inode.rmdir if rmdir else inode.unlink, name):
            del d.children[name]

    @rule(data=hst.data(), name=hst.sampled_from(NAMES))
    def link(self, data, name):
        spath = self._pick(data)
        if not spath:
            return
        dpath = self._pick(data, MDir)
        src, d = self._node(spath), self._node(dpath)
        expect = (errno.EPERM if isinstance(src, MDir) else
                  errno.EEXIST if name in d.children else None)
        if self._do(expect, self._inode(dpath).link, name, self._inode(spath)):
            d.children[name] = src

    @rule(data=hst.data(), name=hst.sampled_from(NAMES), new_name=hst.sampled_from(NAMES),
          flags=hst.sampled_from([0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE]))
    def rename(self, data, name, new_name, flags):
        p1, p2 = self._pick(data, MDir), self._pick(data, MDir)
        d1, d2 = self._node(p1), self._node(p2)
        expect = self._rename_errno(p1, name, p2, new_name, flags)
        if self._do(expect, self._inode(p1).rename, name, self._inode(p2), new_name, flags):
            src, dst = d1.children[name], d2.children.get(new_name)
            if src is dst:
                return
            for node in (src, dst):
                if isinstance(node, MDir):
                    node.origin = None            # moved: no lower part any more
            if flags & RENAME_EXCHANGE:
                d1.children[name], d2.children[new_name] = dst, src
            else:
                del d1.children[name]
                d2.children[new_name] = src

    def _rename_errno(self, p1, name, p2, new_name, flags):
        """Linux's order: ENOENT, EEXIST, EINVAL, same file, types, ENOTEMPTY;
        then the overlay's EXDEV for directories with lower entries."""
        src = self._node(p1).children.get(name)
        dst = self._node(p2).children.get(new_name)
        exchange = flags & RENAME_EXCHANGE
        if src is None or (exchange and dst is None):
            return errno.ENOENT
        if flags & RENAME_NOREPLACE and dst is not None:
            return errno.EEXIST
        sp, dp = p1 + (name,), p2 + (new_name,)
        if isinstance(src, MDir) and p2[:len(sp)] == sp:
            return errno.EINVAL
        if exchange and isinstance(dst, MDir) and p1[:len(dp)] == dp:
            return errno.EINVAL
        if src is dst:
            return None
        if dst is not None and not exchange:
            if isinstance(src, MDir) and not isinstance(dst, MDir):
                return errno.ENOTDIR
            if isinstance(dst, MDir) and not isinstance(src, MDir):
                return errno.EISDIR
            if isinstance(dst, MDir) and dst.children:
                return errno.ENOTEMPTY
        for node in ((src, dst) if exchange else (src,)):
            if isinstance(node, MDir) and node.origin and os.listdir(node.origin):
                return errno.EXDEV
        return None

    # --- the merged tree equals the model -------------------------------------------------
    @invariant()
    def tree_matches_model(self):
        inos = {}

        def check(node, inode, path):
            s = inode.getattr()
            assert s.dev == 3
            if node.ino is not None:
                assert s.ino == node.ino, path
            assert inos.setdefault(id(node), s.ino) == s.ino, path      # links agree
            if isinstance(node, MDir):
                assert inode.is_dir() and st.S_IMODE(s.mode) == node.mode, path
                listing = {n: ino for n, ino, _ in inode.readdir()}
                assert sorted(listing) == sorted(node.children), path
                for n, c in node.children.items():
                    child = inode.lookup(n)
                    assert child.getattr().ino == listing[n], path + (n,)
                    check(c, child, path + (n,))
            elif isinstance(node, MFile):
                assert inode.is_reg() and st.S_IMODE(s.mode) == node.mode, path
                assert s.size == len(node.data), path
                assert inode.read_at(0, 1000) == bytes(node.data), path
            else:
                assert inode.is_symlink() and inode.readlink() == node.target, path

        check(self.model, self.fs.root(), ())
        assert len(set(inos.values())) == len(inos)         # distinct objects, distinct inos


TestOverlayMachine = OverlayMachine.TestCase
TestOverlayMachine.settings = settings(max_examples=60, stateful_step_count=25, deadline=None,
                                       suppress_health_check=[HealthCheck.too_slow])
