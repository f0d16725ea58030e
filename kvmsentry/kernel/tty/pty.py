"""A pseudo-terminal pair: the line discipline between a master and a
slave side, the window size, and the job-control state (the session
whose controlling terminal it is and its foreground process group).

Master writes are typed input; slave writes are output the master
reads. Typed input the line discipline cannot take yet waits in a
backlog (Linux's flip buffer) of INPUT_MAX bytes; beyond that a master
write blocks, or fails with EAGAIN under O_NONBLOCK, as pty_write does.
Each side has its own wait queue (kernel/waiter.py), notified with the
events a change made true. Signals the line discipline raises
are sent after the pty's lock is dropped.
"""
import errno
import _signal as signal      # (signal.py adds only enums, and imports enum)
import threading
import weakref

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.tty import termios as t
from kvmsentry.kernel.tty.line_discipline import LineDiscipline
from kvmsentry.kernel.waiter import Queue, deadline_after, wait_event

POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP = 0x1, 0x2, 0x4, 0x8, 0x10
POLLRDNORM, POLLWRNORM = 0x40, 0x100
READ_EVENTS, WRITE_EVENTS = POLLIN | POLLRDNORM, POLLOUT | POLLWRNORM
OUTPUT_MAX = 64 * 1024           # slave output the master has not read yet
INPUT_MAX = 64 * 1024            # typed input the line discipline has yet to take (Linux's
                                 # TTYB_DEFAULT_MEM_LIMIT)
DECISECOND_NS = 100_000_000
# Packet mode (TIOCPKT): the status byte before what a master read returns.
TIOCPKT_DATA, TIOCPKT_FLUSHREAD, TIOCPKT_FLUSHWRITE = 0, 1, 2
TIOCPKT_NOSTOP, TIOCPKT_DOSTOP, TIOCPKT_IOCTL = 16, 32, 64


def signal_process(kernel, group, sig):
    """Send a kernel-generated signal (SI_KERNEL, as a tty's) to a process."""
    from kvmsentry.kernel import signal_delivery     # it imports the task modules
    from kvmsentry.kernel.signals import SigInfo
    target = next((x for x in kernel.tasks.values() if x.group is group), None)
    if target is not None:
        signal_delivery.send(kernel, target, SigInfo.kernel(sig))


def _xon_xoff(tio):
    """^S/^Q flow control as pty_set_termios judges it."""
    return bool(tio.iflag & t.IXON) and tio.cc[t.VSTOP] == 0x13 and tio.cc[t.VSTART] == 0x11


def signal_pgrp(kernel, pgid, sig):
    """Send it to every process of group pgid."""
    for group in kernel.tree.members_of_pgrp(pgid):
        signal_process(kernel, group, sig)


_LIVE = weakref.WeakKeyDictionary()      # kernel -> WeakSet of its ptys


def controlling_pty(kernel, sid):
    """The pty (of any devpts instance) that is session sid's controlling
    terminal, if any."""
    return next((p for p in list(_LIVE.get(kernel, ())) if p.session == sid), None)


def session_leader_exited(kernel, sid):
    """Linux's disassociate_ctty at a session leader's exit: the session's
    terminal sends its foreground group SIGHUP and is free to become
    another session's controlling terminal."""
    for pty in list(_LIVE.get(kernel, ())):
        if pty.session == sid:
            pgrp = pty.pgrp
            pty.session = pty.pgrp = None
            if pgrp is not None:
                signal_pgrp(kernel, pgrp, signal.SIGHUP)


def check_foreground(task, pgid):
    """TIOCSPGRP's rules for the new foreground group pgid."""
    if pgid < 0:
        raise SyscallError(errno.EINVAL)
    members = task.kernel.tree.members_of_pgrp(pgid)
    if not members:
        raise SyscallError(errno.ESRCH)
    if members[0].sid != task.group.sid:
        raise SyscallError(errno.EPERM)


