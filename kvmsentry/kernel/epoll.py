"""epoll instances, as Linux's fs/eventpoll.c keeps them.

Each registered (fd, file) is an EpollItem with an Entry on the file's wait
queue. The entry's callback puts the item on the instance's ready list and
wakes the first task blocked in epoll_wait on the instance (a list of
their Waiters, Linux's ep->wq: one woken per event, no queue entry made
per wait) and the instance's own queue (poll/epoll of the epoll fd
itself: nested instances; Linux's ep->poll_wait). epoll_wait takes items
off the ready list, asks each file for its mask now, reports the ones that are ready
and, for level-triggered items, puts them back; edge-triggered items come
back only through a new callback, so every new event (another write to a
pipe that already had data) is reported again. EPOLLONESHOT disarms an
item once it reported, until EPOLL_CTL_MOD. EPOLLEXCLUSIVE entries take a
wakeup only when someone waits in epoll_wait on the instance.

Host sockets (files with a `host_socket_fd()`) are watched by a host
epoll instance the epoll file owns, registered with the guest's events,
EPOLLET and EPOLLONESHOT: the host kernel keeps their ready list, so
harvesting them is one host epoll_wait however many sockets are watched
(a server's thousands of connections), edge-triggering is the host's
exact one, and a waiter sleeps on the one host epoll fd. Other files whose
readiness lives in host fds (the user's terminal; a socket added twice
through dup'ed fds, an EPOLLEXCLUSIVE one) cannot call back for it: their
items are looked at whenever the instance is harvested or polled, and
epoll_wait puts their host fds in the waiter's host poll set; for those,
EPOLLET reports the bits that were not ready at the last look. Files with
no queue at all (readiness that never changes) are looked at the same way.

Lifetime is Linux's: an item belongs to (fd, file), not to the fd; closing
the fd leaves it registered, still reporting, until the file itself is
released (eventpoll_release()).
"""
import collections
import errno
import functools
import select
import threading

from kvmsentry.errors import SyscallError
from kvmsentry.fsimpl.hostfd import HostFdFile
from kvmsentry.kernel.polling import (ALWAYS, EPOLLET, EPOLLEXCLUSIVE, EPOLLONESHOT,
                                      EPOLLWAKEUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM,
                                      host_fds, poll_mask)
from kvmsentry.kernel.waiter import Entry, Queue
from kvmsentry.vfs.file import File
from kvmsentry.vfs.inode import Stat

ANON_INODE_DEV = 0xD          # anon_inodefs's device, like [eventpoll]'s
PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE
# The event bits an item reports (below bit 28): one 30-bit digit of a
# Python int, so the ready path's `&`s take the small-int fast path (the
# flag bits 30 and 31 made each one a multi-digit operation).
EVENT_BITS = ~PRIVATE_BITS & 0xFFFFFFFF
IN_BITS, OUT_BITS = POLLIN | POLLRDNORM, POLLOUT | POLLWRNORM
MAX_NESTS = 4                 # EP_MAX_NESTS: deeper chains answer ELOOP
# What a host epoll registration carries over from the guest's events
# (EPOLLWAKEUP is dropped: it needs CAP_BLOCK_SUSPEND and changes nothing here).
HOST_BITS = (select.EPOLLIN | select.EPOLLPRI | select.EPOLLOUT | select.EPOLLERR
             | select.EPOLLHUP | select.EPOLLRDNORM | select.EPOLLRDBAND | select.EPOLLWRNORM
             | select.EPOLLWRBAND | select.EPOLLMSG | select.EPOLLRDHUP | EPOLLET | EPOLLONESHOT)


class EpollItem:
    __slots__ = ("ep", "fd", "file", "events", "data", "entry", "queue", "last", "host_fd",
                 "live", "mask", "linked", "want", "oneshot", "edge", "exclusive")

    def __init__(self, ep, fd, file, events, data, mask):
        self.ep, self.fd, self.file = ep, fd, file
        self.mask = mask              # poll_mask(file), one call less per look
        if events < EPOLLEXCLUSIVE:
            # No flag bits (a server's plain EPOLLIN): set_events' answer
            # without its frame and its multi-digit `&`s of bits 28-31.
            self.events = self.want = events
            self.oneshot = self.edge = self.exclusive = False
        else:
            self.set_events(events)
        self.data = data
        self.entry = self.queue = None  # the registration on the file's queue
        self.last = 0                 # host-fd items: the mask last looked at
        self.host_fd = None           # registered in the instance's host epoll
        self.live = True              # still registered (drop() clears it)
        self.linked = False           # on the ready list (ep_is_linked)

    def set_events(self, events):
        """The guest's events (as epoll_ctl gave them, with ALWAYS) and
        what the ready path reads of them: `want`, the bits to report (0
        while disarmed), and the flags as booleans."""
        self.events = events
        self.want = events & EVENT_BITS
        self.oneshot = bool(events & EPOLLONESHOT)
        self.edge = bool(events & EPOLLET)
        self.exclusive = bool(events & EPOLLEXCLUSIVE)

    def disarm(self):
        """EPOLLONESHOT reported: nothing more until EPOLL_CTL_MOD."""
        self.events &= PRIVATE_BITS
        self.want = 0


