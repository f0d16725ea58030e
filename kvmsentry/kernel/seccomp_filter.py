"""seccomp filters: classic BPF programs checked as Linux checks them
(bpf_check_classic + seccomp_check_filter) and run by a small
interpreter over struct seccomp_data, once per syscall of a task that
has any.

A task's filters are a chain (newest first) shared with the children
that inherit it: installing a filter makes a new head pointing at the
old chain, so a fork child keeps seeing exactly what it inherited.
"""
import errno
import struct

from kvmsentry.errors import SyscallError

BPF_MAXINSNS = 4096
MAX_INSNS_PER_PATH = 32768          # all filters of a chain, 4 extra each
BPF_MEMWORDS = 16
SECCOMP_DATA_SIZE = 64              # nr, arch, instruction_pointer, args[6]
AUDIT_ARCH_X86_64 = 0xC000003E

# classic BPF opcode fields
LD, LDX, ST, STX, ALU, JMP, RET, MISC = range(8)
W, H, B = 0x00, 0x08, 0x10
IMM, ABS, IND, MEM, LEN, MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0)
JA, JEQ, JGT, JGE, JSET = 0x00, 0x10, 0x20, 0x30, 0x40
K, X = 0x00, 0x08
RET_A = 0x10
TAX, TXA = 0x00, 0x80
U32 = 0xFFFFFFFF

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_LOG = 0x7FFC0000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ACTION_FULL = 0xFFFF0000
SECCOMP_RET_DATA = 0x0000FFFF

_ALU_OPS = {ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, XOR}     # no MOD for seccomp
_JMP_OPS = {JEQ, JGT, JGE, JSET}


def _check(prog):
    """EINVAL unless prog [(code, jt, jf, k)] is a filter Linux accepts;
    returns it with seccomp's rewrites (LEN loads become immediates)."""
    n = len(prog)
    if n == 0 or n > BPF_MAXINSNS:
        raise SyscallError(errno.EINVAL)
    out = []
    for pc, (code, jt, jf, k) in enumerate(prog):
        cls = code & 7
        if cls in (LD, LDX):
            mode, size = code & 0xE0, code & 0x18
            if code == LD | W | ABS:
                if k >= SECCOMP_DATA_SIZE or k & 3:
                    raise SyscallError(errno.EINVAL)
            elif code in (LD | W | LEN, LDX | W | LEN):
                code, k = (cls | IMM), SECCOMP_DATA_SIZE
            elif mode == IMM and size == 0:
                pass
            elif mode == MEM and size == 0:
                if k >= BPF_MEMWORDS:
                    raise SyscallError(errno.EINVAL)
            else:
                raise SyscallError(errno.EINVAL)
        elif cls in (ST, STX):
            if code not in (ST, STX) or k >= BPF_MEMWORDS:
                raise SyscallError(errno.EINVAL)
        elif cls == ALU:
            op, src = code & 0xF0, code & 0x08
            if op not in _ALU_OPS or code & 0x07 != ALU or (op == NEG and src):
                raise SyscallError(errno.EINVAL)
            if src == K and (op == DIV and k == 0 or op in (LSH, RSH) and k >= 32):
                raise SyscallError(errno.EINVAL)
        elif cls == JMP:
            op = code & 0xF0
            if op == JA:
                if code != JMP | JA or k >= n - pc - 1:
                    raise SyscallError(errno.EINVAL)
            elif op in _JMP_OPS:
                if pc + jt + 1 >= n or pc + jf + 1 >= n:
                    raise SyscallError(errno.EINVAL)
            else:
                raise SyscallError(errno.EINVAL)
        elif cls == RET:
            if code not in (RET | K, RET | RET_A):
                raise SyscallError(errno.EINVAL)
        elif cls == MISC:
            if code not in (MISC | TAX, MISC | TXA):
                raise SyscallError(errno.EINVAL)
        out.append((code, jt, jf, k))
    if out[-1][0] & 7 != RET:
        raise SyscallError(errno.EINVAL)
    _check_memory(out)
    return out


