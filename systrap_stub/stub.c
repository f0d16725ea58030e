/* The systrap stub: the only code of its own a sandboxed process runs.
 *
 * Started once per sandbox as the *zygote* (before the sentry confines
 * itself): it forks one child per guest address space on request. A child
 * keeps nothing of the zygote but this binary's pages, maps the thread
 * slots the sentry shares with it (the control memfd), installs handlers
 * for the signals that stand for syscalls and faults, installs a seccomp
 * filter that turns every syscall not made by this code into SIGSYS,
 * starts the mapper thread, and announces itself with a trapped "birth"
 * syscall. From then on:
 *
 *   signal -> on_signal(): note what happened in the thread's slot, post
 *   it (futex wake), wait for the sentry's reply, make the threads it
 *   asks for, return (rt_sigreturn) into the registers the sentry left in
 *   the signal frame.
 *
 *   the mapper thread (mapper_loop) makes every host mapping call, as the
 *   sentry writes them into a page the program can only read. It alone
 *   holds the pool memfd (a file table of its own) and may map, and it
 *   keeps nothing in writable memory, not even a stack: the program's
 *   threads, whose filter allows no mapping call, cannot steer it.
 *
 *   patched site -> its trampoline (written by the sentry, patching.py)
 *   -> syscall_entry: the same, without a signal. The entry writes a
 *   frame of the kernel's layout into the slot (found through %gs, which
 *   points at the thread's slot), so the sentry cannot tell the two
 *   apart, and returns by loading every register from it.
 *
 * Built freestanding (no libc) at a fixed address; build.py passes the
 * layout from kvmsentry/platform/systrap/layout.py as -D macros.
 */
#include <stdint.h>
#include <stddef.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include "../cdefs/systrap_spin.h"

#define NR_read 0
#define NR_write 1
#define NR_close 3
#define NR_mmap 9
#define NR_mprotect 10
#define NR_munmap 11
#define NR_rt_sigaction 13
#define NR_rt_sigprocmask 14
#define NR_rt_sigreturn 15
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_clone 56
#define NR_fork 57
#define NR_getpid 39
#define NR_getppid 110
#define NR_exit 60
#define NR_sigaltstack 131
#define NR_arch_prctl 158
#define NR_prctl 157
#define NR_gettid 186
#define NR_futex 202
#define NR_set_tid_address 218
#define NR_exit_group 231
#define NR_dup2 33
#define NR_close_range 436
#define NR_seccomp 317
#define NR_capset 126

#define SIGSYS 31
#define SIGCHLD 17
#define SA_SIGINFO 4
#define SA_ONSTACK 0x08000000
#define SA_RESTORER 0x04000000
#define SA_NOCLDWAIT 2
#define SIG_IGN 1
#define PROT_READ 1
#define PROT_WRITE 2
#define PROT_EXEC 4
#define MAP_SHARED 1
#define MAP_FIXED 0x10
#define MAP_POPULATE 0x8000
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define PR_SET_PDEATHSIG 1
#define PR_SET_NO_NEW_PRIVS 38
#define SIGKILL 9
#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define SCM_RIGHTS 1
#define SOL_SOCKET 1

#define STACK_TOP_OF(slot) (CTL_VA + (slot) * SLOT_SIZE + STACK_OFF + STACK_SIZE)

typedef uint64_t u64;

/* What gcc may call even freestanding. */
void *memset(void *d, int c, size_t n)
{
    char *p = d;
    while (n--)
        *p++ = (char)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    char *p = d;
    const char *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}
typedef uint32_t u32;

struct op { u64 nr, a[6], result; };

struct msg {
    u32 state, spin;
    u64 cmd, nops, again, signo, code, addr, nr, arch, uctx, tid;
    u64 set_fs, fs_base, set_gs, gs_base, op_error;
    u32 stub_cpu, sentry_cpu;
    u64 entry, entry_rsp, entry_rip, self, kick_pending, gs_pending, reset;
    struct systrap_spin stub_spin, sentry_spin;
};

/* Numbers the entry's assembly uses (checked against the layout). */
#define A_MSG_ENTRY 136
#define A_MSG_ENTRY_RSP 144
#define A_MSG_ENTRY_RIP 152
#define A_MSG_SELF 160
#define A_MSG_KICK 168
#define A_MSG_GS_PENDING 176
#define A_UC 0x6000                   /* ENTRY_UC: the frame's ucontext */
#define A_SC 0x6028                   /* its struct sigcontext (ucontext + 40) */
#define A_XSAVE 0x6200                /* ENTRY_XSAVE */
#define A_STACK_TOP 0x8000            /* the entry's stack: the slot's top */
_Static_assert(A_MSG_ENTRY == offsetof(struct msg, entry), "msg layout");
_Static_assert(A_MSG_ENTRY_RSP == offsetof(struct msg, entry_rsp), "msg layout");
_Static_assert(A_MSG_ENTRY_RIP == offsetof(struct msg, entry_rip), "msg layout");
_Static_assert(A_MSG_SELF == offsetof(struct msg, self), "msg layout");
_Static_assert(A_MSG_KICK == offsetof(struct msg, kick_pending), "msg layout");
_Static_assert(A_MSG_GS_PENDING == offsetof(struct msg, gs_pending), "msg layout");
_Static_assert(A_UC == ENTRY_UC && A_SC == ENTRY_UC + 40 && A_XSAVE == ENTRY_XSAVE
               && A_STACK_TOP == STACK_OFF + STACK_SIZE, "entry layout");
