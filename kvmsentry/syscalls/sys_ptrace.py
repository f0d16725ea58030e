"""ptrace(2): the request decoder. The state and the stops are
kernel/ptrace.py's; register layouts kernel/ptrace_regs.py's; memory
access kernel/ptrace_mem.py's."""
import errno
import struct

from kvmsentry.errors import SyscallError
from kvmsentry.kernel import ptrace, ptrace_mem
from kvmsentry.kernel import ptrace_regs as pr
from kvmsentry.kernel import signals as sg
from kvmsentry.kernel.process_tree import status_signaled
from kvmsentry.syscalls.args import i32

TRACEME, PEEKTEXT, PEEKDATA, PEEKUSER, POKETEXT, POKEDATA, POKEUSER = range(7)
CONT, KILL, SINGLESTEP = 7, 8, 9
GETREGS, SETREGS, GETFPREGS, SETFPREGS, ATTACH, DETACH = 12, 13, 14, 15, 16, 17
SYSCALL, ARCH_PRCTL, SYSEMU, SYSEMU_SINGLESTEP = 24, 30, 31, 32
SETOPTIONS, GETEVENTMSG, GETSIGINFO, SETSIGINFO = 0x4200, 0x4201, 0x4202, 0x4203
GETREGSET, SETREGSET, SEIZE, INTERRUPT, LISTEN = 0x4204, 0x4205, 0x4206, 0x4207, 0x4208
GETSIGMASK, SETSIGMASK, GET_SYSCALL_INFO = 0x420A, 0x420B, 0x420E
NT_PRSTATUS, NT_PRFPREG, NT_X86_XSTATE = 1, 2, 0x202
ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS, ARCH_GET_GS = 0x1001, 0x1002, 0x1003, 0x1004
AUDIT_ARCH_X86_64 = 0xC000003E
CAP_SYS_PTRACE = 19
_RESUME = {CONT: ptrace.CONT, SYSCALL: ptrace.SYSCALL, SINGLESTEP: ptrace.SINGLESTEP,
           SYSEMU: ptrace.SYSEMU, SYSEMU_SINGLESTEP: ptrace.SINGLESTEP}


def ptrace_(task, request, pid, addr, data):
    """Implements ptrace(2)."""
    request = request & 0xFFFFFFFF
    if request == TRACEME:
        return _traceme(task)
    pid = i32(pid)
    target = task.kernel.tasks.get(pid)
    if target is None:
        raise SyscallError(errno.ESRCH)
    if request in (ATTACH, SEIZE):
        return _attach(task, target, request == SEIZE, addr, data)
    tr = target.ptrace
    if tr is None or tr.tracer is not task.group:
        raise SyscallError(errno.ESRCH)
    if request == KILL:
        from kvmsentry.kernel.signal_delivery import kill_group
        kill_group(target, status_signaled(sg.SIGKILL))
        return 0
    if request == INTERRUPT:
        return _interrupt(target, tr)
    if not tr.stopped:
        raise SyscallError(errno.ESRCH)
    handler = _STOPPED.get(request)
    if handler is None:
        raise SyscallError(errno.EIO)
    return handler(task, target, tr, addr, data)


def _traceme(task):
    parent = task.group.parent
    if task.ptrace is not None or parent is None:
        raise SyscallError(errno.EPERM)
    ptrace.link(task, parent, seized=False, options=0)
    return 0


def _may_attach(task, target):
    me, them = task.creds, target.creds
    if me.capable(CAP_SYS_PTRACE):
        return True
    return me.uid == them.uid == them.euid == them.suid and \
        me.gid == them.gid == them.egid == them.sgid


def _attach(task, target, seize, addr, options):
    if seize and (addr or options & ~ptrace.O_MASK):
        raise SyscallError(errno.EIO if addr else errno.EINVAL)
    if target.group is task.group or not _may_attach(task, target):
        raise SyscallError(errno.EPERM)
    if target.ptrace is not None:
        raise SyscallError(errno.EPERM)
    ptrace.link(target, task.group, seized=seize, options=options if seize else 0)
    if not seize:
        from kvmsentry.kernel.signal_delivery import send
        send(task.kernel, target, sg.SigInfo.kernel(sg.SIGSTOP))
    return 0


