"""tmpfs through the Inode interface and the generic InodeFile: Linux's
tmpfs is the reference for every errno, count and size asserted here."""
import errno
import gc
import os
import stat as st
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.tmpfs import TmpfsFilesystem
from kvmsentry.vfs.file import SEEK_CUR, SEEK_END, SEEK_SET, InodeFile
from kvmsentry.vfs.inode import (DT_CHR, DT_DIR, DT_FIFO, DT_LNK, DT_REG, DT_SOCK,
                                 RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT)
from kvmsentry.vfs.mount import Location, Mount


def raises(err, fn, *args, **kw):
    with pytest.raises(SyscallError) as e:
        fn(*args, **kw)
    assert e.value.errno == err, errno.errorcode.get(e.value.errno)


@pytest.fixture
def fs():
    return TmpfsFilesystem(0x30)


@pytest.fixture
def root(fs):
    return fs.root()


def names(d):
    return [n for n, _, _ in d.readdir()]


def open_path(fs, *path, flags=os.O_RDWR):
    """An InodeFile for root/path..., through real dentries."""
    mount = Mount(fs)
    dentry = mount.root
    for name in path:
        dentry = dentry.child(name)
    return InodeFile(Location(mount, dentry), flags)


def parse_dirents(buf):
    out = []
    while buf:
        ino, off, reclen, dt = struct.unpack_from("<QqHB", buf)
        name = buf[19:reclen].rstrip(b"\0")
        out.append((name, ino, dt))
        buf = buf[reclen:]
    return out


# --- the filesystem ------------------------------------------------------------

def test_root_attributes(fs, root):
    s = root.getattr()
    assert (s.ino, s.dev, s.nlink, s.size, s.blocks) == (1, 0x30, 2, 40, 0)
    assert s.mode == st.S_IFDIR | 0o1777
    assert fs.name == "tmpfs" and fs.magic == 0x01021994
    r = TmpfsFilesystem(1, mode=0o755, uid=5, gid=6).root().getattr()
    assert (r.mode, r.uid, r.gid) == (st.S_IFDIR | 0o755, 5, 6)


def test_statfs_default_is_half_of_ram(fs):
    s = fs.statfs()
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert s["type"] == 0x01021994 and s["bsize"] == 4096 and s["namelen"] == 255
    assert s["blocks"] == ram // 2 // 4096 == s["files"]
    assert s["bfree"] == s["bavail"] == s["blocks"]
    assert s["ffree"] == s["files"] - 1


def test_inode_numbers_unique_and_per_filesystem(fs, root):
    inos = {root.create(b"f%d" % i, 0o644, 0, 0).getattr().ino for i in range(5)}
    inos.add(root.mkdir(b"d", 0o755, 0, 0).getattr().ino)
    assert len(inos) == 6 and 1 not in inos
    assert TmpfsFilesystem(2).root().create(b"x", 0o644, 0, 0).getattr().ino == 2


# --- names ------------------------------------------------------------------------

def test_lookup_create_and_order(root):
    for n in (b"c", b"a", b"b"):
        root.create(n, 0o644, 0, 0)
    assert names(root) == [b"c", b"a", b"b"]
    assert root.lookup(b"a").is_reg()
    raises(errno.ENOENT, root.lookup, b"zz")
    assert root.getattr().size == 40 + 3 * 20


@pytest.mark.parametrize("make", [
    lambda d, n: d.create(n, 0o644, 0, 0),
    lambda d, n: d.mkdir(n, 0o755, 0, 0),
    lambda d, n: d.mknod(n, st.S_IFIFO | 0o644, 0, 0, 0),
    lambda d, n: d.symlink(n, b"target", 0, 0),
])
def test_existing_name_and_long_names(root, make):
    root.mkdir(b"taken", 0o755, 0, 0)
    raises(errno.EEXIST, make, root, b"taken")
    raises(errno.ENAMETOOLONG, make, root, b"x" * 256)
    make(root, b"x" * 255)
    raises(errno.ENAMETOOLONG, root.lookup, b"y" * 256)


