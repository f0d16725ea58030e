"""Shell scripts and make in the sandbox, compared with native Linux.

Each script runs under Debian's dash (/bin/sh) and under `busybox sh`,
natively and in the sandbox, and must print the same stdout and end with
the same status. Scripts that touch files get a fresh directory under
pytest's tmp_path, mounted into the sandbox at the same path
(`--volume DIR:DIR`), so the native and the sandboxed run see the same
paths and touch nothing else.

Some tests are strict xfails while a syscall they need is still ENOSYS in
the sandbox's syscall table; the condition is read from that table, so the
mark turns itself off when the syscall lands (and the test must then
pass).
"""
import os
import subprocess
import sys

import pytest

from kvmsentry.syscalls.table import TABLE

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/"}
TIMEOUT = 90
SHELLS = {"dash": ["/bin/sh"], "busybox": ["/bin/busybox", "sh"]}


def unimplemented(*names):
    """The names among these syscalls that the sandbox answers ENOSYS."""
    have = {e.name for e in TABLE if e is not None and e.handler is not None}
    return [n for n in names if n not in have]


def needs(*names, why):
    """A strict xfail while any of these syscalls is unimplemented."""
    missing = unimplemented(*names)
    return pytest.mark.xfail(bool(missing), strict=True,
                             reason="%s: %s ENOSYS in kvmsentry" % (why, ", ".join(missing)))


def run(argv, sandbox, volume=None, cwd=None):
    extra = ["--volume", "%s:%s" % (volume, volume)] if volume else []
    cmd = [sys.executable, "-m", "kvmsentry", "do", *extra, "--", *argv] if sandbox else argv
    p = subprocess.run(cmd, capture_output=True, env=ENV, timeout=TIMEOUT, cwd=cwd,
                       stdin=subprocess.DEVNULL)
    code = p.returncode if p.returncode >= 0 else 128 - p.returncode
    return code, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def same_script(shell, script, tmp_path=None, args=()):
    """Run `SHELL -c script sh DIR args...` natively and sandboxed (each in
    its own fresh DIR when tmp_path is given); return (status, stdout)."""
    results = []
    for sandbox in (False, True):
        argv = [*SHELLS[shell], "-c", script, "sh"]
        vol = None
        if tmp_path is not None:
            vol = str(tmp_path / ("box" if sandbox else "native"))
            os.mkdir(vol)
            argv.append(vol)
        results.append(run(argv + list(args), sandbox, vol))
    (n_code, n_out, _), (s_code, s_out, s_err) = results
    assert s_out == n_out, s_err[-2000:]
    assert s_code == n_code, s_err[-2000:]
    return s_code, s_out


shells = pytest.mark.parametrize("shell", list(SHELLS))

PIPELINES = r"""
echo "a b c" | tr ' ' '\n' | sort -r | head -2
(cd /; pwd; exit 5); echo "sub=$?"
x=$(echo inner; exit 3); echo "x=$x st=$?"
false | true; echo "pipe=$?"
true | false; echo "pipe2=$?"
n=$(echo one two three | wc -w); echo "words=$n"
echo "$(echo "$(echo nested)")" `echo back`ticks
seq 1 2000 | grep 7 | wc -l
sh -c 'exit 7'; echo "child=$?"
"""


@shells
def test_pipelines_subshells_command_substitution(shell):
    _, out = same_script(shell, PIPELINES)
    assert "sub=5\nx=inner st=3\npipe=0\npipe2=1\n" in out


BACKGROUND = r"""
(sleep 0.5; echo slow; exit 7) & p1=$!
(echo fast; exit 3) & p2=$!
wait $p2; echo "p2=$?"
wait $p1; echo "p1=$?"
sleep 0.05 & sleep 0.1 & wait; echo "all=$?"
"""


@shells
def test_background_jobs_and_wait(shell):
    _, out = same_script(shell, BACKGROUND)
    assert out == "fast\np2=3\nslow\np1=7\nall=0\n"


