"""pidfd: a file that names a process. Readable (POLLIN) once the process
has exited, POLLHUP too once it is reaped; waits sleep on the kernel's
child queue, which every exit notifies."""
from kvmsentry.fsimpl.anon import POLLHUP, POLLIN, POLLRDNORM, AnonFile
from kvmsentry.kernel.process_tree import REAPED, RUNNING


class PidFd(AnonFile):
    def __init__(self, group, flags, kernel):
        super().__init__(flags)
        self.group = group
        self._kernel = kernel

    @property
    def queue(self):
        return self._kernel.child_queue

    @queue.setter
    def queue(self, value):
        pass                          # the kernel's child queue, not a queue of its own

    def exited(self):
        return self.group.state is not RUNNING

    def poll_events(self):
        if self.group.state is REAPED:
            return POLLIN | POLLRDNORM | POLLHUP
        return POLLIN | POLLRDNORM if self.exited() else 0

    def fdinfo(self):
        return "Pid:\t%d\n" % (-1 if self.group.state is REAPED else self.group.tgid)
