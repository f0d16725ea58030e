"""What `kvmsentry do` skips at start-up: the command word is found
without a parser, its command line is read without argparse (and agrees
with it), the OCI front end is neither parsed nor imported, and the KVM
exit values stay plain comparable values."""
import subprocess
import sys

from kvmsentry.cli import do_args
from kvmsentry.cli.main import _command, _parser
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


def _argparse_do(argv):
    try:
        return vars(_parser(with_oci=False).parse_args(argv))
    except SystemExit:
        return None


def _sample(action):
    """A command-line use of one option of argparse's `do` parser."""
    if action.nargs == 0:
        return [action.option_strings[0]]
    if action.choices:
        return [action.option_strings[-1], list(action.choices)[-1]]
    if action.dest == "platform":                # checked by a type function
        return [action.option_strings[-1], "systrap"]
    return [action.option_strings[-1], "7" if action.type is int else "x:y"]


def test_do_line_reader_agrees_with_argparse_on_every_option():
    root = _parser(with_oci=False)
    do = next(a for a in root._actions if a.dest == "command").choices["do"]
    lines = [["do", "--", "/bin/true"], ["do", "/bin/true", "-x", "--strace"], ["do"],
             ["--platform", "systrap", "do", "--", "hello"],
             ["--strace", "--memory=64", "do", "--memory", "128", "--", "p"],
             ["do", "-v", "/a:/b", "--volume=/c:/d:ro", "-p", "80:8080", "--", "p", "q"],
             ["do", "--network=none", "--root", "/r", "do"]]
    for action in do._actions + root._actions:
        if action.option_strings and action.dest != "help":
            where = ["do"] if action in do._actions else []
            lines.append(([] if where else _sample(action)) + ["do"] +
                         (_sample(action) if where else []) + ["--", "prog"])
    for argv in lines:
        fast = do_args.read(argv)
        assert fast is not None, argv
        assert vars(fast) == _argparse_do(argv), argv


def test_do_line_reader_leaves_the_unusual_to_argparse():
    for argv in (["do", "--help"], ["do", "--strac", "--", "x"], ["do", "--memory", "lots"],
                 ["do", "--network", "bridge"], ["do", "-vfoo:bar", "x"],
                 ["--log", "f", "run", "x"], ["do", "--debug-log", "-x", "p"],
                 ["do", "--platform=xen", "--", "p"], ["do", "--strace=1", "p"]):
        assert do_args.read(argv) is None, argv
