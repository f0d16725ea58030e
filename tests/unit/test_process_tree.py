"""The process tree: pid allocation and reuse, fork/exit/reap, reparenting
to init and subreapers, wait4/waitid selection, stop/continue reports,
wait status encodings, process groups, sessions and kill targets."""
import errno
import os
import signal
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kvmsentry.errors import SentryBug, SyscallError
from kvmsentry.kernel.process_tree import (
    CLD_CONTINUED, CLD_DUMPED, CLD_EXITED, CLD_KILLED, CLD_STOPPED, INT_MIN, P_ALL,
    P_PGID, P_PID, P_PIDFD, PID_MAX_DEFAULT, REAPED, RUNNING, STATUS_CONTINUED, WALL,
    WCLONE, WCONTINUED, WEXITED, WNOHANG, WNOWAIT, WSTOPPED, WUNTRACED, ZOMBIE,
    PidNamespace, ProcessTree, siginfo_of_status, status_exited, status_signaled,
    status_stopped, wait4_options, waitid_options)

SIGCHLD, SIGUSR1 = signal.SIGCHLD, signal.SIGUSR1
W4 = WEXITED                       # what wait4_options(0) gives


def raises(err, fn, *args):
    with pytest.raises(SyscallError) as e:
        fn(*args)
    assert e.value.errno == err, errno.errorcode.get(e.value.errno)


def exit_group(tree, group, status=status_exited(0)):
    """Every thread of group exits, then the group."""
    threads = sorted(group.threads)
    for i, tid in enumerate(threads):
        assert tree.thread_exited(group, tid) == (i == len(threads) - 1)
    return tree.group_exited(group, status)


@pytest.fixture
def tree():
    return ProcessTree()


@pytest.fixture
def init(tree):
    return tree.create_init()


# -- pid numbers ------------------------------------------------------------

def test_pids_start_at_one_and_count_up():
    ns = PidNamespace()
    assert ns.pid_max == PID_MAX_DEFAULT == 4194304
    assert [ns.alloc() for _ in range(4)] == [1, 2, 3, 4]


def test_freed_pid_not_reused_before_wrap():
    ns = PidNamespace(pid_max=10)
    pids = [ns.alloc() for _ in range(5)]
    ns.put(3)
    assert ns.alloc() == 6
    assert pids == [1, 2, 3, 4, 5]


def test_wrap_at_pid_max_restarts_at_reserved():
    ns = PidNamespace(pid_max=8, reserved=3)
    assert [ns.alloc() for _ in range(7)] == [1, 2, 3, 4, 5, 6, 7]   # 8 is never a pid
    for nr in (1, 2, 4, 6):
        ns.put(nr)
    assert ns.alloc() == 4          # wrapped: numbers below `reserved` are skipped
    assert ns.alloc() == 6
    raises(errno.EAGAIN, ns.alloc)


def test_wrap_before_reserved_goes_back_to_one():
    ns = PidNamespace(pid_max=5)    # the counter never passes RESERVED_PIDS
    assert [ns.alloc() for _ in range(4)] == [1, 2, 3, 4]
    raises(errno.EAGAIN, ns.alloc)
    ns.put(2)
    ns.put(1)
    assert ns.alloc() == 1


def test_number_is_free_only_after_last_use():
    ns = PidNamespace(pid_max=4)
    nr = ns.alloc()
    ns.get(nr)
    assert ns.uses(nr) == 2
    ns.put(nr)
    assert ns.in_use(nr)
    ns.put(nr)
    assert not ns.in_use(nr) and ns.allocated() == []
    with pytest.raises(SentryBug):
        ns.put(nr)
    with pytest.raises(SentryBug):
        ns.get(nr)


def cycle_pids(tree, group, until):
    """Fork and reap children of group until the counter passes `until`."""
    while True:
        child = tree.fork(group)
        exit_group(tree, child)
        tree.find_waitable(group, child.tgid, W4)
        if child.tgid >= until:
            return


def fresh_pids(tree, parent, count):
    kids = [tree.fork(parent) for _ in range(count)]
    return [k.tgid for k in kids]


def test_zombie_keeps_its_pid_until_reaped():
    tree = ProcessTree(pid_max=8, reserved=2)
    init = tree.create_init()
    zombie = tree.fork(init)
    exit_group(tree, zombie)
    cycle_pids(tree, init, 7)                # wrap around
    assert zombie.tgid not in fresh_pids(tree, init, 5)
    raises(errno.EAGAIN, tree.fork, init)
    tree.find_waitable(init, zombie.tgid, W4)
    assert tree.fork(init).tgid == zombie.tgid


