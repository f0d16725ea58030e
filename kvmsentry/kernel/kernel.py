"""The Kernel: the sandbox's Linux, owning the machine and its tasks."""
import collections
import errno
import fcntl
import os
import _signal as signal      # (signal.py adds only enums, and imports enum)
import sys
import threading
import time

from kvmsentry.errors import SentryBug, SyscallError
from kvmsentry.kernel import lifecycle, signal_delivery
from kvmsentry.kernel.signals import PendingSignals, SigInfo
from kvmsentry.kernel.locking import KernelLock
from kvmsentry.kernel.process_tree import REAPED, ProcessTree
from kvmsentry.kernel.record_locks import RecordLocks
from kvmsentry.kernel.waiter import ALL_EVENTS, Queue
from kvmsentry.fsimpl.hostfd import HostFdFile
from kvmsentry.fsimpl.memfd import MemfdStore
from kvmsentry.record import replace
from kvmsentry.vfs import writecount
from kvmsentry.vfs.file import File
from kvmsentry.fsimpl.tmpfs import TmpfsFilesystem
from kvmsentry.kernel.creds import Credentials
from kvmsentry.kernel.fd_table import FdTable
from kvmsentry.kernel.fs_context import FsContext
from kvmsentry.kernel.futex import FutexTable
from kvmsentry.kernel.rootfs import sandbox_cwd
from kvmsentry.kernel.sched import SchedState
from kvmsentry.kernel.sysctl import SystemIdentity
from kvmsentry.kernel.task import KICK_SIGNAL, Task
from kvmsentry.kernel.tty.host_terminal import HostTerminal
from kvmsentry.loader.load import ExecError, load_elf, script_interpreter
from kvmsentry.loader.program_files import program_bytes
from kvmsentry.mm.page_cache import cache_of
from kvmsentry.syscalls.sys_identity import initial_rlimits
from kvmsentry.vfs.path import X_OK, Walker, may_access

INIT_PID = 1
KILL_GRACE_SECONDS = 2.0
MAX_SCRIPT_DEPTH = 5