def test_directory_nlink_counts_subdirs(root):
    a = root.mkdir(b"a", 0o755, 0, 0)
    root.mkdir(b"b", 0o755, 0, 0)
    root.create(b"f", 0o644, 0, 0)
    assert root.getattr().nlink == 4
    a.mkdir(b"x", 0o755, 0, 0)
    assert a.getattr().nlink == 3
    root.rmdir(b"b")
    assert root.getattr().nlink == 3


def test_mode_uid_gid_are_the_callers(root):
    f = root.create(b"f", 0o4751, 10, 20)
    s = f.getattr()
    assert (s.mode, s.uid, s.gid, s.nlink) == (st.S_IFREG | 0o4751, 10, 20, 1)
    d = root.mkdir(b"d", st.S_IFDIR | 0o7755, 1, 2)
    assert d.getattr().mode == st.S_IFDIR | 0o1755      # mkdir keeps sticky only


def test_setgid_directory_passes_on_its_group(root):
    d = root.mkdir(b"d", 0o2775, 0, 50)
    assert d.getattr().mode == st.S_IFDIR | 0o775      # mkdir(2) drops S_ISGID
    d.setattr(mode=0o2775)
    assert d.create(b"f", 0o644, 1, 2).getattr().gid == 50
    sub = d.mkdir(b"s", 0o755, 1, 2).getattr()
    assert (sub.gid, sub.mode) == (50, st.S_IFDIR | 0o2755)


def test_unlink_and_rmdir_errors(root):
    d = root.mkdir(b"d", 0o755, 0, 0)
    d.create(b"f", 0o644, 0, 0)
    root.create(b"file", 0o644, 0, 0)
    raises(errno.EISDIR, root.unlink, b"d")
    raises(errno.ENOTDIR, root.rmdir, b"file")
    raises(errno.ENOTEMPTY, root.rmdir, b"d")
    raises(errno.ENOENT, root.unlink, b"nope")
    raises(errno.ENOENT, root.rmdir, b"nope")
    d.unlink(b"f")
    assert d.is_empty()
    root.rmdir(b"d")
    assert d.getattr().nlink == 0
    raises(errno.ENOENT, d.create, b"g", 0o644, 0, 0)    # removed while "cwd"
    raises(errno.ENOENT, d.lookup, b"g")
    assert d.readdir() == ()


def test_entry_changes_touch_the_parent(root):
    before = root.getattr()
    f = root.create(b"f", 0o644, 0, 0)
    after = root.getattr()
    assert after.mtime_ns > before.mtime_ns and after.ctime_ns == after.mtime_ns
    fctime = f.getattr().ctime_ns
    root.unlink(b"f")
    assert root.getattr().mtime_ns > after.mtime_ns
    assert f.getattr().ctime_ns > fctime and f.getattr().nlink == 0


# --- regular files --------------------------------------------------------------------

def test_write_past_eof_leaves_zero_hole_and_sparse_blocks(root):
    f = root.create(b"f", 0o644, 0, 0)
    assert f.write_at(10000, b"xyz") == 3
    s = f.getattr()
    assert s.size == 10003 and s.blocks == 8            # one page of 512-byte units
    assert f.read_at(0, 20000) == bytes(10000) + b"xyz"
    assert f.read_at(10002, 10) == b"z" and f.read_at(20000, 5) == b""
    f.write_at(0, b"a" * 5000)
    assert f.getattr().blocks == 24


def test_truncate_extends_with_zeros_and_shrinks(root):
    f = root.create(b"f", 0o644, 0, 0)
    f.write_at(0, b"hello world")
    f.setattr(size=5)
    assert f.read_at(0, 100) == b"hello"
    f.setattr(size=1 << 40)                              # sparse: costs nothing
    s = f.getattr()
    assert s.size == 1 << 40 and s.blocks == 8
    assert f.read_at(3, 6) == b"lo" + bytes(4)
    assert f.read_at((1 << 40) - 2, 10) == bytes(2)
    f.setattr(size=0)
    assert f.getattr().blocks == 0 and f.read_at(0, 10) == b""
    raises(errno.EINVAL, f.setattr, size=-1)


