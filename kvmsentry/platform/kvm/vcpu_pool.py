"""The VM's vCPUs, lent to tasks while they run guest code.

A task's program state lives in its KvmContext; a vCPU is only where that
state is while the task runs, as in gVisor's machine. The pool is bounded
(a few vCPUs per host core) and grows lazily. Moving state is lazy too: a
context that lets its vCPU go (it blocks) leaves its state *parked* there,
and gets the same vCPU back with no ioctl at all if nobody took it in the
meantime. Whoever takes a vCPU parked with another context's state first
saves that state into its owner (context.unload), under the pool mutex, so
a context's state is always in exactly one place.

A context that finds no vCPU free queues (FIFO) and sleeps. The head of the
queue keeps a timer: when it has waited a time slice, every holder that has
had its vCPU for a slice is preempted (immediate_exit plus the kick signal);
its switch() then hands the vCPU to the queue and queues behind it. So a
thread spinning on a flag that a vCPU-less thread must set cannot starve it.

Lock order: the pool mutex is innermost. Nothing holding it waits for
anything else, and a context never waits for a vCPU while its task holds
the kernel lock (only switch() waits, and it runs without it).
"""
import collections
import os
import threading
import time

from kvmsentry._kvm import lib
from kvmsentry.platform.events import KICK_SIGNAL  # interrupts a thread in KVM_RUN

# A holder keeps a vCPU others wait for for a slice: as in Linux's CFS, a
# period shared by everyone runnable, with a floor so that moving state
# (a few ioctls) stays a small part of it.
SCHED_PERIOD = 0.02
MIN_SLICE = 0.002
KVM_CAP_MAX_VCPUS = 66


def default_limit(kvm, hard_max):
    """A few vCPUs per host core: more would only queue on the host
    scheduler, and each costs an fd, a kvm_run mapping and a CPU area."""
    try:
        kvm_max = kvm.check_extension(KVM_CAP_MAX_VCPUS) or hard_max
    except OSError:
        kvm_max = hard_max
    return max(1, min(kvm_max, hard_max, 2 * (os.cpu_count() or 1) + 4))