def test_pgid_and_sid_keep_a_pid_in_use():
    tree = ProcessTree(pid_max=10, reserved=2)
    init = tree.create_init()
    leader = tree.fork(init)
    assert tree.setsid(leader) == leader.tgid
    member = tree.fork(leader)
    exit_group(tree, leader)
    tree.find_waitable(init, leader.tgid, W4)
    assert member.pgid == member.sid == leader.tgid
    assert tree.ns.uses(leader.tgid) == 2            # as member's pgid and sid
    cycle_pids(tree, init, 9)
    assert leader.tgid not in fresh_pids(tree, init, 6)
    exit_group(tree, member)
    tree.find_waitable(init, member.tgid, W4)
    assert not tree.ns.in_use(leader.tgid)


def test_exited_leader_thread_keeps_the_tgid():
    tree = ProcessTree(pid_max=8, reserved=2)
    init = tree.create_init()
    proc = tree.fork(init)
    tid = tree.add_thread(proc)
    assert not tree.thread_exited(proc, proc.tgid)
    assert tree.lookup(proc.tgid) is proc and tree.lookup(tid) is proc
    cycle_pids(tree, init, 7)
    assert proc.tgid not in fresh_pids(tree, init, 4)


# -- fork, threads, exec ------------------------------------------------------

def test_fork_tree(tree, init):
    a = tree.fork(init)
    b = tree.fork(a)
    c = tree.fork(a)
    assert (init.tgid, a.tgid, b.tgid, c.tgid) == (1, 2, 3, 4)
    assert init.ppid == 0 and a.ppid == 1 and b.ppid == c.ppid == 2
    assert init.children == [a] and a.children == [b, c]
    assert b.pgid == b.sid == 1 and init.session_leader and not a.session_leader
    assert b.exit_signal == SIGCHLD and b.threads == {3}
    assert tree.lookup(3) is b and tree.lookup(99) is None
    with pytest.raises(SentryBug):
        tree.create_init()


def test_clone_parent_makes_a_sibling(tree, init):
    a = tree.fork(init, exit_signal=SIGUSR1)
    b = tree.fork(a, exit_signal=0, clone_parent=True)
    assert b.parent is init and init.children == [a, b]
    assert b.exit_signal == SIGUSR1             # the caller's, not the argument
    raises(errno.EINVAL, tree.fork, init, SIGCHLD, True)
    raises(errno.EINVAL, tree.fork, a, 65)
    raises(errno.EINVAL, tree.fork, a, -1)


def test_fork_from_a_zombie_is_a_bug(tree, init):
    a = tree.fork(init)
    exit_group(tree, a)
    with pytest.raises(SentryBug):
        tree.fork(a)
    with pytest.raises(SentryBug):
        tree.add_thread(a)


def test_threads(tree, init):
    a = tree.fork(init)
    t1, t2 = tree.add_thread(a), tree.add_thread(a)
    assert a.threads == {a.tgid, t1, t2} and a.leader_tid == a.tgid
    assert tree.kill_targets(init, t2) == [a]
    assert not tree.thread_exited(a, t1)
    assert not tree.ns.in_use(t1) and tree.lookup(t1) is None
    with pytest.raises(SentryBug):
        tree.thread_exited(a, t1)
    assert not tree.thread_exited(a, a.tgid)
    assert tree.thread_exited(a, t2)
    with pytest.raises(SentryBug):
        tree.group_exited(init, 0)             # init still has threads


def test_exec_from_a_non_leader_takes_the_tgid(tree, init):
    a = tree.fork(init, exit_signal=SIGUSR1)
    a.sigchld_nocldwait = a.sigchld_ignored = True
    tid = tree.add_thread(a)
    with pytest.raises(SentryBug):
        tree.exec_thread(a, tid)              # the leader is still alive
    tree.thread_exited(a, a.tgid)
    assert tree.exec_thread(a, tid) == a.tgid
    assert a.threads == {a.tgid} and not tree.ns.in_use(tid)
    assert a.did_exec and a.exec_count == 1 and a.exit_signal == SIGCHLD
    assert not a.sigchld_nocldwait and a.sigchld_ignored
    assert tree.exec_thread(a, a.tgid) == a.tgid and a.exec_count == 2


# -- exit, reparenting, reaping -----------------------------------------------

def test_zombie_lifecycle_and_rusage(tree, init):
    a = tree.fork(init)
    a.uid = 1000
    b = tree.fork(a)
    b.utime_ns, b.stime_ns = 5, 7
    res = exit_group(tree, b, status_exited(3))
    assert b.state is ZOMBIE and b.exit_status == 0x300 and tree.ns.in_use(b.tgid)
    [ev] = res.notifications
    assert (ev.parent, ev.signo, ev.pid, ev.uid, ev.si_code, ev.si_status) == \
        (a, SIGCHLD, b.tgid, 1000, CLD_EXITED, 3)
    assert (ev.utime_ns, ev.stime_ns) == (5, 7)
    assert res.reaped == [] and res.reparented_zombies == []
    r = tree.find_waitable(a, -1, W4)
    assert (r.child, r.pid, r.wait_status, r.si_code, r.si_status, r.reaped) == \
        (b, b.tgid, 0x300, CLD_EXITED, 3, True)
    assert b.state is REAPED and b not in a.children and b.tgid not in tree.groups
    assert not tree.ns.in_use(b.tgid)
    assert (a.cutime_ns, a.cstime_ns) == (5, 7)
    a.utime_ns = 1
    exit_group(tree, a)
    r = tree.find_waitable(init, -1, W4)
    assert (r.utime_ns, r.stime_ns) == (6, 7)      # own plus reaped children's
    assert init.cutime_ns == 6
    with pytest.raises(SentryBug):
        tree.reap(a)


