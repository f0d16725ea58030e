"""A program the sandbox keeps from one exec to the next (its bytes, its
parsed headers, its mappings: loader/program_files.py, loader/load.py)
runs as it is on disk at each exec: the host changes it between two execs
of one sandboxed shell, which must run the new program each time, as
Linux would. (A file replaced by a rename, or removed and made again:
tests/guest/test_host_replaced.py.)"""
import os
import shutil
import subprocess

import pytest

MESSAGES = ["one", "two", "big and longer"]


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """The same program printing each message: a static musl build (the
    same layout, the message in its read-only data: served from the
    page cache)."""
    # (No skip: the README's test command installs musl-tools.)
    assert shutil.which("musl-gcc"), "musl-gcc missing: install musl-tools"
    out = tmp_path_factory.mktemp("execcache")
    src = out / "say.c"
    src.write_text("#include <stdio.h>\nint main(void) { puts(MSG); return 0; }\n")
    built = {}
    for msg in MESSAGES:
        exe = out / ("say-" + msg.replace(" ", "_"))
        subprocess.run(["musl-gcc", "-static", "-O1", '-DMSG="%s"' % msg, "-o", str(exe),
                        str(src)], check=True)
        built[msg] = exe.read_bytes()
    return built


def _write(path, data, mode=0o755):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def test_program_changed_between_execs(programs, builds, tmp_path):
    prog = tmp_path / "say"
    _write(prog, builds["one"])
    # One exec per line read: the host changes the file in between.
    script = 'while read step; do "%s" || echo "failed $?"; done' % prog
    proc = subprocess.Popen(programs.sandbox_command("/bin/sh", ["-c", script]),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=programs.env)
    seen = []

    def run_again(expected):
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
        line = proc.stdout.readline().decode().strip()
        seen.append(line)
        assert line == expected, (seen, proc.stderr.read1().decode(errors="replace")
                                  if line == "" else "")

    try:
        run_again("one")
        run_again("one")                        # (kept now)
        # Rewritten in place: same inode, same size, a new mtime.
        _write(prog, builds["two"])
        run_again("two")
        # Its setuid bit set (a new ctime), then a rewrite of another size.
        os.chmod(prog, 0o4755)
        run_again("two")
        _write(prog, builds["big and longer"], 0o4755)
        run_again("big and longer")
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0


def test_noexec_mount_refuses_a_program_run_before(programs, builds, tmp_path):
    """A program kept from an exec is refused through a noexec bind mount
    of its directory: the check is the mount's, at every exec, not the
    kept program's."""
    prog = tmp_path / "say"
    _write(prog, builds["one"])
    script = ('"%s"; mkdir -p /mnt/nx && mount --bind "%s" /mnt/nx && '
              'mount -o remount,bind,noexec /mnt/nx; /mnt/nx/say; echo "status $?"; "%s"'
              % (prog, tmp_path, prog))
    status, out, err = programs.run_sandbox("/bin/sh", ["-c", script])
    assert out.decode().splitlines() == ["one", "status 126", "one"], (out, err)
