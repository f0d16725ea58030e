"""Waiting for file readiness: poll, ppoll, select, pselect6 and epoll.
Readiness is kernel/polling.py, epoll instances kernel/epoll.py, and the
wait itself kernel/waiter.block_until: the task sleeps on the queues of
the files it polls (and their host fds) until one of them notifies."""
import errno
import struct
from array import array
from functools import partial
from itertools import chain
from time import monotonic_ns

from kvmsentry.arch.layout import USER_TOP
from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.hostfd import HostFdFile
from kvmsentry.kernel import polling as pl
from kvmsentry.kernel import signals as sg
from kvmsentry.kernel.epoll import EpollFile
from kvmsentry.kernel.waiter import block_until
from kvmsentry.syscalls.args import i32, u32
from kvmsentry.vfs.file import File

NSEC = 1_000_000_000
USEC = 1_000
RLIMIT_NOFILE = 7
SIGSET_SIZE = 8
POLLFD = struct.Struct("<ihh")
POLLIN_SET = pl.POLLRDNORM | pl.POLLRDBAND | pl.POLLIN | pl.POLLHUP | pl.POLLERR
POLLOUT_SET = pl.POLLWRBAND | pl.POLLWRNORM | pl.POLLOUT | pl.POLLERR
POLLEX_SET = pl.POLLPRI
EPOLL_CLOEXEC = 0o2000000
O_RDWR = 2
EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3
EPOLL_EVENT = struct.Struct("<IQ")              # packed on x86-64: 12 bytes
EP_MAX_EVENTS = 0x7FFFFFFF // EPOLL_EVENT.size
EVENT_SIZE, _pack_event = EPOLL_EVENT.size, EPOLL_EVENT.pack    # (epoll_wait's, bound once)
EPOLL_VALID = (pl.POLLIN | pl.POLLPRI | pl.POLLOUT | pl.POLLERR | pl.POLLHUP | pl.POLLRDNORM
               | pl.POLLRDBAND | pl.POLLWRNORM | pl.POLLWRBAND | pl.POLLMSG | pl.POLLRDHUP
               | pl.EPOLLEXCLUSIVE | pl.EPOLLWAKEUP | pl.EPOLLONESHOT | pl.EPOLLET)
EPOLL_VALID_EVENTS = EPOLL_VALID & (pl.EPOLLEXCLUSIVE - 1)      # without the flag bits
# What may go with EPOLLEXCLUSIVE (EPOLLEXCLUSIVE_OK_BITS; EPOLLONESHOT not)
EPOLLEXCLUSIVE_OK = (pl.POLLIN | pl.POLLOUT | pl.POLLERR | pl.POLLHUP | pl.EPOLLWAKEUP
                     | pl.EPOLLET | pl.EPOLLEXCLUSIVE)


# --- timeouts and signal masks ----------------------------------------------------
def _read_timespec(task, addr):
    sec, nsec = struct.unpack("<qq", task.mm.copy_in(addr, 16))
    if sec < 0 or not 0 <= nsec < NSEC:
        raise SyscallError(errno.EINVAL)
    return sec * NSEC + nsec


def _read_sigmask(task, addr, size):
    if size != SIGSET_SIZE:
        raise SyscallError(errno.EINVAL)
    (mask,) = struct.unpack("<Q", task.mm.copy_in(addr, 8))
    return mask


