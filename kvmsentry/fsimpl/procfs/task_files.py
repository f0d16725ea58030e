"""The text of /proc/[pid]/ files, generated from the sentry's own task,
process and address-space records in Linux's formats (fs/proc/array.c,
task_mmu.c, base.c).

Every function takes a ProcessView (process_view.py): the thread group,
the thread asked about (None for a zombie: its memory and files are
gone) and the kernel.
"""
import bisect
import errno
import os
import time

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import cputime
from kvmsentry.kernel.locking import current
from kvmsentry.kernel.mlock import locked_pages
from kvmsentry.kernel.process_tree import ZOMBIE
from kvmsentry.kernel.sched import SchedState
from kvmsentry.kernel.ptrace import tracer_pid
from kvmsentry.mm.vma import PROT_EXEC, PROT_READ, PROT_WRITE
from kvmsentry.vfs.mount import Location

PAGE_KB = 4
USER_HZ = 100
RLIM_INFINITY = (1 << 64) - 1
PF_RANDOMIZE = 0x00400000
MAPS_NAME_COLUMN = 73            # where maps puts a mapping's name (seq_pad)
LIMITS = (                       # /proc/[pid]/limits rows, RLIMIT_* order
    ("Max cpu time", "seconds"), ("Max file size", "bytes"),
    ("Max data size", "bytes"), ("Max stack size", "bytes"),
    ("Max core file size", "bytes"), ("Max resident set", "bytes"),
    ("Max processes", "processes"), ("Max open files", "files"),
    ("Max locked memory", "bytes"), ("Max address space", "bytes"),
    ("Max file locks", "locks"), ("Max pending signals", "signals"),
    ("Max msgqueue size", "bytes"), ("Max nice priority", ""),
    ("Max realtime priority", ""), ("Max realtime timeout", "us"))
SMAPS_KEYS = ("Size", "KernelPageSize", "MMUPageSize", "Rss", "Pss", "Pss_Dirty",
              "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty",
              "Referenced", "Anonymous", "KSM", "LazyFree", "AnonHugePages",
              "ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb",
              "Swap", "SwapPss", "Locked")


# --- helpers ------------------------------------------------------------------
def _ticks(ns):
    return ns * USER_HZ // 1_000_000_000


def _state(view, live):
    group = view.group
    if group.state is ZOMBIE or live is None:
        return "Z", "zombie"
    if group.stopped:
        return "T", "stopped"
    if view.task is current():
        return "R", "running"
    return "S", "sleeping"


def _mm_counts(mm):
    """(size, rss, text, data, stack) in pages."""
    size = text = data = stack = 0
    for v in mm.vmas:
        pages = (v.end - v.start) >> 12
        size += pages
        if v.name == "[stack]":
            stack += pages
        elif v.prot & PROT_EXEC:
            text += pages
        elif v.prot & PROT_WRITE and not v.shared:
            data += pages
    return size, len(mm.pages), text, data, stack


def _sig_masks(task):
    ignored = caught = 0
    for sig in range(1, 65):
        try:
            action = task.sighand.get(sig)
        except SyscallError:
            continue
        if action.is_ignore:
            ignored |= 1 << (sig - 1)
        elif not action.is_default:
            caught |= 1 << (sig - 1)
    return ignored, caught


def _proc_times(view):
    group = view.group
    live = sum(cputime.thread_cpu_ns(t) for t in view.threads())
    return group.utime_ns + live, group.stime_ns


# --- stat, statm, status ----------------------------------------------------------
def stat(view, thread=False):
    """/proc/[pid]/stat: the 52 fields of do_task_stat, one line."""
    group, t = view.group, view.live()
    state, _ = _state(view, t)
    utime, stime = _proc_times(view)
    if thread and t is not None:
        utime, stime = cputime.thread_cpu_ns(t), 0
    start = getattr(group, "start_ns", 0) - view.kernel.system.boot_monotonic_ns
    pid = view.task.tid if (thread and view.task is not None) else view.pid
    comm = view.comm()
    size = rss = 0
    mm = t.mm if t is not None else None
    arg = env = (0, 0)
    brk_start = code_start = code_end = stack_start = 0
    blocked = sigign = sigcgt = pending = 0
    sched = t.sched if t is not None else SchedState()
    if mm is not None:
        size, rss, _, _, _ = _mm_counts(mm)
        arg, env = mm.arg_range, mm.env_range
        brk_start = mm.brk_start
        code = [v for v in mm.vmas if v.name and v.name == mm.exe_name]
        if code:
            code_start, code_end = code[0].start, code[-1].end
        stack_start = mm.start_stack
        blocked = t.sigmask
        sigign, sigcgt = _sig_masks(t)
        pending = t.pending.bits
    fields = [
        pid, "(%s)" % comm, state, group.ppid, group.pgid, group.sid, 0, -1, PF_RANDOMIZE,
        0, 0, 0, 0, _ticks(utime), _ticks(stime),
        _ticks(group.cutime_ns), _ticks(group.cstime_ns), sched.prio, sched.nice,
        view.thread_count() or 1,
        0, _ticks(max(start, 0)), size * 4096, rss, RLIM_INFINITY,
        code_start, code_end, stack_start, 0, 0,
        pending & 0xFFFFFFFF, blocked & 0xFFFFFFFF, sigign & 0xFFFFFFFF, sigcgt & 0xFFFFFFFF,
        0, 0, 0, group.exit_signal, _cpu_of(view), sched.rt_priority, sched.policy, 0, 0, 0,
        0, 0, brk_start, arg[0], arg[1], env[0], env[1],
        (group.exit_status or 0) if t is None else 0]
    return (" ".join(str(f) for f in fields) + "\n").encode()