def _interrupt(target, tr):
    if not tr.seized:
        raise SyscallError(errno.EIO)
    if not tr.stopped:
        tr.interrupt = True
        target.kick()
        target.kernel.child_queue.notify(0xFFFFFFFF)
    return 0


# --- requests of a stopped tracee -------------------------------------------------
def _resume(mode):
    def resume(task, target, tr, addr, data):
        sig = data & 0xFFFFFFFF
        if sig > sg.NSIG:
            raise SyscallError(errno.EIO)
        tr.resume = (mode, sig)
        task.kernel.child_queue.notify(0xFFFFFFFF)
        return 0
    return resume


def _detach(task, target, tr, addr, data):
    sig = data & 0xFFFFFFFF
    if sig > sg.NSIG:
        raise SyscallError(errno.EIO)
    ptrace.unlink(target, sig)
    return 0


def _listen(task, target, tr, addr, data):
    code = tr.exit_code
    if not tr.seized or code >> 8 != ptrace.EVENT_STOP or \
            not sg.sigbit(code & 0xFF) & sg.STOP_MASK:
        raise SyscallError(errno.EIO)
    tr.resume = (ptrace.LISTEN, 0)
    task.kernel.child_queue.notify(0xFFFFFFFF)
    return 0


def _put_word(task, addr, value):
    task.mm.copy_out(addr, struct.pack("<Q", value & ((1 << 64) - 1)))
    return 0


def _peek(task, target, tr, addr, data):
    try:
        word = ptrace_mem.read(target.mm, addr, 8)
    except SyscallError:
        raise SyscallError(errno.EIO) from None
    return _put_word(task, data, struct.unpack("<Q", word)[0])


def _poke(task, target, tr, addr, data):
    try:
        ptrace_mem.write(target.mm, addr, struct.pack("<Q", data & ((1 << 64) - 1)))
    except SyscallError:
        raise SyscallError(errno.EIO) from None
    return 0


def _peekuser(task, target, tr, addr, data):
    return _put_word(task, data, pr.peek_user(tr, addr))


def _pokeuser(task, target, tr, addr, data):
    pr.poke_user(tr, addr, data)
    return 0


def _getregs(task, target, tr, addr, data):
    task.mm.copy_out(data, pr.pack_regs(tr))
    return 0


def _setregs(task, target, tr, addr, data):
    pr.unpack_regs(tr, task.mm.copy_in(data, pr.USER_REGS_SIZE))
    return 0


def _getfpregs(task, target, tr, addr, data):
    task.mm.copy_out(data, pr.fpregs(tr))
    return 0


def _setfpregs(task, target, tr, addr, data):
    pr.set_fpregs(tr, task.mm.copy_in(data, pr.FXSAVE_SIZE))
    return 0


def _regset(task, tr, nt):
    machine = task.kernel.machine
    if nt == NT_PRSTATUS:
        return pr.pack_regs(tr)
    if nt == NT_PRFPREG:
        return pr.fpregs(tr)
    if nt == NT_X86_XSTATE:
        return pr.xstate(tr, machine.xsave_size, machine.xcr0 or 3)
    raise SyscallError(errno.EINVAL)


def _getregset(task, target, tr, addr, data):
    base, length = struct.unpack("<QQ", task.mm.copy_in(data, 16))
    image = _regset(task, tr, addr)
    n = min(length, len(image))
    task.mm.copy_out(base, image[:n])
    task.mm.copy_out(data + 8, struct.pack("<Q", n))
    return 0


def _setregset(task, target, tr, addr, data):
    base, length = struct.unpack("<QQ", task.mm.copy_in(data, 16))
    size = len(_regset(task, tr, addr))
    if addr == NT_PRSTATUS:
        if length < size:
            raise SyscallError(errno.EINVAL)
        pr.unpack_regs(tr, task.mm.copy_in(base, size))
    elif addr == NT_PRFPREG:
        if length < size:
            raise SyscallError(errno.EINVAL)
        pr.set_fpregs(tr, task.mm.copy_in(base, size))
    else:
        machine = task.kernel.machine
        pr.set_xstate(tr, task.mm.copy_in(base, min(length, size)), size, machine.xcr0 or 3)
    task.mm.copy_out(data + 8, struct.pack("<Q", min(length, size)))
    return 0