_Static_assert(OPS_OFF >= sizeof(struct msg), "msg layout");
/* The mapper's (mapper_loop). */
#define A_MAPPER_VA 0x7ffffa0f0000
#define A_MAPPER_OPS_OFF 64
#define A_MAPPER_MAX_OPS 127
#define A_MAPPER_VALUES_OFF 0x2000
#define A_OP_SIZE 64
#define A_DONE_FD 1002
#define A_MAPPER_CLONE_FLAGS 0x50b00
_Static_assert(A_MAPPER_VA == MAPPER_VA && A_MAPPER_OPS_OFF == MAPPER_OPS_OFF
               && A_MAPPER_MAX_OPS == MAPPER_MAX_OPS && A_MAPPER_VALUES_OFF == MAPPER_VALUES_OFF
               && A_OP_SIZE == OP_SIZE && A_OP_SIZE == sizeof(struct op) && A_DONE_FD == DONE_FD
               && A_MAPPER_CLONE_FLAGS == MAPPER_CLONE_FLAGS && MAPPER_VALUES == 4096,
               "mapper layout");

struct kernel_sigaction { void *handler; unsigned long flags; void *restorer; u64 mask; };
struct stack_t { void *sp; int flags; size_t size; };

extern char __executable_start[], etext[];
extern char syscall_entry[], entry_tail[], entry_tail_end[], entry_gs_trap[];
void stub_restorer(void);
long stub_clone_thread(long flags, long stack, long ctid);
long stub_clone_mapper(void);

static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall" : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)

static __attribute__((noreturn)) void die(void)
{
    for (;;)
        sys3(NR_exit_group, 127, 0, 0);
}

static struct msg *slot_msg(u64 sp)
{
    return (struct msg *)(CTL_VA + (sp - CTL_VA) / SLOT_SIZE * SLOT_SIZE);
}

/* --- the hot path ------------------------------------------------------ */

static inline u64 rdtsc(void)
{
    u32 lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((u64)hi << 32) | lo;
}

static inline u32 this_cpu(void)
{
    u32 lo, hi, aux;                  /* Linux keeps the CPU number in TSC_AUX */
    __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
    return aux & 0xFFF;               /* (the node is above bit 12) */
}

/* Post, then wait for the reply. While the sentry's thread is awake on
 * another CPU, spin for up to m->spin TSC cycles (the sentry sets it, and
 * sets 0 where rdtscp or a second CPU is missing) while recent replies
 * came within that (cdefs/systrap_spin.h): then neither side makes a
 * futex call nor wakes an idle CPU, which on these hosts cost a getpid
 * 70 us. Spinning for a sentry that must first be woken, or that shares
 * our CPU, would only keep it off the CPU, and so would spinning for a
 * call the sentry says blocks; then, and after the spin, sleep on the
 * futex with WAITING set, so the reply makes a FUTEX_WAKE only for a stub
 * that sleeps. */
