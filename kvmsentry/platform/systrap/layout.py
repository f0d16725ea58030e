"""Where the systrap stub and its shared pages sit in every child process,
and the shape of one thread's slot. systrap_stub/build.py passes these to
the compiler, so the stub and the sentry agree by construction.

The region [RESERVED_LO, RESERVED_HI) lies between the vDSO's window
(mm/vdso.py, up to 0x7fff_fa00_0000) and the bottom of an 8 MiB guest
stack (30 MiB of stack still fit below 0x7fff_fe10_0000), where Linux's
own layout leaves a gap; the sentry never maps guest memory there
(mirror.py drops such pages). 2,048 threads per process, as programs
with thousands of threads need (tests/guest/test_many_threads.py).
"""
STUB_BASE = 0x7FFF_FA00_0000        # the stub ELF's text, then its data
CTL_VA = 0x7FFF_FA10_0000           # the control memfd: one slot per thread
SLOT_SIZE = 0x8000
MAX_THREADS = 2048
CTL_SIZE = SLOT_SIZE * MAX_THREADS
RESERVED_LO, RESERVED_HI = STUB_BASE, CTL_VA + CTL_SIZE
USER_LO, USER_HI = 0x10000, 0x7FFF_FFFF_F000   # what the stub unmaps at its start

# Inside a slot: the message, the signal (alt)stack (a signal frame with
# AVX-512 state is ~4 KiB; the kick may nest one more), the stub's own
# stack (a new thread's, until the program's first instruction).
MSG_SIZE = 0x2000
ALTSTACK_OFF, ALTSTACK_SIZE = 0x2000, 0x4000
STACK_OFF, STACK_SIZE = 0x6000, 0x2000
OPS_OFF = 0x100
OP_SIZE = 64
MAX_OPS = (MSG_SIZE - OPS_OFF) // OP_SIZE

POOL_FD = 1000                      # the pool memfd: only the mapper thread holds it
DONE_FD = 1002                      # the mapper's eventfd: "the calls are made"
from kvmsentry.platform.events import KICK_SIGNAL  # noqa: E402,F401  (build.py passes it)
BIRTH_NR = 39                       # getpid from the stub: "I exist"
NR_CLONE = 56

# msg.state
RUNNING, POSTED, REPLIED, DEAD = 0, 1, 2, 3
ABANDONED = 4                       # (a wait's answer, never a state: cdefs/systrap_helpers.c)
WAITING = 0x100                     # or'd in by a side asleep on the futex
POSTED_SYSCALL = 0x10               # (systrap_reply_wake_wait: a post of the next syscall)
# msg.cmd
CMD_RUN, CMD_EXIT = 0, 1
THREAD_CLONE_FLAGS = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x200000 | 0x01000000
# CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|CHILD_CLEARTID|CHILD_SETTID

# Syscall-site patching (patching.py). A trapped `mov $nr,%eax; syscall`
# (b8 imm32 0f 05) becomes `jmp *CELL` (ff 24 25 disp32), CELL a pointer
# in the table, which is below 2 GiB because disp32 is sign-extended. The
# cell's address is chosen so that the two bytes left at the old `syscall`
# (site+5, site+6: the address's bits 16-31) are 06 7f: 06 is invalid in
# 64-bit mode, so a stray jump to site+5 is a SIGILL there, which the
# sentry treats as the syscall (longer idioms: patching.cell_fits). Each
# cell points at the site's trampoline (128 bytes; the last one says where
# its moved code ends, for the stub's kick handler). The table is the
# control memfd's tail, mapped read+exec in the child: outside the
# program's mappings, /proc/self/maps does not show it, and a program
# mapping over it turns patching off for its address space (every site
# is restored first).
TABLE_VA = 0x7F06_0000
CELLS = 0x10000 // 8                 # cell 0 unused: 8191 sites per address space
TRAMP_VA = TABLE_VA + 0x10000
TRAMP_SIZE = 128
TABLE_SIZE = 0x10000 + CELLS * TRAMP_SIZE
TABLE_OFF = CTL_SIZE                 # where the table is in the control memfd
# The entry's frame (the kernel's ucontext layout, so the sentry reads it
# as it reads a signal frame) and XSAVE area, in the slot's stack area,
# which is free once the thread is born; the entry's stack is above them.
ENTRY_UC = STACK_OFF
ENTRY_XSAVE = STACK_OFF + 0x200
ENTRY_XSAVE_MAX = 0x1000 - 0x200     # (the host's XSAVE size is checked against it)

# The mapper thread (stub.c, mapper_loop) makes every host mapping call
# of the child: the requests page is the control memfd's part after the
# table, mapped read-only in the child (only the sentry writes it), below
# the slots. The program's threads hold neither the pool fd nor a mapping
# call in their seccomp filter, so none of its code can change the child's
# mappings. Request: seq (u32, the futex word) at 0, nops (u64) at 8, the
# calls from MAPPER_OPS_OFF (OP_SIZE each: nr, six arguments). Then a table
# of u64s, entry k = k + 1, from which the mapper writes its eventfd: the
# sentry reads 1 + the errno of the first call that failed.
MAPPER_VA = CTL_VA - 0x10000
MAPPER_OFF = CTL_SIZE + TABLE_SIZE
MAPPER_OPS_OFF = 64
MAPPER_MAX_OPS = (0x2000 - MAPPER_OPS_OFF) // OP_SIZE
MAPPER_VALUES_OFF = 0x2000
MAPPER_VALUES = 4096
MAPPER_SIZE = MAPPER_VALUES_OFF + 8 * MAPPER_VALUES
MAPPER_CLONE_FLAGS = 0x100 | 0x200 | 0x800 | 0x10000 | 0x40000
# CLONE_VM|FS|SIGHAND|THREAD|SYSVSEM: no CLONE_FILES, a file table of its own

# Byte offsets of the message fields (struct msg in systrap_stub/stub.c).
MSG_FIELDS = ("state", "cmd", "nops", "again", "signo", "code", "addr", "nr", "arch",
              "uctx", "tid", "set_fs", "fs_base", "set_gs", "gs_base", "op_error")