def test_kill_notifications(tree, init):
    a, b = tree.fork(init), tree.fork(init)
    [ev] = exit_group(tree, a, status_signaled(signal.SIGSEGV, core=True)).notifications
    assert (ev.si_code, ev.si_status) == (CLD_DUMPED, signal.SIGSEGV)
    [ev] = exit_group(tree, b, status_signaled(signal.SIGKILL)).notifications
    assert (ev.si_code, ev.si_status) == (CLD_KILLED, signal.SIGKILL)


def test_orphans_go_to_init(tree, init):
    a = tree.fork(init)
    b = tree.fork(a)
    c, z = tree.fork(b), tree.fork(b)
    exit_group(tree, z, status_exited(9))
    res = exit_group(tree, b)
    assert c.parent is init and z.parent is init and b.children == []
    assert init.children == [a, c, z]
    assert res.reparented_zombies == [z]
    assert [(e.parent, e.pid, e.si_status) for e in res.notifications] == \
        [(init, z.tgid, 9), (a, b.tgid, 0)]
    assert tree.find_waitable(init, z.tgid, W4).si_status == 9
    raises(errno.ECHILD, tree.find_waitable, a, c.tgid, W4)


def test_reparented_child_reports_with_sigchld(tree, init):
    a = tree.fork(init)
    b = tree.fork(a, exit_signal=SIGUSR1)
    exit_group(tree, a)
    assert b.exit_signal == SIGCHLD
    [ev] = exit_group(tree, b).notifications
    assert ev.parent is init and ev.signo == SIGCHLD


def test_orphans_go_to_nearest_running_subreaper(tree, init):
    s1 = tree.fork(init)
    s2 = tree.fork(s1)
    a = tree.fork(s2)
    b = tree.fork(a)
    s1.child_subreaper = s2.child_subreaper = True
    a.child_subreaper = True                    # the exiting one's own flag is irrelevant
    exit_group(tree, a)
    assert b.parent is s2
    c = tree.fork(b)
    exit_group(tree, s2)                        # s2's children go to s1
    assert b.parent is s1
    exit_group(tree, b)
    assert c.parent is s1


def test_subreaper_that_exited_is_skipped(tree, init):
    s = tree.fork(init)
    s.child_subreaper = True
    a = tree.fork(s)
    b = tree.fork(a)
    exit_group(tree, s)                         # zombie s: a now under init
    assert a.parent is init
    exit_group(tree, a)
    assert b.parent is init


def test_parent_ignoring_sigchld_autoreaps(tree, init):
    a = tree.fork(init)
    b, c = tree.fork(a), tree.fork(a)
    a.sigchld_ignored = True
    res = exit_group(tree, b)
    assert res.reaped == [b] and b.state is REAPED and not tree.ns.in_use(b.tgid)
    [ev] = res.notifications
    assert ev.parent is a and ev.signo == 0         # no signal, but wake waiters
    assert tree.find_waitable(a, -1, W4) is None    # c still runs
    exit_group(tree, c)
    raises(errno.ECHILD, tree.find_waitable, a, -1, W4)


def test_nocldwait_autoreaps_but_signals(tree, init):
    a = tree.fork(init)
    b = tree.fork(a)
    a.sigchld_nocldwait = True
    res = exit_group(tree, b)
    assert res.reaped == [b] and res.notifications[0].signo == SIGCHLD


def test_autoreap_only_for_sigchld_children(tree, init):
    a = tree.fork(init)
    b = tree.fork(a, exit_signal=SIGUSR1)
    a.sigchld_ignored = True
    res = exit_group(tree, b)
    assert res.reaped == [] and res.notifications[0].signo == SIGUSR1
    assert b.state is ZOMBIE


def test_exit_signal_reverts_after_parent_exec(tree, init):
    a = tree.fork(init)
    b, c = tree.fork(a, exit_signal=SIGUSR1), tree.fork(a, exit_signal=0)
    tree.exec_thread(a, a.tgid)
    assert exit_group(tree, b).notifications[0].signo == SIGCHLD
    assert exit_group(tree, c).notifications[0].signo == SIGCHLD


def test_zero_exit_signal_sends_nothing(tree, init):
    a = tree.fork(init)
    b = tree.fork(a, exit_signal=0)
    [ev] = exit_group(tree, b).notifications
    assert ev.parent is a and ev.signo == 0


