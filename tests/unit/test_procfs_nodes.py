"""The generated-filesystem pieces procfs and sysfs are built from, and
text formats that need no guest: no /dev/kvm here."""
import errno
import os
import stat as st

import pytest

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.procfs import cpuinfo
from kvmsentry.fsimpl.procfs.nodes import (GenDir, GenFile, GenFilesystem, GenLink,
                                           OpenFileInode)
from kvmsentry.fsimpl.procfs.task_files import MAPS_NAME_COLUMN, _vma_line
from kvmsentry.kernel.pipe import PipeFile, make_pipe
from kvmsentry.kernel.sysctl import SystemIdentity
from kvmsentry.mm.vma import Vma
from kvmsentry.vfs.mount import MountTable
from kvmsentry.vfs.path import Walker


class _Creds:
    uid = euid = gid = egid = 0


class _Ctx:
    def __init__(self, root):
        self.root = self.cwd = root


def _fs(make_root):
    fs = GenFilesystem(0x99, "test", 0x1234, make_root)
    table = MountTable(fs)
    return fs, table, Walker(table, _Ctx(table.root_location()), _Creds())


def test_volatile_directory_follows_its_generator():
    names = {b"a": None}

    def root(fs):
        return GenDir(fs, ("root",), lambda: {n: (lambda n=n: GenFile(
            fs, ("f", n), lambda: b"x")) for n in names})
    _, table, walker = _fs(root)
    top = table.root_location()
    assert walker.walk(top, b"a").inode.is_reg()
    del names[b"a"]
    names[b"b"] = None
    with pytest.raises(SyscallError) as e:
        walker.walk(top, b"a")                # no stale dentry survives
    assert e.value.errno == errno.ENOENT
    assert [n for n, _, _ in top.inode.readdir()] == [b"b"]


def test_generated_file_is_made_again_by_a_read_from_offset_0():
    counter = [0]

    def text():
        counter[0] += 1
        return b"generation %d\n" % counter[0]

    def root(fs):
        return GenDir(fs, ("root",), lambda: {b"f": lambda: GenFile(fs, ("f",), text)})
    _, table, walker = _fs(root)
    loc = walker.walk(table.root_location(), b"f")
    f = loc.inode.open(loc, os.O_RDONLY)
    assert f.read(100) == b"generation 1\n"
    assert f.read(100) == b""
    f.seek(0, 0)
    assert f.read(100) == b"generation 2\n"
    assert f.read(4, 11) == b"2\n"             # pread past 0: the same text
    w = loc.inode.open(loc, os.O_WRONLY)      # the mode bits decide (in the VFS)
    with pytest.raises(SyscallError) as e:
        w.write(b"x")                         # no writer: proc_reg_write's EIO
    assert e.value.errno == errno.EIO


def test_magic_link_to_a_pathless_file_reopens_it():
    reader, writer = make_pipe()

    def root(fs):
        return GenDir(fs, ("root",), lambda: {b"fd": lambda: GenLink(
            fs, ("fd",), lambda: b"pipe:[7]", resolve=lambda: writer)})
    _, table, walker = _fs(root)
    loc = walker.walk(table.root_location(), b"fd")
    assert isinstance(loc.inode, OpenFileInode)
    assert st.S_ISFIFO(loc.inode.getattr().mode)
    assert walker.walk(table.root_location(), b"fd", follow=False).inode.readlink() == \
        b"pipe:[7]"
    again = loc.inode.open(loc, os.O_WRONLY)
    assert isinstance(again, PipeFile) and again is not writer
    assert again.write(b"hi") == 2
    assert reader.read(10) == b"hi"
    again.release()


def test_maps_line_puts_the_name_where_linux_does():
    line = _vma_line(Vma(0x400000, 0x401000, 5, "/bin/true"))
    assert line.index("/bin/true") == MAPS_NAME_COLUMN
    assert line.startswith("00400000-00401000 r-xp 00000000 00:00 0 ")
    assert _vma_line(Vma(0x1000, 0x2000, 3)) == "00001000-00002000 rw-p 00000000 00:00 0 \n"


def test_cpu_list_and_cpuinfo_flags():
    assert SystemIdentity(ncpus=1).cpu_list() == b"0"
    assert SystemIdentity(ncpus=4).cpu_list() == b"0-3"
    cpuid = [dict(function=0, index=0, eax=0xD, ebx=0x68747541, edx=0x69746E65,
                  ecx=0x444D4163),                                 # "AuthenticAMD"
             dict(function=1, index=0, eax=0x00A00F11, ebx=0, ecx=1 << 0 | 1 << 28,
                  edx=1 << 0 | 1 << 26)]
    assert cpuinfo.flags(cpuid) == ["fpu", "sse2", "pni", "avx"]
    text = cpuinfo.cpuinfo(cpuid, 2).decode()
    assert text.count("processor\t: ") == 2
    assert "vendor_id\t: AuthenticAMD\n" in text
    assert "cpu family\t: 25\nmodel\t\t: 1\n" in text
