/*
 * exit_cost: the raw cost of one ring-3 VM exit, measured with the KVM API
 * directly and no Python in the loop.
 *
 * This is the floor under kvmsentry's null-syscall cost, so it reproduces
 * exactly the exit the sandbox takes for a system call: a guest at CPL 3
 * executes `out $0x4a, %al`, which the TSS I/O permission bitmap allows,
 * and the host answers through kvm_run's sync-regs area (rip and rax
 * written back, regs marked dirty, no other ioctl) before KVM_RUN again.
 * The guest is built the way kvmsentry/platform/kvm/machine.py builds it:
 * Linux-ordered GDT, a TSS with an I/O bitmap, an IDT whose exception
 * vectors exit on port 0x4c, supervisor-only tables in the top of the
 * address space and one user code page.
 *
 *   gcc -O2 -o exit_cost benchmarks/exit_cost.c
 *   ./exit_cost [iterations]        (default 20000, after 1000 warm-up exits)
 *
 * Prints one JSON line: {"exits": N, "ns_per_exit": X, "pvm": true|false}.
 * Any exit other than an `out` on port 0x4a is an error (exit status 1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Guest physical layout (one slot at 0); mirrors kvmsentry/arch/layout.py. */
#define MEM_SIZE        0x100000ULL
#define IDT_PHYS        0x1000ULL
#define STUB_PHYS       0x2000ULL   /* ring-0 exception entry points */
#define USER_CODE_PHYS  0x3000ULL
#define GDT_PHYS        0x10000ULL  /* per-vCPU area: GDT, TSS + bitmap, stack */
#define TSS_PHYS        0x10800ULL
#define STACK_TOP_PHYS  0x16000ULL
#define PML4_PHYS       0x20000ULL
#define USER_PDPT_PHYS  0x21000ULL
#define USER_PD_PHYS    0x22000ULL
#define USER_PT_PHYS    0x23000ULL
#define KERN_PDPT_PHYS  0x24000ULL
#define KERN_PD_PHYS    0x25000ULL
#define KERN_PT_PHYS    0x26000ULL
#define KERNEL_MAPPED   0x20000ULL  /* phys [0, this) mapped at KERNEL_BASE */

#define KERNEL_BASE     0xffffff8000000000ULL   /* PML4 slot 511 */
#define KVA(phys)       (KERNEL_BASE + (phys))
#define USER_CODE_VA    0x400000ULL

#define PORT_SYSCALL    0x4a        /* the only port ring 3 may use */
#define PORT_EXCEPTION  0x4c

#define KERNEL_CS 0x10
#define USER_CS   0x33
#define USER_DS   0x2b
#define TSS_SEL   0x40
#define GDT_ENTRIES 10
#define TSS_SIZE   104
#define IOPB_BYTES 8192
#define TSS_LIMIT  (TSS_SIZE + IOPB_BYTES)     /* includes the trailing 0xff */

#define PTE_P  (1ULL << 0)
#define PTE_W  (1ULL << 1)
#define PTE_U  (1ULL << 2)
#define PTE_A  (1ULL << 5)
#define PTE_D  (1ULL << 6)
#define PTE_NX (1ULL << 63)
#define TABLE  (PTE_P | PTE_W | PTE_U)          /* leaves decide permissions */
#define LEAF   (PTE_P | PTE_A | PTE_D)          /* A/D preset: CPU never writes PTs */

#define CR0    0x80050033ULL
#define CR4    ((1ULL << 5) | (1ULL << 9) | (1ULL << 10))   /* PAE OSFXSR OSXMMEXCPT */
#define EFER   0xd01ULL                                     /* SCE LME LMA NXE */

#define MSR_PVM_SIGNATURE 0x4b564d11
#define PVM_SIGNATURE     0x4d5650

#define WARMUP 1000