def test_truncate_and_write_times(root):
    f = root.create(b"f", 0o644, 0, 0)
    t0 = f.getattr()
    f.write_at(0, b"x")
    t1 = f.getattr()
    assert t1.mtime_ns > t0.mtime_ns and t1.ctime_ns == t1.mtime_ns
    f.write_at(0, b"")                                   # a null write changes nothing
    assert f.getattr().mtime_ns == t1.mtime_ns
    f.setattr(size=1)                                    # same size: times still move
    assert f.getattr().mtime_ns > t1.mtime_ns


def test_setattr(root):
    f = root.create(b"f", 0o644, 0, 0)
    c0 = f.getattr().ctime_ns
    f.setattr(mode=st.S_IFDIR | 0o600, uid=7, gid=8, atime_ns=11, mtime_ns=22)
    s = f.getattr()
    assert (s.mode, s.uid, s.gid, s.atime_ns, s.mtime_ns) == (st.S_IFREG | 0o600, 7, 8, 11, 22)
    assert s.ctime_ns > c0
    d = root.mkdir(b"d", 0o755, 0, 0)
    raises(errno.EISDIR, d.setattr, size=0)
    raises(errno.EINVAL, root.symlink(b"l", b"t", 0, 0).setattr, size=0)


def test_size_limit_gives_enospc_and_space_comes_back():
    fs = TmpfsFilesystem(1, size=3 * 4096)
    root = fs.root()
    f = root.create(b"f", 0o644, 0, 0)
    f.write_at(0, bytes(2 * 4096))
    raises(errno.ENOSPC, f.write_at, 2 * 4096, bytes(4097))
    f.write_at(2 * 4096, b"x")
    assert fs.statfs()["bfree"] == 0
    f.setattr(size=4096)
    assert fs.statfs()["bfree"] == 2
    root.unlink(b"f")
    assert fs.statfs()["bfree"] == 2                   # still held by `f`
    del f
    gc.collect()                       # the ENOSPC traceback above held it too
    assert fs.statfs()["bfree"] == 3


def test_inode_limit():
    fs = TmpfsFilesystem(1, nr_inodes=3)
    root = fs.root()
    root.create(b"a", 0o644, 0, 0)
    root.mkdir(b"b", 0o755, 0, 0)
    raises(errno.ENOSPC, root.create, b"c", 0o644, 0, 0)
    assert fs.statfs()["ffree"] == 0
    root.unlink(b"a")
    root.create(b"c", 0o644, 0, 0)


def test_unlinked_open_file_keeps_its_data(fs, root):
    root.create(b"f", 0o644, 0, 0).write_at(0, b"data")
    f = open_path(fs, b"f")
    root.unlink(b"f")
    assert f.read(100) == b"data"
    f.write(b"more")
    assert f.inode.read_at(0, 100) == b"datamore" and f.stat().nlink == 0


# --- links, symlinks, nodes ------------------------------------------------------------

def test_hard_links(fs, root):
    f = root.create(b"f", 0o644, 0, 0)
    root.mkdir(b"d", 0o755, 0, 0).link(b"g", f)
    assert f.getattr().nlink == 2
    assert root.lookup(b"d").lookup(b"g") is f
    raises(errno.EEXIST, root.link, b"f", f)
    raises(errno.EPERM, root.link, b"dd", root.lookup(b"d"))
    raises(errno.EXDEV, root.link, b"x", TmpfsFilesystem(9).root().create(b"o", 0o644, 0, 0))
    root.unlink(b"f")
    assert f.getattr().nlink == 1
    root.lookup(b"d").unlink(b"g")
    raises(errno.ENOENT, root.link, b"back", f)         # no links left


def test_symlinks(root):
    link = root.symlink(b"l", b"/some/where", 3, 4)
    s = link.getattr()
    assert (s.mode, s.size, s.blocks, s.uid) == (st.S_IFLNK | 0o777, 11, 0, 3)
    assert link.readlink() == b"/some/where" and link.is_symlink()
    assert root.symlink(b"long", b"x" * 200, 0, 0).getattr().blocks == 8
    root.symlink(b"max", b"x" * 4095, 0, 0)
    raises(errno.ENAMETOOLONG, root.symlink, b"big", b"x" * 4096, 0, 0)
    raises(errno.ENOENT, root.symlink, b"empty", b"", 0, 0)
    raises(errno.EINVAL, root.create(b"f", 0o644, 0, 0).readlink)