def _finish(task, addr, deadline, timeout_ns, as_timeval):
    """poll_select_finish(): write the time left back to the caller's
    timeout (not for a zero or absent one); a fault here is ignored."""
    if not addr or not timeout_ns:
        return
    left = pl.remaining_ns(deadline)
    if as_timeval:
        data = struct.pack("<qq", left // NSEC, left % NSEC // USEC)
    else:
        data = struct.pack("<qq", left // NSEC, left % NSEC)
    try:
        task.mm.copy_out(addr, data)
    except SyscallError:
        pass


def _masked_wait(task, mask, body):
    """Run body() with the signal mask `mask` (None: unchanged), as
    ppoll/pselect6/epoll_pwait do: the old mask comes back on return,
    or after the handler runs when the wait ends in EINTR."""
    if mask is None:
        return body()
    old = task.sigmask
    task.saved_sigmask = old
    task.sigmask = sg.sanitize_mask(mask)
    try:
        result = body()
    except SyscallError as e:
        if e.errno != errno.EINTR:
            task.sigmask, task.saved_sigmask = old, None
        raise
    task.sigmask, task.saved_sigmask = old, None
    return result


def _waited(task, timeout_ns, addr, as_timeval, mask, wait):
    """Run wait(deadline) under mask, then write back the time left to
    addr, whatever the outcome (poll_select_finish runs for errors too)."""
    deadline = pl.deadline_after(timeout_ns)
    try:
        return _masked_wait(task, mask, lambda: wait(deadline))
    finally:
        _finish(task, addr, deadline, timeout_ns, as_timeval)


# --- poll --------------------------------------------------------------------------
def _do_poll(task, ufds, nfds, deadline):
    if nfds > task.rlimits[RLIMIT_NOFILE][0]:
        raise SyscallError(errno.EINVAL)
    raw = task.mm.copy_in(ufds, nfds * POLLFD.size) if nfds else b""
    # Arrays rather than objects per entry: nfds may be as large as the
    # guest may raise RLIMIT_NOFILE (2^20), and one fd many times over.
    fds = array("i", raw)[0::2]
    events = array("H", raw)[2::4]
    revents = array("H", bytes(2 * nfds))
    interest = {}
    for fd, ev in zip(fds, events):
        if fd >= 0:
            interest[fd] = interest.get(fd, 0) | ev
    files = []
    for fd, ev in interest.items():
        try:
            files.append((task.fds.get(fd), ev))
        except SyscallError:
            pass

    def check():
        count, masks = 0, {}
        for i, fd in enumerate(fds):
            if fd < 0:
                revents[i] = 0
                continue
            mask = masks.get(fd)
            if mask is None:
                try:
                    mask = pl.poll_mask(task.fds.get(fd))
                except SyscallError:
                    mask = -1                       # not open
                masks[fd] = mask
            revents[i] = pl.POLLNVAL if mask < 0 else mask & (events[i] | pl.ALWAYS) & 0xFFFF
            count += bool(revents[i])
        return count

    waits, host_fds = pl.wait_sources(files)
    try:
        count = block_until(task, check, waits, host_fds, deadline)
    finally:
        if nfds:
            out = array("H", raw)
            out[3::4] = revents
            task.mm.copy_out(ufds, out.tobytes())
    return count


def poll(task, ufds, nfds, timeout_ms):
    """Implements poll(2)."""
    timeout_ms = i32(timeout_ms)
    deadline = pl.deadline_after(None if timeout_ms < 0 else timeout_ms * 1_000_000)
    return _do_poll(task, ufds, u32(nfds), deadline)


def ppoll(task, ufds, nfds, tsp, sigmask, sigsetsize):
    """Implements ppoll(2): poll with a timespec and a signal mask."""
    timeout = _read_timespec(task, tsp) if tsp else None
    mask = _read_sigmask(task, sigmask, sigsetsize) if sigmask else None
    return _waited(task, timeout, tsp, False, mask,
                   lambda deadline: _do_poll(task, ufds, u32(nfds), deadline))


# --- select --------------------------------------------------------------------------
def _max_fds(task):
    """The size of the fd table as Linux grows it (select clamps nfds to it):
    at least 64, a power of two above the highest open fd."""
    fds = task.fds.fds()
    size = 64
    while fds and fds[-1] >= size:
        size *= 2
    return size


def _do_select(task, nfds, inp, outp, exp, deadline):
    nfds = i32(nfds)
    if nfds < 0:
        raise SyscallError(errno.EINVAL)
    n = min(nfds, _max_fds(task))
    size = (n + 63) // 64 * 8
    limit = (1 << n) - 1

    def read_set(addr):
        if not addr or not size:
            return 0
        return int.from_bytes(task.mm.copy_in(addr, size), "little") & limit

    sets = [read_set(addr) for addr in (inp, outp, exp)]
    wanted = sets[0] | sets[1] | sets[2]
    fds = [fd for fd in range(n) if wanted >> fd & 1]
    for fd in fds:
        task.fds.get(fd)                          # EBADF for a closed fd
    results = [0, 0, 0]

    def check():
        count = 0
        results[:] = [0, 0, 0]
        for fd in fds:
            try:
                mask = pl.poll_mask(task.fds.get(fd))
            except SyscallError:
                continue                            # closed meanwhile: skipped
            bit = 1 << fd
            for i, interest in enumerate((POLLIN_SET, POLLOUT_SET, POLLEX_SET)):
                if sets[i] & bit and mask & interest:
                    results[i] |= bit
                    count += 1
        return count

    waits, host_fds = pl.wait_sources(
        [(task.fds.get(fd), (pl.POLLIN if sets[0] >> fd & 1 else 0)
          | (pl.POLLOUT if sets[1] >> fd & 1 else 0)
          | (pl.POLLPRI if sets[2] >> fd & 1 else 0)) for fd in fds])
    count = block_until(task, check, waits, host_fds, deadline)
    for addr, bits in zip((inp, outp, exp), results):
        if addr and size:
            task.mm.copy_out(addr, bits.to_bytes(size, "little"))
    return count


def select(task, nfds, inp, outp, exp, tvp):
    """Implements select(2); the time left is written back, as Linux does."""
    timeout = None
    if tvp:
        sec, usec = struct.unpack("<qq", task.mm.copy_in(tvp, 16))
        if sec < 0 or usec < 0:
            raise SyscallError(errno.EINVAL)
        timeout = sec * NSEC + usec * USEC
    return _waited(task, timeout, tvp, True, None,
                   lambda deadline: _do_select(task, nfds, inp, outp, exp, deadline))


def pselect6(task, nfds, inp, outp, exp, tsp, sig):
    """Implements pselect6(2): select with a timespec and a signal mask
    (the sixth argument points at {sigset_t *ss; size_t ss_len})."""
    timeout = _read_timespec(task, tsp) if tsp else None
    mask = None
    if sig:
        ss, ss_len = struct.unpack("<QQ", task.mm.copy_in(sig, 16))
        if ss:
            mask = _read_sigmask(task, ss, ss_len)
    return _waited(task, timeout, tsp, False, mask,
                   lambda deadline: _do_select(task, nfds, inp, outp, exp, deadline))


# --- epoll ---------------------------------------------------------------------------
def epoll_create(task, size):
    """Implements epoll_create(2)."""
    if i32(size) <= 0:
        raise SyscallError(errno.EINVAL)
    return _new_epoll(task, False)


def epoll_create1(task, flags):
    """Implements epoll_create1(2)."""
    flags = i32(flags)
    if flags & ~EPOLL_CLOEXEC:
        raise SyscallError(errno.EINVAL)
    return _new_epoll(task, bool(flags & EPOLL_CLOEXEC))


def _new_epoll(task, cloexec):
    return task.fds.install(EpollFile(O_RDWR), cloexec=cloexec,
                            limit=task.rlimits[RLIMIT_NOFILE][0])


def _pollable(file):
    """Whether Linux would find a ->poll: regular files, directories and
    the /dev/null family have none (epoll_ctl says EPERM)."""
    return (hasattr(file, "poll_events") or isinstance(file, HostFdFile)
            or type(file).readiness is not File.readiness)


def epoll_ctl(task, epfd, op, fd, event):
    """Implements epoll_ctl(2)."""
    # The int arguments as i32 reads them, by comparisons when they are
    # small (a server makes two calls a connection; i32's `&`s are
    # multi-digit operations).
    if op > 0x7FFFFFFF:
        op = i32(op)
    if fd > 0x7FFFFFFF:
        fd = i32(fd)
    if epfd > 0x7FFFFFFF:
        epfd = i32(epfd)
    events = data = 0
    if op != EPOLL_CTL_DEL:          # ep_op_has_event(): even an unknown op reads it first
        events, data = EPOLL_EVENT.unpack(task.mm.copy_in(event, EPOLL_EVENT.size))
    fds = task.fds
    ep = fds.get(epfd)
    file = fds.get(fd)
    if not _pollable(file):
        raise SyscallError(errno.EPERM)
    if not isinstance(ep, EpollFile) or file is ep:
        raise SyscallError(errno.EINVAL)
    if events < pl.EPOLLEXCLUSIVE:
        events &= EPOLL_VALID_EVENTS     # no flag bits: a one-digit `&`
    else:
        # (the bits as given: an unknown one beside EPOLLEXCLUSIVE is EINVAL too)
        if events & pl.EPOLLEXCLUSIVE and (isinstance(file, EpollFile)
                                           or events & ~EPOLLEXCLUSIVE_OK or op == EPOLL_CTL_MOD):
            raise SyscallError(errno.EINVAL)
        events &= EPOLL_VALID
    if op == EPOLL_CTL_ADD:
        ep.add(fd, file, events, data)
    elif op == EPOLL_CTL_DEL:
        ep.remove(fd, file)
    elif op == EPOLL_CTL_MOD:
        ep.modify(fd, file, events, data)
    else:
        raise SyscallError(errno.EINVAL)
    return 0


def _epoll_wait(task, epfd, events, maxevents, timeout_ns, mask):
    # int arguments as unsigned (a frame less than i32 each): a negative
    # maxevents is above EP_MAX_EVENTS, a negative fd above any table's
    # limit. Masked only when above 32 bits: a `&` with 0xFFFFFFFF is a
    # multi-digit operation on every call.
    if not 0 < maxevents <= EP_MAX_EVENTS:
        maxevents &= 0xFFFFFFFF
        if not 0 < maxevents <= EP_MAX_EVENTS:
            raise SyscallError(errno.EINVAL)
    if events + maxevents * EVENT_SIZE > USER_TOP:      # access_ok()
        raise SyscallError(errno.EFAULT)
    ep = task.fds.get(epfd if epfd <= 0xFFFFFFFF else epfd & 0xFFFFFFFF)
    if not isinstance(ep, EpollFile):
        raise SyscallError(errno.EINVAL)
    # The task's Waiter goes on the instance's own list (ep->wq), woken by
    # item_ready with no queue entry, before the first look: what is ready
    # already is taken with no deadline or signal mask set up (a mask that
    # is never waited under changes nothing), and a wait starts from that
    # look, not another. A zero timeout returns after the look, before any
    # pending signal is noticed (ep_poll's timed_out).
    waiter = task.waiter
    sleepers = ep.sleepers
    sleepers.append(waiter)
    try:
        ready = ep.harvest(maxevents, waiter)
        if not ready and timeout_ns != 0:
            check = partial(ep.harvest, maxevents, waiter)
            deadline = None if timeout_ns is None else monotonic_ns() + timeout_ns
            if mask is None:
                ready = block_until(task, check, (), ep.host_fds(), deadline, checked=ready)
            else:
                nothing = ready
                ready = _masked_wait(task, mask, lambda: block_until(
                    task, check, (), ep.host_fds(), deadline, checked=nothing))
    finally:
        sleepers.remove(waiter)
    n = len(ready)
    if n == 1:
        task.mm.copy_out(events, _pack_event(*ready[0]))
    elif n:
        task.mm.copy_out(events, struct.pack("<" + "IQ" * n, *chain.from_iterable(ready)))
    return n


def _ms(timeout):
    timeout &= 0xFFFFFFFF                         # an int: negative waits forever
    return None if timeout & 0x80000000 else timeout * 1_000_000


def epoll_wait(task, epfd, events, maxevents, timeout):
    """Implements epoll_wait(2)."""
    # _ms() inline for the usual values, by comparisons (no multi-digit `&`):
    # 0 up to INT_MAX ms, and -1 zero- or sign-extended (wait forever).
    if timeout < 0x80000000:
        return _epoll_wait(task, epfd, events, maxevents, timeout * 1_000_000, None)
    if timeout <= 0xFFFFFFFF or timeout >= 0xFFFFFFFF80000000:
        return _epoll_wait(task, epfd, events, maxevents, None, None)
    return _epoll_wait(task, epfd, events, maxevents, _ms(timeout), None)


def epoll_pwait(task, epfd, events, maxevents, timeout, sigmask, sigsetsize):
    """Implements epoll_pwait(2)."""
    mask = _read_sigmask(task, sigmask, sigsetsize) if sigmask else None
    return _epoll_wait(task, epfd, events, maxevents, _ms(timeout), mask)


def epoll_pwait2(task, epfd, events, maxevents, tsp, sigmask, sigsetsize):
    """Implements epoll_pwait2(2): the timeout is a timespec."""
    timeout = _read_timespec(task, tsp) if tsp else None
    mask = _read_sigmask(task, sigmask, sigsetsize) if sigmask else None
    return _epoll_wait(task, epfd, events, maxevents, timeout, mask)