static uint8_t *mem;

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("exit_cost: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static long xioctl(int fd, unsigned long req, void *arg, const char *what)
{
    long r = ioctl(fd, req, arg);
    if (r < 0)
        die("%s: %s", what, strerror(errno));
    return r;
}

static void put64(uint64_t phys, uint64_t v) { memcpy(mem + phys, &v, 8); }
static uint64_t get64(uint64_t phys) { uint64_t v; memcpy(&v, mem + phys, 8); return v; }

static void build_tables(void)
{
    /* GDT: same order as Linux so SYSRET-derived selectors would match. */
    static const uint64_t gdt[8] = {
        0, 0x00cf9b000000ffffULL, 0x00af9b000000ffffULL, 0x00cf93000000ffffULL,
        0x00cffb000000ffffULL, 0x00cff3000000ffffULL, 0x00affb000000ffffULL, 0,
    };
    for (int i = 0; i < 8; i++)
        put64(GDT_PHYS + 8 * i, gdt[i]);
    uint64_t tss = KVA(TSS_PHYS);
    put64(GDT_PHYS + 0x40, (TSS_LIMIT & 0xffff) | ((tss & 0xffffff) << 16) |
          (0x9ULL << 40) | (1ULL << 47) | (((uint64_t)(TSS_LIMIT >> 16) & 0xf) << 48) |
          (((tss >> 24) & 0xff) << 56));
    put64(GDT_PHYS + 0x48, tss >> 32);

    /* TSS: rsp0 and IST1 on the supervisor stack, so an exception from
     * ring 3 lands somewhere we can read its frame. */
    uint8_t *t = mem + TSS_PHYS;
    memset(t, 0, TSS_SIZE);
    put64(TSS_PHYS + 4, KVA(STACK_TOP_PHYS));     /* rsp0 */
    put64(TSS_PHYS + 36, KVA(STACK_TOP_PHYS));    /* ist1 */
    uint16_t iopb = TSS_SIZE;
    memcpy(t + 102, &iopb, 2);
    /* Every port denied except the syscall port; the CPU reads one byte
     * past the bitmap, which must be 0xff. */
    memset(t + TSS_SIZE, 0xff, IOPB_BYTES + 1);
    t[TSS_SIZE + PORT_SYSCALL / 8] &= ~(1 << (PORT_SYSCALL % 8));

    /* Exception entry points (16 bytes apart): push a dummy error code if
     * the CPU did not, push the vector, then exit on PORT_EXCEPTION. That
     * leaves [vector, error, rip, cs, rflags, rsp, ss] at stack top - 56,
     * the same frame the sandbox's stub leaves. A fault is thus an exit,
     * never a silent hang. */
    const uint32_t has_error = (1u << 8) | (0x1fu << 10) | (1u << 17) |
                               (1u << 21) | (1u << 29) | (1u << 30);
    for (int n = 0; n < 32; n++) {
        uint8_t *p = mem + STUB_PHYS + 16 * n;
        memset(p, 0xcc, 16);
        if (!(has_error >> n & 1)) {
            *p++ = 0x6a; *p++ = 0;            /* push $0 */
        }
        *p++ = 0x6a; *p++ = (uint8_t)n;       /* push $n */
        *p++ = 0xe6; *p++ = PORT_EXCEPTION;   /* out %al, $0x4c */
        *p++ = 0xf4;                          /* hlt */
        *p++ = 0xeb; *p++ = 0xfd;             /* jmp hlt */

        uint64_t h = KVA(STUB_PHYS) + 16 * n;
        put64(IDT_PHYS + 16 * n, (h & 0xffff) | ((uint64_t)KERNEL_CS << 16) |
              (1ULL << 32) /* IST1 */ | (0xeULL << 40) | (1ULL << 47) |
              (((h >> 16) & 0xffff) << 48));
        put64(IDT_PHYS + 16 * n + 8, h >> 32);
    }

    /* Ring-3 code: `1: out %al, $0x4a; jmp 1b`. The host resumes at the
     * jmp, so each iteration runs exactly one jmp and one out. */
    static const uint8_t user_code[] = { 0xe6, PORT_SYSCALL, 0xeb, 0xfc };
    memset(mem + USER_CODE_PHYS, 0xcc, 4096);
    memcpy(mem + USER_CODE_PHYS, user_code, sizeof user_code);

    /* Page tables. Kernel half: phys [0, KERNEL_MAPPED) at KERNEL_BASE,
     * supervisor-only; only the stub page is executable. */
    put64(PML4_PHYS + 8 * 511, KERN_PDPT_PHYS | TABLE);
    put64(KERN_PDPT_PHYS, KERN_PD_PHYS | TABLE);
    put64(KERN_PD_PHYS, KERN_PT_PHYS | TABLE);
    for (uint64_t phys = 0; phys < KERNEL_MAPPED; phys += 4096) {
        uint64_t flags = LEAF | (phys == STUB_PHYS ? 0 : PTE_NX);
        if (phys >= GDT_PHYS)
            flags |= PTE_W;                   /* stack (and TSS busy bit) */
        put64(KERN_PT_PHYS + 8 * (phys >> 12), phys | flags);
    }
    /* User half: one read-only, executable, user page. */
    put64(PML4_PHYS + 8 * ((USER_CODE_VA >> 39) & 511), USER_PDPT_PHYS | TABLE);
    put64(USER_PDPT_PHYS + 8 * ((USER_CODE_VA >> 30) & 511), USER_PD_PHYS | TABLE);
    put64(USER_PD_PHYS + 8 * ((USER_CODE_VA >> 21) & 511), USER_PT_PHYS | TABLE);
    put64(USER_PT_PHYS + 8 * ((USER_CODE_VA >> 12) & 511), USER_CODE_PHYS | LEAF | PTE_U);
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, uint8_t dpl, int code64)
{
    memset(s, 0, sizeof *s);
    s->base = 0; s->limit = 0xffffffff; s->selector = sel; s->type = type;
    s->present = 1; s->dpl = dpl; s->s = 1; s->l = code64; s->db = !code64; s->g = 1;
}

/* Start directly in 64-bit ring 3, as the sandbox does: no boot code at
 * CPL 0, which this host would emulate slowly. */
static void set_sregs(int vcpu, uint8_t tr_type)
{
    struct kvm_sregs s;
    xioctl(vcpu, KVM_GET_SREGS, &s, "KVM_GET_SREGS");
    seg(&s.cs, USER_CS, 0xb, 3, 1);
    seg(&s.ss, USER_DS, 0x3, 3, 0);
    seg(&s.ds, 0, 0x3, 3, 0);
    seg(&s.es, 0, 0x3, 3, 0);
    seg(&s.fs, 0, 0x3, 3, 0);
    seg(&s.gs, 0, 0x3, 3, 0);
    memset(&s.tr, 0, sizeof s.tr);
    s.tr.base = KVA(TSS_PHYS); s.tr.limit = TSS_LIMIT; s.tr.selector = TSS_SEL;
    s.tr.type = tr_type; s.tr.present = 1;        /* busy (11) or available (9) */
    memset(&s.ldt, 0, sizeof s.ldt);
    s.ldt.type = 2; s.ldt.unusable = 1;
    s.gdt.base = KVA(GDT_PHYS); s.gdt.limit = GDT_ENTRIES * 8 - 1;
    s.idt.base = KVA(IDT_PHYS); s.idt.limit = 256 * 16 - 1;
    s.cr0 = CR0; s.cr4 = CR4; s.efer = EFER; s.cr3 = PML4_PHYS;
    xioctl(vcpu, KVM_SET_SREGS, &s, "KVM_SET_SREGS");
}

/* Give the guest KVM's supported CPUID, as the sandbox does; some KVMs
 * check long mode and NX in EFER against it. */
static void set_cpuid(int kvm, int vcpu)
{
    for (int nent = 128; nent <= 4096; nent *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof *c + nent * sizeof c->entries[0]);
        if (!c)
            die("out of memory");
        c->nent = nent;
        if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            xioctl(vcpu, KVM_SET_CPUID2, c, "KVM_SET_CPUID2");
            free(c);
            return;
        }
        free(c);
        if (errno != E2BIG)
            die("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
    }
    die("KVM_GET_SUPPORTED_CPUID: too many entries");
}

