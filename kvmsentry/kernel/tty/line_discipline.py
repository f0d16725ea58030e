"""N_TTY, the line discipline between a terminal's two sides.

Input (what the master writes, or the user types) goes through
receive(): ICRNL/INLCR/IGNCR, the ISIG characters (which become signals
for the foreground process group and, unless NOFLSH, flush the input),
canonical editing (VERASE, VWERASE, VKILL, VEOF, end of line) and echo,
as long as its buffer (N_TTY_BUF_SIZE) has room: what it cannot take
stays with the caller (the pty's backlog) until a reader makes room.
Output (what the slave writes) goes through process_output(): OPOST
with ONLCR/OCRNL. The discipline keeps the readable input; the pty
(kernel/tty/pty.py) does locking, blocking and VMIN/VTIME.
"""
import _signal as signal      # (signal.py adds only enums, and imports enum)

from kvmsentry.kernel.tty import termios as t

BUF_MAX = 4095                   # N_TTY_BUF_SIZE - 1: input held, lines and raw bytes alike
NL, CR, TAB, BS = 0x0A, 0x0D, 0x09, 0x08


def _isalnum(c):
    """The kernel's isalnum (its ctype table is Latin-1)."""
    return 0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A or \
        (c >= 0xC0 and c not in (0xD7, 0xF7))


def _echo_width(c):
    """Columns an echoed character took: ^X for control characters
    (ECHOCTL), 1 otherwise."""
    return 2 if c < 0x20 and c not in (0x09, NL) or c == 0x7F else 1


