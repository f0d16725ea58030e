"""/proc/[pid]/ files of a process's settings and counters: oom_score(_adj),
cgroup, io, uid_map/gid_map, coredump_filter and task/[tid]/children.
Each takes a ProcessView (process_view.py)."""
import errno

from kvmsentry.errors import SyscallError
from kvmsentry.kernel.creds import CAP_SYS_RESOURCE
from kvmsentry.kernel.locking import current


def oom_score(view):
    """oom_score: the sandbox never kills for memory, every process scores 0."""
    view.check_alive()
    return b"0\n"


def oom_score_adj(view):
    view.check_alive()
    return b"%d\n" % view.group.oom_score_adj


def write_oom_score_adj(view, data):
    value = _kstrtoint(data.split(b"\0", 1)[0].strip(), signed=True)
    view.check_alive()
    if not -1000 <= value <= 1000:
        raise SyscallError(errno.EINVAL)
    group, writer = view.group, current()
    privileged = writer is None or writer.creds.capable(CAP_SYS_RESOURCE)
    # Linux's rule: going below the lowest value a privileged writer set
    # needs CAP_SYS_RESOURCE; a privileged write moves that floor.
    if value < group.oom_score_adj_min and not privileged:
        raise SyscallError(errno.EACCES)
    if privileged:
        group.oom_score_adj_min = value
    group.oom_score_adj = value
    return len(data)


def cgroup(view):
    view.check_alive()
    return b"0::/\n"


def io(view, thread=False):
    """/proc/[pid]/io: the calls and bytes of reads and writes (task/[tid]/io
    one thread's; the process's adds its dead threads' and reaped
    children's). The storage counters are 0: the sentry does no block I/O
    of its own to count (Linux counts page-cache fills and dirtying)."""
    view.check_alive()
    view.check_ptrace_read()
    t = view.task
    if thread:
        acct = list(t.ioac) if t is not None else [0, 0, 0, 0]
    else:
        acct = list(view.group.ioac)
        for live in view.threads():
            acct = [a + b for a, b in zip(acct, live.ioac)]
    rchar, wchar, syscr, syscw = acct
    return (b"rchar: %d\nwchar: %d\nsyscr: %d\nsyscw: %d\nread_bytes: 0\nwrite_bytes: 0\n"
            b"cancelled_write_bytes: 0\n" % (rchar, wchar, syscr, syscw))


def id_map(view):
    """uid_map and gid_map: the sandbox has one user namespace, the
    initial one, whose map is the identity over all ids."""
    return b"%10u %10u %10u\n" % (0, 0, 0xFFFFFFFF)


def coredump_filter(view):
    """coredump_filter: the process's filter bits (a zombie, whose
    address space is gone, has none: empty, as Linux). Kept by fork and
    exec, as Linux keeps them in the mm flags."""
    t = view.live()
    if t is None:
        return b""
    return b"%08x\n" % view.group.coredump_filter


def _kstrtoint(data, signed=False):
    """Linux's kstrto(u)int(s, 0) of what a write gave, up to a NUL: an
    optional sign, 0x for hex, a leading 0 for octal, one trailing
    newline allowed; EINVAL otherwise (or out of 32-bit range)."""
    text = data.split(b"\0", 1)[0]
    text = text[:-1] if text.endswith(b"\n") else text
    sign = 1
    if text[:1] == b"+" or signed and text[:1] == b"-":
        sign, text = (-1 if text[:1] == b"-" else 1), text[1:]
    base = 16 if text[:2].lower() == b"0x" else 8 if text[:1] == b"0" and len(text) > 1 else 10
    digits = text[2:] if base == 16 else text
    try:
        value = sign * int(digits, base) if digits.isalnum() else None
    except ValueError:
        value = None
    low, high = (-(1 << 31), (1 << 31) - 1) if signed else (0, 0xFFFFFFFF)
    if value is None or not low <= value <= high:
        raise SyscallError(errno.EINVAL)
    return value


def write_coredump_filter(view, data):
    value = _kstrtoint(data)
    view.live_task()
    view.group.coredump_filter = value & 0x1FF        # MMF_DUMP_FILTER_BITS
    return len(data)


def children(view):
    """task/[tid]/children: the pids of the processes this thread forked
    (or that were reparented to it), each followed by a space. A child
    whose parent thread is gone is listed under the process's first
    live thread."""
    view.check_alive()
    t = view.task
    if t is None:
        return b""
    threads = view.group.threads
    first = min(threads) if threads else None
    out = []
    for child in view.group.children:
        tid = getattr(child, "parent_tid", None)
        if tid == t.tid or tid not in threads and t.tid == first:
            out.append(b"%d " % child.tgid)
    return b"".join(out)
