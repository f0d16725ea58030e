"""/dev: the device inodes, their open files, and the tmpfs around them."""
import errno
import os
import stat as st
import struct

import pytest

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.devfs import DevFilesystem
from kvmsentry.fsimpl.hostfd import TIOCGWINSZ
from kvmsentry.vfs.file import SEEK_END, SEEK_SET
from kvmsentry.vfs.mount import Location, Mount


def raises(err, fn, *args, **kw):
    with pytest.raises(SyscallError) as e:
        fn(*args, **kw)
    assert e.value.errno == err, errno.errorcode.get(e.value.errno)


class FakeMM:
    def __init__(self):
        self.out = {}

    def copy_out(self, addr, data):
        self.out[addr] = bytes(data)
        return len(data)


class FakeTask:
    def __init__(self):
        self.mm = FakeMM()


class Dev:
    """A mounted DevFilesystem and a way to open its entries."""

    def __init__(self, tty_host_fd=None):
        self.fs = DevFilesystem(0x40, tty_host_fd)
        self.mount = Mount(self.fs)

    def open(self, *path, flags=os.O_RDWR):
        dentry = self.mount.root
        for name in path:
            dentry = dentry.child(name)
        loc = Location(self.mount, dentry)
        return loc.inode.open(loc, flags)


@pytest.fixture
def dev():
    return Dev()


def test_contents(dev):
    root = dev.fs.root()
    assert {n for n, _, _ in root.readdir()} == {
        b"null", b"zero", b"full", b"random", b"urandom", b"tty",
        b"stdin", b"stdout", b"stderr", b"fd", b"shm", b"pts", b"ptmx"}
    assert root.getattr().mode == st.S_IFDIR | 0o755


@pytest.mark.parametrize("name,major,minor", [
    (b"null", 1, 3), (b"zero", 1, 5), (b"full", 1, 7),
    (b"random", 1, 8), (b"urandom", 1, 9), (b"tty", 5, 0)])
def test_device_nodes_as_on_linux(dev, name, major, minor):
    s = dev.fs.root().lookup(name).getattr()
    assert s.mode == st.S_IFCHR | 0o666 and (s.uid, s.gid) == (0, 0)
    assert (os.major(s.rdev), os.minor(s.rdev)) == (major, minor)
    assert s.dev == 0x40 and s.size == 0


def test_symlinks_and_directories(dev):
    root = dev.fs.root()
    assert root.lookup(b"stdin").readlink() == b"/proc/self/fd/0"
    assert root.lookup(b"stdout").readlink() == b"/proc/self/fd/1"
    assert root.lookup(b"stderr").readlink() == b"/proc/self/fd/2"
    assert root.lookup(b"fd").readlink() == b"/proc/self/fd"
    assert root.lookup(b"shm").getattr().mode == st.S_IFDIR | 0o1777
    assert root.lookup(b"pts").getattr().mode == st.S_IFDIR | 0o755
    assert root.lookup(b"shm").readdir() == () and root.getattr().nlink == 4


def test_null(dev):
    f = dev.open(b"null")
    assert f.read(100) == b"" and f.read(100, 5) == b""
    assert f.write(b"gone") == 4 and f.write(b"x", 99) == 1
    assert f.seek(123, SEEK_SET) == 0 and f.seek(0, SEEK_END) == 0 and f.seekable()
    assert st.S_ISCHR(f.stat().mode) and f.readiness() == (True, True)
    raises(errno.ENOTTY, f.ioctl, FakeTask(), TIOCGWINSZ, 0)


def test_zero_and_full(dev):
    z = dev.open(b"zero")
    assert z.read(5000) == bytes(5000) and z.write(b"abc") == 3
    full = dev.open(b"full")
    assert full.read(10, 77) == bytes(10)
    raises(errno.ENOSPC, full.write, b"x")


@pytest.mark.parametrize("name", [b"random", b"urandom"])
def test_random(dev, name):
    f = dev.open(name, flags=os.O_RDONLY)
    a, b = f.read(64), f.read(64)
    assert len(a) == 64 and a != b
    assert dev.open(name).write(b"entropy") == 7


def test_tty_without_terminal(dev):
    raises(errno.ENXIO, dev.open, b"tty")
    r, w = os.pipe()
    try:
        raises(errno.ENXIO, Dev(r).open, b"tty")         # not a terminal
    finally:
        os.close(r)
        os.close(w)


def test_tty_is_the_host_terminal():
    master, slave = os.openpty()
    try:
        d = Dev(slave)
        f = d.open(b"tty")
        assert f.write(b"hi\n") == 3
        assert os.read(master, 100).replace(b"\r", b"") == b"hi\n"
        os.write(master, b"typed\n")
        assert f.read(100) == b"typed\n"
        s = f.stat()
        assert (os.major(s.rdev), os.minor(s.rdev)) == (5, 0)
        task = FakeTask()
        assert f.ioctl(task, TIOCGWINSZ, 0x1000) == 0
        assert len(task.mm.out[0x1000]) == 8
    finally:
        os.close(master)
        os.close(slave)


def test_dev_is_a_tmpfs(dev):
    root = dev.fs.root()
    shm = root.lookup(b"shm")
    f = shm.create(b"sem.x", 0o600, 1000, 1000)
    f.write_at(0, b"shared")
    assert shm.lookup(b"sem.x").read_at(0, 10) == b"shared"
    root.create(b"mine", 0o644, 0, 0)
    assert dev.fs.statfs()["type"] == 0x01021994
    assert dev.fs.statfs()["blocks"] == (64 << 20) // 4096


def test_device_inodes_move_like_tmpfs_inodes(dev):
    root = dev.fs.root()
    root.link(b"null2", root.lookup(b"null"))
    assert dev.open(b"null2").write(b"x") == 1
    root.rename(b"zero", root.lookup(b"shm"), b"z")
    assert dev.open(b"shm", b"z").read(3) == bytes(3)
    root.lookup(b"null").setattr(mode=0o600)
    assert root.lookup(b"null").getattr().mode == st.S_IFCHR | 0o600
    root.unlink(b"null2")
    assert root.lookup(b"null").getattr().nlink == 1


def test_device_file_stat_is_the_inode(dev):
    f = dev.open(b"urandom")
    raw = f.stat()
    assert raw.ino == dev.fs.root().lookup(b"urandom").getattr().ino
    assert struct.pack("<Q", raw.rdev)                   # an int, like st_rdev