def _setoptions(task, target, tr, addr, data):
    if data & ~ptrace.O_MASK:
        raise SyscallError(errno.EINVAL)
    tr.options = data
    return 0


def _geteventmsg(task, target, tr, addr, data):
    return _put_word(task, data, tr.event_msg)


def _getsiginfo(task, target, tr, addr, data):
    if tr.siginfo is None:
        raise SyscallError(errno.EINVAL)
    task.mm.copy_out(data, tr.siginfo.to_bytes())
    return 0


def _setsiginfo(task, target, tr, addr, data):
    tr.siginfo = sg.SigInfo.from_bytes(task.mm.copy_in(data, sg.SIGINFO_SIZE))
    return 0


def _getsigmask(task, target, tr, addr, data):
    if addr != 8:
        raise SyscallError(errno.EINVAL)
    return _put_word(task, data, target.sigmask)


def _setsigmask(task, target, tr, addr, data):
    if addr != 8:
        raise SyscallError(errno.EINVAL)
    (mask,) = struct.unpack("<Q", task.mm.copy_in(data, 8))
    target.sigmask = sg.sanitize_mask(mask)
    return 0


def _arch_prctl(task, target, tr, addr, data):
    code = data & 0xFFFFFFFF
    if code == ARCH_GET_FS:
        return _put_word(task, addr, tr.fs_base)
    if code == ARCH_GET_GS:
        return _put_word(task, addr, tr.gs_base)
    if code in (ARCH_SET_FS, ARCH_SET_GS):
        pr.set_reg(tr, "fs_base" if code == ARCH_SET_FS else "gs_base", addr)
        return 0
    raise SyscallError(errno.EINVAL)


def _get_syscall_info(task, target, tr, addr, data):
    regs = tr.regs
    op = tr.syscall_op
    info = struct.pack("<B3xIQQ", op, AUDIT_ARCH_X86_64, regs["rip"], regs["rsp"])
    if op == ptrace.OP_ENTRY:
        info += struct.pack("<7Q", regs["orig_rax"], regs["rdi"], regs["rsi"], regs["rdx"],
                            regs["r10"], regs["r8"], regs["r9"])
    elif op == ptrace.OP_EXIT:
        rval = regs["rax"] - (1 << 64) if regs["rax"] >> 63 else regs["rax"]
        info += struct.pack("<qB", rval, 1 if -4095 <= rval < 0 else 0)
    n = min(addr, len(info))
    if n:
        task.mm.copy_out(data, info[:n])
    return len(info)


_STOPPED = {
    PEEKTEXT: _peek, PEEKDATA: _peek, POKETEXT: _poke, POKEDATA: _poke,
    PEEKUSER: _peekuser, POKEUSER: _pokeuser,
    CONT: _resume(ptrace.CONT), SYSCALL: _resume(ptrace.SYSCALL),
    SINGLESTEP: _resume(ptrace.SINGLESTEP), SYSEMU: _resume(ptrace.SYSEMU),
    SYSEMU_SINGLESTEP: _resume(ptrace.SYSEMU), DETACH: _detach, LISTEN: _listen,
    GETREGS: _getregs, SETREGS: _setregs, GETFPREGS: _getfpregs, SETFPREGS: _setfpregs,
    GETREGSET: _getregset, SETREGSET: _setregset, SETOPTIONS: _setoptions,
    GETEVENTMSG: _geteventmsg, GETSIGINFO: _getsiginfo, SETSIGINFO: _setsiginfo,
    GETSIGMASK: _getsigmask, SETSIGMASK: _setsigmask, ARCH_PRCTL: _arch_prctl,
    GET_SYSCALL_INFO: _get_syscall_info,
}
