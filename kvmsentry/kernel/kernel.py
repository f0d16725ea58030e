"""The Kernel: the sandbox's Linux, owning the machine and its tasks."""
import collections
import errno
import fcntl
import os
import socket
import sys

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.hostfd import HostFdFile
from kvmsentry.fsimpl.tmpfs import TmpfsFilesystem
from kvmsentry.kernel.creds import Credentials
from kvmsentry.kernel.fault_report import describe_fault
from kvmsentry.kernel.fd_table import FdTable
from kvmsentry.kernel.fs_context import FsContext
from kvmsentry.kernel.futex import FutexTable
from kvmsentry.kernel.rootfs import sandbox_cwd
from kvmsentry.kernel.task import Task
from kvmsentry.loader.load import ExecError, load_elf, script_interpreter
from kvmsentry.mm.address_space import AddressSpace
from kvmsentry.platform.kvm.context import KvmContext
from kvmsentry.syscalls.strace import Strace
from kvmsentry.syscalls.sys_identity import initial_rlimits
from kvmsentry.vfs.path import X_OK, Walker, may_access

INIT_PID = 1
MAX_SCRIPT_DEPTH = 5


class Kernel:
    def __init__(self, machine, mounts, strace=False, debug_log=None,
                 patch_syscalls=True, cwd=None, stdio=(0, 1, 2)):
        self.machine = machine
        self.mounts = mounts
        self.strace = Strace(sys.stderr) if strace else None
        self.debug_log = debug_log
        self.patch_syscalls = patch_syscalls
        self.host_cwd = cwd or os.getcwd()
        self.hostname = socket.gethostname().encode()
        self.stdio = stdio
        self.unimplemented = collections.Counter()
        self.tasks = {}
        self.futexes = FutexTable()
        self._shm, self._shm_seq = None, 0

    def anonymous_shared_file(self, length):
        """An unlinked tmpfs file of `length` zero bytes (MAP_SHARED|MAP_ANONYMOUS)."""
        if self._shm is None:
            self._shm = TmpfsFilesystem(0x7FFF)
        root = self._shm.root()
        self._shm_seq += 1
        name = b"shm%d" % self._shm_seq
        inode = root.create(name, 0o100600, 0, 0)
        root.unlink(name)
        inode.setattr(size=length)
        return inode

    def debug(self, message):
        if self.debug_log is not None:
            self.debug_log.write(message + "\n")
            self.debug_log.flush()

    def note_unimplemented(self, nr, entry):
        name = entry.name if entry is not None else "syscall_%d" % nr
        self.unimplemented[name] += 1

    def _stdio_table(self):
        fds = FdTable()
        for guest_fd, host_fd in enumerate(self.stdio):
            try:
                flags = fcntl.fcntl(host_fd, fcntl.F_GETFL)
            except OSError:
                continue            # not open in the caller: not open inside
            fds.install_at(guest_fd, HostFdFile(host_fd, flags))
        return fds

    def find_program(self, fs, name, envp, creds):
        """(path, file bytes) of the program `name`, looked up inside the
        sandbox like execvp: names with a slash as given, others on the
        guest's PATH (envp None: no PATH search). Raises ExecError (ENOENT, EACCES, ...)."""
        walker = Walker(self.mounts, fs, creds)
        if b"/" in name or envp is None:
            candidates = [name]
        else:
            path_var = next((e[5:] for e in envp if e.startswith(b"PATH=")),
                            b"/usr/local/bin:/usr/bin:/bin")
            candidates = [(d or b".") + b"/" + name for d in path_var.split(b":")]
        first_error = None
        for cand in candidates:
            try:
                loc = walker.walk(fs.cwd, cand)
                inode = loc.inode
                if inode.is_dir():
                    raise SyscallError(errno.EACCES if b"/" not in name else errno.EISDIR)
                if not inode.is_reg() or not may_access(inode.getattr(), creds, X_OK):
                    raise SyscallError(errno.EACCES)
                return cand, read_whole(inode)
            except SyscallError as e:
                if first_error is None or first_error.errno == errno.ENOENT:
                    first_error = e
        raise ExecError(first_error.errno, "%s: %s" % (
            name.decode(errors="replace"), os.strerror(first_error.errno)))

    def load_program(self, mm, fs, creds, path, data, argv, envp):
        """Load path (bytes data) into mm, following `#!` interpreters;
        return (entry, rsp)."""
        for _ in range(MAX_SCRIPT_DEPTH):
            script = script_interpreter(path, data)
            if script is None:
                break
            interp, arg = script
            argv = [interp] + ([arg] if arg else []) + [path] + list(argv[1:])
            path, data = self.find_program(fs, interp, None, creds)
        else:
            raise ExecError(errno.ELOOP, "%s: too many levels of #! interpreters"
                            % path.decode(errors="replace"))

        def read_interp(name):
            return self.find_program(fs, name, None, creds)[1]
        return load_elf(mm, path, data, argv, envp, creds, self.machine.hwcap, read_interp)

    def run(self, argv, envp):
        """Run argv[0] (found inside the sandbox) with argv and envp; return
        its wait status. Raises ExecError if it cannot be executed."""
        m = self.machine
        vcpu = m.vcpus[0] if m.vcpus else m.new_vcpu()
        self.debug("machine: syscall=%s io_advance=%s xcr0=%s cr4=%#x pool=%dMiB"
                   % (m.syscall_mode, m.io_advance, hex(m.xcr0 or 0), m.cr4,
                      m.pool.size >> 20))
        creds = Credentials.of_host()
        fs = FsContext(self.mounts.root_location(), sandbox_cwd(self.mounts, self.host_cwd))
        path, data = self.find_program(fs, argv[0], envp, creds)
        mm = AddressSpace(m.pool, m.kernel_pdpt)
        try:
            entry, rsp = self.load_program(mm, fs, creds, path, data, argv, envp)
        except BaseException:
            mm.destroy()
            raise
        ctx = KvmContext(m, vcpu, self.patch_syscalls)
        ctx.set_address_space(mm)
        ctx.start(entry, rsp)
        comm = os.path.basename(path)[:15].decode(errors="replace")
        task = Task(self, INIT_PID, mm, ctx, self._stdio_table(), creds,
                    initial_rlimits(), comm, fs)
        self.tasks[INIT_PID] = task
        status = task.run()
        if self.strace is not None:
            self.strace.exited(task, status)
        self.debug("exit: status=%#x patched_sites=%d" % (status, ctx.patched_sites))
        for name, count in sorted(self.unimplemented.items()):
            self.debug("unimplemented: %s x%d" % (name, count))
        task.fds.close_all()
        mm.destroy()
        return status

    def report_fault(self, task, fault):
        line = describe_fault(task, fault)
        sys.stderr.write("kvmsentry: %s\n" % line)
        sys.stderr.flush()
        self.debug(line)
        self.debug(task.mm.maps())


def read_whole(inode):
    """A regular file's bytes, read through the sandbox's filesystem."""
    size = inode.getattr().size
    chunks, offset = [], 0
    while True:
        data = inode.read_at(offset, max(size - offset, 1 << 20))
        if not data:
            return b"".join(chunks)
        chunks.append(data)
        offset += len(data)