class EpollFile(File):
    """An epoll instance (an anonymous inode "[eventpoll]")."""

    def __init__(self, flags):
        super().__init__(flags)
        self._lock = threading.Lock()
        self.items = {}               # (fd, file) -> EpollItem
        # The ready list (ep->rdllist): a deque never replaced, so the
        # callback's append and the harvest's popleft need no lock (each
        # is one step under the GIL; the lock was taken once per callback
        # and once or twice per harvest). `linked` keeps an item on it
        # once; a racing second append leaves a copy that the harvest
        # skips, as it skips items dropped meanwhile.
        self._ready = collections.deque()
        self._host_items = []         # items looked at, not called back (host fds)
        self._nested = []             # items that are epoll instances
        self.queue = Queue()          # poll/epoll of this instance (ep->poll_wait)
        self.sleepers = []            # Waiters of the tasks in epoll_wait, oldest first
        self._host_ep = None          # host epoll for host sockets (made on first use)
        self._by_host_fd = {}         # host fd -> EpollItem registered there
        self._host_poller = None      # poll(2) of _host_ep: readable, without harvesting

    # --- epoll_ctl -------------------------------------------------------------------
    def add(self, fd, file, events, data):
        if isinstance(file, EpollFile) and \
                (file is self or file.watches(self) or file.depth() + 1 > MAX_NESTS):
            raise SyscallError(errno.ELOOP)
        key, items = (fd, file), self.items
        socket_fd = getattr(file, "host_socket_fd", None)
        with self._lock:
            if key in items:
                raise SyscallError(errno.EEXIST)
            item = items[key] = EpollItem(self, fd, file, events | ALWAYS, data,
                                          file.poll_events if socket_fd is not None
                                          else _mask_function(file))
        links = file.__dict__.get("epoll_items")
        if links is None:
            file.__dict__["epoll_items"] = {item}
        else:
            links.add(item)
        if socket_fd is not None and not item.exclusive and self._host_register(item, socket_fd()):
            return
        queue = getattr(file, "queue", None)
        if queue is not None:
            # The file's queue calls item_ready(item, mask) (ep_poll_callback)
            # through a partial: no Python frame of its own per wakeup.
            item.entry = Entry(functools.partial(self.item_ready, item),
                               (events | ALWAYS) & ~PRIVATE_BITS,
                               exclusive=bool(events & EPOLLEXCLUSIVE))
            item.queue = queue
            queue.register(item.entry)
        with self._lock:
            # A nested instance is looked at too: readiness in its host
            # epoll does not go through its queue.
            if queue is None or _has_host_fds(file) or isinstance(file, EpollFile):
                self._host_items.append(item)
            if isinstance(file, EpollFile):
                self._nested.append(item)
        self._recheck(item)

    def modify(self, fd, file, events, data):
        item = self.items.get((fd, file))     # (one dict step: ctl calls hold the kernel lock)
        if item is None:
            raise SyscallError(errno.ENOENT)
        if item.exclusive:
            raise SyscallError(errno.EINVAL)
        events |= ALWAYS
        if events < EPOLLEXCLUSIVE:
            item.events = item.want = events             # set_events' plain case, as in __init__
            item.oneshot = item.edge = False
        else:
            item.set_events(events)
        item.data, item.last = data, 0
        if item.host_fd is not None:
            self._host_ep.modify(item.host_fd, events if events < EPOLLEXCLUSIVE
                                 else item.events & HOST_BITS)   # re-arms ONESHOT
            return
        if item.entry is not None:
            item.entry.mask = events & ~PRIVATE_BITS
        self._recheck(item)

    def remove(self, fd, file):
        item = self.items.get((fd, file))
        if item is None:
            raise SyscallError(errno.ENOENT)
        self.drop(item)

    def drop(self, item):
        """Forget item (EPOLL_CTL_DEL, or its file was released)."""
        if item.entry is not None:
            item.queue.unregister(item.entry)
        with self._lock:
            item.live = item.linked = False     # a copy left on the ready list is skipped
            self.items.pop((item.fd, item.file), None)
            if item.host_fd is None:
                # (a host epoll's item is on neither list)
                for kept in (self._host_items, self._nested):
                    if item in kept:
                        kept.remove(item)
        if item.host_fd is not None:
            self._host_unregister(item)
        links = item.file.__dict__.get("epoll_items")
        if links is not None:
            links.discard(item)

    def _host_register(self, item, host_fd):
        """Watch item's host socket (its fd host_fd) in the host epoll;
        False when the item must be looked at instead (the socket's host
        fd already watched here through another fd; EPOLLEXCLUSIVE ones,
        whose one-waiter wakeup the sentry's own queues decide, and files
        that are no host socket never come here)."""
        if host_fd < 0 or host_fd in self._by_host_fd:
            return False
        events = item.events
        try:
            if self._host_ep is None:
                self._host_ep = select.epoll()
            self._host_ep.register(host_fd, events if events < EPOLLEXCLUSIVE
                                   else events & HOST_BITS)
        except OSError:                 # the host's max_user_watches: look at it instead
            return False
        item.host_fd = host_fd
        self._by_host_fd[host_fd] = item
        return True

    def _host_unregister(self, item):
        host_fd, item.host_fd = item.host_fd, None
        self._by_host_fd.pop(host_fd, None)
        # A released socket's host fd is closed (its registration went with
        # it) and its number may be another file's by now: leave it alone.
        if item.file.host_socket_fd() == host_fd:
            try:
                self._host_ep.unregister(host_fd)
            except OSError:
                pass

    def _harvest_host(self, room, out):
        """Up to `room` events of host sockets into out (ep_send_events
        for the host epoll's part)."""
        items = self._by_host_fd
        # No more can be ready than are watched; the host call allocates room for `room`.
        for host_fd, revents in self._host_ep.poll(0, min(room, len(items))):
            item = items.get(host_fd)
            if item is None:
                continue
            revents &= item.want                        # nothing when disarmed
            if revents:
                out.append((revents, item.data))
                if item.oneshot:
                    item.disarm()                       # the host disarmed it too

    def _host_readable(self):
        """Whether the host epoll has something ready (without taking it)."""
        if self._host_poller is None:
            self._host_poller = select.poll()
            self._host_poller.register(self._host_ep.fileno(), select.POLLIN)
        return bool(self._host_poller.poll(0))

    def _recheck(self, item):
        """After ADD or MOD: a file that is ready already goes on the list."""
        if item.want and item.mask() & item.want:
            self.item_ready(item, 0)

    def watches(self, other):
        """Whether other is reachable from this instance (ELOOP check)."""
        for _, file in list(self.items):
            if file is other or isinstance(file, EpollFile) and file.watches(other):
                return True
        return False

    def depth(self):
        """How many epoll instances deep the chain below this one goes."""
        inner = [f.depth() for _, f in list(self.items) if isinstance(f, EpollFile)]
        return 1 + max(inner, default=0)

    # --- the ready list ----------------------------------------------------------------
    def item_ready(self, item, mask):
        """Put item on the ready list and wake whoever waits on the
        instance (mask: the events the file notified; 0 from _recheck).
        Returns whether an exclusive wakeup was taken."""
        want = item.want
        if not want or (mask and not mask & want) or not item.live:
            return False              # disarmed, not an event it asked for, or dropped
        if not item.linked:
            item.linked = True
            self._ready.append(item)
        sleepers = self.sleepers
        if sleepers:
            try:
                sleepers[0].wake()    # one at a time; what stays ready wakes the next
            except IndexError:        # it left meanwhile
                pass
        if self.queue.entries:
            self.queue.notify(IN_BITS)
        if not item.exclusive:
            return True
        # As ep_poll_callback: an exclusive wakeup counts only if a task
        # waits here and the event is one the item asked for.
        inout = mask & (IN_BITS | OUT_BITS)
        return bool(sleepers) and (not inout or bool(inout & want))

    def _poll_host_items(self):
        """Items without a queue are looked at now instead of called back."""
        if not self._host_items:
            return
        with self._lock:
            items = list(self._host_items)
        for item in items:
            if not item.want:
                continue
            mask = item.mask() & item.want
            if item.edge:
                new, item.last = mask & ~item.last, mask
                mask = new
            if mask and item.live and not item.linked:
                item.linked = True
                self._ready.append(item)

    def harvest(self, maxevents, waiter=None):
        """ep_send_events: up to maxevents (events, data) pairs ready now,
        for the task sleeping on `waiter` (None: one not in epoll_wait).
        A ready list of one item and nothing to look at (an event loop's
        usual wait; maxevents >= 1, as epoll_wait checks) is taken here,
        without _harvest_all's loop."""
        ready = self._ready
        if self._host_items or self._by_host_fd or len(ready) > 1:
            return self._harvest_all(maxevents, waiter)
        if not ready:
            return []         # nothing called back, nothing to look at: a blocking wait's check
        try:
            item = ready.popleft()
        except IndexError:                      # taken by a look that ran meanwhile
            return []
        if not item.linked:
            return []                           # dropped meanwhile
        item.linked = False
        want = item.want
        revents = item.mask() & want if want else 0
        out = []
        if revents:
            out.append((revents, item.data))
            if item.oneshot:
                item.disarm()
            elif not item.edge and not item.linked and item.live:
                item.linked = True              # level-triggered: look again next time
                ready.append(item)
        if ready:
            for other in self.sleepers:         # as _harvest_all's ep_done_scan wake
                if other is not waiter:
                    other.wake()
                    break
        return out

    def _harvest_all(self, maxevents, waiter):
        """harvest() of any ready list, with items to look at."""
        ready = self._ready
        if self._host_items:
            self._poll_host_items()
        out, again = [], ()
        popleft = ready.popleft
        # Only the items on the list now are looked at: what a callback
        # adds meanwhile comes after them, and those not reached for want
        # of room stay first (as ep_done_scan orders them: unreported,
        # arrived, then the level-triggered ones reported now).
        try:
            for _ in range(len(ready)):
                if len(out) >= maxevents:
                    break
                item = popleft()
                if not item.linked:
                    continue                    # a second copy, or dropped meanwhile
                # Unlinked before the look: a callback from now on links it again.
                item.linked = False
                want = item.want
                if not want:
                    continue                    # disarmed (EPOLLONESHOT)
                revents = item.mask() & want
                if revents:
                    out.append((revents, item.data))
                    if item.oneshot:
                        item.disarm()
                    elif not item.edge:
                        again += (item,)        # level-triggered: look again next time
        except IndexError:                      # taken by a look that ran meanwhile
            pass
        for item in again:
            if not item.linked and item.live:
                item.linked = True
                ready.append(item)
        if self._by_host_fd and len(out) < maxevents:
            self._harvest_host(maxevents - len(out), out)
        if ready and self.sleepers:
            # Like ep_done_scan: what is still ready wakes another task in
            # epoll_wait (they are woken one at a time).
            for other in self.sleepers:
                if other is not waiter:
                    other.wake()
                    break
        return out

    # --- the instance as a file ----------------------------------------------------------
    def poll_events(self):
        """Readable while some item on the ready list is really ready."""
        self._poll_host_items()
        for item in list(self._ready):
            if item.linked and item.want and item.mask() & item.want:
                return POLLIN | POLLRDNORM
        if self._by_host_fd and self._host_readable():
            return POLLIN | POLLRDNORM
        return 0

    def host_fds(self):
        """The host fds of every item, here and in nested instances."""
        if not self._host_items and self._host_ep is None:
            return []                   # only files that call back (pipes, eventfds...)
        with self._lock:
            items = list(self._host_items)          # nested instances are among them
        out = [(self._host_ep.fileno(), select.POLLIN)] if self._host_ep is not None else []
        for item in items:
            out.extend(host_fds(item.file, item.events))
        return out

    def stat(self):
        return Stat(dev=ANON_INODE_DEV, ino=id(self) & 0xFFFFFFFF, mode=0o600)

    def fdinfo(self):
        """The per-item lines of /proc/PID/fdinfo/N, as Linux prints them."""
        out = []
        for item in list(self.items.values()):
            try:
                st = item.file.stat()
                ino, dev = st.ino, st.dev
            except SyscallError:       # a file with no inode to show
                ino = dev = 0
            out.append("tfd: %8d events: %8x data: %16x  pos:0 ino:%x sdev:%x\n"
                       % (item.fd, item.events & 0xFFFFFFFF, item.data, ino, dev))
        return "".join(out)

    def release(self):
        for item in list(self.items.values()):
            self.drop(item)
        if self._host_ep is not None:
            self._host_ep.close()


def _mask_function(file):
    """What poll_mask(file) calls, bound once: the file's own poll_events
    when it has one (pipes, eventfds, sockets...)."""
    events = getattr(file, "poll_events", None)
    if events is None or isinstance(file, HostFdFile):
        return lambda: poll_mask(file)
    return events


def _has_host_fds(file):
    """A file whose readiness also lives in host fds (host stdio; a file
    with a host_fds() method, such as a host socket)."""
    return isinstance(file, HostFdFile) or \
        (not isinstance(file, EpollFile) and hasattr(file, "host_fds"))


def eventpoll_release(file):
    """The file's last reference is gone: it leaves every epoll instance."""
    for item in list(file.__dict__.get("epoll_items", ())):
        item.ep.drop(item)