class Kernel:
    def __init__(self, machine, mounts, strace=False, debug_log=None,
                 patch_syscalls=True, cwd=None, stdio=(0, 1, 2)):
        self.machine = machine
        self.mounts = mounts
        self.strace = None
        if strace:
            from kvmsentry.syscalls.strace import Strace
            self.strace = Strace(sys.stderr)
        self.debug_log = debug_log
        self.patch_syscalls = patch_syscalls
        self.host_cwd = cwd or os.getcwd()
        self.system = SystemIdentity()
        self.stdio = stdio
        self.host_terminal = HostTerminal(stdio[0])
        self.unimplemented = collections.Counter()
        self.tasks = {}
        self.lock = KernelLock()
        # systrap drains the address spaces' queued host mappings from a
        # task's thread outside the kernel's own work: under this lock.
        machine.kernel_lock = self.lock.raw
        # Notified whenever a process or thread changes state (exits,
        # stops, continues, a vfork child releases its parent): wait4,
        # parked stopped threads and execve's de_thread wait on it.
        self.child_queue = Queue()
        self.tree = ProcessTree()
        self.traced_exits = []        # ptrace: ended tracees owed to tracers' waits
        self.finished = threading.Event()
        self._init_gone = threading.Event()       # init exited, or the sandbox is over
        self.init_status = None
        self.bug = None
        self._host_signals_missed = 0
        self.futexes = FutexTable()
        self.flocks = {}              # inode -> {open file: LOCK_SH/LOCK_EX}
        self.record_locks = RecordLocks()
        self.netlink_ports = set()
        self.signal_counts = {}       # real uid -> UserSignalCount (RLIMIT_SIGPENDING)
        self._shm, self._shm_seq = None, 0
        self.memfds = MemfdStore()
        self.spawned = {}             # group started by spawn() -> [status, Event]
        for m in mounts.mounts:           # procfs and sysfs describe this kernel
            attach = getattr(m.fs, "attach_kernel", None)
            if attach is not None:
                attach(self)

    # Made at first use, with their modules: most runs make no Unix socket
    # and use no SysV IPC or POSIX queue. name -> (module, class, whether
    # it is made with the kernel).
    _PARTS = {"unix_names": ("kvmsentry.net.unix_names", "UnixNames", False),  # abstract names
              "ipc": ("kvmsentry.kernel.ipc.namespace", "IpcNamespace", True)}

    def __getattr__(self, name):
        part = Kernel._PARTS.get(name)
        if part is None:
            raise AttributeError(name)
        make = getattr(__import__(part[0], fromlist=[part[1]]), part[1])
        value = self.__dict__[name] = make(self) if part[2] else make()
        return value

    def made(self, name):
        """The part `name` (_PARTS) if it was made, else None: a part not
        made yet holds nothing to tell of a fork, exec or exit."""
        return self.__dict__.get(name)

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

    def _stdio_table(self, stdio):
        fds = FdTable()
        for guest_fd, host_fd in enumerate(stdio):
            if isinstance(host_fd, File):        # a sandbox file (exec --tty's pty)
                fds.install_at(guest_fd, host_fd)
                continue
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
        return self.locate_program(fs, name, envp, creds)[:2]

    def locate_program(self, fs, name, envp, creds):
        """find_program's (path, file bytes) and the file's Location (for
        load_program, which then need not walk the path again)."""
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
                if not inode.is_reg() or not may_access(inode.getattr(), creds, X_OK) \
                        or loc.mount.noexec():
                    raise SyscallError(errno.EACCES)
                writecount.check_executable(inode)        # open for writing: ETXTBSY
                return cand, program_bytes(inode, read_whole), loc
            except SyscallError as e:
                if first_error is None or first_error.errno == errno.ENOENT:
                    first_error = e
        raise ExecError(first_error.errno, "%s: %s" % (
            name.decode(errors="replace"), os.strerror(first_error.errno)))

    def load_program(self, mm, fs, creds, path, data, argv, envp, loc=None):
        """Load path (bytes data) into mm, following `#!` interpreters;
        return (entry, rsp). `loc`: path's Location, if the caller has it
        (locate_program's)."""
        execfn = path
        # Each file's Location, walked once per load (or found already).
        walked = {} if loc is None else {path: loc}
        for _ in range(MAX_SCRIPT_DEPTH):
            script = script_interpreter(path, data)
            if script is None:
                break
            interp, arg = script
            argv = [interp] + ([arg] if arg else []) + [path] + list(argv[1:])
            path, data, walked[interp] = self.locate_program(fs, interp, None, creds)
        else:
            raise ExecError(errno.ELOOP, "%s: too many levels of #! interpreters"
                            % path.decode(errors="replace"))

        def read_interp(name):
            _, interp_data, walked[name] = self.locate_program(fs, name, None, creds)
            return interp_data
        walker = Walker(self.mounts, fs, creds)

        def walk(program):
            """The program's Location (or None), walked once per load."""
            if program not in walked:
                try:
                    walked[program] = walker.walk(fs.cwd, program)
                except SyscallError:
                    walked[program] = None
            return walked[program]

        def name_of(program):
            """The file's absolute path, symlinks resolved, as maps shows it."""
            loc = walk(program)
            if loc is None:
                return program.decode(errors="replace")
            return self.mounts.path_of(loc, fs.root).decode(errors="replace")

        def cache_of_file(program):
            """The page cache of the file, for mapping its segments."""
            loc = walk(program)
            return cache_of(loc.inode, mm.pool) if loc is not None and loc.inode.is_reg() \
                else None
        vdso = getattr(self.machine, "vdso", None)
        if vdso is not None:
            vdso.refresh()
        started = load_elf(mm, path, data, argv, envp, creds, self.machine.hwcap, read_interp,
                           name_of, vdso, execfn=execfn, cache_of=cache_of_file)
        mm.set_exe(walk(path))
        return started

    def run(self, argv, envp, creds=None, cwd=None, rlimits=None, before_start=None):
        """Run argv[0] (found inside the sandbox) as pid 1 with argv and
        envp; return its wait status once it has exited and every other
        task is gone. Raises ExecError if it cannot be executed.

        creds, rlimits: pid 1's (default: the caller's); cwd: a path inside
        the sandbox (default: the host's cwd if it exists there, else /);
        before_start(): called once the program is loaded, before its first
        instruction (an OCI `create` waits there for `start`)."""
        m = self.machine
        self.debug("machine: syscall=%s io_advance=%s xcr0=%s cr4=%#x pool=%dMiB"
                   % (m.syscall_mode, m.io_advance, hex(m.xcr0 or 0), m.cr4,
                      m.pool.size >> 20))
        creds = creds or Credentials.of_host()
        task = self._new_process(self.tree.create_init, argv, envp, creds,
                                 self.host_cwd if cwd is None else cwd, rlimits, self.stdio)
        previous = self._install_host_signals()
        previous_hook, threading.excepthook = threading.excepthook, self._thread_died
        try:
            if before_start is not None:
                before_start()
            task.start()
            if previous is not None:
                # Only this thread takes the signals it forwards (the
                # supervisor's fork left them blocked for every thread).
                signal.pthread_sigmask(signal.SIG_UNBLOCK, set(previous) - {KICK_SIGNAL})
            # Sleeps until the sandbox ends, or init ends (then at most the
            # grace period for tasks killed with it but stuck in a host call).
            self._init_gone.wait()
            if not self.finished.is_set():
                self.finished.wait(max(0.0, KILL_GRACE_SECONDS
                                       - (time.monotonic() - self._init_exit_time)))

        finally:
            threading.excepthook = previous_hook
            self._restore_host_signals(previous)
        if self.bug is not None:
            raise self.bug
        for name, count in sorted(self.unimplemented.items()):
            self.debug("unimplemented: %s x%d" % (name, count))
        self.debug("machine: %s" % m.stats())
        self.debug("exit: status=%#x" % self.init_status)
        return self.init_status

    def _new_process(self, make_group, argv, envp, creds, cwd, rlimits, stdio):
        """Load argv[0] into a new address space as the first thread of the
        group make_group(uid) returns; the Task, not yet started."""
        m = self.machine
        fs = FsContext(self.mounts.root_location(), sandbox_cwd(self.mounts, cwd))
        path, data, loc = self.locate_program(fs, argv[0], envp, creds)
        mm = m.new_address_space()
        try:
            entry, rsp = self.load_program(mm, fs, creds, path, data, argv, envp, loc)
        except BaseException:
            mm.destroy()
            raise
        ctx = m.new_context(self.patch_syscalls)
        ctx.set_address_space(mm)
        ctx.start(entry, rsp)
        comm = os.path.basename(path)[:15].decode(errors="replace")
        group = make_group(creds.uid)
        group.shared_pending = PendingSignals()
        task = Task(self, group.tgid, group, mm, ctx, self._stdio_table(stdio), fs, creds,
                    dict(rlimits) if rlimits else initial_rlimits(), comm)
        task.sched = SchedState.of_host()
        self.tasks[group.tgid] = task
        return task

    def spawn(self, argv, envp, creds, cwd, stdio, rlimits=None, before_start=None):
        """Start argv in the running sandbox as a process with no parent
        inside (an OCI `exec`); stdio are host fds (or sandbox Files).
        before_start(group) runs just before its first instruction. Returns
        its group; wait_spawned() gives its exit status. Raises ExecError."""
        with self.lock:
            if self.init_status is not None:
                raise SyscallError(errno.ESRCH)
            task = self._new_process(self.tree.spawn, argv, envp, creds, cwd, rlimits, stdio)
            self.spawned[task.group] = [None, threading.Event()]
            if before_start is not None:
                before_start(task.group)
            task.start()
            return task.group

    def wait_spawned(self, group):
        """The wait status of a spawn()ed process, once it has exited (the
        sandbox reaps it then). Called from outside any task."""
        slot = self.spawned[group]
        slot[1].wait()
        with self.lock:
            del self.spawned[group]
            if group.state is not REAPED:
                self.tree.reap(group)
        return slot[0]

    # --- tasks ------------------------------------------------------------------
    def mm_in_use(self, mm, besides):
        return any(t.mm is mm for t in self.tasks.values() if t is not besides)

    def fds_in_use(self, fds, besides):
        return any(t.fds is fds for t in self.tasks.values() if t is not besides)

    def task_exited(self, task, status, whole_group):
        lifecycle.thread_ending(task, status, whole_group)
        if not self.tasks and self.init_status is not None:
            self.finished.set()

    def process_exited(self, group, status):
        """A process ended: pid 1 ends the sandbox; a spawned one wakes its
        waiter."""
        slot = self.spawned.get(group)
        if slot is not None:
            slot[0] = status
            slot[1].set()
        if group is self.tree.init:
            self.init_exited(status)

    def init_exited(self, status):
        """Pid 1 is gone: the sandbox ends once every other task has."""
        self._init_exit_time = time.monotonic()
        self.init_status = status
        if not self.tasks:
            self.finished.set()
        self._init_gone.set()

    def notify_parent(self, event):
        """A child changed state: wake waiters and send the parent its
        exit signal (SIGCHLD) with the child's status."""
        self.child_queue.notify(ALL_EVENTS)
        if event.signo:
            parent = next((t for t in self.tasks.values() if t.group is event.parent), None)
            if parent is not None:
                info = SigInfo.child(event.si_code, event.pid, event.uid, event.si_status,
                                     event.utime_ns // 10_000_000, event.stime_ns // 10_000_000)
                if event.signo != info.signo:          # (an exit signal other than SIGCHLD)
                    info = replace(info, signo=event.signo)
                signal_delivery.send(self, parent, info)

    def signal_pending(self, task):
        return signal_delivery.has_deliverable(task) or task.kill_status is not None

    def handle_interrupt(self, task):
        """Top of the task loop with interrupt set: act on kills, then run
        pending signals' actions."""
        task.interrupt.clear()
        lifecycle.handle_kill(task)
        signal_delivery.park_if_stopped(task)
        lifecycle.handle_kill(task)
        if task.ptrace is not None:
            from kvmsentry.kernel import ptrace
            ptrace.pending_traps(task)
        signal_delivery.deliver_pending(task)
        if task.ptrace is not None and task.interrupted_syscall is not None:
            from kvmsentry.kernel import ptrace
            ptrace.restart_syscall(task)

    def sentry_bug(self, task, exc):
        """An exception escaped a task's loop: kill the sandbox, loudly."""
        self._die("pid %d (%s)" % (task.tid, task.comm), exc)

    def _thread_died(self, args):
        """threading.excepthook while the sandbox runs: an exception that
        ends any other sentry thread (timers, helpers) is a sentry bug too,
        not a traceback followed by a sandbox quietly missing a part."""
        if args.exc_type is not SystemExit:
            name = args.thread.name if args.thread is not None else "?"
            self._die("sentry thread %s" % name, args.exc_value)

    def _die(self, where, exc):
        import traceback
        self.bug = SentryBug("%s: %s" % (type(exc).__name__, exc))
        try:
            sys.stderr.write("kvmsentry: internal error in %s, sandbox killed: %s: %s\n"
                             % (where, type(exc).__name__, exc))
            traceback.print_exception(type(exc), exc, exc.__traceback__,
                                      file=self.debug_log or sys.stderr)
        except (OSError, ValueError, AttributeError):
            pass                  # no stderr left to report on: end all the same
        finally:
            self.finished.set()
            self._init_gone.set()

    def _install_host_signals(self):
        """The kick signal (interrupts KVM_RUN) and forwarding of SIGINT and
        SIGTERM to the sandbox's init, as `runsc do` forwards them."""
        if threading.current_thread() is not threading.main_thread():
            return None
        previous = {KICK_SIGNAL: signal.signal(KICK_SIGNAL, lambda *_: None)}
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, self._forward_host_signal)
        if self.host_terminal.is_tty:
            for sig in (signal.SIGQUIT, signal.SIGTSTP, signal.SIGWINCH):
                previous[sig] = signal.signal(sig, self._forward_host_signal)
        return previous

    def _restore_host_signals(self, previous):
        for sig, handler in (previous or {}).items():
            signal.signal(sig, handler)

    def _forward_host_signal(self, signo, _frame):
        """Runs in the main thread between its waits. If the kernel lock
        cannot be had (a sentry bug holding it), a second signal ends the
        sandbox anyway, as an unresponsive container is killed."""
        if not self.lock.raw.acquire(timeout=2.0):
            self._host_signals_missed += 1
            if self._host_signals_missed >= 2:
                import signal as names
                sys.stderr.write("kvmsentry: sentry unresponsive, sandbox killed by %s\n"
                                 % names.Signals(signo).name)
                sys.stderr.flush()
                os._exit(128 + signo)
            return
        try:
            init = self.tasks.get(INIT_PID)
            if self.host_terminal.deliver(self, signo):
                pass                      # the terminal's foreground group inside took it
            elif init is not None and signo not in (signal.SIGTSTP, signal.SIGWINCH):
                self.post_signal(init, signo)
        finally:
            self.lock.raw.release()

    def post_signal(self, task, signo):
        """Send signo to task's process from outside the sandbox (the
        kernel, like a signal from the host)."""
        signal_delivery.send(self, task, SigInfo.user(signo, 0, 0))

    def report_fault(self, task, fault):
        from kvmsentry.kernel.fault_report import describe_fault   # (rarely needed)
        line = describe_fault(task, fault)
        try:
            sys.stderr.write("kvmsentry: %s\n" % line)
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass                  # the sentry's stderr is gone; the fault still ends the task
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
