"""A Task is one guest thread: its registers live in a platform context,
its memory in an AddressSpace, and it runs in a loop of switch() into the
guest and servicing whatever brought it back."""
import signal
from dataclasses import replace

from kvmsentry.kernel.exit import ExitGroup
from kvmsentry.platform.events import INTERRUPTED, SYSCALL
from kvmsentry.syscalls.dispatch import dispatch

BUS_ADRERR = 2


class Task:
    def __init__(self, kernel, tid, mm, ctx, fds, creds, rlimits, comm, fs):
        self.kernel = kernel
        self.strace = kernel.strace
        self.tid = self.tgid = tid
        self.ppid = 0
        self.mm = mm
        self.ctx = ctx
        self.fds = fds
        self.creds = creds
        self.rlimits = rlimits
        self.comm = comm
        self.fs = fs
        self.sigactions = {}
        self.sigmask = 0
        self.sigpending = 0
        self.clear_child_tid = 0
        self.robust_list = 0
        self.rseq = None

    def run(self):
        """Run until the thread group exits; return its wait status."""
        ctx = self.ctx
        switch, set_return = ctx.switch, ctx.set_syscall_return
        try:
            while True:
                event = switch()
                if event is SYSCALL:
                    set_return(dispatch(self))
                elif event is INTERRUPTED:
                    continue
                else:
                    if event.is_page_fault:
                        signo = self.mm.handle_fault(event.addr, event.write, event.execute)
                        if signo is None:
                            continue
                        if signo != event.signo:
                            event = replace(event, signo=signo, code=BUS_ADRERR)
                    self.kernel.report_fault(self, event)
                    return event.signo
        except ExitGroup as e:
            return e.status

    @staticmethod
    def exit_code(status):
        """Shell-style exit code for a wait status (128 + signal)."""
        if status & 0x7F:
            return 128 + (status & 0x7F)
        return (status >> 8) & 0xFF

    @staticmethod
    def signal_name(signo):
        try:
            return signal.Signals(signo).name
        except ValueError:
            return "signal %d" % signo