def _cpu_of(view):
    t = view.task
    n = view.kernel.system.ncpus
    return getattr(getattr(getattr(t, "ctx", None), "vcpu", None), "index", 0) % n


def statm(view):
    """/proc/[pid]/statm: size resident shared text lib data dt, in pages."""
    t = view.live()
    if t is None:
        return b"0 0 0 0 0 0 0\n"
    size, rss, text, data, stack = _mm_counts(t.mm)
    shared = len(t.mm.cache_pages)
    return b"%d %d %d %d 0 %d 0\n" % (size, rss, shared, text, data + stack)


def status(view):
    """/proc/[pid]/status. A zombie's keeps its ids, signal and capability
    lines; its memory lines and umask are gone with its mm and fs."""
    group, t = view.group, view.live()
    letter, word = _state(view, t)
    who = t if t is not None else view.task
    lines = [("Name", view.comm())]
    if who is None:
        return _kv(lines + [("State", "%s (%s)" % (letter, word)), ("Tgid", group.tgid),
                            ("Pid", view.pid), ("PPid", group.ppid)])
    c = who.creds
    if t is not None:
        lines.append(("Umask", "%04o" % t.fs.umask))
    lines += [
        ("State", "%s (%s)" % (letter, word)),
        ("Tgid", group.tgid), ("Ngid", 0), ("Pid", who.tid),
        ("PPid", group.ppid), ("TracerPid", tracer_pid(who) if t is not None else 0),
        ("Uid", "%d\t%d\t%d\t%d" % (c.uid, c.euid, c.suid, c.fsuid)),
        ("Gid", "%d\t%d\t%d\t%d" % (c.gid, c.egid, c.sgid, c.fsgid)),
        ("FDSize", max(64, 1 << (max(t.fds.fds() or [0]).bit_length())) if t is not None else 0),
        ("Groups", " ".join(str(g) for g in c.groups) + " "),
        ("NStgid", group.tgid), ("NSpid", who.tid), ("NSpgid", group.pgid),
        ("NSsid", group.sid), ("Kthread", 0)]
    if t is not None:
        lines += _memory_status(t)
    lines += _signal_status(view, who, view.thread_count())
    return _kv(lines)


def _memory_status(t):
    size, rss, text, data, stack = _mm_counts(t.mm)
    anon = rss - len(t.mm.cache_pages)
    return [
        ("VmPeak", _kb(size)), ("VmSize", _kb(size)), ("VmLck", _kb(locked_pages(t.mm))),
        ("VmPin", _kb(0)), ("VmHWM", _kb(rss)), ("VmRSS", _kb(rss)),
        ("RssAnon", _kb(anon)), ("RssFile", _kb(rss - anon)), ("RssShmem", _kb(0)),
        ("VmData", _kb(data)), ("VmStk", _kb(stack)), ("VmExe", _kb(text)),
        ("VmLib", _kb(0)), ("VmPTE", _kb(0)), ("VmSwap", _kb(0)),
        ("HugetlbPages", _kb(0)), ("CoreDumping", 0), ("THP_enabled", 1),
        ("untag_mask", "0xffffffffffffffff")]


