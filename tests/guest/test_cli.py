"""The `kvmsentry` command line: exit statuses and one-line errors.

Shell conventions: a program that cannot be found exits 127, one that
cannot be executed 126, a usage error 2. Every refusal is exactly one line
on stderr, starting `kvmsentry:` and naming the program, and nothing on
stdout.
"""
import os
import re
import struct
import subprocess

import pytest


def one_line_error(err, *words):
    text = err.decode()
    assert text.endswith("\n") and text.count("\n") == 1, "not one line: %r" % text
    assert text.startswith("kvmsentry: "), text
    assert "Traceback" not in text
    for w in words:
        assert w in text, "%r not in %r" % (w, text)
    return text


def executable(path, data, mode=0o755):
    path.write_bytes(data)
    path.chmod(mode)
    return str(path)


def elf_header(ei_class=2, machine=62, e_type=2):
    """A 64-byte ELF header (x86-64 executable unless told otherwise)."""
    h = bytearray(64)
    h[0:4] = b"\x7fELF"
    h[4], h[5], h[6] = ei_class, 1, 1           # class, little-endian, version
    struct.pack_into("<HHI", h, 16, e_type, machine, 1)
    struct.pack_into("<H", h, 52, 64)            # e_ehsize
    return bytes(h)


def test_missing_program(run_sandbox):
    status, out, err = run_sandbox("/nonexistent/dir/prog")
    assert status == 127
    assert out == b""
    one_line_error(err, "/nonexistent/dir/prog")


def test_missing_program_on_path(run_sandbox):
    status, out, err = run_sandbox("no-such-program-kvmsentry-test")
    assert status == 127
    one_line_error(err, "no-such-program-kvmsentry-test")


def test_program_found_on_path(programs):
    env = dict(programs.env, PATH="%s:/usr/bin:/bin" % (programs.root / "gcc-static"))
    assert programs.run_sandbox("exit42", env=env) == (42, b"", b"")


@pytest.mark.parametrize("content", [b"echo hello\n", b"", b"\x00\x01\x02\x03" * 20],
                         ids=["text", "empty", "binary"])
def test_not_an_elf(run_sandbox, tmp_path, content):
    path = executable(tmp_path / "notelf", content)
    status, out, err = run_sandbox(path)
    assert status == 126
    assert out == b""
    one_line_error(err, path)


@pytest.mark.parametrize("header, words", [
    (elf_header(machine=183), ["183"]),                  # AArch64
    (elf_header(machine=3), []),                         # i386 machine, 64-bit class
    (elf_header(ei_class=1, machine=3), []),             # a 32-bit ELF
    (elf_header(e_type=1), []),                          # relocatable object
    (elf_header()[:20], []),                             # truncated header
], ids=["aarch64", "em-386", "elfclass32", "relocatable", "truncated"])
def test_wrong_elf(run_sandbox, tmp_path, header, words):
    path = executable(tmp_path / "badelf", header)
    status, out, err = run_sandbox(path)
    assert status == 126
    assert out == b""
    one_line_error(err, path, *words)


def test_not_executable(tmp_path, programs):
    path = tmp_path / "noexec"
    path.write_bytes(open(programs.path("exit42", "gcc-static"), "rb").read())
    path.chmod(0o644)
    status, out, err = programs.run_sandbox(str(path))
    assert status == 126
    one_line_error(err, str(path))


def test_directory(run_sandbox, tmp_path):
    status, _, err = run_sandbox(str(tmp_path))
    assert status == 126
    one_line_error(err, str(tmp_path))


def test_dynamic_program_runs_or_is_refused_cleanly(run_native, run_sandbox, tmp_path):
    """A dynamically linked program either runs exactly like natively or
    is refused with one line; never an internal error."""
    src = tmp_path / "dyn.c"
    src.write_text('#include <stdio.h>\nint main(void){puts("dynamic");return 5;}\n')
    exe = str(tmp_path / "dyn")
    subprocess.run(["gcc", "-O2", "-o", exe, str(src)], check=True, timeout=60)
    native = run_native(exe)
    status, out, err = run_sandbox(exe)
    if (status, out, err) != native:
        assert status == 126
        one_line_error(err, exe)


def test_program_arguments_after_double_dash(programs):
    path = programs.path("args_env_auxv", "musl-static")
    args = ["--strace", "--debug-log", "x", "--", "-h"]
    status, out, _ = programs.run_sandbox(path, args)
    assert status == 0
    assert out == programs.run_native(path, args)[1]
    assert b'argv[1]="--strace"' in out and b'argv[4]="--"' in out


def test_do_without_program(run_kvmsentry):
    for args in (["do"], ["do", "--"], ["do", "--strace", "--"]):
        status, out, err = run_kvmsentry(args)
        assert status == 2, args
        assert out == b""
        assert b"usage" in err.lower()


def test_no_command(run_kvmsentry):
    status, _, err = run_kvmsentry([])
    assert status == 2
    assert b"usage" in err.lower()


def test_help(run_kvmsentry):
    status, out, _ = run_kvmsentry(["--help"])
    assert status == 0
    assert b"do" in out and b"syscalls" in out


def test_syscalls_report(run_kvmsentry):
    status, out, err = run_kvmsentry(["syscalls"])
    assert status == 0
    assert err == b""
    lines = out.decode().splitlines()
    rows = {}
    for line in lines[:-1]:
        m = re.match(r"^\s*(\d+) (\w+)\s+(supported|partial|unimplemented)\b", line)
        if m:
            rows[m.group(2)] = (int(m.group(1)), m.group(3))
    assert rows["getpid"] == (39, "supported")
    assert rows["write"] == (1, "supported")
    assert rows["exit_group"] == (231, "supported")
    m = re.match(r"^(\d+) supported, (\d+) partial, (\d+) unimplemented$", lines[-1])
    assert m, lines[-1]
    counts = [int(x) for x in m.groups()]
    assert counts == [sum(1 for v in rows.values() if v[1] == k)
                      for k in ("supported", "partial", "unimplemented")]


def test_kvm_device_is_usable():
    """The suite needs /dev/kvm; under CI its absence is a failure."""
    assert os.access("/dev/kvm", os.R_OK | os.W_OK)