# dash without job control (no tty) sends `kill %1` to the job's process
# group, which does not exist: "No such process", and the job runs on.
# busybox kills the job's process. Both are compared with native.
KILL_JOB = r"""
sleep 1 &
kill %1; echo "kill=$?"
wait %1; echo "killed=$?"
sleep 5 & pid=$!
kill -USR1 $pid
wait $pid; echo "usr1=$?"
"""


@shells
def test_kill_job_spec(shell):
    _, out = same_script(shell, KILL_JOB)
    assert "usr1=138" in out


TRAPS = r"""
trap 'echo "exiting $?"' EXIT
trap 'echo got USR1' USR1
kill -USR1 $$
echo after
trap - USR1
trap 'echo got TERM; exit 9' TERM
(kill -TERM $$)
echo not reached
"""


@shells
def test_traps_exit_usr1_term(shell):
    code, out = same_script(shell, TRAPS)
    assert out == "got USR1\nafter\ngot TERM\nexiting 9\n" and code == 9


EXEC_REDIRECTIONS = r"""
cd "$1"
exec 3>out.txt
echo "to fd3" >&3
echo "again" >&3
exec 3>&-
cat out.txt
{ echo "closed" >&3; } 2>/dev/null || echo "fd3 closed ok"
exec 5>>out.txt; echo appended >&5; exec 5>&-
wc -l < out.txt
{ echo grouped; echo err >&2; } 2>err.txt >grp.txt
cat grp.txt err.txt
exec 6>&1 >redir.txt
echo "into file"
exec 1>&6 6>&-
echo "back: $(cat redir.txt)"
exec 7<out.txt
head -1 <&7
exec 7<&-
ls
"""


@shells
def test_exec_redirections(shell, tmp_path):
    _, out = same_script(shell, EXEC_REDIRECTIONS, tmp_path)
    assert "back: into file" in out


HEREDOCS = r"""
X=world
cat <<EOF
hello $X
$(echo subst) $((6*7))
EOF
cat <<'EOF'
literal $X $(no)
EOF
tr a-z A-Z <<-EOF
	tabs stripped
	EOF
cat <<A; cat <<B
first
A
second
B
"""


@shells
def test_heredocs(shell):
    _, out = same_script(shell, HEREDOCS)
    assert out.startswith("hello world\nsubst 42\nliteral $X $(no)\nTABS STRIPPED\n")


READ_BUILTIN = r"""
cd "$1"
printf 'to fd3\nagain\n' > f
exec 4<f
read first <&4; read second <&4
echo "read: $first / $second"
exec 4<&-
while read n name; do echo "[$name=$n]"; done <<EOF
1 one
2 two
EOF
echo "a:b:c" | { IFS=: read x y z; echo "$z$y$x"; }
"""


@pytest.mark.parametrize("shell", [
    "dash",
    pytest.param("busybox", marks=needs(
        "poll", why="busybox's read builtin polls stdin first and reads nothing "
                    "when poll fails"))])
def test_read_builtin(shell, tmp_path):
    _, out = same_script(shell, READ_BUILTIN, tmp_path)
    assert "read: to fd3 / again\n[one=1]\n[two=2]\ncba\n" in out


SET_E = r"""
set -e
echo start
false || echo "or-list ok"
if false; then echo no; fi
while false; do :; done
f() { echo "in f"; return 3; }
f
echo "not reached"
"""


@shells
def test_set_e_failures(shell):
    code, out = same_script(shell, SET_E)
    assert code == 3 and "not reached" not in out
    code, out = same_script(shell, "set -e; echo a; (exit 9); echo b")
    assert (code, out) == (9, "a\n")
    code, out = same_script(shell, "set -e; cat /nonexistent/file; echo b")
    assert code == 1 and out == ""


# --- make building a small C project with gcc in the sandbox -----------------