def _signal_status(view, t, threads):
    from kvmsentry.kernel import seccomp_filter    # (the filters' module, at its first use)
    c = t.creds
    sigign, sigcgt = _sig_masks(t)
    shared_pending = getattr(view.group, "shared_pending", None)
    ncpus = view.kernel.system.ncpus
    return [
        ("Threads", threads),
        ("SigQ", "%d/%d" % (len(t.pending), t.rlimits.get(11, (0, 0))[0] & 0xFFFFFFFF)),
        ("SigPnd", "%016x" % t.pending.bits),
        ("ShdPnd", "%016x" % (shared_pending.bits if shared_pending else 0)),
        ("SigBlk", "%016x" % t.sigmask), ("SigIgn", "%016x" % sigign),
        ("SigCgt", "%016x" % sigcgt),
        ("CapInh", "%016x" % c.cap_inheritable), ("CapPrm", "%016x" % c.cap_permitted),
        ("CapEff", "%016x" % c.cap_effective), ("CapBnd", "%016x" % c.cap_bounding),
        ("CapAmb", "%016x" % c.cap_ambient), ("NoNewPrivs", int(c.no_new_privs)),
        ("Seccomp", seccomp_filter.mode_of(t.seccomp)),
        ("Seccomp_filters", seccomp_filter.count(t.seccomp)),
        ("Speculation_Store_Bypass", "vulnerable"),
        ("SpeculationIndirectBranch", "always enabled"),
        ("Cpus_allowed", "%x" % ((1 << ncpus) - 1)),
        ("Cpus_allowed_list", view.kernel.system.cpu_list().decode()),
        ("Mems_allowed", "00000001"), ("Mems_allowed_list", "0"),
        ("voluntary_ctxt_switches", 0), ("nonvoluntary_ctxt_switches", 0)]


def _kb(pages):
    return "%8d kB" % (pages * PAGE_KB)


def _kv(pairs):
    return "".join("%s:\t%s\n" % (k, v) for k, v in pairs).encode()


# --- memory maps ---------------------------------------------------------------------
def _vma_identity(v):
    """(offset, major, minor, ino) of a mapping as maps prints them."""
    if v.cache is None:
        return 0, 0, 0, 0
    try:
        s = v.cache.inode.getattr()
    except SyscallError:
        return v.offset, 0, 0, 0
    return v.offset, os.major(s.dev), os.minor(s.dev), s.ino


def _vma_line(v, name=None):
    """v's maps line, named `name` (the address space's vma_name) or its own."""
    perms = ("r" if v.prot & PROT_READ else "-") + ("w" if v.prot & PROT_WRITE else "-") + \
        ("x" if v.prot & PROT_EXEC else "-") + ("s" if v.shared else "p")
    offset, major, minor, ino = _vma_identity(v)
    line = "%08x-%08x %s %08x %02x:%02x %d " % (v.start, v.end, perms, offset, major,
                                                  minor, ino)
    if name is None:
        name = v.name
    if name:
        line = line.ljust(MAPS_NAME_COLUMN) + name
    return line + "\n"


def maps(view):
    """/proc/[pid]/maps (empty for a zombie)."""
    t = view.live()
    if t is None:
        return b""
    mm = t.mm
    return "".join(_vma_line(v, mm.vma_name(v)) for v in mm.vmas).encode()


def _rss_pages(sorted_pages, v):
    return bisect.bisect_left(sorted_pages, v.end) - bisect.bisect_left(sorted_pages, v.start)


def _vm_flags(v):
    flags = [f for bit, f in ((PROT_READ, "rd"), (PROT_WRITE, "wr"), (PROT_EXEC, "ex"))
             if v.prot & bit]
    if v.shared:
        flags.append("sh")
    flags += ["mr", "mw", "me"]
    if v.shared:
        flags.append("ms")
    if v.grows_down:
        flags.append("gd")
    flags.append("ac" if v.cache is None else "")
    flags.append({1: "hg", -1: "nh"}.get(v.huge, ""))     # MADV_(NO)HUGEPAGE, MAP_STACK
    return " ".join(f for f in flags if f) + " "


def _smaps_values(v, rss_kb):
    size_kb = (v.end - v.start) >> 10
    anon = rss_kb if v.cache is None else 0
    values = dict.fromkeys(SMAPS_KEYS, 0)
    values.update(Size=size_kb, KernelPageSize=4, MMUPageSize=4, Rss=rss_kb, Pss=rss_kb,
                  Referenced=rss_kb, Anonymous=anon)
    if v.cache is None:
        values["Private_Dirty"] = values["Pss_Dirty"] = rss_kb
    else:
        values["Private_Clean"] = rss_kb
    return values


def _smaps_block(values):
    return "".join("%-16s%8d kB\n" % (k + ":", values[k]) for k in SMAPS_KEYS)


def smaps(view):
    """/proc/[pid]/smaps: maps lines, each with its sizes."""
    t = view.live()
    if t is None:
        return b""
    pages = sorted(t.mm.pages)
    out = []
    for v in t.mm.vmas:
        values = _smaps_values(v, _rss_pages(pages, v) * PAGE_KB)
        out.append(_vma_line(v, t.mm.vma_name(v)) + _smaps_block(values) + "THPeligible:    0\n"
                   + "VmFlags: " + _vm_flags(v) + "\n")
    return "".join(out).encode()