def test_mknod_types(fs, root):
    c = root.mknod(b"c", st.S_IFCHR | 0o600, os.makedev(1, 3), 0, 0)
    b = root.mknod(b"b", st.S_IFBLK | 0o600, os.makedev(8, 0), 0, 0)
    root.mknod(b"p", st.S_IFIFO | 0o600, 99, 0, 0)
    s = root.mknod(b"s", st.S_IFSOCK | 0o600, 99, 0, 0)
    r = root.mknod(b"r", 0o600, 0, 0, 0)
    assert c.getattr().rdev == os.makedev(1, 3) and b.getattr().rdev == os.makedev(8, 0)
    assert s.getattr().rdev == 0 and r.is_reg()
    assert [(n, t) for n, _, t in root.readdir()] == [
        (b"c", DT_CHR), (b"b", 6), (b"p", DT_FIFO), (b"s", DT_SOCK), (b"r", DT_REG)]
    raises(errno.EPERM, root.mknod, b"d", st.S_IFDIR | 0o755, 0, 0, 0)
    raises(errno.EINVAL, root.mknod, b"x", 0o170000, 0, 0, 0)
    mount = Mount(fs)
    for name in (b"c", b"b", b"s"):
        loc = Location(mount, mount.root.child(name))
        raises(errno.ENXIO, loc.inode.open, loc, os.O_RDONLY)


# --- rename ---------------------------------------------------------------------------------

@pytest.fixture
def tree(root):
    """/a/ (with /a/x), /b/ (empty), /f, /g"""
    a = root.mkdir(b"a", 0o755, 0, 0)
    a.create(b"x", 0o644, 0, 0)
    root.mkdir(b"b", 0o755, 0, 0)
    root.create(b"f", 0o644, 0, 0)
    root.create(b"g", 0o644, 0, 0)
    return root


def test_rename_moves_and_appends(tree):
    f = tree.lookup(b"f")
    c0 = f.getattr().ctime_ns
    tree.rename(b"f", tree, b"f2")
    assert names(tree) == [b"a", b"b", b"g", b"f2"]
    assert tree.lookup(b"f2") is f and f.getattr().ctime_ns > c0


def test_rename_replaces_file(tree):
    g = tree.lookup(b"g")
    tree.rename(b"f", tree, b"g")
    assert names(tree) == [b"a", b"b", b"g"] and g.getattr().nlink == 0


def test_rename_directory_between_parents(tree):
    a, b = tree.lookup(b"a"), tree.lookup(b"b")
    tree.rename(b"a", b, b"a")
    assert tree.getattr().nlink == 3 and b.getattr().nlink == 3
    c = tree.mkdir(b"c", 0o755, 0, 0)
    b.rename(b"a", tree, b"c")                          # over an empty dir: allowed
    assert names(tree) == [b"b", b"f", b"g", b"c"] and tree.lookup(b"c") is a
    assert tree.getattr().nlink == 4 and b.getattr().nlink == 2
    assert c.getattr().nlink == 0


@pytest.mark.parametrize("src,dst,err", [
    (b"b", b"a", errno.ENOTEMPTY),                      # dir over non-empty dir
    (b"b", b"f", errno.ENOTDIR),                        # dir over non-dir
    (b"f", b"b", errno.EISDIR),                         # non-dir over dir
    (b"nope", b"z", errno.ENOENT),
])
def test_rename_type_rules(tree, src, dst, err):
    raises(err, tree.rename, src, tree, dst)


def test_rename_into_own_subtree(tree):
    a = tree.lookup(b"a")
    sub = a.mkdir(b"sub", 0o755, 0, 0)
    raises(errno.EINVAL, tree.rename, b"a", sub, b"a")
    raises(errno.EINVAL, tree.rename, b"a", a, b"self")
    raises(errno.ENOTEMPTY, a.rename, b"sub", tree, b"a")     # over its own ancestor
    raises(errno.EINVAL, a.rename, b"sub", tree, b"a", RENAME_EXCHANGE)