PROJECT = {
    "Makefile": (
        "CC = gcc\n"
        "CFLAGS = -O2 -Wall\n"
        "OBJS = main.o util.o\n"
        "\n"
        "hello: $(OBJS)\n"
        "\t$(CC) -o $@ $(OBJS)\n"
        "\n"
        "%.o: %.c util.h version.h\n"
        "\t$(CC) $(CFLAGS) -c $<\n"
        "\n"
        "version.h:\n"
        "\techo '#define VERSION \"1.$(words $(OBJS))\"' > $@\n"
        "\n"
        "check: hello\n"
        "\t./hello; test $$? -eq 6\n"
        "\n"
        ".PHONY: check\n"),
    "util.h": "int triangle(int n);\n",
    "util.c": '#include "util.h"\nint triangle(int n) { return n * (n + 1) / 2; }\n',
    "main.c": (
        "#include <stdio.h>\n"
        '#include "util.h"\n'
        '#include "version.h"\n'
        "int main(void) {\n"
        '    printf("v%s:", VERSION);\n'
        '    for (int i = 1; i <= 5; i++) printf(" %d", triangle(i));\n'
        '    printf("\\n");\n'
        "    return triangle(3);\n"
        "}\n"),
}

# glibc's posix_spawn (make's way to start every recipe) resets ids with
# setresuid/setresgid(-1, getuid(), -1) in the child, because make passes
# POSIX_SPAWN_RESETIDS; ENOSYS there makes the child exit 127 and make
# report "gcc: Function not implemented". make -j also waits in pselect6.
MAKE_NEEDS = ("setresuid", "setresgid")


def _make(tmp_path, *make_args, ordered=True):
    """Build the project natively and sandboxed, each in its own copy.
    ordered=False: compare make's output lines as a multiset (make -j)."""
    if not os.access("/usr/bin/make", os.X_OK):
        pytest.fail("/usr/bin/make is missing (apt-get install make)", pytrace=False)
    results = []
    for where in ("native", "box"):
        proj = tmp_path / where
        proj.mkdir()
        for name, text in PROJECT.items():
            (proj / name).write_text(text)
        code, out, err = run(["/usr/bin/make", *make_args], where == "box",
                             volume=str(proj), cwd=str(proj))
        results.append((proj, code, out, err))
    (n_proj, n_code, n_out, _), (s_proj, s_code, s_out, s_err) = results
    if ordered:
        assert s_out == n_out, s_err[-3000:]
    else:
        assert sorted(s_out.splitlines()) == sorted(n_out.splitlines()), s_err[-3000:]
    assert s_code == n_code == 0, s_err[-3000:]
    for name in ("main.o", "util.o", "version.h", "hello"):
        assert (s_proj / name).exists(), name
    # The program built in the sandbox, run in the sandbox, against the
    # natively built one run natively.
    native = run([str(n_proj / "hello")], False)
    boxed = run([str(s_proj / "hello")], True, volume=str(s_proj))
    assert boxed[:2] == native[:2] == (6, 'v1.2: 1 3 6 10 15\n'), boxed[2][-2000:]
    return s_out


@needs(*MAKE_NEEDS, why="make's posix_spawn children")
def test_make_builds_c_project(tmp_path):
    out = _make(tmp_path, "hello", "check")
    assert "gcc -o hello main.o util.o" in out


@needs(*MAKE_NEEDS, "pselect6", why="make -j2 (posix_spawn children, jobserver waits)")
def test_make_parallel(tmp_path):
    out = _make(tmp_path, "-j2", "hello", ordered=False)
    assert "gcc -O2 -Wall -c util.c" in out


def test_gcc_compiles_and_links_in_sandbox(tmp_path):
    """gcc alone (cc1, as, collect2, ld started with vfork+exec) works; the
    make tests above isolate what make adds."""
    proj = tmp_path / "gcc"
    proj.mkdir()
    for name, text in PROJECT.items():
        (proj / name).write_text(text)
    (proj / "version.h").write_text('#define VERSION "0"\n')
    code, _, err = run(["/usr/bin/gcc", "-O2", "-o", "prog", "main.c", "util.c"], True,
                       volume=str(proj), cwd=str(proj))
    assert code == 0, err[-3000:]
    assert run([str(proj / "prog")], False)[:2] == (6, "v0: 1 3 6 10 15\n")