/* kvm_pvm answers this MSR with "PVM"; plain KVM refuses it (0 read). */
static int is_pvm(int vcpu)
{
    struct { struct kvm_msrs h; struct kvm_msr_entry e; } m;
    memset(&m, 0, sizeof m);
    m.h.nmsrs = 1;
    m.e.index = MSR_PVM_SIGNATURE;
    return ioctl(vcpu, KVM_GET_MSRS, &m) == 1 && m.e.data == PVM_SIGNATURE;
}

static void bad_exit(struct kvm_run *run, uint64_t n)
{
    uint64_t rip = run->s.regs.regs.rip;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        if (run->io.port == PORT_EXCEPTION && run->io.direction == KVM_EXIT_IO_OUT) {
            uint64_t f = STACK_TOP_PHYS - 7 * 8;
            die("exit %llu: guest exception %llu, error %#llx, at rip %#llx",
                (unsigned long long)n, (unsigned long long)get64(f),
                (unsigned long long)get64(f + 8), (unsigned long long)get64(f + 16));
        }
        die("exit %llu: unexpected I/O %s port %#x size %d (rip %#llx)",
            (unsigned long long)n, run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
            run->io.port, run->io.size, (unsigned long long)rip);
    case KVM_EXIT_INTERNAL_ERROR:
        die("exit %llu: KVM_EXIT_INTERNAL_ERROR suberror %u (rip %#llx)",
            (unsigned long long)n, run->internal.suberror, (unsigned long long)rip);
    case KVM_EXIT_FAIL_ENTRY:
        die("exit %llu: KVM_EXIT_FAIL_ENTRY reason %#llx", (unsigned long long)n,
            (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
    default:
        die("exit %llu: unexpected exit reason %u (rip %#llx)",
            (unsigned long long)n, run->exit_reason, (unsigned long long)rip);
    }
}

/*
 * The hot loop, shaped like the sandbox's: KVM_RUN, check the exit, write
 * rip and rax into the sync-regs area and mark them dirty. rip is set
 * explicitly to the jmp after the `out` because hosts disagree on where
 * rip points at an I/O exit (kvm_pvm: after the out; VMX/SVM: at it, and
 * KVM skips it on re-entry unless userspace changed rip). rax carries a
 * per-exit value the guest must hand back unchanged, which checks that
 * the dirty registers really are loaded on every entry.
 */
static void run_exits(int vcpu, struct kvm_run *run, uint64_t count, uint64_t *serial)
{
    for (uint64_t i = 0; i < count; i++) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR) {             /* stray host signal: re-enter */
                i--;
                continue;
            }
            die("KVM_RUN: %s", strerror(errno));
        }
        if (run->exit_reason != KVM_EXIT_IO || run->io.port != PORT_SYSCALL ||
            run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 1)
            bad_exit(run, *serial);
        if (*serial && run->s.regs.regs.rax != *serial)
            die("exit %llu: rax %#llx, expected %#llx: sync regs not loaded",
                (unsigned long long)*serial, (unsigned long long)run->s.regs.regs.rax,
                (unsigned long long)*serial);
        ++*serial;
        run->s.regs.regs.rip = USER_CODE_VA + 2;
        run->s.regs.regs.rax = *serial;
        run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
    }
}