static void post_and_wait(struct msg *m)
{
    u64 max = m->spin, start = 0;
    u32 cpu = 0;
    if (max)
        m->stub_cpu = cpu = this_cpu();
    m->stub_spin.stop = 0;
    if (max)
        m->sentry_spin.ready_at = rdtsc();
    u32 old = __atomic_exchange_n(&m->state, POSTED, __ATOMIC_SEQ_CST);
    if (old & WAITING) {
        sys3(NR_futex, &m->state, FUTEX_WAKE, 1);
        max = 0;
    } else if (__atomic_load_n(&m->sentry_cpu, __ATOMIC_RELAXED) == cpu) {
        max = 0;
    }
    if (max) {
        start = rdtsc();
        if (systrap_spin_next(&m->stub_spin)) {
            do {
                if (__atomic_load_n(&m->state, __ATOMIC_ACQUIRE) != POSTED) {
                    systrap_spin_learn(&m->stub_spin, start, rdtsc(), max, 1);
                    return;
                }
                if (__atomic_load_n(&m->stub_spin.stop, __ATOMIC_RELAXED)) {
                    max = 0;
                    break;
                }
                __builtin_ia32_pause();
            } while (rdtsc() - start < max);
        }
    }
    for (;;) {
        u32 v = __atomic_load_n(&m->state, __ATOMIC_ACQUIRE);
        if (v == POSTED) {
            if (!__atomic_compare_exchange_n(&m->state, &v, POSTED | WAITING, 0,
                                             __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
                continue;
        } else if (v != (POSTED | WAITING)) {
            break;
        }
        sys6(NR_futex, (long)&m->state, FUTEX_WAIT, POSTED | WAITING, 0, 0, 0);
    }
    if (max)
        systrap_spin_learn(&m->stub_spin, start, rdtsc(), max, 0);
}

/* The threads the sentry asks for (mappings are the mapper's). */
static void run_ops(struct msg *m)
{
    struct op *ops = (struct op *)((char *)m + OPS_OFF);
    u64 n = m->nops;
    if (n > MAX_OPS)
        n = MAX_OPS;
    for (u64 i = 0; i < n; i++) {
        struct op *o = &ops[i];
        long r = -38;                             /* -ENOSYS */
        if (o->nr == NR_clone)
            r = stub_clone_thread(THREAD_CLONE_FLAGS, o->a[1], o->a[3]);
        o->result = r;
        if (r < 0 && r > -4096 && !m->op_error)
            m->op_error = -r;
    }
    m->nops = 0;
}

/* The host thread's signal state as the stub set it up: its slot's
 * signal stack and nothing blocked (the program's own mask is the
 * sentry's). A program that jumps to the stub's calls can change both. */
static long reset_thread(u64 slot_base)
{
    struct stack_t ss = { (void *)(slot_base + ALTSTACK_OFF), 0, ALTSTACK_SIZE };
    u64 none = 0;
    long r = sys3(NR_sigaltstack, &ss, 0, 0);
    sys6(NR_rt_sigprocmask, 2 /* SIG_SETMASK */, (long)&none, 0, 8, 0, 0);
    return r;
}

/* Post what m says, then do what the sentry answers until it lets the
 * thread go on. */
static void serve(struct msg *m, int from_entry)
{
    for (;;) {
        post_and_wait(m);
        if (m->nops)
            run_ops(m);
        if (m->set_fs) {
            sys3(NR_arch_prctl, ARCH_SET_FS, m->fs_base, 0);
            m->set_fs = 0;
        }
        if (m->set_gs) {
            /* The program's gs base 0 is the slot's: the trampolines find
             * the slot through %gs. The entry's way out needs the slot's
             * until its last instruction: from there the change is made
             * by on_signal, at the entry's ud2 (entry_gs_trap). */
            if (from_entry)
                m->gs_pending = 1;
            else
                sys3(NR_arch_prctl, ARCH_SET_GS, m->gs_base ? m->gs_base : m->self, 0);
            m->set_gs = 0;
        }
        if (m->reset) {
            /* A thread (slot 0 of a process the sentry reuses) starts a new
             * program: nothing the last one did to the host thread stays.
             * The signal path's return restores both from the frame, which
             * on_signal sets; the entry's keeps the thread's own. */
            if (from_entry)
                reset_thread((u64)m);
            m->reset = 0;
        }
        if (m->cmd == CMD_EXIT)
            for (;;)
                sys3(NR_exit, 0, 0, 0);
        if (!m->again)
            return;
        m->again = 0;
        m->signo = 0;                         /* "ops done", not an event */
    }
}

/* From syscall_entry, with the frame written: post the syscall. */
__attribute__((used)) void entry_syscall_c(struct msg *m)
{
    u64 *sc = (u64 *)((char *)m + A_SC);
    m->kick_pending = 0;                  /* (this stop serves a kick too) */
    m->signo = SIGSYS;
    m->code = 1;                          /* SYS_SECCOMP */
    m->addr = sc[16];                     /* si_call_addr: past the site */
    m->nr = sc[13];
    m->arch = AUDIT_ARCH_X86_64;
    m->uctx = (u64)m + A_UC;
    serve(m, 1);
}

/* From syscall_entry's way out: a kick came while the thread was in the
 * entry; post it now, from the frame (the program's state). */
__attribute__((used)) void entry_kick_c(struct msg *m)
{
    m->kick_pending = 0;
    m->signo = KICK_SIGNAL;
    m->code = 0;
    m->addr = 0;
    m->uctx = (u64)m + A_UC;
    serve(m, 1);
}

/* Past a trampoline's moved code (its length is the trampoline's last
 * byte, patching.py), or in the entry: on the way to the entry's way
 * out, which posts a kick. In the moved code a thread may still branch
 * away (glibc's read), so a kick there is posted where it is. */
static int in_entry_path(u64 rip)
{
    if (rip >= TRAMP_VA && rip < TABLE_VA + TABLE_SIZE) {
        u64 base = rip - (rip - TRAMP_VA) % TRAMP_SIZE;
        return rip - base >= *(unsigned char *)(base + TRAMP_SIZE - 1);
    }
    return rip >= (u64)__executable_start && rip < (u64)etext;
}

void on_signal(int sig, char *info, char *uc)
{
    u64 sp = (u64)__builtin_frame_address(0);
    struct msg *m = slot_msg(sp);
    u64 *kregs = (u64 *)(uc + 40);           /* r8 ... rip, eflags */
    u64 rip = kregs[16];
    if (sig == 4 /* SIGILL */ && rip == (u64)entry_gs_trap) {
        /* The entry's way out with a gs base to set: finish it here, with
         * the kernel's frame, whose return needs no %gs. A kick that came
         * meanwhile is posted from the program's state. */
        u64 *sc = (u64 *)((char *)m + A_SC);
        for (int i = 0; i < 18; i++)
            kregs[i] = sc[i];
        sys3(NR_arch_prctl, ARCH_SET_GS, m->gs_base ? m->gs_base : m->self, 0);
        m->gs_pending = 0;
        if (!m->kick_pending)
            return;
        m->kick_pending = 0;
        sig = KICK_SIGNAL;
    } else if (rip >= (u64)entry_tail && rip < (u64)entry_tail_end
        && (sig == KICK_SIGNAL || sig == 5 /* SIGTRAP */)) {
        /* Inside the entry's last instructions, which only load the frame:
         * finish them here, so the signal lands at the program's state
         * (a trap: the single step popfq armed; iret takes it again after
         * the program's first instruction, as the kernel's return would). */
        u64 *sc = (u64 *)((char *)m + A_SC);
        for (int i = 0; i < 18; i++)
            kregs[i] = sc[i];
        m->kick_pending = 0;
        if (sig == 5)
            return;
    } else if (sig == KICK_SIGNAL && in_entry_path(rip)) {
        /* In a trampoline or the entry: the entry posts it on its way out. */
        m->kick_pending = 1;
        return;
    }
    m->signo = sig;
    m->code = *(int *)(info + 8);
    m->addr = *(u64 *)(info + 16);          /* si_addr, or si_call_addr */
    if (sig == SIGSYS) {
        u32 arch = *(u32 *)(info + 28);
        m->arch = arch;
        m->nr = (u64)(long)*(int *)(info + 24);
        /* The kernel left -ENOSYS in rax; the sentry reads the number there.
         * A call of another ABI (int 0x80, x32) gets a number no table has. */
        *(u64 *)(uc + 40 + 13 * 8) = arch == AUDIT_ARCH_X86_64 ? m->nr : ~0ULL;
    }
    m->uctx = (u64)uc;
    serve(m, 0);
    /* The return's rt_sigreturn loads the signal stack and mask from the
     * frame: the stub's, whatever the program made the thread's meanwhile
     * (reset_thread). uc_stack is at 16, uc_sigmask at 296. */
    *(u64 *)(uc + 16) = (u64)m + ALTSTACK_OFF;
    *(u64 *)(uc + 24) = 0;
    *(u64 *)(uc + 32) = ALTSTACK_SIZE;
    *(u64 *)(uc + 296) = 0;
}

/* --- a thread's start ---------------------------------------------------- */

static void setup_thread(u64 slot_base)
{
    struct msg *m = (struct msg *)slot_base;
    m->self = slot_base;
    m->entry = (u64)syscall_entry;
    sys3(NR_arch_prctl, ARCH_SET_GS, slot_base, 0);
    /* Last, once gs reaches the slot: its signal stack, an empty mask. */
    if (reset_thread(slot_base) < 0)
        die();
}

static __attribute__((noreturn)) void birth(void)
{
    /* Trapped (it is not on the filter's list): the sentry sees the new
     * thread's first SIGSYS and gives the frame the program's registers. */
    for (;;)
        sys3(BIRTH_NR, 0, 0, 0);
}

__attribute__((noreturn, used)) void thread_main(void)
{
    u64 sp = (u64)__builtin_frame_address(0);
    u64 base = (u64)slot_msg(sp);
    setup_thread(base);
    birth();
}

/* --- a child: from the zygote's fork to the program's first instruction --- */

#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#define TRAP BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP)
#define LD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define ARG_LO(i) (16 + 8 * (i))
#define ARG_HI(i) (16 + 8 * (i) + 4)

/* The child's filters. Both trap every call made outside the stub's
 * text. The process filter, installed first and so the mapper's too,
 * allows from the stub the calls of its threads and of the mapper; the
 * threads' filter, installed on top in the program's threads only, drops
 * the mapper's (mmap of the pool, munmap, its eventfd write) and the
 * set-up's (close, seccomp): the program, whatever stub code it jumps
 * into, can make none of them. */
static void install_filter(int threads)
{
    u32 lo = (u32)(u64)__executable_start, end = (u32)(u64)etext;
    u32 hi = (u32)((u64)__executable_start >> 32);
    u32 clone_other = threads ? THREAD_CLONE_FLAGS : MAPPER_CLONE_FLAGS;
    struct sock_filter f[80];            /* (68 at most) */
    unsigned k = 0;
#define EMIT(...) (f[k++] = (struct sock_filter)__VA_ARGS__)
#define EMIT_ALLOW_NR(nr) (EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1)), EMIT(ALLOW))
    EMIT(LD(4));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
    EMIT(TRAP);
    EMIT(LD(12));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, hi, 1, 0));
    EMIT(TRAP);
    EMIT(LD(8));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, lo, 1, 0));
    EMIT(TRAP);
    EMIT(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, end, 0, 1));
    EMIT(TRAP);
    /* From the stub's own text: its few calls. */
    EMIT(LD(0));
    EMIT_ALLOW_NR(NR_futex);
    EMIT_ALLOW_NR(NR_rt_sigreturn);
    EMIT_ALLOW_NR(NR_sigaltstack);
    EMIT_ALLOW_NR(NR_rt_sigprocmask);
    EMIT_ALLOW_NR(NR_exit);
    EMIT_ALLOW_NR(NR_exit_group);
    /* arch_prctl: only the thread's own fs and gs bases. */
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_arch_prctl, 0, 5));
    EMIT(LD(ARG_LO(0)));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH_SET_FS, 2, 0));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH_SET_GS, 1, 0));
    EMIT(TRAP);
    EMIT(ALLOW);
    /* clone: a thread as run_ops makes it (or, before the threads'
     * filter, the mapper). */
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_clone, 0, 8));
    EMIT(LD(ARG_HI(0)));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0));
    EMIT(TRAP);
    EMIT(LD(ARG_LO(0)));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, THREAD_CLONE_FLAGS, 2, 0));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, clone_other, 1, 0));
    EMIT(TRAP);
    EMIT(ALLOW);
    if (!threads) {
        EMIT_ALLOW_NR(NR_munmap);
        /* mprotect: only read, write and exec (the mapper's change of a
         * pool mapping's rights; no PROT_GROWSDOWN/UP). */
        EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_mprotect, 0, 6));
        EMIT(LD(ARG_HI(2)));
        EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2));
        EMIT(LD(ARG_LO(2)));
        EMIT(BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, PROT_READ | PROT_WRITE | PROT_EXEC, 0, 1));
        EMIT(TRAP);
        EMIT(ALLOW);
        EMIT_ALLOW_NR(NR_close);
        EMIT_ALLOW_NR(NR_seccomp);
        /* mmap: only the pool memfd, only MAP_SHARED|MAP_FIXED (and
         * MAP_POPULATE, which only pre-faults). */
        EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_mmap, 0, 9));
        EMIT(LD(ARG_LO(4)));
        EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, POOL_FD, 0, 5));
        EMIT(LD(ARG_LO(3)));
        EMIT(BPF_STMT(BPF_ALU | BPF_AND | BPF_K, ~MAP_POPULATE));
        EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MAP_SHARED | MAP_FIXED, 0, 2));
        EMIT(LD(ARG_HI(3)));
        EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0));
        EMIT(TRAP);
        EMIT(ALLOW);
        /* write: only the mapper's eventfd. */
        EMIT(LD(0));
        EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_write, 0, 4));
        EMIT(LD(ARG_LO(0)));
        EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DONE_FD, 0, 1));
        EMIT(ALLOW);
        EMIT(TRAP);
    }
    EMIT(TRAP);