def test_orphan_zombie_autoreaped_by_ignoring_init(tree, init):
    a = tree.fork(init)
    z = tree.fork(a)
    exit_group(tree, z)
    init.sigchld_ignored = True
    res = exit_group(tree, a)
    assert z in res.reaped and a in res.reaped and res.reparented_zombies == []
    assert list(tree.groups) == [1]


def test_init_exit_kills_everyone(tree, init):
    a = tree.fork(init)
    b = tree.fork(a)
    z = tree.fork(init)
    exit_group(tree, z)
    res = exit_group(tree, init, status_exited(4))
    assert res.kill_all == [a, b] and res.reaped == [z] and res.notifications == []
    assert exit_group(tree, a).notifications == []   # b goes to dead init
    assert b.parent is init and a.state is REAPED
    res = exit_group(tree, b)
    assert res.reaped == [b]
    assert list(tree.groups) == [1] and init.state is ZOMBIE
    tree.reap(init)
    assert tree.ns.allocated() == []


# -- wait ---------------------------------------------------------------------

def test_wait_selectors(tree, init):
    a = tree.fork(init)
    b, c, d = tree.fork(a), tree.fork(a), tree.fork(a)
    tree.setpgid(a, c.tgid, 0)                       # c leads its own group
    tree.setpgid(a, d.tgid, c.tgid)                  # d joins it
    for g in (b, c, d):
        exit_group(tree, g)
    raises(errno.ECHILD, tree.find_waitable, a, 99, W4)
    raises(errno.ECHILD, tree.find_waitable, a, init.tgid, W4)   # not a child
    raises(errno.ECHILD, tree.find_waitable, a, -77, W4)
    raises(errno.ESRCH, tree.find_waitable, a, INT_MIN, W4)
    assert tree.find_waitable(a, -c.tgid, W4).child is c
    assert tree.find_waitable(a, 0, W4).child is b            # a's own pgrp (1)
    raises(errno.ECHILD, tree.find_waitable, a, 0, W4)
    assert tree.find_waitable(a, d.tgid, W4).child is d
    raises(errno.ECHILD, tree.find_waitable, a, -1, W4)


def test_wait_running_child_is_nothing_yet(tree, init):
    a = tree.fork(init)
    raises(errno.ECHILD, tree.find_waitable, a, -1, W4 | WNOHANG)
    b = tree.fork(a)
    assert tree.find_waitable(a, -1, W4 | WNOHANG) is None
    assert tree.find_waitable(a, b.tgid, W4) is None
    assert tree.find_waitable(a, -1, WSTOPPED | WCONTINUED) is None


def test_wait_sees_children_of_every_thread(tree, init):
    a = tree.fork(init)
    tid = tree.add_thread(a)
    b = tree.fork(a)          # forked by any thread: a child of the group
    tree.thread_exited(a, a.tgid)
    exit_group(tree, b)
    assert tree.lookup(tid) is a
    assert tree.find_waitable(a, -1, W4).child is b


def test_wnowait_leaves_the_zombie(tree, init):
    a = tree.fork(init)
    exit_group(tree, a, status_exited(2))
    for _ in range(2):
        r = tree.find_waitable_id(init, P_PID, a.tgid, WEXITED | WNOWAIT)
        assert r.child is a and not r.reaped and a.state is ZOMBIE
    assert tree.find_waitable_id(init, P_ALL, 0, WEXITED).reaped
    raises(errno.ECHILD, tree.find_waitable_id, init, P_ALL, 0, WEXITED)


def test_zombie_invisible_without_wexited(tree, init):
    a = tree.fork(init)
    exit_group(tree, a)
    assert tree.find_waitable_id(init, P_ALL, 0, WSTOPPED | WNOHANG) is None
    assert a.state is ZOMBIE


def test_clone_children_need_wclone_or_wall(tree, init):
    a = tree.fork(init)
    c = tree.fork(a, exit_signal=SIGUSR1)
    exit_group(tree, c)
    raises(errno.ECHILD, tree.find_waitable, a, -1, W4)
    raises(errno.ECHILD, tree.find_waitable, a, c.tgid, W4)
    assert tree.find_waitable(a, -1, W4 | WCLONE | WNOWAIT).child is c
    assert tree.find_waitable(a, -1, W4 | WALL).child is c
    n = tree.fork(a)
    raises(errno.ECHILD, tree.find_waitable, a, -1, W4 | WCLONE)
    assert tree.find_waitable(a, n.tgid, W4 | WALL) is None


def test_waitid_selectors(tree, init):
    a = tree.fork(init)                     # pgrp 1, like init: waitid(P_PGID, 1)
    exit_group(tree, a)
    assert tree.find_waitable_id(init, P_PGID, 1, WEXITED | WNOWAIT).child is a
    assert tree.find_waitable_id(init, P_PGID, 0, WEXITED | WNOWAIT).child is a
    raises(errno.ECHILD, tree.find_waitable_id, init, P_PGID, 5, WEXITED)
    raises(errno.EINVAL, tree.find_waitable_id, init, P_PID, 0, WEXITED)
    raises(errno.EINVAL, tree.find_waitable_id, init, P_PGID, -1, WEXITED)
    raises(errno.EINVAL, tree.find_waitable_id, init, P_PIDFD, 3, WEXITED)
    raises(errno.EINVAL, tree.find_waitable_id, init, 7, 0, WEXITED)


