"""Timers, waiting for files, prctl and credentials in the sandbox,
compared with native Linux: the same stdout and the same exit status
(128 + N for death by signal N).

The C programs are tests/sysprograms/*.c, each with several modes (its
first argument), built once for this module with `gcc -static` and plain
`gcc` (dynamic, through the sandboxed ld.so). They print only what must
be identical natively and in the sandbox: no pids, addresses, or
timings beyond coarse bounds. The credential tests need root, which is
what the sandbox's first process is when the tests run as root (CI
does); natively they must run as root too.
"""
import os

import pytest
from progbuild import FLAVOURS, build_all, run

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = os.path.join(os.path.dirname(HERE), "sysprograms")


@pytest.fixture(scope="module")
def sysprogs(tmp_path_factory):
    """{(name, flavour): path} for every C program in SOURCES."""
    return build_all(SOURCES, tmp_path_factory.mktemp("sys"))


def same(argv):
    """Run argv natively and sandboxed (interleaved, so a slow moment of the
    machine hits both alike); stdout and status must match."""
    native, boxed = run(argv, False), run(argv, True)
    assert boxed[1].decode() == native[1].decode(), boxed[2].decode()[-3000:]
    assert boxed[0] == native[0], boxed[2].decode()[-3000:]
    return boxed[0], boxed[1].decode()


def check(sysprogs, name, flavour, mode):
    return same([sysprogs[(name, flavour)], mode])


flavours = pytest.mark.parametrize("flavour", list(FLAVOURS))


# --- alarm and setitimer ---------------------------------------------------------------
@flavours
@pytest.mark.parametrize("mode", ["alarm", "interval", "errors", "exec", "cpu"])
def test_itimers(sysprogs, flavour, mode):
    check(sysprogs, "itimers", flavour, mode)


@flavours
def test_alarm_default_action_kills(sysprogs, flavour):
    status, _ = check(sysprogs, "itimers", flavour, "alarm_kill")
    assert status == 128 + 14


# --- POSIX timers ------------------------------------------------------------------------
@flavours
@pytest.mark.parametrize("mode", ["signal", "default", "interval", "overrun", "thread_id",
                                  "abstime", "none", "errors", "fork"])
def test_posix_timers(sysprogs, flavour, mode):
    _, out = check(sysprogs, "posix_timers", flavour, mode)
    assert "timer_create:" not in out


def test_posix_timer_siginfo(sysprogs):
    _, out = check(sysprogs, "posix_timers", "static", "signal")
    assert "code_is_SI_TIMER=1 value=4242 timerid_matches=1 overrun=0" in out


# --- poll, select, epoll -------------------------------------------------------------------
@flavours
@pytest.mark.parametrize("mode", ["poll", "poll_rlimit", "poll_wake", "poll_eintr", "select",
                                  "ppoll", "pselect", "epoll", "stdin"])
def test_polling(sysprogs, flavour, mode):
    check(sysprogs, "polling", flavour, mode)


def test_ppoll_runs_the_handler_under_its_mask(sysprogs):
    _, out = check(sysprogs, "polling", "dynamic", "ppoll")
    assert "wait: r=-1 Interrupted system call caught=10" in out
    assert "mask restored: 1" in out


# --- CPU time, prctl, getcpu, credentials ----------------------------------------------------
@flavours
@pytest.mark.parametrize("mode", ["rusage", "prctl", "getcpu"])
def test_process_attributes(sysprogs, flavour, mode):
    check(sysprogs, "procattrs", flavour, mode)


@flavours
def test_children_cpu_time(sysprogs, flavour):
    check(sysprogs, "procattrs", flavour, "children")


def test_rlimit_cpu(sysprogs):
    """SIGXCPU at the soft limit, SIGKILL at the hard one (3 s of CPU: one
    flavour only)."""
    check(sysprogs, "procattrs", "static", "cpulimit")


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="native run needs root")


@needs_root
@flavours
@pytest.mark.parametrize("mode", ["creds", "groups"])
def test_credentials_as_root(sysprogs, flavour, mode):
    check(sysprogs, "procattrs", flavour, mode)


# --- shells (dash) and coreutils using timers and signals ---------------------------------
SCRIPTS = {
    "read_from_pipe": "printf 'a\\nb c\\n' | while read x; do echo \"got $x\"; done",
    "background_wait": "sleep 0.2 & wait; echo waited $?",
    "trap_usr1": "trap 'echo got' USR1; kill -USR1 $$; echo after",
    "timeout_expires": "timeout 1 sleep 5; echo $?",
    "timeout_kill_signal": "timeout -s KILL 0.3 sleep 5; echo $?",
    "timeout_not_needed": "timeout 5 true; echo $?",
    "timeout_kill_after": "timeout -k 0.2 0.2 sh -c 'trap \"\" TERM; sleep 5'; echo $?",
    "kill_background": "sleep 5 & pid=$!; kill $pid; wait $pid; echo $?",
}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_dash_scripts(name):
    same(["/bin/sh", "-c", SCRIPTS[name]])


def test_python_select_poll_epoll():
    same(["/usr/bin/python3", "-c",
          "import select, os, time\n"
          "r, w = os.pipe()\n"
          "t = time.monotonic()\n"
          "print(select.select([r], [], [], 0.1), time.monotonic() - t >= 0.09)\n"
          "os.write(w, b'x')\n"
          "print(select.select([r], [w], [], 1))\n"
          "p = select.poll(); p.register(r, select.POLLIN); print(p.poll(0))\n"
          "e = select.epoll(); e.register(r, select.EPOLLIN); print(e.poll(0.1))\n"])


def test_python_setitimer():
    same(["/usr/bin/python3", "-c",
          "import signal\n"
          "n = [0]\n"
          "signal.signal(signal.SIGALRM, lambda *a: n.__setitem__(0, n[0] + 1))\n"
          "signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)\n"
          "while n[0] < 3:\n"
          "    signal.pause()\n"
          "print(n, signal.setitimer(signal.ITIMER_REAL, 0)[1])\n"])