#undef EMIT_ALLOW_NR
#undef EMIT
    struct sock_fprog prog = { k, f };
    if (!threads && sys3(NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0) < 0)
        die();
    if (sys3(NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        die();
}

/* The zygote's own filter (its children stack theirs on top): the calls
 * it and a child's set-up make; anything else is SIGSYS, which kills the
 * zygote (no handler) and is what a child's filter says anyway. */
static void install_zygote_filter(void)
{
    static const u32 allowed[] = {
        NR_recvmsg, NR_sendmsg, NR_clone, NR_close, NR_exit, NR_exit_group, NR_prctl,
        NR_dup2, NR_close_range, NR_mmap, NR_munmap, NR_mprotect, NR_set_tid_address,
        NR_gettid, NR_rt_sigaction, NR_sigaltstack, NR_rt_sigprocmask, NR_rt_sigreturn,
        NR_seccomp, NR_futex, NR_arch_prctl, NR_write, NR_getppid,
    };
    enum { N = sizeof(allowed) / sizeof(allowed[0]) };
    struct sock_filter f[4 + 2 * N + 1];
    unsigned k = 0;
    f[k++] = (struct sock_filter)LD(4);
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    f[k++] = (struct sock_filter)TRAP;
    f[k++] = (struct sock_filter)LD(0);
    for (unsigned i = 0; i < N; i++) {
        f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, allowed[i], 0, 1);
        f[k++] = (struct sock_filter)ALLOW;
    }
    f[k++] = (struct sock_filter)TRAP;
    struct sock_fprog prog = { k, f };
    if (sys3(NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        die();
}

static void install_handlers(void)
{
    static const int sigs[] = { SIGSYS, 11, 7, 8, 4, 5, KICK_SIGNAL };
    for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct kernel_sigaction sa = {
            (void *)on_signal, SA_SIGINFO | SA_ONSTACK | SA_RESTORER,
            (void *)stub_restorer, ~0ULL };
        if (sys6(NR_rt_sigaction, sigs[i], (long)&sa, 0, 8, 0, 0) < 0)
            die();
    }
}

/* On slot 0's stack, with the control region mapped. */
__attribute__((noreturn, used)) void child_main(void)
{
    /* Nothing of the zygote's address space stays but this binary and
     * the slots: its stack, the vDSO and vvar go. */
    sys3(NR_munmap, 0x10000, STUB_BASE - 0x10000, 0);
    sys3(NR_munmap, CTL_VA + CTL_SIZE, 0x7FFFFFFFF000ULL - (CTL_VA + CTL_SIZE), 0);
    struct msg *m = (struct msg *)CTL_VA;
    if (sys6(NR_mmap, TABLE_VA, TABLE_SIZE, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED,
             POOL_FD + 1, TABLE_OFF) != TABLE_VA)
        die();
    if (sys6(NR_mmap, MAPPER_VA, MAPPER_SIZE, PROT_READ, MAP_SHARED | MAP_FIXED,
             POOL_FD + 1, MAPPER_OFF) != MAPPER_VA)
        die();
    sys3(NR_close, POOL_FD + 1, 0, 0);
    sys3(NR_set_tid_address, &m->tid, 0, 0);
    m->tid = sys3(NR_gettid, 0, 0, 0);
    install_handlers();
    setup_thread(CTL_VA);
    install_filter(0);
    /* The mapper starts with every signal blocked (none is for it) and
     * keeps the pool memfd and its eventfd in its own file table; this
     * thread's, which every thread of the program shares, drops both. */
    u64 all = ~0ULL, none = 0;
    sys6(NR_rt_sigprocmask, 2 /* SIG_SETMASK */, (long)&all, 0, 8, 0, 0);
    if (stub_clone_mapper() < 0)
        die();
    sys6(NR_rt_sigprocmask, 2 /* SIG_SETMASK */, (long)&none, 0, 8, 0, 0);
    if (sys3(NR_close, POOL_FD, 0, 0) < 0 || sys3(NR_close, DONE_FD, 0, 0) < 0)
        die();
    install_filter(1);
    birth();
}

void enter_child(long stack);   /* switch to slot 0's stack, call child_main */

static void child_start(int pool_fd, int ctl_fd, int done_fd, long zygote)
{
    sys3(NR_prctl, PR_SET_PDEATHSIG, SIGKILL, 0);
    /* A zygote that died before that request sends no signal: the child
     * would be an orphan, past the sandbox's end. */
    if (sys3(NR_getppid, 0, 0, 0) != zygote)
        die();
    if (sys3(NR_dup2, pool_fd, POOL_FD, 0) < 0 || sys3(NR_dup2, ctl_fd, POOL_FD + 1, 0) < 0
        || sys3(NR_dup2, done_fd, DONE_FD, 0) < 0)
        die();
    sys3(NR_close_range, 0, POOL_FD - 1, 0);
    long p = sys6(NR_mmap, CTL_VA, CTL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                  POOL_FD + 1, 0);
    if (p != CTL_VA)
        die();
    enter_child(STACK_TOP_OF(0));
}

/* --- the zygote ----------------------------------------------------------- */

struct iovec { void *base; size_t len; };
struct msghdr {
    void *name; int namelen; struct iovec *iov; size_t iovlen;
    void *control; size_t controllen; int flags;
};

/* argv[1] in decimal, or -1. */
static long sentry_pid_arg(const long *sp)
{
    if (sp[0] < 2)
        return -1;
    const char *s = (const char *)sp[2];
    long v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 0x7fffffff / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

__attribute__((noreturn, used)) void zygote_main(const long *sp)
{
    /* fd 0: a SOCK_SEQPACKET socket to the sentry. Each request carries
     * the pool and control memfds and the mapper's eventfd; the reply is
     * the new child's pid. argv[1]: the sentry's pid. */
    struct kernel_sigaction sa = { (void *)SIG_IGN, SA_NOCLDWAIT | SA_RESTORER,
                                   (void *)stub_restorer, 0 };
    sys6(NR_rt_sigaction, SIGCHLD, (long)&sa, 0, 8, 0, 0);
    sys3(NR_prctl, PR_SET_PDEATHSIG, SIGKILL, 0);
    /* A sentry that died before that request sends no signal, and its
     * socket's end may live on in a copy of it (a fork): the zygote would
     * be an orphan, forking children for no one. */
    if (sys3(NR_getppid, 0, 0, 0) != sentry_pid_arg(sp))
        die();
    sys3(NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0);
    long self = sys3(NR_getpid, 0, 0, 0);
    /* No capabilities, in whatever user namespace this runs: the
     * children inherit none. */
    u32 cap_header[2] = { 0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0 };
    u32 cap_data[6] = { 0 };
    if (sys3(NR_capset, cap_header, cap_data, 0) < 0)
        die();
    install_zygote_filter();
    for (;;) {
        char byte;
        u64 control[4];
        struct iovec iov = { &byte, 1 };
        struct msghdr mh = { 0, 0, &iov, 1, control, sizeof(control), 0 };
        long n = sys3(NR_recvmsg, 0, &mh, 0);
        if (n <= 0)
            die();
        /* struct cmsghdr: len (8), level (4), type (4), then the fds. */
        if (mh.controllen < 28 || control[0] != 28
            || ((int *)control)[2] != SOL_SOCKET || ((int *)control)[3] != SCM_RIGHTS)
            die();
        int pool_fd = ((int *)control)[4], ctl_fd = ((int *)control)[5];
        int done_fd = ((int *)control)[6];
        long pid = sys6(NR_clone, SIGCHLD, 0, 0, 0, 0, 0);
        if (pid == 0)
            child_start(pool_fd, ctl_fd, done_fd, self);
        sys3(NR_close, pool_fd, 0, 0);
        sys3(NR_close, ctl_fd, 0, 0);
        sys3(NR_close, done_fd, 0, 0);
        struct iovec riov = { &pid, 8 };
        struct msghdr rmh = { 0, 0, &riov, 1, 0, 0, 0 };
        if (sys3(NR_sendmsg, 0, &rmh, 0) != 8)
            die();
    }
}

__asm__(
    ".text\n"
    ".globl _start\n"
    "_start:\n"
    "    mov %rsp, %rdi\n"             /* argc, argv[], NULL, envp[] */
    "    and $-16, %rsp\n"
    "    call zygote_main\n"
    "    ud2\n"
    ".globl stub_restorer\n"
    "stub_restorer:\n"
    "    mov $15, %eax\n"               /* rt_sigreturn */
    "    syscall\n"
    "    ud2\n"
    ".globl enter_child\n"
    "enter_child:\n"
    "    mov %rdi, %rsp\n"
    "    call child_main\n"
    "    ud2\n"
    /* long stub_clone_thread(flags, stack, ctid): the new thread starts
     * on `stack` (its slot's) in thread_main; the caller gets the tid. */
    ".globl stub_clone_thread\n"
    "stub_clone_thread:\n"
    "    mov %rdx, %r10\n"              /* ctid: cleared at the thread's exit */
    "    xor %edx, %edx\n"
    "    xor %r8d, %r8d\n"
    "    mov $56, %eax\n"
    "    syscall\n"
    "    test %rax, %rax\n"
    "    jnz 1f\n"
    "    and $-16, %rsp\n"
    "    call thread_main\n"
    "    ud2\n"
    "1:  ret\n"
);

/* long stub_clone_mapper(void): start the mapper thread; the caller gets
 * its tid. The new thread runs mapper_loop on the caller's stack pointer
 * but never touches memory through it (nor any writable memory): it
 * waits for the request page's seq to change, makes the calls the page
 * lists, and writes the eventfd from the page's table of values, 1 + the
 * errno of the first call that failed. */
#define XS(x) #x
#define S(x) XS(x)
__asm__(
    ".text\n"
    ".globl stub_clone_mapper\n"
    "stub_clone_mapper:\n"
    "    mov $" S(A_MAPPER_CLONE_FLAGS) ", %edi\n"
    "    xor %esi, %esi\n"
    "    xor %edx, %edx\n"
    "    xor %r10d, %r10d\n"
    "    xor %r8d, %r8d\n"
    "    mov $56, %eax\n"
    "    syscall\n"
    "    test %rax, %rax\n"
    "    jz mapper_loop\n"
    "    ret\n"
    "mapper_loop:\n"
    "    movabs $" S(A_MAPPER_VA) ", %r12\n"
    "    xor %r13d, %r13d\n"               /* the last seq served */
    "1:  mov (%r12), %eax\n"
    "    cmp %r13d, %eax\n"
    "    jne 2f\n"
    "    mov %r12, %rdi\n"
    "    xor %esi, %esi\n"                 /* FUTEX_WAIT (shared: the sentry wakes) */
    "    mov %r13d, %edx\n"
    "    xor %r10d, %r10d\n"
    "    mov $202, %eax\n"
    "    syscall\n"
    "    jmp 1b\n"
    "2:  mov %eax, %r13d\n"
    "    mov 8(%r12), %r14\n"              /* nops, at most MAPPER_MAX_OPS */
    "    mov $" S(A_MAPPER_MAX_OPS) ", %eax\n"
    "    cmp %rax, %r14\n"
    "    cmova %rax, %r14\n"
    "    lea " S(A_MAPPER_OPS_OFF) "(%r12), %r15\n"
    "    xor %ebx, %ebx\n"                 /* the first errno */
    "3:  test %r14, %r14\n"
    "    jz 5f\n"
    "    mov 8(%r15), %rdi\n"
    "    mov 16(%r15), %rsi\n"
    "    mov 24(%r15), %rdx\n"
    "    mov 32(%r15), %r10\n"
    "    mov 40(%r15), %r8\n"
    "    mov 48(%r15), %r9\n"
    "    mov (%r15), %rax\n"
    "    syscall\n"
    "    cmp $-4095, %rax\n"
    "    jb 4f\n"
    "    test %rbx, %rbx\n"
    "    jnz 4f\n"
    "    mov %rax, %rbx\n"
    "    neg %rbx\n"
    "4:  add $" S(A_OP_SIZE) ", %r15\n"
    "    dec %r14\n"
    "    jmp 3b\n"
    "5:  lea " S(A_MAPPER_VALUES_OFF) "(%r12,%rbx,8), %rsi\n"
    "    mov $" S(A_DONE_FD) ", %edi\n"
    "    mov $8, %edx\n"
    "    mov $1, %eax\n"                   /* write */
    "    syscall\n"
    "    jmp 1b\n"
);

/* The patched syscall's entry, from a site's trampoline, which left the
 * program's rsp and return address in the message and the syscall number
 * in rax (the site's own `mov`; a `syscall` would have clobbered rcx and
 * r11, so the entry sets them as it does). Everything is reached through
 * %gs, the slot; nothing is pushed on the program's stack (its red zone).
 * The C code it calls touches no FPU or vector register (built with
 * -mgeneral-regs-only), so the XSAVE image stays the program's. Every
 * enabled state component but AMX's tile data is saved, as in a Linux
 * signal frame: the sandbox grants no AMX permission, and the 8 KiB of
 * tile data would run past the entry's area (ENTRY_XSAVE_MAX). */
#define XSAVE_MASK_LO 0xfffbffff
#define SC(off) "%gs:" S(A_SC) "+" #off
#define MSG(off) "%gs:" S(off)
__asm__(
    ".text\n"
    ".globl syscall_entry\n"
    "syscall_entry:\n"
    "    mov %r8, " SC(0) "\n"
    "    mov %r9, " SC(8) "\n"
    "    mov %r10, " SC(16) "\n"
    "    mov %r12, " SC(32) "\n"
    "    mov %r13, " SC(40) "\n"
    "    mov %r14, " SC(48) "\n"
    "    mov %r15, " SC(56) "\n"
    "    mov %rdi, " SC(64) "\n"
    "    mov %rsi, " SC(72) "\n"
    "    mov %rbp, " SC(80) "\n"
    "    mov %rbx, " SC(88) "\n"
    "    mov %rdx, " SC(96) "\n"
    "    mov %rax, " SC(104) "\n"
    "    mov " MSG(A_MSG_SELF) ", %rsp\n"
    "    lea " S(A_STACK_TOP) "(%rsp), %rsp\n"
    "    pushfq\n"
    "    pop %r11\n"
    "    mov %r11, " SC(24) "\n"            /* r11: rflags, as `syscall` leaves it */
    "    mov %r11, " SC(136) "\n"
    "    mov " MSG(A_MSG_ENTRY_RIP) ", %rcx\n"
    "    mov %rcx, " SC(112) "\n"           /* rcx: the return address */
    "    mov %rcx, " SC(128) "\n"
    "    mov " MSG(A_MSG_ENTRY_RSP) ", %rax\n"
    "    mov %rax, " SC(120) "\n"
    "    movabs $0x002b000000000033, %rax\n" /* cs 0x33, ss 0x2b */
    "    mov %rax, " SC(144) "\n"
    "    xor %eax, %eax\n"
    "    mov %rax, " SC(152) "\n"            /* err */
    "    mov %rax, " SC(160) "\n"            /* trapno */
    "    mov " MSG(A_MSG_SELF) ", %rdi\n"
    "    lea " S(A_XSAVE) "(%rdi), %rax\n"
    "    mov %rax, " SC(184) "\n"            /* fpstate */
    "    mov $" S(XSAVE_MASK_LO) ", %eax\n"
    "    mov $-1, %edx\n"
    "    xsave64 " S(A_XSAVE) "(%rdi)\n"
    "    call entry_syscall_c\n"
    "1:  mov " MSG(A_MSG_SELF) ", %rdi\n"
    "    mov $" S(XSAVE_MASK_LO) ", %eax\n"
    "    mov $-1, %edx\n"
    "    xrstor64 " S(A_XSAVE) "(%rdi)\n"
    "    cmpq $0, " MSG(A_MSG_GS_PENDING) "\n"
    "    je entry_tail\n"
    ".globl entry_gs_trap\n"
    "entry_gs_trap:\n"
    "    ud2\n"
    /* From here on only loads from the frame: a kick or a trap here is
     * finished by on_signal (entry_tail..entry_tail_end). */
    ".globl entry_tail\n"
    "entry_tail:\n"
    "    cmpq $0, " MSG(A_MSG_KICK) "\n"
    "    jne 2f\n"
    "    mov " SC(136) ", %rax\n"
    "    push %rax\n"
    "    mov " SC(0) ", %r8\n"
    "    mov " SC(8) ", %r9\n"
    "    mov " SC(16) ", %r10\n"
    "    mov " SC(24) ", %r11\n"
    "    mov " SC(32) ", %r12\n"
    "    mov " SC(40) ", %r13\n"
    "    mov " SC(48) ", %r14\n"
    "    mov " SC(56) ", %r15\n"
    "    mov " SC(64) ", %rdi\n"
    "    mov " SC(72) ", %rsi\n"
    "    mov " SC(80) ", %rbp\n"
    "    mov " SC(88) ", %rbx\n"
    "    mov " SC(96) ", %rdx\n"
    "    mov " SC(104) ", %rax\n"
    "    mov " SC(112) ", %rcx\n"
    "    popfq\n"
    "    mov " SC(120) ", %rsp\n"
    "    jmp *" SC(128) "\n"
    ".globl entry_tail_end\n"
    "entry_tail_end:\n"
    /* A kick came in the entry: save the FPU again (the sentry may
     * deliver a signal), post the kick, and go out again. */
    "2:  mov " MSG(A_MSG_SELF) ", %rdi\n"
    "    mov $" S(XSAVE_MASK_LO) ", %eax\n"
    "    mov $-1, %edx\n"
    "    xsave64 " S(A_XSAVE) "(%rdi)\n"
    "    call entry_kick_c\n"
    "    jmp 1b\n"
);
