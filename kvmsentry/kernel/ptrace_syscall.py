"""Syscall-entry and syscall-exit stops around the dispatcher
(PTRACE_SYSCALL, PTRACE_SYSEMU).

At entry the tracer sees orig_rax = the number, rax = -ENOSYS, and may
change the number and arguments (orig_rax = -1, or any number with no
handler, skips the call: rax as the tracer left it is the result). At exit
it sees the result in rax and may change it, or any register.
"""
from kvmsentry.kernel import ptrace
from kvmsentry.kernel import signals as sg

ENOSYS = 38
TRAP_BRKPT = 1
MASK64 = (1 << 64) - 1


def _status(tr):
    return sg.SIGTRAP | (0x80 if tr.options & ptrace.O_TRACESYSGOOD else 0)


def traced_dispatch(task, run):
    """dispatch() for a traced task: run(task) between the stops the
    tracer asked for. Returns the value for rax, or None when the
    registers are already set (exec, sigreturn, or the tracer set them)."""
    tr = task.ptrace
    if tr.mode not in (ptrace.SYSCALL, ptrace.SYSEMU):
        result = run(task)
        if tr.mode == ptrace.SINGLESTEP and task.ptrace is tr:
            _step_trap(task)
        return result
    regs = task.ctx.regs
    nr = regs.rax
    view = ptrace.syscall_view(task, nr, -ENOSYS)
    mode, sig, changed = ptrace.stop(task, _status(tr), regs=view, op=ptrace.OP_ENTRY,
                                     event_msg=ptrace.OP_ENTRY)
    emulate = tr.mode == ptrace.SYSEMU
    skip = emulate
    if task.ptrace is tr:
        tr.syscall_nr = nr
    if changed is not None:
        ptrace.write_gprs(task, changed, skip=("rax",))
        regs.rax = changed["orig_rax"] & MASK64
        nr = regs.rax
        if nr == MASK64:
            skip = True
    if sig:
        ptrace.send_self(task, sig)
    if skip:
        result = _signed(changed["rax"]) if changed is not None else -ENOSYS
    else:
        result = run(task)
    tr = task.ptrace
    if tr is None or mode != ptrace.SYSCALL or emulate:
        return result
    if result is not None:
        view = task.ctx.syscall_exit_regs(result)
    else:
        view = ptrace.user_view(task)
    view["orig_rax"] = nr & MASK64
    mode, sig, changed = ptrace.stop(task, _status(tr), regs=view, op=ptrace.OP_EXIT,
                                     event_msg=ptrace.OP_EXIT)
    if sig:
        ptrace.send_self(task, sig)
    if changed is None:
        return result
    task.ctx.set_user_regs(changed)
    return None


def _signed(value):
    value &= MASK64
    return value - (1 << 64) if value >> 63 else value


def _step_trap(task):
    """Single-stepping over a syscall instruction stops right after it, as
    Linux reports it (SIGTRAP, TRAP_BRKPT): the trap flag does not survive
    every way back from a syscall here."""
    from kvmsentry.kernel.signal_delivery import send
    send(task.kernel, task, sg.SigInfo(sg.SIGTRAP, TRAP_BRKPT), thread=True)
