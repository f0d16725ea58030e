"""What `kvmsentry do` skips at start-up: the command word is found
without a parser, the OCI front end is neither parsed nor imported, and
the KVM exit values stay plain comparable values."""
import subprocess
import sys

from kvmsentry.cli.main import _command
from kvmsentry.kvm import exits


def test_command_word_found_past_global_options():
    assert _command(["do", "--", "/bin/true"]) == "do"
    assert _command(["--root", "/run/x", "--debug", "do", "-v", "a:b"]) == "do"
    assert _command(["--log-format", "json", "--log=/tmp/l", "state", "id"]) == "state"
    assert _command(["--memory", "64", "list"]) == "list"
    assert _command(["--strace"]) is None
    assert _command(["--", "do"]) is None


def test_own_commands_leave_the_oci_front_end_unimported():
    code = ("import sys, io, contextlib; from kvmsentry.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()): main(['syscalls'])\n"
            "print(sorted(m for m in sys.modules if m.startswith(('kvmsentry.cli.oci', "
            "'kvmsentry.runtime'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    # The OCI commands are still there for everything else.
    out = subprocess.run([sys.executable, "-m", "kvmsentry", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "create" in out.stdout and "do" in out.stdout


def test_exit_values_compare_hash_and_print_like_values():
    a, b = exits.IoOut(0x4a, 1), exits.IoOut(0x4a, 1)
    assert a == b and hash(a) == hash(b) and a is not b
    assert a != exits.IoIn(0x4a, 1) and a != exits.IoOut(0x4a, 2)
    assert exits.io_out(0x4a, 1) is exits.io_out(0x4a, 1) == a
    assert repr(exits.InternalError(1, (2, 3))) == "InternalError(suberror=1, data=(2, 3))"
    assert exits.HLT == exits.Hlt() and exits.HLT != exits.SHUTDOWN
    try:
        a.port = 1
    except AttributeError:
        pass
    else:
        raise AssertionError("an exit value changed")
    try:
        exits.FailEntry()
    except TypeError:
        pass
    else:
        raise AssertionError("FailEntry() without its reason")