def test_option_validation():
    assert wait4_options(0) == WEXITED
    assert wait4_options(WNOHANG | WUNTRACED | WCONTINUED | WALL) & WEXITED
    raises(errno.EINVAL, wait4_options, WNOWAIT)      # waitid only
    raises(errno.EINVAL, wait4_options, 0x100)
    assert waitid_options(WEXITED | WNOWAIT) == WEXITED | WNOWAIT
    raises(errno.EINVAL, waitid_options, WNOHANG)     # nothing to wait for
    raises(errno.EINVAL, waitid_options, WEXITED | 0x100)


def test_stopped_and_continued_reports(tree, init):
    a = tree.fork(init)
    b = tree.fork(a)
    ev = tree.group_stopped(b, signal.SIGTSTP)
    assert (ev.parent, ev.signo, ev.si_code, ev.si_status) == (a, SIGCHLD, CLD_STOPPED, signal.SIGTSTP)
    assert tree.find_waitable(a, -1, W4) is None                 # no WUNTRACED
    r = tree.find_waitable_id(a, P_ALL, 0, WSTOPPED | WNOWAIT)
    assert (r.si_code, r.si_status, r.reaped) == (CLD_STOPPED, signal.SIGTSTP, False)
    r = tree.find_waitable(a, -1, W4 | WUNTRACED)
    assert r.child is b and os.WIFSTOPPED(r.wait_status)
    assert os.WSTOPSIG(r.wait_status) == signal.SIGTSTP
    assert tree.find_waitable(a, -1, W4 | WUNTRACED) is None      # reported once
    assert b.stopped
    a.sigchld_nocldstop = True
    ev = tree.group_continued(b)
    assert ev.signo == 0 and ev.si_code == CLD_CONTINUED and ev.si_status == signal.SIGCONT
    assert tree.group_continued(b) is None                        # not stopped now
    assert tree.find_waitable(a, -1, W4 | WUNTRACED) is None
    r = tree.find_waitable(a, -1, W4 | WCONTINUED | WNOWAIT)
    assert r.wait_status == STATUS_CONTINUED and os.WIFCONTINUED(r.wait_status)
    assert tree.find_waitable(a, -1, W4 | WCONTINUED).si_code == CLD_CONTINUED
    assert tree.find_waitable(a, -1, W4 | WCONTINUED) is None


def test_stop_then_continue_drops_the_stop_report(tree, init):
    a = tree.fork(init)
    tree.group_stopped(a, signal.SIGSTOP)
    tree.group_continued(a)
    assert tree.find_waitable(init, -1, W4 | WUNTRACED) is None
    tree.group_stopped(a, signal.SIGSTOP)
    assert tree.find_waitable(init, -1, W4 | WCONTINUED) is None  # stop clears continued
    exit_group(tree, a, status_signaled(signal.SIGKILL))
    assert not a.stopped
    r = tree.find_waitable(init, -1, W4 | WUNTRACED | WCONTINUED)
    assert r.si_code == CLD_KILLED


# -- wait status encodings ----------------------------------------------------

@given(hs.integers(0, 255))
def test_status_exited_matches_host(code):
    st = status_exited(code)
    assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == code
    assert not os.WIFSIGNALED(st) and not os.WIFSTOPPED(st)
    assert siginfo_of_status(st) == (CLD_EXITED, code)


@given(hs.integers(1, 64).filter(lambda s: s != 0x7F), hs.booleans())
def test_status_signaled_matches_host(sig, core):
    st = status_signaled(sig, core)
    assert os.WIFSIGNALED(st) and os.WTERMSIG(st) == sig
    assert os.WCOREDUMP(st) == core and not os.WIFEXITED(st)
    assert siginfo_of_status(st) == (CLD_DUMPED if core else CLD_KILLED, sig)


@given(hs.integers(1, 64))
def test_status_stopped_matches_host(sig):
    st = status_stopped(sig)
    assert os.WIFSTOPPED(st) and os.WSTOPSIG(st) == sig
    assert not os.WIFEXITED(st) and not os.WIFSIGNALED(st) and not os.WIFCONTINUED(st)
    assert siginfo_of_status(st) == (CLD_STOPPED, sig)


def test_status_continued_matches_host():
    assert STATUS_CONTINUED == 0xFFFF
    assert os.WIFCONTINUED(STATUS_CONTINUED) and not os.WIFSTOPPED(STATUS_CONTINUED)
    assert siginfo_of_status(STATUS_CONTINUED) == (CLD_CONTINUED, signal.SIGCONT)