class LineDiscipline:
    def __init__(self, termios):
        self.termios = termios
        self.line = bytearray()          # the canonical line being edited
        self.widths = []                 # its characters' echo widths
        self.chunks = []                 # readable input: lines (bytes), raw runs (bytearray)
        self.count = 0                   # bytes in chunks
        self.output_flushed = False      # the last receive() discarded pending output
        self.column = 0                  # the output's column, for ONOCR and tab expansion

    # --- state ------------------------------------------------------------------
    def readable(self):
        return self.count

    def has_input(self):
        """Something a read would return now (an empty chunk is an EOF)."""
        return bool(self.chunks)

    def flush_input(self):
        self.line.clear()
        self.widths.clear()
        self.chunks.clear()
        self.count = 0

    def set_termios(self, new):
        """TCSETS, as n_tty_set_termios: leaving canonical mode makes the
        partial line readable; entering it makes everything unread one
        line (the buffer's line marks are cleared and one is set at its
        end)."""
        was_canonical = self.termios.is_canonical()
        self.termios = new
        if was_canonical and not new.is_canonical() and self.line:
            self._append(bytes(self.line))
            self.line.clear()
            self.widths.clear()
        elif not was_canonical and new.is_canonical() and self.count:
            self.chunks = [b"".join(self.chunks)]

    def _append(self, chunk):
        self.chunks.append(chunk)
        self.count += len(chunk)

    def has_room(self):
        """Whether receive() takes another byte now: n_tty_receive_buf's
        rule. A full buffer still takes canonical input while no whole
        line is waiting, so that erase characters work (the excess is
        dropped)."""
        if self.count + len(self.line) < BUF_MAX:
            return True
        return self.termios.is_canonical() and not self.chunks

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
                self.count -= len(head)
                return bytes(head)
            self.chunks[0] = head[count:]
            self.count -= count
            return bytes(head[:count])
        out = bytearray()
        while self.chunks and len(out) < count:
            head = self.chunks.pop(0)
            room = count - len(out)
            out += head[:room]
            if len(head) > room:
                self.chunks.insert(0, head[room:])
        self.count -= len(out)
        return bytes(out)

    # --- input -------------------------------------------------------------------
    def receive(self, data):
        """Process typed bytes while there is room. Returns (how many were
        taken, echo bytes for the output side, [signals for the
        foreground process group])."""
        tio = self.termios
        echo = bytearray()
        signals = []
        self.output_flushed = False
        canonical = tio.is_canonical()
        cc = tio.cc
        taken = 0
        for c in data:
            if not self.has_room():
                break
            taken += 1
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
                if self.chunks and type(self.chunks[-1]) is bytearray:
                    self.chunks[-1].append(c)
                else:
                    self.chunks.append(bytearray((c,)))
                self.count += 1
                if tio.lflag & t.ECHO:
                    echo += self._echo_char(c)
        return taken, bytes(echo), signals

    def _canonical(self, c, echo):
        tio, cc = self.termios, self.termios.cc
        lflag = tio.lflag
        if c and c == cc[t.VERASE]:
            self._erase(1, echo)
        elif c and c == cc[t.VWERASE] and lflag & t.IEXTEN:
            self._erase(len(self.line), echo, word=True)
        elif c and c == cc[t.VKILL]:
            if lflag & t.ECHO and lflag & t.ECHOK and not lflag & t.ECHOKE:
                echo += self._echo_char(c) + b"\n"     # ECHOK without ECHOKE: a new line
                self.line.clear()
                self.widths.clear()
            else:
                self._erase(len(self.line), echo)
        elif c and c == cc[t.VEOF]:
            self._append(bytes(self.line))
            self.line.clear()
            self.widths.clear()
        elif c == NL or (c and c in (cc[t.VEOL], cc[t.VEOL2])):
            if lflag & t.ECHO or (c == NL and lflag & t.ECHONL):
                echo += self._echo_char(c)
            self._append(bytes(self.line) + bytes([c]))
            self.line.clear()
            self.widths.clear()
        else:
            if len(self.line) + self.count >= BUF_MAX:
                return
            self.line.append(c)
            self.widths.append(_echo_width(c) if lflag & t.ECHOCTL else 1)
            if lflag & t.ECHO:
                echo += self._echo_char(c)

    def _erase(self, n, echo, word=False):
        """Erase up to n characters from the end of the line; a word erase
        (n_tty's ALTWERASE) stops at the first non-alphanumeric character
        before which it has erased an alphanumeric one."""
        lflag, utf8 = self.termios.lflag, self.termios.iflag & t.IUTF8
        line = self.line
        seen_alnum = False
        for _ in range(n):
            if not line:
                break
            # Under IUTF8 a character's continuation bytes go with it, and
            # a line of continuation bytes alone is not erased at all.
            start = len(line) - 1
            while utf8 and start > 0 and line[start] & 0xC0 == 0x80:
                start -= 1
            if utf8 and line[start] & 0xC0 == 0x80:
                break
            if word:
                if _isalnum(line[start]) or line[start] == 0x5F:
                    seen_alnum = True
                elif seen_alnum:
                    break
            width = self.widths[start]
            del line[start:]
            del self.widths[start:]
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
        """OPOST: the bytes the output side receives for data written, as
        n_tty's do_output_char, which keeps the column: ONLCR, OCRNL,
        ONOCR (no CR at column 0), ONLRET, OLCUC, XTABS."""
        oflag = self.termios.oflag
        if not oflag & t.OPOST:
            return bytes(data)
        utf8 = self.termios.iflag & t.IUTF8
        column, out = self.column, bytearray()
        for c in data:
            if c == NL:
                if oflag & t.ONLRET:
                    column = 0
                if oflag & t.ONLCR:
                    column = 0
                    out += b"\r\n"
                    continue
            elif c == CR:
                if oflag & t.ONOCR and column == 0:
                    continue
                if oflag & t.OCRNL:
                    c = NL
                    if oflag & t.ONLRET:
                        column = 0
                else:
                    column = 0
            elif c == TAB:
                spaces = 8 - (column & 7)
                column += spaces
                if oflag & t.TABDLY == t.XTABS:
                    out += b" " * spaces
                    continue
            elif c == BS:
                column = max(column - 1, 0)
            elif not (c < 0x20 or 0x7F <= c <= 0x9F):     # the kernel's iscntrl
                if oflag & t.OLCUC and 0x61 <= c <= 0x7A:
                    c -= 0x20
                if not (utf8 and c & 0xC0 == 0x80):
                    column += 1
            out.append(c)
        self.column = column
        return bytes(out)
