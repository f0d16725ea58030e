"""strace-style tracing of the sandbox's syscalls (--strace)."""
import errno
import os
import signal
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.syscalls.args import i32, i64

MAX_STRING = 32
MAX_IOV = 8


def _quote(data, limit=MAX_STRING):
    out = []
    for b in data[:limit]:
        c = chr(b)
        if c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif c == '"' or c == "\\":
            out.append("\\" + c)
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append("\\%o" % b)
    return '"%s"%s' % ("".join(out), "..." if len(data) > limit else "")


def _errname(err):
    return "%s (%s)" % (errno.errorcode.get(err, str(err)), os.strerror(err))


class Strace:
    def __init__(self, out):
        self.out = out
        self._pending = {}            # tid -> decoded arguments of the call in flight

    def _fmt(self, task, kind, args, index, result):
        value = args[index]
        mm = task.mm
        try:
            if kind == "fd" or kind == "int":
                v = i32(value)
                return "AT_FDCWD" if kind == "fd" and v == -100 else str(v)
            if kind == "uint":
                return str(value)
            if kind == "hex":
                return hex(value)
            if kind == "ptr":
                return "NULL" if value == 0 else hex(value)
            if kind == "sig":
                v = i32(value)
                try:
                    return signal.Signals(v).name
                except ValueError:
                    return str(v)
            if kind == "str":
                return _quote(mm.read_cstring(value, 4096), 256) if value else "NULL"
            if kind.startswith("in:"):
                n = min(args[int(kind[3:])], MAX_STRING + 1)
                return _quote(mm.copy_in(value, n))
            if kind.startswith("out:"):
                if result is None or result < 0:
                    return hex(value)
                return _quote(mm.copy_in(value, min(result, MAX_STRING + 1)))
            if kind.startswith("iov:") or kind.startswith("oiov:"):
                if kind.startswith("oiov:") and (result is None or result < 0):
                    return hex(value)
                count = i32(args[int(kind.split(":")[1])])
                raw = mm.copy_in(value, 16 * min(max(count, 0), MAX_IOV))
                parts = []
                for i in range(len(raw) // 16):
                    base, length = struct.unpack_from("<QQ", raw, 16 * i)
                    data = mm.copy_in(base, min(length, MAX_STRING + 1))
                    parts.append("{iov_base=%s, iov_len=%d}" % (_quote(data), length))
                more = "..." if count > MAX_IOV else ""
                return "[%s%s]" % (", ".join(parts), more)
        except SyscallError:
            return hex(value)
        return hex(value)

    def enter(self, task, entry, args):
        # Buffers the call prints after it returns; everything else is
        # decoded now, before the handler can change it.
        pending = self._pending[task.tid] = [
            None if k.startswith(("out:", "oiov:")) else self._fmt(task, k, args, i, None)
            for i, k in enumerate(entry.args)]
        if entry.name in ("exit_group", "exit", "execve"):
            self._emit(task, "%s(%s) = ?" % (entry.name, ", ".join(
                p or "..." for p in pending)))

    def leave(self, task, entry, args, result):
        pending = self._pending.pop(task.tid, [])
        shown = [p if p is not None else self._fmt(task, entry.args[i], args, i, result)
                 for i, p in enumerate(pending)]
        self._emit(task, "%s(%s) = %s" % (entry.name, ", ".join(shown),
                                          self._result(entry, result)))

    def unimplemented(self, task, nr, entry, regs):
        name = entry.name if entry is not None else "syscall_%d" % nr
        args = ", ".join(hex(v) for v in (regs.rdi, regs.rsi, regs.rdx))
        self._emit(task, "%s(%s, ...) = -1 ENOSYS (Function not implemented)"
                   " [unimplemented in kvmsentry]" % (name, args))

    def exited_group(self, tgid, status):
        prefix = "" if tgid == 1 else "[pid %d] " % tgid
        if status & 0x7F:
            sig = status & 0x7F
            line = "+++ killed by %s +++" % signal.Signals(sig).name
        else:
            line = "+++ exited with %d +++" % (status >> 8)
        self._write(prefix + line + "\n")

    @staticmethod
    def _result(entry, result):
        if result < 0 and result >= -4095:
            return "-1 %s" % _errname(-result)
        if entry.name in ("mmap", "brk", "mremap"):
            return hex(result)
        return str(i64(result))

    def _emit(self, task, line):
        # Like strace -f: lines of any task but the first carry its tid.
        prefix = "" if task.tid == 1 else "[pid %d] " % task.tid
        self._write(prefix + line + "\n")

    def _write(self, text):
        """One trace line. When the reader of the sentry's stderr is gone
        (`--strace ... 2>&1 | head -1`) tracing stops and the program runs
        on, as if strace had been detached."""
        if self.out is None:
            return
        try:
            self.out.write(text)
            self.out.flush()
        except (OSError, ValueError):
            self.out = None