def smaps_rollup(view):
    """/proc/[pid]/smaps_rollup: the sums of smaps over all mappings."""
    t = view.live_task()
    pages = sorted(t.mm.pages)
    total = dict.fromkeys(SMAPS_KEYS, 0)
    vmas = list(t.mm.vmas)
    for v in vmas:
        for k, n in _smaps_values(v, _rss_pages(pages, v) * PAGE_KB).items():
            total[k] += n
    keys = [k for k in SMAPS_KEYS if k not in ("Size", "KernelPageSize", "MMUPageSize")]
    lo, hi = (vmas[0].start, vmas[-1].end) if vmas else (0, 0)
    head = "%08x-%08x ---p 00000000 00:00 0".ljust(MAPS_NAME_COLUMN) % (lo, hi)
    return (head + "[rollup]\n" +
            "".join("%-16s%8d kB\n" % (k + ":", total[k]) for k in keys)).encode()


# --- command line, environment, auxv, memory -------------------------------------------
def _read_range(t, rng):
    start, end = rng
    if end <= start:
        return b""
    try:
        return t.mm.copy_in(start, end - start)
    except SyscallError:
        return b""


def cmdline(view):
    """/proc/[pid]/cmdline: the argument strings as they are in memory
    now; empty for a zombie."""
    t = view.live()
    if t is None:
        return b""
    return _read_range(t, t.mm.arg_range)


def environ(mm, kernel):
    """/proc/[pid]/environ of the address space the file was opened on
    (Linux's proc_mem_open): empty once no thread uses it."""
    if mm is None or not kernel.mm_in_use(mm, None):
        return b""
    start, end = mm.env_range
    try:
        return mm.copy_in(start, end - start) if end > start else b""
    except SyscallError:
        return b""


def auxv(mm, kernel):
    """/proc/[pid]/auxv: the auxiliary vector the loader gave the program,
    kept with the address space the file was opened on (after the
    process exits too, as Linux's saved_auxv)."""
    return mm.auxv if mm is not None else b""


def comm(view):
    view.check_alive()
    return view.comm().encode(errors="replace") + b"\n"


def write_comm(view, data):
    """A write to comm renames the thread: its first 15 bytes, newline
    and all, as Linux keeps them. Only a thread of the same process may
    (comm_write's EINVAL for another one)."""
    view.check_alive()
    t, writer = view.task, current()
    if t is None or writer is not None and writer.group is not view.group:
        raise SyscallError(errno.EINVAL)
    t.comm = data[:15].split(b"\0", 1)[0].decode(errors="replace")
    return len(data)


def limits(view):
    view.check_alive()
    t = view.task
    if t is None:
        raise SyscallError(errno.ESRCH)
    rows = ["%-25s %-20s %-20s %-10s\n" % ("Limit", "Soft Limit", "Hard Limit", "Units")]
    for res, (name, unit) in enumerate(LIMITS):
        soft, hard = t.rlimits.get(res, (RLIM_INFINITY, RLIM_INFINITY))
        row = "%-25s %-20s %-20s " % (
            name, "unlimited" if soft == RLIM_INFINITY else soft,
            "unlimited" if hard == RLIM_INFINITY else hard)
        rows.append(row + ("%-10s\n" % unit if unit else "\n"))
    return "".join(rows).encode()


# --- mounts ------------------------------------------------------------------------
def _mount_rows(view):
    """(mount id, parent id, dev, mount point, fstype, source, options) of
    every mount the task's root can see."""
    t = view.live_task()
    table = view.kernel.mounts
    ids = {id(m): i + 20 for i, m in enumerate(table.mounts)}
    rows = []
    for m in table.mounts:
        if m.parent is None:
            where = b"/"
        else:
            where = table.path_of(Location(m.parent, m.mountpoint), t.fs.root)
        opts = "ro" if m.readonly else "rw"
        rows.append((ids[id(m)], ids.get(id(m.parent), 1), m.fs.dev, where.decode(
            errors="replace"), m.fs.name, m.source or m.fs.name, opts))
    return rows


def mounts(view):
    """/proc/[pid]/mounts (and /proc/mounts)."""
    return "".join("%s %s %s %s,relatime 0 0\n" % (src, where, fstype, opts)
                   for _, _, _, where, fstype, src, opts in _mount_rows(view)).encode()


def mountinfo(view):
    """/proc/[pid]/mountinfo."""
    return "".join(
        "%d %d %d:%d / %s %s,relatime - %s %s %s\n"
        % (mid, parent, os.major(dev), os.minor(dev), where, opts, fstype, src, opts)
        for mid, parent, dev, where, fstype, src, opts in _mount_rows(view)).encode()


def uptime_ticks(kernel):
    return _ticks(time.monotonic_ns() - kernel.system.boot_monotonic_ns)
