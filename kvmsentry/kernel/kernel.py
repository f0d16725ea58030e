"""The Kernel: the sandbox's Linux, owning the machine and its tasks."""
import collections
import fcntl
import os
import socket
import sys

from kvmsentry.fsimpl.hostfd import HostFdFile
from kvmsentry.kernel.creds import Credentials
from kvmsentry.kernel.fd_table import FdTable
from kvmsentry.kernel.task import Task
from kvmsentry.loader.load import ExecError, load_elf
from kvmsentry.mm.address_space import AddressSpace
from kvmsentry.platform.kvm.context import KvmContext
from kvmsentry.syscalls.names import NAMES
from kvmsentry.syscalls.strace import Strace
from kvmsentry.syscalls.sys_identity import initial_rlimits
from kvmsentry.kernel.fault_report import describe_fault

INIT_PID = 1


class Kernel:
    def __init__(self, machine, strace=False, debug_log=None, patch_syscalls=True,
                 cwd=None, stdio=(0, 1, 2)):
        self.machine = machine
        self.strace = Strace(sys.stderr) if strace else None
        self.debug_log = debug_log
        self.patch_syscalls = patch_syscalls
        self.cwd = (cwd or os.getcwd()).encode()
        self.hostname = socket.gethostname().encode()
        self.stdio = stdio
        self.unimplemented = collections.Counter()
        self.tasks = {}

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

    def run(self, path, argv, envp, data):
        """Run the program whose file bytes are `data`; return its wait
        status. Raises ExecError if it cannot be executed."""
        m = self.machine
        vcpu = m.vcpus[0] if m.vcpus else m.new_vcpu()
        self.debug("machine: syscall=%s io_advance=%s xcr0=%s cr4=%#x pool=%dMiB"
                   % (m.syscall_mode, m.io_advance, hex(m.xcr0 or 0), m.cr4,
                      m.pool.size >> 20))
        mm = AddressSpace(m.pool, m.kernel_pdpt)
        creds = Credentials.of_host()
        entry, rsp = load_elf(mm, path, data, argv, envp, creds, m.hwcap)
        ctx = KvmContext(m, vcpu, self.patch_syscalls)
        ctx.set_address_space(mm)
        ctx.start(entry, rsp)
        comm = os.path.basename(path)[:15].decode(errors="replace")
        task = Task(self, INIT_PID, mm, ctx, self._stdio_table(), creds,
                    initial_rlimits(), comm)
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