def test_rename_same_inode_is_a_noop(tree):
    f = tree.lookup(b"f")
    tree.link(b"f2", f)
    tree.rename(b"f", tree, b"f2")
    assert names(tree) == [b"a", b"b", b"f", b"g", b"f2"] and f.getattr().nlink == 2
    tree.rename(b"a", tree, b"a")


def test_rename_flags(tree):
    raises(errno.EEXIST, tree.rename, b"f", tree, b"g", RENAME_NOREPLACE)
    tree.rename(b"f", tree, b"h", RENAME_NOREPLACE)
    raises(errno.ENOENT, tree.rename, b"h", tree, b"nope", RENAME_EXCHANGE)
    raises(errno.EINVAL, tree.rename, b"h", tree, b"g", RENAME_EXCHANGE | RENAME_NOREPLACE)
    raises(errno.EINVAL, tree.rename, b"h", tree, b"g", 64)
    raises(errno.EXDEV, tree.rename, b"h", TmpfsFilesystem(3).root(), b"g")


def test_rename_exchange_keeps_positions(tree):
    a, b, x = tree.lookup(b"a"), tree.lookup(b"b"), tree.lookup(b"a").lookup(b"x")
    g = tree.lookup(b"g")
    a.rename(b"x", tree, b"b", RENAME_EXCHANGE)         # file <-> dir across dirs
    assert names(tree) == [b"a", b"b", b"f", b"g"]
    assert tree.lookup(b"b") is x and a.lookup(b"x") is b
    assert tree.getattr().nlink == 3 and a.getattr().nlink == 3
    b.mkdir(b"deep", 0o755, 0, 0)
    a.rename(b"x", tree, b"g", RENAME_EXCHANGE)
    assert tree.lookup(b"g") is b and a.lookup(b"x") is g
    assert tree.getattr().nlink == 4 and a.getattr().nlink == 2


def test_rename_whiteout(tree):
    tree.rename(b"f", tree.lookup(b"b"), b"f", RENAME_WHITEOUT)
    w = tree.lookup(b"f")
    s = w.getattr()
    assert st.S_ISCHR(s.mode) and s.rdev == 0
    assert tree.lookup(b"b").lookup(b"f").is_reg()


def test_rename_into_removed_directory(tree):
    b = tree.lookup(b"b")
    tree.rmdir(b"b")
    raises(errno.ENOENT, tree.rename, b"f", b, b"f")


# --- through InodeFile --------------------------------------------------------------------------

def test_inodefile_read_write_seek(fs, root):
    root.create(b"f", 0o644, 0, 0)
    f = open_path(fs, b"f")
    assert f.write(b"hello") == 5
    assert f.seek(0, SEEK_SET) == 0 and f.read(3) == b"hel"
    assert f.seek(1, SEEK_CUR) == 4 and f.read(10) == b"o"
    assert f.seek(10, SEEK_END) == 15 and f.write(b"!") == 1
    assert f.read(100, 0) == b"hello" + bytes(10) + b"!"
    app = open_path(fs, b"f", flags=os.O_WRONLY | os.O_APPEND)
    app.write(b"end")
    assert root.lookup(b"f").read_at(16, 10) == b"end"
    f.truncate(2)
    assert root.lookup(b"f").getattr().size == 2


def test_getdents(fs, root):
    d = root.mkdir(b"d", 0o755, 0, 0)
    d.create(b"f", 0o644, 0, 0)
    d.symlink(b"l", b"f", 0, 0)
    d.mkdir(b"s", 0o755, 0, 0)
    f = open_path(fs, b"d", flags=os.O_RDONLY)
    got = parse_dirents(f.getdents(4096))
    assert [(n, t) for n, _, t in got] == [(b".", DT_DIR), (b"..", DT_DIR), (b"f", DT_REG),
                                           (b"l", DT_LNK), (b"s", DT_DIR)]
    assert got[0][1] == d.getattr().ino and got[1][1] == 1
    assert f.getdents(4096) == b""
    f.seek(0, SEEK_SET)
    assert len(parse_dirents(f.getdents(24 * 2))) == 2
    raises(errno.EISDIR, f.read, 10)


# --- models -------------------------------------------------------------------------------------

