"""Restarting a syscall at the site it trapped from, as signal delivery
does for SA_RESTART, on every KVM: on VMX/SVM rip stays on the `out` of a
patched site at the exit and KVM skips that instruction on re-entry unless
rip changed, so putting rip back on the same site must still run it."""
from kvmsentry.platform.events import SYSCALL

from conftest import CODE


def test_restart_at_a_patched_site_runs_it_again(guest):
    g = guest("""
        xor %ebx, %ebx
    1:  mov $0, %eax           # read
        syscall                # the site (patched after the first trap)
        inc %rbx
        cmp $1, %rbx
        je 1b                  # through the site a second time
        mov $60, %eax
        syscall
    """)
    site = CODE + 7
    assert g.ctx.switch() is SYSCALL              # first pass: trap, then patch
    g.ctx.set_syscall_return(0)
    assert g.ctx.switch() is SYSCALL              # second pass: the patched `out`
    assert (g.ctx.regs.rax, g.ctx.regs.rbx) == (0, 1)
    assert g.ctx.syscall_return_rip == site + 2
    # Restart it: rip back on the site, rax = the syscall number.
    regs = g.ctx.user_regs()
    regs.update(rip=site, rax=0)
    g.ctx.set_user_regs(regs)
    assert g.ctx.switch() is SYSCALL
    assert (g.ctx.regs.rax, g.ctx.regs.rbx) == (0, 1), "the restarted call was skipped"
    assert g.ctx.syscall_return_rip == site + 2
    g.ctx.set_syscall_return(0)
    assert g.ctx.switch() is SYSCALL              # then on to exit
    assert (g.ctx.regs.rax, g.ctx.regs.rbx) == (60, 2)
