"""N_TTY, the line discipline between a terminal's two sides.

Input (what the master writes, or the user types) goes through
receive(): ICRNL/INLCR/IGNCR, the ISIG characters (which become signals
for the foreground process group and, unless NOFLSH, flush the input),
canonical editing (VERASE, VWERASE, VKILL, VEOF, end of line) and echo.
Output (what the slave writes) goes through process_output(): OPOST
with ONLCR/OCRNL. The discipline keeps the readable input; the pty
(kernel/tty/pty.py) does locking, blocking and VMIN/VTIME.
"""
import signal

from kvmsentry.kernel.tty import termios as t

CANON_MAX = 4095                 # N_TTY_BUF_SIZE - 1: longer lines lose the rest
RAW_MAX = 64 * 1024              # input kept for a raw reader that does not read
NL, CR = 0x0A, 0x0D


def _echo_width(c):
    """Columns an echoed character took: ^X for control characters
    (ECHOCTL), 1 otherwise."""
    return 2 if c < 0x20 and c not in (0x09, NL) or c == 0x7F else 1


class LineDiscipline:
    def __init__(self, termios):
        self.termios = termios
        self.line = bytearray()          # the canonical line being edited
        self.widths = []                 # its characters' echo widths
        self.chunks = []                 # readable input: lines (canonical) or bytes
        self.output_flushed = False      # the last receive() discarded pending output

    # --- state ------------------------------------------------------------------
    def readable(self):
        return sum(len(c) for c in self.chunks)

    def has_input(self):
        """Something a read would return now (an empty chunk is an EOF)."""
        return bool(self.chunks)

    def flush_input(self):
        self.line.clear()
        self.widths.clear()
        self.chunks.clear()

    def set_termios(self, new):
        """TCSETS: leaving canonical mode makes the partial line readable
        (as n_tty_set_termios does)."""
        was_canonical = self.termios.is_canonical()
        self.termios = new
        if was_canonical and not new.is_canonical() and self.line:
            self.chunks.append(bytes(self.line))
            self.line.clear()
            self.widths.clear()

    # --- reading ---------------------------------------------------------------
    def take(self, count):
        """Up to count bytes of input: one line at most in canonical mode,
        b"" at an EOF mark."""
        if not self.chunks or count <= 0:
            return b""
        if self.termios.is_canonical():
            head = self.chunks[0]
            if len(head) <= count:
                self.chunks.pop(0)
                return head
            self.chunks[0] = head[count:]
            return head[:count]
        out = bytearray()
        while self.chunks and len(out) < count:
            head = self.chunks.pop(0)
            room = count - len(out)
            out += head[:room]
            if len(head) > room:
                self.chunks.insert(0, head[room:])
        return bytes(out)

    # --- input -------------------------------------------------------------------
    def receive(self, data):
        """Process typed bytes. Returns (echo bytes for the output side,
        [signals for the foreground process group])."""
        tio = self.termios
        echo = bytearray()
        signals = []
        self.output_flushed = False
        canonical = tio.is_canonical()
        cc = tio.cc
        for c in data:
            if tio.iflag & t.ISTRIP:
                c &= 0x7F
            if c == CR:
                if tio.iflag & t.IGNCR:
                    continue
                if tio.iflag & t.ICRNL:
                    c = NL
            elif c == NL and tio.iflag & t.INLCR:
                c = CR
            if tio.lflag & t.ISIG and c:
                sig = {cc[t.VINTR]: signal.SIGINT, cc[t.VQUIT]: signal.SIGQUIT,
                       cc[t.VSUSP]: signal.SIGTSTP}.get(c)
                if sig is not None:
                    if not tio.lflag & t.NOFLSH:
                        # isig() flushes both ways: pending echo goes too.
                        self.flush_input()
                        echo.clear()
                        self.output_flushed = True
                    if tio.lflag & t.ECHO:
                        echo += self._echo_char(c)
                    signals.append(sig)
                    continue
            if canonical:
                self._canonical(c, echo)
            else:
                if self.readable() < RAW_MAX:
                    self.chunks.append(bytes([c]))
                if tio.lflag & t.ECHO:
                    echo += self._echo_char(c)
        return bytes(echo), signals

    def _canonical(self, c, echo):
        tio, cc = self.termios, self.termios.cc
        lflag = tio.lflag
        if c and c == cc[t.VERASE]:
            self._erase(1, echo)
        elif c and c == cc[t.VWERASE] and lflag & t.IEXTEN:
            n = 0
            while n < len(self.line) and self.line[-1 - n] in b" \t":
                n += 1
            while n < len(self.line) and self.line[-1 - n] not in b" \t":
                n += 1
            self._erase(n, echo)
        elif c and c == cc[t.VKILL]:
            if lflag & t.ECHO and lflag & t.ECHOK and not lflag & t.ECHOKE:
                echo += self._echo_char(c) + b"\n"     # ECHOK without ECHOKE: a new line
                self.line.clear()
                self.widths.clear()
            else:
                self._erase(len(self.line), echo)
        elif c and c == cc[t.VEOF]:
            self.chunks.append(bytes(self.line))
            self.line.clear()
            self.widths.clear()
        elif c == NL or (c and c in (cc[t.VEOL], cc[t.VEOL2])):
            if lflag & t.ECHO or (c == NL and lflag & t.ECHONL):
                echo += self._echo_char(c)
            self.chunks.append(bytes(self.line) + bytes([c]))
            self.line.clear()
            self.widths.clear()
        else:
            if len(self.line) >= CANON_MAX:
                return
            self.line.append(c)
            self.widths.append(_echo_width(c) if lflag & t.ECHOCTL else 1)
            if lflag & t.ECHO:
                echo += self._echo_char(c)

    def _erase(self, n, echo):
        lflag = self.termios.lflag
        for _ in range(n):
            if not self.line:
                break
            self.line.pop()
            width = self.widths.pop()
            if lflag & t.ECHO and lflag & t.ECHOE:
                echo += b"\b \b" * width
            elif lflag & t.ECHO:
                echo += bytes([self.termios.cc[t.VERASE]])

    def _echo_char(self, c):
        """How an input character echoes: ^X for control characters under
        ECHOCTL, through output processing."""
        if self.termios.lflag & t.ECHOCTL and _echo_width(c) == 2:
            return b"^" + bytes([c ^ 0x40])
        return self.process_output(bytes([c]))

    # --- output --------------------------------------------------------------------
    def process_output(self, data):
        """OPOST: the bytes the output side receives for data written."""
        oflag = self.termios.oflag
        if not oflag & t.OPOST or not oflag & (t.ONLCR | t.OCRNL):
            return bytes(data)
        out = bytearray()
        for c in data:
            if c == NL and oflag & t.ONLCR:
                out += b"\r\n"
            elif c == CR and oflag & t.OCRNL:
                out.append(NL)
            else:
                out.append(c)
        return bytes(out)