def _check_memory(prog):
    """Linux's check_load_and_stores(): no scratch word is read on a path
    where it was not written first."""
    valid = [None] * len(prog)
    valid[0] = 0
    for pc, (code, jt, jf, k) in enumerate(prog):
        known = valid[pc]
        if known is None:
            continue                    # unreachable
        if code in (ST, STX):
            known |= 1 << k
        elif code in (LD | MEM, LDX | MEM) and not known >> k & 1:
            raise SyscallError(errno.EINVAL)
        cls = code & 7
        targets = []
        if cls == JMP:
            targets = [pc + 1 + k] if code & 0xF0 == JA else [pc + 1 + jt, pc + 1 + jf]
        elif cls != RET:
            targets = [pc + 1]
        for t in targets:
            valid[t] = known if valid[t] is None else valid[t] & known


def run(prog, data):
    """Run one checked program over the seccomp_data bytes; its 32-bit
    return value."""
    a = x = 0
    mem = [0] * BPF_MEMWORDS
    pc = 0
    while True:
        code, jt, jf, k = prog[pc]
        pc += 1
        cls = code & 7
        if cls == LD:
            if code == LD | W | ABS:
                a = struct.unpack_from("<I", data, k)[0]
            elif code & 0xE0 == MEM:
                a = mem[k]
            else:
                a = k
        elif cls == LDX:
            x = mem[k] if code & 0xE0 == MEM else k
        elif cls == ST:
            mem[k] = a
        elif cls == STX:
            mem[k] = x
        elif cls == ALU:
            op = code & 0xF0
            v = x if code & X else k
            if op == ADD:
                a = (a + v) & U32
            elif op == SUB:
                a = (a - v) & U32
            elif op == MUL:
                a = (a * v) & U32
            elif op == DIV:
                if v == 0:
                    return 0                 # division by zero ends the program with 0
                a //= v
            elif op == OR:
                a |= v
            elif op == AND:
                a &= v
            elif op == LSH:
                a = (a << (v & 31)) & U32
            elif op == RSH:
                a >>= v & 31
            elif op == NEG:
                a = -a & U32
            else:
                a ^= v
        elif cls == JMP:
            op = code & 0xF0
            if op == JA:
                pc += k
                continue
            v = x if code & X else k
            if op == JEQ:
                hit = a == v
            elif op == JGT:
                hit = a > v
            elif op == JGE:
                hit = a >= v
            else:
                hit = bool(a & v)
            pc += jt if hit else jf
        elif cls == RET:
            return a if code & RET_A else k
        else:
            if code == MISC | TAX:
                x = a
            else:
                a = x


class Filter:
    """One installed filter and the chain it was installed on top of."""

    __slots__ = ("prog", "prev", "log", "total")

    def __init__(self, prog, prev, log=False):
        self.prog = prog
        self.prev = prev
        self.log = log
        self.total = len(prog) + 4 + (prev.total if prev is not None else 0)
        if self.total > MAX_INSNS_PER_PATH:
            raise SyscallError(errno.ENOMEM)

    def is_descendant_of(self, other):
        """True if other is this filter or one it was installed on."""
        f = self
        while f is not None:
            if f is other:
                return True
            f = f.prev
        return other is None


def compile_filter(raw, prev, log=False):
    """A new chain head from the raw sock_filter array bytes."""
    count = len(raw) // 8
    prog = _check([struct.unpack_from("<HBBI", raw, 8 * i) for i in range(count)])
    return Filter(prog, prev, log)


def action_rank(ret):
    """Linux's ACTION_ONLY(): lower is stronger (KILL_PROCESS, negative as
    an s32, is strongest)."""
    v = ret & SECCOMP_RET_ACTION_FULL
    return v - (1 << 32) if v & 0x80000000 else v


def evaluate(chain, nr, ip, args):
    """The filters' verdict for a syscall: the strongest return value of
    all filters in the chain (the newest wins a tie)."""
    data = struct.pack("<iIQ6Q", nr, AUDIT_ARCH_X86_64, ip, *args)
    best = None
    f = chain
    while f is not None:
        ret = run(f.prog, data)
        if best is None or action_rank(ret) < action_rank(best):
            best = ret
        f = f.prev
    return best


class Strict:
    """SECCOMP_MODE_STRICT: read, write, exit and rt_sigreturn only."""

    ALLOWED = frozenset({0, 1, 60, 15})


def mode_of(state):
    """SECCOMP_MODE_* of a task's state (None, Strict or a Filter chain)."""
    if state is None:
        return 0
    return 1 if state is Strict else 2


def count(state):
    """How many filters a chain holds (/proc/PID/status Seccomp_filters)."""
    n = 0
    while isinstance(state, Filter):
        n += 1
        state = state.prev
    return n