def check_background(task, session, pgrp, sig):
    """tty_check_change for the controlling terminal of `session` whose
    foreground group is `pgrp`: a background group of that session that
    reads (sig SIGTTIN), or changes it or writes under TOSTOP (SIGTTOU),
    gets the signal and the call is interrupted (restarted once the group
    continues); ignoring or blocking the signal makes a read fail with
    EIO and lets a change through."""
    from kvmsentry.kernel import signals as sg
    group = task.group if task is not None else None
    if group is None or session is None or pgrp is None or group.sid != session \
            or group.pgid == pgrp:
        return
    if task.sighand.ignores(sig) or task.sigmask & sg.sigbit(sig):
        if sig == sg.SIGTTIN:
            raise SyscallError(errno.EIO)
        return
    signal_pgrp(task.kernel, group.pgid, sig)
    raise SyscallError(errno.EINTR)


class Pty:
    def __init__(self, index, kernel):
        self.index = index
        self.kernel = kernel
        self.table = None                    # the devpts instance's PtyTable
        _LIVE.setdefault(kernel, weakref.WeakSet()).add(self)
        self.lock = threading.Lock()
        self.ldisc = LineDiscipline(t.Termios())
        self.output = bytearray()            # what the master reads
        self.backlog = bytearray()           # typed input the line discipline has yet to take
        self.master_queue = Queue()
        self.slave_queue = Queue()
        self.locked = True                   # TIOCSPTLCK: slave opens fail with EIO
        self.master_open = True
        self.slave_opens = 0
        self.slave_ever_opened = False
        self.winsize = bytes(8)
        self.session = None                  # sid whose controlling terminal this is
        self.pgrp = None                     # its foreground process group
        self.packet = False                  # TIOCPKT on the master
        self.pktstatus = 0                   # TIOCPKT_* events the master has yet to read

    @property
    def termios(self):
        return self.ldisc.termios

    # --- master side ----------------------------------------------------------------
    def master_read(self, length, nonblock):
        def take():
            with self.lock:
                if self.packet and self.pktstatus:
                    # Packet mode: a pending status goes alone, as one byte.
                    data, self.pktstatus = bytes([self.pktstatus]), 0
                    return (data,)
                if self.output:
                    room = length - 1 if self.packet else length
                    data = bytes(self.output[:room])
                    del self.output[:room]
                    if self.packet:
                        data = bytes([TIOCPKT_DATA]) + data
                elif self.slave_ever_opened and self.slave_opens == 0:
                    raise SyscallError(errno.EIO)      # the slave side hung up
                elif nonblock:
                    raise SyscallError(errno.EAGAIN)
                else:
                    return None
            self.slave_queue.notify(WRITE_EVENTS)
            return (data,)

        if length <= 0:
            return b""
        return (take() or wait_event(take, [(self.master_queue, READ_EVENTS | POLLHUP)]))[0]

    def master_write(self, data, nonblock):
        """Typed input: as much as the backlog has room for, the rest
        after the slave's reader makes room (a partial count if a signal
        comes first)."""
        done = [0]

        def step():
            with self.lock:
                room = INPUT_MAX - len(self.backlog)
                chunk = data[done[0]:done[0] + max(room, 0)]
                self.backlog += chunk
                done[0] += len(chunk)
                effects = self._receive()
            self._announce(effects)
            if done[0] < len(data) and nonblock:
                raise SyscallError(errno.EAGAIN)
            return done[0] == len(data)

        try:
            if not step():
                wait_event(step, [(self.master_queue, WRITE_EVENTS)])
        except SyscallError:
            if not done[0]:
                raise
        return done[0]

    def _receive(self):
        """Feed the backlog to the line discipline (under the lock).
        Returns what _announce needs to tell the waiters."""
        taken, echo, signals = self.ldisc.receive(self.backlog) if self.backlog else (0, b"", [])
        if taken:
            del self.backlog[:taken]
        if self.ldisc.output_flushed:
            self.output.clear()
            self.ldisc.output_flushed = False
        if echo:
            self.output += echo
        return taken, bool(echo), self.ldisc.has_input(), signals, self.pgrp

    def _announce(self, effects):
        taken, echoed, readable, signals, pgrp = effects
        if echoed:
            self.master_queue.notify(READ_EVENTS)
        if readable:
            self.slave_queue.notify(READ_EVENTS)
        if taken:
            self.master_queue.notify(WRITE_EVENTS)
        if pgrp is not None:
            for sig in signals:
                signal_pgrp(self.kernel, pgrp, sig)

    def master_events(self):
        with self.lock:
            mask = WRITE_EVENTS if len(self.backlog) < INPUT_MAX else 0
            if self.output:
                mask |= READ_EVENTS
            if self.packet and self.pktstatus:
                mask |= READ_EVENTS | POLLPRI
            if self.slave_ever_opened and self.slave_opens == 0:
                mask |= POLLHUP
            return mask

    def master_closed(self):
        with self.lock:
            self.master_open = False
            session = self.session
            self.session = self.pgrp = None
        self.slave_queue.notify(READ_EVENTS | WRITE_EVENTS | POLLHUP)
        if session is not None:
            # The hangup reaches the session leader (tty_signal_session_leader).
            leader = self.kernel.tree.groups.get(session)
            if leader is not None:
                signal_process(self.kernel, leader, signal.SIGHUP)
                signal_process(self.kernel, leader, signal.SIGCONT)

    # --- slave side -------------------------------------------------------------------
    def slave_opened(self):
        with self.lock:
            if self.locked or not self.master_open:
                raise SyscallError(errno.EIO)
            self.slave_opens += 1
            self.slave_ever_opened = True

    def slave_closed(self):
        with self.lock:
            self.slave_opens -= 1
            last = self.slave_opens == 0
        if last:
            self.master_queue.notify(READ_EVENTS | POLLHUP)

    def slave_read(self, length, nonblock):
        """Canonical: one line (b"" at VEOF or hangup). Raw: VMIN/VTIME as
        termios(3) says: MIN bytes, with TIME an inter-byte timer once one
        came; MIN 0 and TIME > 0: the first byte or TIME ran out."""
        if length <= 0:
            return b""
        with self.lock:
            tio = self.termios
            vmin, vtime = tio.cc[t.VMIN], tio.cc[t.VTIME]
            canonical = tio.is_canonical()
        want = 1 if canonical or vmin == 0 else min(vmin, length)
        inter_byte = not canonical and vmin and vtime
        got = bytearray()
        hung_up = [False]

        def step():
            with self.lock:
                if not self.master_open and not self.ldisc.has_input():
                    hung_up[0] = True
                    return True
                if canonical:
                    if not self.ldisc.has_input():
                        return False
                    got.extend(self.ldisc.take(length))
                    effects = self._receive()
                    more = True
                else:
                    more = self.ldisc.take(length - len(got))
                    got.extend(more)
                    effects = self._receive() if more else None
            if effects:
                self._announce(effects)
            if canonical:
                return True
            return len(got) >= want or bool(inter_byte and more)

        ready = step()
        if ready and (canonical or hung_up[0] or len(got) >= want):
            return bytes(got)
        if not canonical and vmin == 0 and vtime == 0:
            return bytes(got)
        if nonblock:
            if got:
                return bytes(got)
            raise SyscallError(errno.EAGAIN)
        deadline = deadline_after(vtime * DECISECOND_NS) if not canonical and vtime and (
            vmin == 0 or got) else None
        while True:
            before = len(got)
            ready = wait_event(step, [(self.slave_queue, READ_EVENTS | POLLHUP)],
                               deadline=deadline)
            if len(got) >= want or hung_up[0] or (canonical and ready):
                return bytes(got)
            if len(got) > before:
                deadline = deadline_after(vtime * DECISECOND_NS)   # restart the inter-byte timer
            elif deadline is not None and not ready:
                return bytes(got)                                  # VTIME ran out

    def slave_write(self, data, nonblock):
        done = [0]

        def step():
            with self.lock:
                if not self.master_open:
                    raise SyscallError(errno.EIO)
                room = OUTPUT_MAX - len(self.output)
                chunk = bytes(data[done[0]:done[0] + max(room, 0)])
                if chunk:
                    self.output += self.ldisc.process_output(chunk)
                    done[0] += len(chunk)
            if chunk:
                self.master_queue.notify(READ_EVENTS)
            if done[0] < len(data) and nonblock:
                raise SyscallError(errno.EAGAIN)
            return done[0] == len(data)

        try:
            if not step():
                wait_event(step, [(self.master_queue, WRITE_EVENTS), (self.slave_queue, WRITE_EVENTS)])
        except SyscallError:
            if not done[0]:
                raise
        return done[0]

    def slave_events(self):
        with self.lock:
            mask = 0
            if self.ldisc.has_input():
                mask |= READ_EVENTS
            if not self.master_open:
                mask |= POLLHUP | READ_EVENTS
            elif len(self.output) < OUTPUT_MAX:
                mask |= WRITE_EVENTS
            return mask

    # --- settings ----------------------------------------------------------------------
    def set_termios(self, new, flush):
        with self.lock:
            old = self.termios.copy()
            if flush:
                self.ldisc.flush_input()
                self._packet_event(TIOCPKT_FLUSHREAD)
            self.ldisc.set_termios(new)
            effects = self._receive()
            if self.packet:
                # pty_set_termios: tell the master whether ^S/^Q flow control is on.
                before, after = _xon_xoff(old), _xon_xoff(new)
                if before != after:
                    self.pktstatus &= ~(TIOCPKT_DOSTOP | TIOCPKT_NOSTOP)
                    self.pktstatus |= TIOCPKT_DOSTOP if after else TIOCPKT_NOSTOP
                if (old.lflag | new.lflag) & t.EXTPROC:
                    self.pktstatus |= TIOCPKT_IOCTL
        self._announce(effects)                      # (readable input: the slave hears)
        self.master_queue.notify(READ_EVENTS | POLLPRI)

    def set_packet(self, on):
        """TIOCPKT on the master."""
        with self.lock:
            if on and not self.packet:
                self.pktstatus = 0
            self.packet = on

    def _packet_event(self, bit):
        if self.packet:
            self.pktstatus |= bit

    def flush(self, queue_selector, from_master=False):
        """TCFLSH: 0 input, 1 output, 2 both, of the side it is called on
        (the master's input is what the slave wrote)."""
        if queue_selector not in (0, 1, 2):
            raise SyscallError(errno.EINVAL)
        flush_in, flush_out = queue_selector in (0, 2), queue_selector in (1, 2)
        if from_master:
            flush_in, flush_out = flush_out, flush_in
        with self.lock:
            if flush_in:
                # tty_perform_flush empties the flip buffer and the line discipline's.
                self.backlog.clear()
                self.ldisc.flush_input()
            if flush_out:
                self.output.clear()
            if not from_master:
                self._packet_event((TIOCPKT_FLUSHREAD if flush_in else 0)
                                   | (TIOCPKT_FLUSHWRITE if flush_out else 0))
        self.slave_queue.notify(WRITE_EVENTS)
        self.master_queue.notify(READ_EVENTS | WRITE_EVENTS | POLLPRI)

    def set_winsize(self, winsize):
        with self.lock:
            changed = winsize != self.winsize
            self.winsize = winsize
            pgrp = self.pgrp
        if changed and pgrp is not None:
            signal_pgrp(self.kernel, pgrp, signal.SIGWINCH)

    def input_count(self):
        with self.lock:
            return self.ldisc.readable()

    def output_count(self):
        with self.lock:
            return len(self.output)


