"""struct termios as the kernel's TCGETS/TCSETS exchange it (36 bytes:
four flag words, c_line, 19 control characters) and the flag bits the
line discipline acts on (asm-generic/termbits.h)."""
import struct

FORMAT = "<IIIIB19s"
SIZE = struct.calcsize(FORMAT)           # 36
SPEEDS = struct.Struct("<II")            # struct termios2's c_ispeed, c_ospeed after them
SIZE2 = SIZE + SPEEDS.size               # 44

# c_iflag
IGNBRK, BRKINT, IGNPAR, PARMRK, INPCK, ISTRIP = 0o1, 0o2, 0o4, 0o10, 0o20, 0o40
INLCR, IGNCR, ICRNL, IUCLC, IXON = 0o100, 0o200, 0o400, 0o1000, 0o2000
IUTF8 = 0o40000
# c_oflag
OPOST, OLCUC, ONLCR, OCRNL, ONOCR, ONLRET = 0o1, 0o2, 0o4, 0o10, 0o20, 0o40
TABDLY, XTABS = 0o14000, 0o14000
# c_cflag
B38400, CS8, CREAD, HUPCL = 0o17, 0o60, 0o200, 0o2000
CBAUD, BOTHER, IBSHIFT = 0o10017, 0o10000, 16
# The Bnnn codes' rates (B0..B38400, then CBAUDEX's B57600..B4000000).
BAUD_RATES = dict(zip(range(16), (0, 50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400,
                                  4800, 9600, 19200, 38400)))
BAUD_RATES.update(zip(range(0o10001, 0o10020), (57600, 115200, 230400, 460800, 500000, 576000,
                                                921600, 1000000, 1152000, 1500000, 2000000,
                                                2500000, 3000000, 3500000, 4000000)))
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

    __slots__ = ("iflag", "oflag", "cflag", "lflag", "line", "cc", "ispeed", "ospeed")

    # A pty's c_cflag (pty_init's B38400 | CS8 | CREAD: no HUPCL, unlike a real line's).
    def __init__(self, iflag=ICRNL | IXON, oflag=OPOST | ONLCR,
                 cflag=B38400 | CS8 | CREAD,
                 lflag=ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
                 line=0, cc=DEFAULT_CC, speeds=None):
        self.iflag, self.oflag, self.cflag, self.lflag = iflag, oflag, cflag, lflag
        self.line = line
        self.cc = bytearray(cc)
        self.ispeed, self.ospeed = self._speeds(*(speeds or (0, 0)))

    def _speeds(self, ispeed, ospeed):
        """The rates set_termios stores: what the Bnnn codes name, the
        given ones only for BOTHER; the input code (CIBAUD) B0 means the
        output rate."""
        code_out, code_in = self.cflag & CBAUD, (self.cflag >> IBSHIFT) & CBAUD
        out = ospeed if code_out == BOTHER else BAUD_RATES.get(code_out, 0)
        if code_in == 0:
            return out, out
        return (ispeed if code_in == BOTHER else BAUD_RATES.get(code_in, 0)), out

    @classmethod
    def from_bytes(cls, data):
        iflag, oflag, cflag, lflag, line, cc = struct.unpack(FORMAT, data[:SIZE])
        return cls(iflag, oflag, cflag, lflag, line, cc)

    @classmethod
    def from_bytes2(cls, data):
        """struct termios2 (TCSETS2): explicit rates are kept."""
        iflag, oflag, cflag, lflag, line, cc = struct.unpack(FORMAT, data[:SIZE])
        return cls(iflag, oflag, cflag, lflag, line, cc, SPEEDS.unpack_from(data, SIZE))

    def to_bytes(self):
        return struct.pack(FORMAT, self.iflag, self.oflag, self.cflag, self.lflag,
                           self.line, bytes(self.cc))

    def to_bytes2(self):
        return self.to_bytes() + SPEEDS.pack(self.ispeed, self.ospeed)

    def copy(self):
        return Termios.from_bytes2(self.to_bytes2())

    def is_canonical(self):
        return bool(self.lflag & ICANON)

    def char(self, index):
        """The control character at index, or None when disabled (0)."""
        c = self.cc[index]
        return c if c else None