int main(int argc, char **argv)
{
    uint64_t iterations = 20000;
    if (argc > 2 || (argc == 2 && (iterations = strtoull(argv[1], NULL, 0)) == 0)) {
        fprintf(stderr, "usage: %s [iterations]\n", argv[0]);
        return 2;
    }

    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        die("/dev/kvm: %s", strerror(errno));
    if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
        die("unexpected KVM API version");
    long sync = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
    if (sync <= 0 || !(sync & KVM_SYNC_X86_REGS))
        die("KVM_CAP_SYNC_REGS without KVM_SYNC_X86_REGS: cannot measure the sandbox's exit path");

    int vm = (int)xioctl(kvm, KVM_CREATE_VM, 0, "KVM_CREATE_VM");
    mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    build_tables();
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE,
        .userspace_addr = (uint64_t)(uintptr_t)mem,
    };
    xioctl(vm, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");

    int vcpu = (int)xioctl(vm, KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU");
    int pvm = is_pvm(vcpu);                   /* on the fresh vCPU */
    long run_size = xioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
    struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        die("mmap kvm_run: %s", strerror(errno));
    set_cpuid(kvm, vcpu);
    set_sregs(vcpu, 0xb);                     /* busy 64-bit TSS, as VMX requires */

    /* The first entry loads the registers through sync regs too. */
    run->kvm_valid_regs = KVM_SYNC_X86_REGS;
    memset(&run->s.regs.regs, 0, sizeof run->s.regs.regs);
    run->s.regs.regs.rip = USER_CODE_VA;
    run->s.regs.regs.rflags = 0x202;          /* IF and the always-one bit */
    run->kvm_dirty_regs = KVM_SYNC_X86_REGS;

    /* QEMU's TCG emulating SVM honours the I/O bitmap only with an
     * available TSS in TR (the sandbox's machine.py probes the same way):
     * a #GP on the first `out` retries once with type 9. */
    if (ioctl(vcpu, KVM_RUN, 0) == 0 && run->exit_reason == KVM_EXIT_IO &&
        run->io.port == PORT_EXCEPTION && get64(STACK_TOP_PHYS - 7 * 8) == 13) {
        set_sregs(vcpu, 0x9);
        memset(&run->s.regs.regs, 0, sizeof run->s.regs.regs);
        run->s.regs.regs.rip = USER_CODE_VA;
        run->s.regs.regs.rflags = 0x202;
        run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
    } else if (run->exit_reason != KVM_EXIT_IO || run->io.port != PORT_SYSCALL) {
        bad_exit(run, 0);
    } else {
        run->s.regs.regs.rip = USER_CODE_VA + 2;
        run->s.regs.regs.rax = 0;
        run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
    }

    uint64_t serial = 0;
    run_exits(vcpu, run, WARMUP, &serial);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    run_exits(vcpu, run, iterations, &serial);
    clock_gettime(CLOCK_MONOTONIC, &t1);

    double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
    printf("{\"exits\": %llu, \"ns_per_exit\": %.1f, \"pvm\": %s}\n",
           (unsigned long long)iterations, ns / iterations, pvm ? "true" : "false");
    return 0;
}
