"""One-line reports of a fatal guest fault, with the faulting instruction
disassembled by capstone (arch/disasm.py)."""
import signal

from kvmsentry.arch import disasm


def disassemble(mm, rip):
    """The instruction at rip as text, or a note if its bytes are unreadable."""
    code = mm.read_code(rip, 16)
    if len(code) < 16:
        code += mm.read_code(rip + len(code), 16 - len(code))
    if not code:
        return "<instruction not readable>"
    insn = disasm.first(code, rip)
    if insn is not None:
        return str(insn)
    return "<undecodable: %s>" % code[:8].hex()


def describe_fault(task, fault):
    name = signal.Signals(fault.signo).name
    if fault.is_page_fault:
        access = "execute" if fault.execute else ("write" if fault.write else "read")
        why = "protection" if fault.present else "unmapped"
        what = "%s of %s address %#x" % (access, why, fault.addr)
    else:
        what = "exception %d (error code %#x)" % (fault.vector, fault.error_code)
    return "pid %d (%s) killed by %s: %s at rip %#x: %s" % (
        task.tgid, task.comm, name, what, fault.rip, disassemble(task.mm, fault.rip))
