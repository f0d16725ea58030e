"""The N_TTY line discipline alone: canonical editing and its echo, EOF
marks, ISIG characters, raw mode and output processing."""
import signal

from kvmsentry.kernel.tty import termios as t
from kvmsentry.kernel.tty.line_discipline import LineDiscipline


def fresh():
    return LineDiscipline(t.Termios())


def test_canonical_editing_and_echo():
    ld = fresh()
    _, echo, sigs = ld.receive(b"ab\x7fc\x15xy\r")
    assert sigs == [] and ld.take(100) == b"xy\n"
    assert echo == b"ab\b \bc" + b"\b \b" * 2 + b"xy\r\n"


def test_eof_marks_and_one_line_per_read():
    ld = fresh()
    ld.receive(b"l1\nl2\n\x04")
    assert [ld.take(100), ld.take(1), ld.take(100), ld.take(100)] == [b"l1\n", b"l", b"2\n", b""]
    assert not ld.has_input()


def test_isig_flushes_and_signals():
    ld = fresh()
    _, echo, sigs = ld.receive(b"typed\x03")
    assert sigs == [signal.SIGINT] and echo == b"^C" and ld.output_flushed
    assert not ld.has_input()
    ld.termios.lflag |= t.NOFLSH
    _, echo, sigs = ld.receive(b"ab\x1c\x1a")
    assert sigs == [signal.SIGQUIT, signal.SIGTSTP] and echo == b"ab^\\^Z"


def test_raw_mode_keeps_partial_line_and_bytes():
    ld = fresh()
    ld.receive(b"part")
    raw = ld.termios.copy()
    raw.lflag &= ~(t.ICANON | t.ECHO | t.ISIG)
    raw.iflag &= ~t.ICRNL
    ld.set_termios(raw)
    ld.receive(b"\r\x03")
    assert ld.take(3) == b"par" and ld.take(100) == b"t\r\x03"


def test_output_processing():
    ld = fresh()
    assert ld.process_output(b"a\nb") == b"a\r\nb"
    ld.termios.oflag &= ~t.OPOST
    assert ld.process_output(b"a\nb") == b"a\nb"


def test_buffer_room():
    """4095 bytes are held; a full buffer stops taking input, except
    canonical input while no whole line waits (erase must still work)."""
    ld = fresh()
    raw = ld.termios.copy()
    raw.lflag &= ~(t.ICANON | t.ECHO)
    ld.set_termios(raw)
    assert ld.receive(b"x" * 5000)[0] == 4095 and ld.readable() == 4095
    ld.take(10)
    assert ld.receive(b"y" * 20)[0] == 10
    ld.set_termios(fresh().termios)                                   # back to canonical
    assert ld.take(5000) == b"x" * 4085 + b"y" * 10                    # one line now
    assert ld.receive(b"z" * 5000)[0] == 5000                         # no line waits
    assert ld.receive(b"\x7f\n")[0] == 2 and ld.take(5000) == b"z" * 4094 + b"\n"
    ld.receive(b"a" * 4000 + b"\n")
    assert ld.receive(b"b" * 200)[0] == 94 and ld.receive(b"b")[0] == 0
