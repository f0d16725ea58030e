# kvmsentry ring-0 stub.  Assembled by guest_stub/build.py with the layout
# constants from kvmsentry/arch/layout.py passed as --defsym, so the two
# cannot disagree.  Two pages: page 0 is the supervisor-only stub; page 1
# holds ring-3 probes run once per vCPU from a throwaway address space.
#
# Nothing here saves or restores registers: every exit leaves the guest's
# general registers exactly as the program had them, and the sentry reads
# and writes them through kvm_run's sync-regs area.

    .code64
    .text

# LSTAR. Where SYSCALL really enters ring 0 (bare-metal VMX/SVM) it runs
# this; rcx/r11 hold the return rip/rflags and the sentry may rewrite them.
# Where SYSCALL stays at CPL 3 (kvm_pvm) fetching it faults (#PF on a
# supervisor page), which the sentry recognises as the syscall.
    .org SYSCALL_R0_OFF, 0xcc
syscall_r0:
    outb %al, $PORT_SYSCALL_R0
    sysretq

# Every exception vector lands here on the IST1 stack with
# [vector, error code, rip, cs, rflags, rsp, ss]; the sentry reads and may
# rewrite that frame during the exit.
    .org EXC_COMMON_OFF, 0xcc
exc_common:
    outb %al, $PORT_EXCEPTION
    addq $16, %rsp
    iretq

# CSTAR and SYSENTER_EIP: SYSCALL from compatibility mode and SYSENTER
# must never run anything. No 32-bit code segment exists to reach them,
# and kvm_pvm enters CSTAR's low 32 bits (below mmap_min_addr); should a
# CPU land here anyway, the #UD in ring 0 kills the program.
    .org BAD_ENTRY_OFF, 0xcc
bad_entry:
    ud2

    .macro vector n, has_error
    .org VECTORS_OFF + \n * VECTOR_STRIDE, 0xcc
    .if \has_error == 0
    pushq $0
    .endif
    pushq $\n
    jmp exc_common
    .endm

    vector 0, 0
    vector 1, 0
    vector 2, 0
    vector 3, 0
    vector 4, 0
    vector 5, 0
    vector 6, 0
    vector 7, 0
    vector 8, 1
    vector 9, 0
    vector 10, 1
    vector 11, 1
    vector 12, 1
    vector 13, 1
    vector 14, 1
    vector 15, 0
    vector 16, 0
    vector 17, 1
    vector 18, 0
    vector 19, 0
    vector 20, 0
    vector 21, 1
    vector 22, 0
    vector 23, 0
    vector 24, 0
    vector 25, 0
    vector 26, 0
    vector 27, 0
    vector 28, 0
    vector 29, 1
    vector 30, 1
    vector 31, 0

# ---- page 1: ring-3 probes -------------------------------------------
# Where is rip when an `out` exits? (past it on kvm_pvm, at it elsewhere)
    .org PROBE_OUT_OFF, 0xcc
probe_out:
    outb %al, $PORT_SYSCALL
    ud2

# Ring-3 self-test run once per vCPU with LSTAR at syscall_r0: the exit
# that follows says whether SYSCALL entered ring 0.
    .org SELFTEST_OFF, 0xcc
selftest:
    syscall
    ud2

    .org STUB_SIZE, 0xcc
