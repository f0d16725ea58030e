"""Processes and threads in the sandbox, compared with native Linux."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = os.path.join(os.path.dirname(HERE), "procprograms")
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("proc")
    progs = {}
    for name in sorted(os.listdir(SOURCES)):
        base = os.path.splitext(name)[0]
        for flavour, cmd in (("gcc-static", ["gcc", "-static"]),
                             ("gcc-dynamic", ["gcc"])):
            exe = str(out / ("%s-%s" % (base, flavour)))
            subprocess.run(cmd + ["-O2", "-pthread", "-o", exe, os.path.join(SOURCES, name)],
                           check=True)
            progs[(base, flavour)] = exe
    return progs


def run(argv, sandbox):
    cmd = [sys.executable, "-m", "kvmsentry", "do", "--"] + argv if sandbox else argv
    p = subprocess.run(cmd, capture_output=True, env=ENV, timeout=120)
    code = p.returncode if p.returncode >= 0 else 128 - p.returncode
    return code, p.stdout, p.stderr


def same(argv):
    native, boxed = run(argv, False), run(argv, True)
    assert boxed[1] == native[1]
    assert boxed[0] == native[0], boxed[2]
    return boxed


@pytest.mark.parametrize("flavour", ["gcc-static", "gcc-dynamic"])
def test_fork_exec_wait(built, flavour):
    code, out, _ = same([built[("forkwait", flavour)]])
    assert b"global after child wrote: 1" in out          # copy, not shared
    assert b"segv: exited=0 code=-1 signaled=1 sig=11" in out


@pytest.mark.parametrize("flavour", ["gcc-static", "gcc-dynamic"])
def test_copy_on_write_fork(built, flavour):
    _, out, _ = same([built[("cow", flavour)]])
    assert out == b"child status 0, parent mismatches 0\n"


@pytest.mark.parametrize("flavour", ["gcc-static", "gcc-dynamic"])
def test_stop_and_continue(built, flavour):
    _, out, _ = same([built[("stopcont", flavour)]])
    assert out == b"stopped=1 sig=19\ncontinued=1\nterm=1\n"


@pytest.mark.parametrize("flavour", ["gcc-static", "gcc-dynamic"])
def test_record_locks_between_processes(built, flavour, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, out, _ = same([built[("reclocks", flavour)]])
    assert b"child setlk -1 getlk type=1 start=0 len=10 pid_is_parent=1" in out


@pytest.mark.parametrize("flavour", ["gcc-static", "gcc-dynamic"])
def test_process_shared_futexes(built, flavour):
    _, out, _ = same([built[("shared_futex", flavour)]])
    assert out == b"count 200\n"


@pytest.mark.parametrize("flavour", ["gcc-static", "gcc-dynamic"])
def test_execveat_and_fexecve(built, flavour):
    _, out, _ = same([built[("execveat", flavour)]])
    assert out.startswith(b"from execveat\nfrom fexecve\n")


@pytest.mark.parametrize("flavour", ["gcc-static", "gcc-dynamic"])
def test_exec_from_a_thread(built, flavour):
    _, out, _ = same([built[("exec_thread", flavour)]])
    assert b"pid kept 1, tid is pid 1" in out
    assert b"Threads:\t1" in out


@pytest.mark.parametrize("flavour", ["gcc-static", "gcc-dynamic"])
def test_parent_death_signal(built, flavour):
    _, out, _ = same([built[("pdeathsig", flavour)]])
    assert out == b"grandchild gone: 1\n"


@pytest.mark.parametrize("flavour", ["gcc-static", "gcc-dynamic"])
def test_threads(built, flavour):
    same([built[("threads", flavour)]])


def test_shell_pipeline_subshell_and_status():
    """The example from the issue."""
    same(["/bin/sh", "-c", "for i in 1 2 3; do echo $i | tr 1-3 a-c; done; "
          "(sleep 0.1; exit 3); echo $?"])


def test_shell_command_substitution_and_exit_code():
    same(["/bin/sh", "-c", 'x=$(echo hello | wc -c); echo "[$x]"; false; echo $?; exit 4'])


def test_python_thread_pool():
    same(["/usr/bin/python3", "-c", "import concurrent.futures as f; "
          "print(sum(f.ThreadPoolExecutor(4).map(abs, range(-1000, 1000))))"])


def test_busybox_shell_pipeline():
    same(["/bin/busybox", "sh", "-c", "echo one two three | busybox tr ' ' '\\n' | busybox sort -r"])


@pytest.mark.parametrize("flavour", ["gcc-static", "gcc-dynamic"])
def test_fork_vfork_exec_memory(built, flavour):
    """A small process's pages copied at fork (and its file pages mapped),
    a large mapping shared copy-on-write, shared memory, vfork, failed
    execs, a threaded fork."""
    _, out, _ = same([built[("fork_memory", flavour)]])
    assert b"file: parent reads a b c / b" in out
    assert b"file: child 0, parent sees shared X (file X), private a" in out
    assert b"small child: global=10 local=20 heap=child zeros=7" in out
    assert b"small parent: global=1 local=2 heap=parent zeros=0" in out
    assert b"large: child exit=0 parent mismatches=0" in out
    assert b"shared: child exit=0 value=42" in out
    assert b"vfork: exit=3 parent sees 5" in out
    assert b"vfork exec missing: exit=127" in out
    assert b"vfork exec: echo ran" in out
    assert b"exec /etc/passwd: Permission denied, global still 1" in out
    assert b"threaded parent: child exit=0 global=7" in out


@pytest.mark.parametrize("flavour", ["gcc-static", "gcc-dynamic"])
def test_spawn_chain_fresh_processes(built, flavour):
    """fork + exec again and again: each program starts clean (zeroed
    bss and new mappings, its own CPU time, /proc/self/exe) although
    systrap runs it in the host process an earlier one ended in; the
    signal mask and ignored signals pass through execve, handlers do not."""
    _, out, _ = same([built[("spawn_chain", flavour)]])
    name = os.path.basename(built[("spawn_chain", flavour)]).encode()
    for n in range(8):
        assert (b"child %d: zero 1, usr1 blocked 1, term ignored 1, usr2 default 1, "
                b"exe %s, cpu fresh 1\n" % (n, name)) in out
    assert b"parent: child 3 exited=0 code=-1 signaled=1 sig=9" in out
    assert b"parent: child 6 exited=1 code=6 signaled=0 sig=0" in out
    assert out.endswith(b"children's cpu counted 1\n")


LEADER_GONE = (b"leader gone, this thread is not it: 1\nthreads 252, bytes 252\n"
               b"level a 12, level c 192\n")


@pytest.mark.parametrize("flavour", ["gcc-static", "gcc-dynamic"])
@pytest.mark.parametrize("mode,code", [("pthread_exit", 7), ("sys_exit", 0), ("exec", 7)])
def test_threads_made_after_the_leader_is_gone(built, flavour, mode, code):
    """The leader exits (or a thread's execve replaces it) while another
    thread runs, which then makes 252 threads in a tree: on systrap the
    leader's slot is free without a thread, and one made there must be
    cloned like any other (it used to wait for a thread that never came)."""
    got, out, _ = same([built[("leader_exit", flavour)], mode])
    assert (got, out) == (code, LEADER_GONE)


@pytest.mark.parametrize("flavour", ["gcc-static", "gcc-dynamic"])
def test_threads_after_the_leader_in_a_reused_process(built, flavour):
    """The same in fork children that systrap runs in the host process an
    exited single-threaded child left (IdleProcesses): the kept thread
    serves the new leader, then its slot needs a clone again."""
    _, out, _ = same([built[("leader_exit", flavour)], "reuse"])
    assert out == b"".join(LEADER_GONE + b"round %d: status %d\n" % (n, c)
                           for n, c in enumerate((7, 0, 7)))
