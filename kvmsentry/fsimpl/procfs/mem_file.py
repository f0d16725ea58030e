"""/proc/[pid]/mem: a process's memory as a file (only debuggers open
it; imported at the first lookup of one)."""
import errno
import stat as st

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.procfs.nodes import GenNode
from kvmsentry.vfs.file import File


class MemInode(GenNode):
    """/proc/[pid]/mem: the process's memory at file offset = address."""

    def __init__(self, fs, key, view):
        super().__init__(fs, key, st.S_IFREG | 0o600, view.owner)
        self.view = view

    def open(self, location, flags):
        t = self.view.live()
        return MemFile(location, flags, t.mm if t is not None else None, self.view.kernel)


class MemFile(File):
    """An open /proc/[pid]/mem, bound to the address space it was opened
    on. A read or write stops at the first page the program could not
    access that way; none at all is EIO, as on Linux. Writes reach
    read-only private pages, as Linux's FOLL_FORCE. Once no thread uses
    the address space (or for a zombie's) both move nothing: 0."""

    def __init__(self, location, flags, mm, kernel):
        super().__init__(flags, location)
        self.mm = mm
        self.kernel = kernel
        self.offset = 0

    def _gone(self):
        return self.mm is None or not self.kernel.mm_in_use(self.mm, None)

    def seekable(self):
        return True

    def seek(self, offset, whence):
        if whence == 0:
            self.offset = offset & ((1 << 64) - 1)
        elif whence == 1:
            self.offset = (self.offset + offset) & ((1 << 64) - 1)
        else:
            raise SyscallError(errno.EINVAL)
        return self.offset

    def _span(self, offset, length, write):
        try:
            return self.mm.accessible(offset, length, write)
        except SyscallError:
            raise SyscallError(errno.EIO) from None

    def read(self, length, offset=None):
        pos = self.offset if offset is None else offset
        if self._gone():
            return b""
        from kvmsentry.kernel import ptrace_mem     # (only a debugger reads /proc/PID/mem)
        try:
            data = ptrace_mem.read(self.mm, pos, self._span(pos, length, False))
        except SyscallError:
            raise SyscallError(errno.EIO) from None
        if offset is None:
            self.offset += len(data)
        return data

    def write(self, data, offset=None):
        pos = self.offset if offset is None else offset
        if self._gone():
            return 0
        # FOLL_FORCE, as a debugger's breakpoint writes need: read-only
        # private pages are written through a private copy.
        n = self._span(pos, len(data), False)
        from kvmsentry.kernel import ptrace_mem
        try:
            ptrace_mem.write(self.mm, pos, bytes(data[:n]))
        except SyscallError:
            raise SyscallError(errno.EIO) from None
        if offset is None:
            self.offset += n
        return n
