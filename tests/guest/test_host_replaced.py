"""A name the host points at a new file while the sandbox runs (mv new
prog, or rm prog and a new prog) names the new file at the sandbox's next
lookup, as on Linux, through the root's lower layer and through a
--volume; an fd already open keeps the old file. tests/hostprograms/
host_replaced.c reads and runs the names, one step per line it reads; the
test changes the directory on the host between steps, natively and
sandboxed, and compares the two transcripts."""
import os
import shutil
import subprocess

import pytest

from conftest import GUEST_ENV, TIMEOUT

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(os.path.dirname(HERE), "hostprograms", "host_replaced.c")
LINES_PER_STEP = 5


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The test program, and static programs printing one word each."""
    # (No skip: the README's test command installs musl-tools.)
    assert shutil.which("musl-gcc"), "musl-gcc missing: install musl-tools"
    out = tmp_path_factory.mktemp("hostreplaced")
    exe = out / "host_replaced"
    subprocess.run(["musl-gcc", "-static", "-O2", "-Wall", "-o", str(exe), SOURCE],
                   check=True, timeout=TIMEOUT)
    say = out / "say.c"
    say.write_text("#include <stdio.h>\nint main(void) { puts(MSG); return 0; }\n")
    words = {}
    for word in ("one", "two", "three"):
        prog = out / ("say-" + word)
        subprocess.run(["musl-gcc", "-static", "-O1", '-DMSG="%s"' % word, "-o", str(prog),
                        str(say)], check=True, timeout=TIMEOUT)
        words[word] = prog.read_bytes()
    return exe, words


def _write(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def _changes(d, words):
    """The host's changes to directory d: the state before each step."""
    def first():
        _write(d / "data", b"first")
        os.mkdir(d / "sub")
        _write(d / "sub" / "file", b"sub one")
        _write(d / "prog", words["one"], 0o755)

    def renamed():
        _write(d / "data.new", b"second")
        os.rename(d / "data.new", d / "data")
        _write(d / "prog.new", words["two"], 0o755)
        os.rename(d / "prog.new", d / "prog")
        os.mkdir(d / "sub.new")
        _write(d / "sub.new" / "file", b"sub two")
        os.rename(d / "sub", d / "sub.old")
        os.rename(d / "sub.new", d / "sub")

    def remade():
        os.unlink(d / "data")
        _write(d / "data", b"third")
        os.unlink(d / "prog")
        _write(d / "prog", words["three"], 0o755)
        shutil.rmtree(d / "sub")
        os.mkdir(d / "sub")
        _write(d / "sub" / "file", b"sub three")

    def removed():
        os.unlink(d / "data")
        os.unlink(d / "prog")
        shutil.rmtree(d / "sub")

    def back():
        _write(d / "data", b"fifth")
        _write(d / "prog", words["one"], 0o755)
        os.mkdir(d / "sub")
        _write(d / "sub" / "file", b"sub five")

    return [first, renamed, remade, removed, back]


def _transcript(cmd, d, words):
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=GUEST_ENV)
    lines = []
    try:
        for change in _changes(d, words):
            change()
            proc.stdin.write(b"next\n")
            proc.stdin.flush()
            for _ in range(LINES_PER_STEP):
                line = proc.stdout.readline()
                lines.append(line.decode(errors="replace"))
                if not line:
                    break
    finally:
        proc.stdin.close()
        err = proc.stderr.read()
        proc.wait(timeout=TIMEOUT)
        proc.stdout.close()
        proc.stderr.close()
    return proc.returncode, "".join(lines), err


@pytest.mark.parametrize("where", ["root", "volume"])
def test_host_replaced_names(programs, built, tmp_path, where):
    exe, words = built
    native_dir, sandbox_dir = tmp_path / "native", tmp_path / "sandboxed"
    native_dir.mkdir()
    sandbox_dir.mkdir()
    native = _transcript([str(exe), str(native_dir)], native_dir, words)
    if where == "root":
        cmd = programs.sandbox_command(str(exe), [str(sandbox_dir)])
    else:
        cmd = programs.sandbox_command(str(exe), ["/vol"],
                                       extra=["--volume", "%s:/vol" % sandbox_dir])
    sandboxed = _transcript(cmd, sandbox_dir, words)
    assert native[1].count("step") == 5, native
    assert sandboxed[:2] == native[:2], (sandboxed, native)
