/* A syscall changes only rax, rcx and r11: every other general register,
 * rsp and the flags come back as they were. Afterwards rcx holds the
 * return address and r11 the flags, as the SYSCALL instruction leaves them. */
#include <stdint.h>
#include <stdio.h>

struct frame {
    uint64_t nr;                 /*   0 */
    uint64_t in[12];             /*   8: rbx rdx rsi rdi rbp r8 r9 r10 r12-r15 */
    uint64_t out[12];            /* 104 */
    uint64_t rcx, r11;           /* 200, 208: after the syscall */
    uint64_t flags_before;       /* 216 */
    uint64_t flags_after;        /* 224 */
    uint64_t rax;                /* 232 */
    uint64_t rsp_before;         /* 240 */
    uint64_t rsp_after;          /* 248 */
    uint64_t return_address;     /* 256 */
};

void probe(struct frame *f);

__asm__(
    ".text\n"
    ".globl probe\n"
    "probe:\n"
    "  push %rbx\n push %rbp\n push %r12\n push %r13\n push %r14\n push %r15\n"
    "  push %rdi\n"
    "  mov %rdi, %rax\n"
    "  mov 8(%rax), %rbx\n  mov 16(%rax), %rdx\n mov 24(%rax), %rsi\n"
    "  mov 32(%rax), %rdi\n mov 40(%rax), %rbp\n mov 48(%rax), %r8\n"
    "  mov 56(%rax), %r9\n  mov 64(%rax), %r10\n mov 72(%rax), %r12\n"
    "  mov 80(%rax), %r13\n mov 88(%rax), %r14\n mov 96(%rax), %r15\n"
    "  mov %rsp, 240(%rax)\n"
    "  cmp %rax, %rax\n"             /* ZF and PF set, */
    "  stc\n"                        /* and CF */
    "  pushfq\n"
    "  pop %rcx\n"
    "  mov %rcx, 216(%rax)\n"
    "  mov 0(%rax), %rax\n"
    "  syscall\n"
    "probe_after:\n"
    "  push %rcx\n push %r11\n pushfq\n push %rax\n"
    "  mov 32(%rsp), %rax\n"         /* the frame pointer pushed on entry */
    "  mov %rbx, 104(%rax)\n mov %rdx, 112(%rax)\n mov %rsi, 120(%rax)\n"
    "  mov %rdi, 128(%rax)\n mov %rbp, 136(%rax)\n mov %r8, 144(%rax)\n"
    "  mov %r9, 152(%rax)\n  mov %r10, 160(%rax)\n mov %r12, 168(%rax)\n"
    "  mov %r13, 176(%rax)\n mov %r14, 184(%rax)\n mov %r15, 192(%rax)\n"
    "  lea 32(%rsp), %rcx\n mov %rcx, 248(%rax)\n"
    "  lea probe_after(%rip), %rcx\n mov %rcx, 256(%rax)\n"
    "  pop %rcx\n mov %rcx, 232(%rax)\n"
    "  pop %rcx\n mov %rcx, 224(%rax)\n"
    "  pop %rcx\n mov %rcx, 208(%rax)\n"
    "  pop %rcx\n mov %rcx, 200(%rax)\n"
    "  pop %rdi\n"
    "  pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %rbp\n pop %rbx\n"
    "  ret\n");

static const char *names[] = {"rbx", "rdx", "rsi", "rdi", "rbp", "r8",
                              "r9",  "r10", "r12", "r13", "r14", "r15"};

int main(void)
{
    int changed = 0;
    /* Several rounds: the same call site runs again after its first use. */
    for (int round = 0; round < 4; round++) {
        struct frame f = {.nr = round % 2 ? 186 /* gettid */ : 39 /* getpid */};
        for (int i = 0; i < 12; i++)
            f.in[i] = 0x1000000000000001ull * (i + 3) + round;
        probe(&f);
        for (int i = 0; i < 12; i++)
            if (f.in[i] != f.out[i]) {
                printf("round %d: %s changed\n", round, names[i]);
                changed++;
            }
        printf("round %d: result>0 %d, rsp kept %d, rcx=return address %d, "
               "r11=flags before %d, flags kept %d (CF %d ZF %d)\n",
               round, (int64_t)f.rax > 0, f.rsp_before == f.rsp_after,
               f.rcx == f.return_address, (f.r11 & ~0x10000ull) == (f.flags_before & ~0x10000ull),
               (f.flags_after & 0xfd5) == (f.flags_before & 0xfd5), (int)(f.flags_after & 1),
               (int)((f.flags_after >> 6) & 1));
    }
    printf("registers changed: %d\n", changed);
    return 0;
}