# Offsets reach past two 64 KiB slots (tmpfs.CHUNK), so ranges cross them.
_file_ops = hs.one_of(
    hs.tuples(hs.just("write"), hs.integers(0, 140000), hs.binary(min_size=0, max_size=5000)),
    hs.tuples(hs.just("writefrom"), hs.integers(0, 140000), hs.binary(min_size=1, max_size=5000),
              hs.integers(0, 5000)),
    hs.tuples(hs.just("truncate"), hs.integers(0, 140000)),
    hs.tuples(hs.just("read"), hs.integers(0, 150000), hs.integers(0, 70000)),
    hs.tuples(hs.just("readinto"), hs.integers(0, 150000),
              hs.lists(hs.integers(0, 70000), min_size=1, max_size=4)),
)


@settings(max_examples=60, deadline=None)
@given(hs.lists(_file_ops, max_size=25))
def test_file_matches_bytearray_model(ops):
    fs = TmpfsFilesystem(1)
    f = fs.root().create(b"f", 0o644, 0, 0)
    model, pages = bytearray(), set()
    for op in ops:
        if op[0] in ("write", "writefrom"):
            off, data = op[1], op[2]
            if op[0] == "write":
                assert f.write_at(off, data) == len(data)
            else:                               # from two views, as of guest frames
                cut = min(op[3], len(data))
                views = [memoryview(data)[:cut], memoryview(data)[cut:]]
                assert f.writefrom_at(off, [v for v in views if len(v)]) == len(data)
            if data:
                if off > len(model):
                    model.extend(bytes(off - len(model)))
                model[off:off + len(data)] = data
                pages.update(range(off // 4096, (off + len(data) - 1) // 4096 + 1))
        elif op[0] == "truncate":
            size = op[1]
            f.setattr(size=size)
            if size < len(model):
                del model[size:]
                pages = {p for p in pages if p < -(-size // 4096)}
            else:
                model.extend(bytes(size - len(model)))
        elif op[0] == "read":
            _, off, n = op
            assert f.read_at(off, n) == bytes(model[off:off + n])
        else:                                   # into buffers the read must not overrun
            _, off, sizes = op
            bufs = [bytearray(b"\xaa" * n) for n in sizes]
            got = f.readinto_at(off, [memoryview(b) for b in bufs])
            want = bytes(model[off:off + sum(sizes)])
            assert got == len(want)
            assert b"".join(bufs) == want + b"\xaa" * (sum(sizes) - len(want))
        s = f.getattr()
        assert s.size == len(model) and s.blocks == 8 * len(pages)
    assert fs.statfs()["blocks"] - fs.statfs()["bfree"] == len(pages)


class MDir:
    def __init__(self, parent):
        self.entries, self.parent, self.dead = {}, parent, False

    def has_ancestor(self, other):
        d = self
        while d is not None:
            if d is other:
                return True
            d = d.parent
        return False


class MFile:
    def __init__(self):
        self.nlink = 1


def _model_rename(sd, name, dd, new, flags):
    """Linux's rename rules on the model; returns an errno or None."""
    src = sd.entries.get(name)
    if src is None:
        return errno.ENOENT
    if dd.dead:
        return errno.ENOENT
    dst = dd.entries.get(new)
    exch = flags & RENAME_EXCHANGE
    if exch and dst is None:
        return errno.ENOENT
    if flags & RENAME_NOREPLACE and dst is not None:
        return errno.EEXIST
    if isinstance(src, MDir) and dd.has_ancestor(src):
        return errno.EINVAL
    if isinstance(dst, MDir) and sd.has_ancestor(dst):
        return errno.EINVAL if exch else errno.ENOTEMPTY
    if dst is src:
        return None
    if exch:
        sd.entries[name], dd.entries[new] = dst, src
        for obj, parent in ((src, dd), (dst, sd)):
            if isinstance(obj, MDir):
                obj.parent = parent
        return None
    if dst is not None:
        if isinstance(src, MDir) != isinstance(dst, MDir):
            return errno.ENOTDIR if isinstance(src, MDir) else errno.EISDIR
        if isinstance(dst, MDir) and dst.entries:
            return errno.ENOTEMPTY
        del dd.entries[new]
        if isinstance(dst, MFile):
            dst.nlink -= 1
        else:
            dst.dead = True
    del sd.entries[name]
    dd.entries[new] = src
    if isinstance(src, MDir):
        src.parent = dd
    return None


def _model_apply(op, dirs):
    kind, i, name, j, new, flags = op
    d, d2 = dirs[i % len(dirs)], dirs[j % len(dirs)]
    e = d.entries.get(name)
    if kind in ("create", "mkdir"):
        if name in d.entries:
            return errno.EEXIST
        d.entries[name] = MFile() if kind == "create" else MDir(d)
    elif kind == "unlink":
        if e is None:
            return errno.ENOENT
        if isinstance(e, MDir):
            return errno.EISDIR
        e.nlink -= 1
        del d.entries[name]
    elif kind == "rmdir":
        if e is None:
            return errno.ENOENT
        if not isinstance(e, MDir):
            return errno.ENOTDIR
        if e.entries:
            return errno.ENOTEMPTY
        e.dead = True
        del d.entries[name]
    elif kind == "link":
        if e is None:
            return errno.ENOENT
        if new in d2.entries:
            return errno.EEXIST
        if isinstance(e, MDir):
            return errno.EPERM
        e.nlink += 1
        d2.entries[new] = e
    else:
        return _model_rename(d, name, d2, new, flags)
    return None


def _real_apply(op, dirs):
    kind, i, name, j, new, flags = op
    d, d2 = dirs[i % len(dirs)], dirs[j % len(dirs)]
    try:
        if kind == "create":
            d.create(name, 0o644, 0, 0)
        elif kind == "mkdir":
            d.mkdir(name, 0o755, 0, 0)
        elif kind == "unlink":
            d.unlink(name)
        elif kind == "rmdir":
            d.rmdir(name)
        elif kind == "link":
            d2.link(new, d.lookup(name))
        else:
            d.rename(name, d2, new, flags)
    except SyscallError as e:
        return e.errno
    return None


def _live_dirs(d, out):
    out.append(d)
    for child in d.entries.values():
        if isinstance(child, MDir):
            _live_dirs(child, out)
    return out


def _real_dirs(d, out):
    out.append(d)
    for name, _, _ in d.readdir():
        child = d.lookup(name)
        if child.is_dir():
            _real_dirs(child, out)
    return out


def _compare(m, r, ids):
    assert [n for n, _, _ in r.readdir()] == list(m.entries)
    subdirs = 0
    for name, obj in m.entries.items():
        child = r.lookup(name)
        assert ids.setdefault(id(obj), child.getattr().ino) == child.getattr().ino
        if isinstance(obj, MDir):
            subdirs += 1
            assert child.is_dir()
            _compare(obj, child, ids)
        else:
            assert child.is_reg() and child.getattr().nlink == obj.nlink
    s = r.getattr()
    assert s.nlink == 2 + subdirs and s.size == 20 * (2 + len(m.entries))


_names = hs.sampled_from([b"a", b"b", b"c"])
_dir_ops = hs.tuples(
    hs.sampled_from(["create", "mkdir", "mkdir", "unlink", "rmdir", "link", "rename", "rename"]),
    hs.integers(0, 5), _names, hs.integers(0, 5), _names,
    hs.sampled_from([0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE]))


@settings(max_examples=150, deadline=None)
@given(hs.lists(_dir_ops, max_size=40))
def test_directory_ops_match_dict_model(ops):
    fs = TmpfsFilesystem(1)
    mroot = MDir(None)
    keep = []                      # model objects stay alive as long as the test
    for op in ops:
        mdirs = _live_dirs(mroot, [])
        rdirs = _real_dirs(fs.root(), [])
        want = _model_apply(op, mdirs)
        got = _real_apply(op, rdirs)
        assert got == want, (op, errno.errorcode.get(got), errno.errorcode.get(want))
        keep.append(mdirs)
        _compare(mroot, fs.root(), {})
    rdirs = None
    gc.collect()
    objs = {id(o) for o in _model_objects(mroot)}
    assert fs.used_inodes == len(objs) + 1


def _model_objects(d):
    for child in d.entries.values():
        yield child
        if isinstance(child, MDir):
            yield from _model_objects(child)