# -- process groups and sessions ----------------------------------------------

def test_setpgid_moves_children_and_self(tree, init):
    a = tree.fork(init)
    b, c = tree.fork(a), tree.fork(a)
    tree.setpgid(a, b.tgid, 0)
    assert b.pgid == b.tgid and tree.getpgid(a, b.tgid) == b.tgid
    tree.setpgid(a, c.tgid, b.tgid)
    assert tree.members_of_pgrp(b.tgid) == [b, c]
    tree.setpgid(a, 0, 0)
    assert a.pgid == a.tgid and tree.getpgid(a, 0) == a.tgid
    tree.setpgid(a, a.tgid, 1)                 # back into init's group (same session)
    assert a.pgid == 1
    tree.setpgid(a, c.tgid, c.tgid)
    assert tree.members_of_pgrp(b.tgid) == [b]


def test_setpgid_errors(tree, init):
    a = tree.fork(init)
    b, c, d = tree.fork(a), tree.fork(a), tree.fork(a)
    grandchild = tree.fork(b)
    tid = tree.add_thread(b)
    raises(errno.EINVAL, tree.setpgid, a, b.tgid, -1)
    raises(errno.ESRCH, tree.setpgid, a, 999, 0)
    raises(errno.ESRCH, tree.setpgid, a, grandchild.tgid, 0)    # not a child
    raises(errno.ESRCH, tree.setpgid, a, init.tgid, 0)          # the parent
    raises(errno.EINVAL, tree.setpgid, a, tid, 0)               # not a leader
    tree.exec_thread(c, c.tgid)
    raises(errno.EACCES, tree.setpgid, a, c.tgid, 0)
    raises(errno.EPERM, tree.setpgid, a, b.tgid, 555)           # no such group
    tree.setsid(d)
    raises(errno.EPERM, tree.setpgid, a, d.tgid, 0)             # another session
    raises(errno.EPERM, tree.setpgid, d, 0, 0)                  # session leader
    e = tree.fork(d)
    raises(errno.EPERM, tree.setpgid, a, b.tgid, d.tgid)        # group in another session
    raises(errno.EPERM, tree.setpgid, d, e.tgid, 1)
    raises(errno.EPERM, tree.setpgid, init, 0, 0)               # init leads session 1


def test_setsid_and_getsid(tree, init):
    a = tree.fork(init)
    b = tree.fork(a)
    raises(errno.EPERM, tree.setsid, init)
    assert tree.setsid(a) == a.tgid
    assert (a.sid, a.pgid, a.session_leader) == (a.tgid, a.tgid, True)
    assert b.sid == 1 and tree.getsid(a, b.tgid) == 1 and tree.getsid(b, 0) == 1
    raises(errno.EPERM, tree.setsid, a)
    raises(errno.ESRCH, tree.getsid, a, 999)
    raises(errno.ESRCH, tree.getpgid, a, 999)
    c = tree.fork(b)
    tree.setpgid(b, 0, 0)
    tree.setpgid(b, c.tgid, b.tgid)
    tree.setpgid(b, 0, 1)                # b leaves; c keeps pgrp b alive
    raises(errno.EPERM, tree.setsid, b)  # a group with b's pid exists
    assert tree.setsid(c) == c.tgid and c.sid == c.tgid


def test_orphaned_stopped_group_gets_hup(tree, init):
    shell = tree.fork(init)
    tree.setsid(shell)
    job = tree.fork(shell)
    tree.setpgid(shell, job.tgid, 0)
    tree.group_stopped(job, signal.SIGTSTP)
    res = exit_group(tree, shell)
    assert res.orphaned_pgrps == [job.tgid]


def test_orphaned_group_without_stopped_member_is_quiet(tree, init):
    shell = tree.fork(init)
    tree.setsid(shell)
    job = tree.fork(shell)
    tree.setpgid(shell, job.tgid, 0)
    assert exit_group(tree, shell).orphaned_pgrps == []


def test_exiting_member_orphans_its_own_group(tree, init):
    shell = tree.fork(init)
    tree.setsid(shell)
    lead = tree.fork(shell)
    tree.setpgid(shell, lead.tgid, 0)
    member = tree.fork(lead)              # same pgrp; lead's children go to init
    tree.group_stopped(member, signal.SIGTTIN)
    assert exit_group(tree, lead).orphaned_pgrps == [lead.tgid]


def test_group_with_other_links_is_not_orphaned(tree, init):
    shell = tree.fork(init)
    tree.setsid(shell)
    lead, other = tree.fork(shell), tree.fork(shell)
    tree.setpgid(shell, lead.tgid, 0)
    tree.setpgid(shell, other.tgid, lead.tgid)
    tree.group_stopped(other, signal.SIGTSTP)
    assert exit_group(tree, lead).orphaned_pgrps == []     # other's parent still links


# -- kill targets -------------------------------------------------------------