class VcpuPool:
    def __init__(self, machine, limit):
        self.machine = machine
        self.limit = limit
        self._mutex = threading.Lock()
        self._vcpus = []               # every vCPU the pool made
        self._idle = []                # not held: clean, or parked with a context's state
        self._queue = collections.deque()   # contexts waiting, oldest first
        self._creating = 0
        self.preemptions = 0           # how often a holder was made to yield
        self.moves = 0                 # how often state moved between contexts
        self.create_error = None       # why the pool stopped growing early
        self._add(machine.new_vcpu())  # the first one also measures the host (self-test)

    def _add(self, vcpu):
        vcpu.holder = vcpu.loaded = None
        vcpu.held_since = 0.0
        self._vcpus.append(vcpu)
        self._idle.append(vcpu)

    @property
    def size(self):
        return len(self._vcpus)

    # --- taking and giving back ------------------------------------------------
    def acquire(self, ctx):
        """Give ctx a vCPU (ctx.vcpu, ctx.held), waiting in line if none is
        free. Returns False, without one, if ctx was interrupted first."""
        with self._mutex:
            while True:
                if ctx.kicked:
                    return False
                v = self._pick(ctx)
                if v is not None:
                    self._grant(ctx, v)
                    return True
                if len(self._vcpus) + self._creating < self.limit:
                    self._creating += 1
                    break
                return self._wait(ctx)
        # Outside the mutex: creating a vCPU runs its self-test (milliseconds).
        try:
            vcpu = self.machine.new_vcpu()
        except Exception as e:        # EMFILE, ENOMEM, a vCPU that fails its self-test
            vcpu, self.create_error = None, e
        with self._mutex:
            self._creating -= 1
            if vcpu is None:
                self.limit = max(1, len(self._vcpus))     # e.g. EMFILE: make do
                if ctx.kicked:
                    return False
                v = self._pick(ctx)
                if v is not None:
                    self._grant(ctx, v)
                    return True
                return self._wait(ctx)
            self._vcpus.append(vcpu)
            vcpu.holder = vcpu.loaded = None
            self._grant(ctx, vcpu)
            return True

    def release(self, ctx):
        """ctx stops using its vCPU (it blocks, yields or ends). Its state
        stays parked there unless a waiting context takes it at once."""
        with self._mutex:
            v = ctx.vcpu
            if v is None or not ctx.held:
                return
            ctx.held = False
            ctx.preempt = False
            v.holder = None
            if self._queue:
                ctx.unload()
                self._grant(self._queue.popleft(), v)
                self._notify_head()
            else:
                self._idle.append(v)

    def reclaim(self, ctx):
        """After a wait: take back the vCPU ctx's state is parked in, if it
        is still there (no ioctl). Never waits; otherwise the state already
        lives in ctx itself."""
        with self._mutex:
            v = ctx.vcpu
            if v is not None and not ctx.held and v.holder is None:
                self._idle.remove(v)
                v.holder = ctx
                v.held_since = time.monotonic()
                ctx.held = True

    def forget(self, ctx):
        """ctx is finished: its vCPU (held or parked) becomes clean."""
        with self._mutex:
            v = ctx.vcpu
            if v is None:
                return
            v.loaded = None
            ctx.vcpu = None
            if ctx.held:
                ctx.held = False
                v.holder = None
                if self._queue:
                    self._grant(self._queue.popleft(), v)
                    self._notify_head()
                else:
                    self._idle.append(v)

    def kick(self, ctx):
        """ctx.kicked was just set: make a running switch() return, or a
        waiting one stop waiting. Returns the host thread to signal, if ctx
        may be inside KVM_RUN."""
        with self._mutex:
            if ctx.held:
                ctx.vcpu.request_exit()
                return ctx.host_tid
            if ctx in self._queue:
                ctx.wakeup.notify()
        return None

    # --- inside the mutex ------------------------------------------------------
    def _pick(self, ctx):
        """A free vCPU for ctx: its own parked one, a clean one, or (making
        room) the one parked longest with another context's state."""
        if not self._idle or self._queue:
            return None
        own = ctx.vcpu
        if own is not None and own.holder is None:
            self._idle.remove(own)
            return own
        for i, v in enumerate(self._idle):
            if v.loaded is None:
                return self._idle.pop(i)
        if len(self._vcpus) + self._creating < self.limit:
            return None                 # a new vCPU is cheaper than moving state twice
        return self._idle.pop(0)

    def _grant(self, ctx, v):
        if v.loaded is not None and v.loaded is not ctx:
            v.loaded.unload()
        v.holder = ctx
        v.held_since = time.monotonic()
        ctx.vcpu = v
        ctx.held = True
        if ctx.wakeup is not None:
            ctx.wakeup.notify()

    def _wait(self, ctx):
        if ctx.wakeup is None:
            ctx.wakeup = threading.Condition(self._mutex)
        self._queue.append(ctx)
        try:
            while not ctx.held and not ctx.kicked:
                head = self._queue[0] is ctx
                if not ctx.wakeup.wait(self._slice() if head else None) and head:
                    self._preempt_holders()
            return ctx.held
        finally:
            if not ctx.held:
                self._queue.remove(ctx)
                self._notify_head()

    def _notify_head(self):
        if self._queue:
            self._queue[0].wakeup.notify()

    def _slice(self):
        running = len(self._vcpus)
        return max(MIN_SLICE, SCHED_PERIOD * running / (running + len(self._queue)))

    def _preempt_holders(self):
        """The queue has waited a slice: every holder that has had its vCPU
        for a slice yields it (at most one per waiter)."""
        now = time.monotonic()
        wanted = len(self._queue)
        stale = self._slice()
        for v in sorted(self._vcpus, key=lambda v: v.held_since):
            holder = v.holder
            if wanted <= 0 or holder is None or now - v.held_since < stale:
                continue
            # Asked again each slice: a holder inside the stub lets the
            # first request pass (its state cannot move there).
            if not holder.preempt:
                holder.preempt = True
                self.preemptions += 1
            v.request_exit()
            if holder.host_tid is not None:
                kick_thread(holder.host_tid)
            wanted -= 1


def kick_thread(host_tid):
    """Interrupt a host thread's KVM_RUN (a thread that already left it
    just sees a no-op signal)."""
    lib.kvmsentry_tgkill(os.getpid(), host_tid, KICK_SIGNAL)
