"""struct termios as the kernel's TCGETS/TCSETS exchange it (36 bytes:
four flag words, c_line, 19 control characters) and the flag bits the
line discipline acts on (asm-generic/termbits.h)."""
import struct

FORMAT = "<IIIIB19s"
SIZE = struct.calcsize(FORMAT)           # 36

# c_iflag
IGNBRK, BRKINT, IGNPAR, PARMRK, INPCK, ISTRIP = 0o1, 0o2, 0o4, 0o10, 0o20, 0o40
INLCR, IGNCR, ICRNL, IUCLC, IXON = 0o100, 0o200, 0o400, 0o1000, 0o2000
IUTF8 = 0o40000
# c_oflag
OPOST, OLCUC, ONLCR, OCRNL, ONOCR, ONLRET = 0o1, 0o2, 0o4, 0o10, 0o20, 0o40
# c_cflag
B38400, CS8, CREAD, HUPCL = 0o17, 0o60, 0o200, 0o2000
# c_lflag
ISIG, ICANON, ECHO, ECHOE, ECHOK, ECHONL, NOFLSH, TOSTOP = \
    0o1, 0o2, 0o10, 0o20, 0o40, 0o100, 0o200, 0o400
ECHOCTL, ECHOPRT, ECHOKE, IEXTEN, EXTPROC = 0o1000, 0o2000, 0o4000, 0o100000, 0o200000
# c_cc indices
VINTR, VQUIT, VERASE, VKILL, VEOF, VTIME, VMIN, VSWTC = range(8)
VSTART, VSTOP, VSUSP, VEOL, VREPRINT, VDISCARD, VWERASE, VLNEXT, VEOL2 = range(8, 17)
NCCS = 19

# Linux's tty_std_termios (drivers/tty/tty_io.c), which a new pty slave gets.
DEFAULT_CC = bytes([3, 0x1c, 0x7f, 0x15, 4, 0, 1, 0, 0x11, 0x13, 0x1a, 0, 0x12,
                    0x0f, 0x17, 0x16, 0, 0, 0])


class Termios:
    """One terminal's settings."""

    __slots__ = ("iflag", "oflag", "cflag", "lflag", "line", "cc")

    def __init__(self, iflag=ICRNL | IXON, oflag=OPOST | ONLCR,
                 cflag=B38400 | CS8 | CREAD | HUPCL,
                 lflag=ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
                 line=0, cc=DEFAULT_CC):
        self.iflag, self.oflag, self.cflag, self.lflag = iflag, oflag, cflag, lflag
        self.line = line
        self.cc = bytearray(cc)

    @classmethod
    def from_bytes(cls, data):
        iflag, oflag, cflag, lflag, line, cc = struct.unpack(FORMAT, data[:SIZE])
        return cls(iflag, oflag, cflag, lflag, line, cc)

    def to_bytes(self):
        return struct.pack(FORMAT, self.iflag, self.oflag, self.cflag, self.lflag,
                           self.line, bytes(self.cc))

    def copy(self):
        return Termios.from_bytes(self.to_bytes())

    def is_canonical(self):
        return bool(self.lflag & ICANON)

    def char(self, index):
        """The control character at index, or None when disabled (0)."""
        c = self.cc[index]
        return c if c else None