def test_kill_targets(tree, init):
    a = tree.fork(init)
    b, c = tree.fork(a), tree.fork(a)
    tree.setpgid(a, c.tgid, 0)
    exit_group(tree, b)                        # zombies can be signalled
    assert tree.kill_targets(a, b.tgid) == [b]
    assert tree.kill_targets(a, 0) == [init, a, b]
    assert tree.kill_targets(a, -c.tgid) == [c]
    assert tree.kill_targets(a, -1) == [b, c]
    assert tree.kill_targets(init, -1) == [a, b, c]
    raises(errno.ESRCH, tree.kill_targets, a, 999)
    raises(errno.ESRCH, tree.kill_targets, a, -999)
    raises(errno.ESRCH, tree.kill_targets, a, INT_MIN)
    lone = ProcessTree()
    only = lone.create_init()
    raises(errno.ESRCH, lone.kill_targets, only, -1)
    tree.find_waitable(a, b.tgid, W4)
    raises(errno.ESRCH, tree.kill_targets, a, b.tgid)


# -- random operations keep the tree consistent -------------------------------

SIGNALS = [SIGCHLD, SIGCHLD, SIGCHLD, 0, SIGUSR1]
OPTIONS = [W4, W4 | WNOHANG, W4 | WUNTRACED, W4 | WCONTINUED | WUNTRACED,
           WEXITED | WNOWAIT, W4 | WALL, W4 | WCLONE, WSTOPPED | WCONTINUED]


class ProcessTreeMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.tree = ProcessTree(pid_max=48, reserved=6)
        self.init = self.tree.create_init()
        self.released = []                    # every group reaped so far

    def running(self, non_init=False):
        return [g for g in self.tree.groups.values()
                if g.state is RUNNING and not (non_init and g is self.init)]

    def note(self, result):
        self.released.extend(result.reaped)
        for ev in result.notifications:
            assert ev.parent.state is RUNNING

    @rule(data=hs.data(), exit_signal=hs.sampled_from(SIGNALS), clone_parent=hs.booleans())
    def fork(self, data, exit_signal, clone_parent):
        parent = data.draw(hs.sampled_from(self.running()))
        clone_parent = clone_parent and parent is not self.init
        before = set(self.tree.ns.allocated())
        try:
            child = self.tree.fork(parent, exit_signal, clone_parent)
        except SyscallError as e:
            assert e.errno == errno.EAGAIN
            assert set(self.tree.ns.allocated()) == before
            return
        assert child.tgid not in before
        assert child.parent is (parent.parent if clone_parent else parent)

    @rule(data=hs.data())
    def add_thread(self, data):
        group = data.draw(hs.sampled_from(self.running()))
        before = set(self.tree.ns.allocated())
        try:
            tid = self.tree.add_thread(group)
        except SyscallError as e:
            assert e.errno == errno.EAGAIN
            return
        assert tid not in before

    @rule(data=hs.data())
    def thread_exit(self, data):
        multi = [g for g in self.running() if len(g.threads) > 1]
        if multi:
            group = data.draw(hs.sampled_from(multi))
            tid = data.draw(hs.sampled_from(sorted(group.threads)))
            assert not self.tree.thread_exited(group, tid)

    @precondition(lambda self: len(self.tree.groups) > 1)
    @rule(data=hs.data(), status=hs.sampled_from([0, 0x100, 9, 0x8b]))
    def exit(self, data, status):
        candidates = self.running(non_init=True)
        if not candidates:
            return
        group = data.draw(hs.sampled_from(candidates))
        children = list(group.children)
        result = exit_group(self.tree, group, status)
        self.note(result)
        assert group.state is ZOMBIE or group in result.reaped
        for child in children:
            assert child.parent.state is RUNNING and child.parent is not group
            assert child in child.parent.children or child in result.reaped
        for z in result.reparented_zombies:
            assert z.state is ZOMBIE

    @rule(data=hs.data(), ignored=hs.booleans(), nocldwait=hs.booleans(), subreaper=hs.booleans())
    def set_flags(self, data, ignored, nocldwait, subreaper):
        group = data.draw(hs.sampled_from(self.running()))
        group.sigchld_ignored, group.sigchld_nocldwait = ignored, nocldwait
        group.child_subreaper = subreaper

    @rule(data=hs.data(), options=hs.sampled_from(OPTIONS))
    def wait(self, data, options):
        parents = [g for g in self.running() if g.children]
        waiter = data.draw(hs.sampled_from(parents or self.running()))
        pgids = sorted({c.pgid for c in waiter.children} | {waiter.pgid, 2})
        pids = sorted({c.tgid for c in waiter.children} | {1, 2})
        selector = data.draw(hs.sampled_from([-1, 0] + [-p for p in pgids if p > 1] + pids))
        if selector == -1:
            match = list(waiter.children)
        elif selector < 0 or selector == 0:
            pgid = -selector or waiter.pgid
            match = [c for c in waiter.children if c.pgid == pgid]
        else:
            match = [c for c in waiter.children if c.tgid == selector]
        if not options & WALL:
            match = [c for c in match if (c.exit_signal != SIGCHLD) == bool(options & WCLONE)]
        reportable = [c for c in match if self.reportable(c, options)]
        try:
            result = self.tree.find_waitable(waiter, selector, options)
        except SyscallError as e:
            assert e.errno == errno.ECHILD and not match
            return
        assert match
        if result is None:
            assert not reportable
            return
        assert result.child is reportable[0]            # the first, in fork order
        if result.reaped:
            assert result.child.state is REAPED and result.child not in waiter.children
            self.released.append(result.child)
        else:
            assert result.child in waiter.children

    @staticmethod
    def reportable(child, options):
        if child.state is ZOMBIE:
            return bool(options & WEXITED)
        return bool(options & WSTOPPED and child.stop_code or options & WCONTINUED and child.continued)

    @rule(data=hs.data())
    def setpgid(self, data):
        caller = data.draw(hs.sampled_from(self.running()))
        pid = data.draw(hs.sampled_from([0, caller.tgid] + [c.tgid for c in caller.children] + [1, 7]))
        pgid = data.draw(hs.sampled_from([0, 1, 7] + [g.pgid for g in self.tree.groups.values()]))
        try:
            self.tree.setpgid(caller, pid, pgid)
        except SyscallError as e:
            assert e.errno in (errno.EINVAL, errno.ESRCH, errno.EPERM, errno.EACCES)
            return
        target = self.tree.lookup(pid or caller.tgid)
        assert target.pgid == (pgid or target.tgid) and target.sid == caller.sid

    @rule(data=hs.data())
    def setsid(self, data):
        caller = data.draw(hs.sampled_from(self.running()))
        try:
            sid = self.tree.setsid(caller)
        except SyscallError as e:
            assert e.errno == errno.EPERM
            return
        assert sid == caller.tgid == caller.pgid == caller.sid
        assert self.tree.members_of_pgrp(sid) == [caller]

    @rule(data=hs.data(), stop=hs.booleans())
    def stop_or_continue(self, data, stop):
        group = data.draw(hs.sampled_from(self.running(non_init=True) or [self.init]))
        if stop and group is not self.init:
            self.tree.group_stopped(group, signal.SIGSTOP)
        else:
            self.tree.group_continued(group)

    @rule(data=hs.data())
    def exec(self, data):
        group = data.draw(hs.sampled_from(self.running()))
        tid = data.draw(hs.sampled_from(sorted(group.threads)))
        for other in sorted(group.threads - {tid}):
            self.tree.thread_exited(group, other)
        assert self.tree.exec_thread(group, tid) == group.tgid

    @invariant()
    def consistent(self):
        tree = self.tree
        uses, tids = Counter(), Counter()
        by_pgrp = {}
        for tgid, g in tree.groups.items():
            assert g.tgid == tgid and g.state in (RUNNING, ZOMBIE)
            if g is tree.init:
                assert g.parent is None and g.state is RUNNING
            else:
                assert g.parent.state is RUNNING and g in g.parent.children
                assert g.parent.tgid in tree.groups
            for c in g.children:
                assert c.parent is g and tree.groups.get(c.tgid) is c
            if g.state is ZOMBIE:
                assert not g.threads and not g.children and g.exit_status is not None
                assert not g.stopped and not g.continued
            else:
                assert g.threads
            tids.update(g.threads)
            uses.update(g.threads)
            uses.update([g.tgid, g.pgid, g.sid])
            by_pgrp.setdefault(g.pgid, set()).add(g)
        assert all(n == 1 for n in tids.values())           # a tid names one thread
        leaders = {g.tgid for g in tree.groups.values()}
        for g in tree.groups.values():
            for tid in g.threads - {g.tgid}:
                assert tid not in leaders and tid not in by_pgrp
                assert all(tid != h.sid for h in tree.groups.values())
        assert sorted(uses) == tree.ns.allocated()
        assert all(tree.ns.uses(nr) == n for nr, n in uses.items())
        for pgid, members in by_pgrp.items():
            assert set(tree.members_of_pgrp(pgid)) == members
            assert len({m.sid for m in members}) == 1        # a group lies in one session
        for g in self.released:
            assert g.state is REAPED and tree.groups.get(g.tgid) is not g
            assert g not in (g.parent.children if g.parent else [])


ProcessTreeMachine.TestCase.settings = settings(max_examples=120, stateful_step_count=40,
                                                deadline=None)
TestProcessTree = ProcessTreeMachine.TestCase


def test_new_groups_have_no_exited_leader_nor_tracees(tree, init):
    # (procfs reads exited_leader of every group it shows; ptrace's wait
    # reads tracees on every wait4.)
    child = tree.fork(init)
    for group in (init, child):
        assert group.exited_leader is None
        assert group.tracees == {}
