/* A handler that clobbers every xmm register, x87 and MXCSR must not
 * disturb the interrupted code's FPU/SSE state; at handler entry
 * rsp % 16 == 8 (as after a call), on the normal and the alternate stack. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

volatile uint64_t entry_rsp[8];
volatile int entries;

/* Record rsp on entry, then tail-call the C handler. */
void c_handler(int sig);
__asm__(".text\n.globl asm_handler\nasm_handler:\n"
        "  movslq entries(%rip), %rax\n"
        "  leaq entry_rsp(%rip), %rcx\n"
        "  movq %rsp, (%rcx,%rax,8)\n"
        "  incl entries(%rip)\n"
        "  jmp c_handler\n");
void asm_handler(int sig);

void c_handler(int sig) {
    (void)sig;
    /* Clobber xmm0-15, the x87 stack and MXCSR's rounding mode. */
    __asm__ volatile(
        "pcmpeqd %%xmm0, %%xmm0\n movdqa %%xmm0, %%xmm1\n movdqa %%xmm0, %%xmm2\n"
        "movdqa %%xmm0, %%xmm3\n movdqa %%xmm0, %%xmm4\n movdqa %%xmm0, %%xmm5\n"
        "movdqa %%xmm0, %%xmm6\n movdqa %%xmm0, %%xmm7\n movdqa %%xmm0, %%xmm8\n"
        "movdqa %%xmm0, %%xmm9\n movdqa %%xmm0, %%xmm10\n movdqa %%xmm0, %%xmm11\n"
        "movdqa %%xmm0, %%xmm12\n movdqa %%xmm0, %%xmm13\n movdqa %%xmm0, %%xmm14\n"
        "movdqa %%xmm0, %%xmm15\n"
        ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
        "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    uint32_t mxcsr = 0x7f80 | (3 << 13);   /* round toward zero */
    __asm__ volatile("ldmxcsr %0" :: "m"(mxcsr));
    __asm__ volatile("fldpi\n fldpi\n fldpi\n fninit" ::: "st");
}

int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = asm_handler;
    sigaction(SIGUSR1, &sa, NULL);

    /* Fill xmm0-15 with known patterns, raise with a raw syscall inside
     * the same asm block so nothing in between touches them, then store. */
    uint32_t in[16][4], out[16][4];
    for (int r = 0; r < 16; r++)
        for (int k = 0; k < 4; k++) in[r][k] = 0x01010101u * (r + 1) + k;
    long nr = SYS_tgkill, pid = getpid(), tid = syscall(SYS_gettid), sig = SIGUSR1;
    __asm__ volatile(
        "movdqu 0(%[in]), %%xmm0\n movdqu 16(%[in]), %%xmm1\n movdqu 32(%[in]), %%xmm2\n"
        "movdqu 48(%[in]), %%xmm3\n movdqu 64(%[in]), %%xmm4\n movdqu 80(%[in]), %%xmm5\n"
        "movdqu 96(%[in]), %%xmm6\n movdqu 112(%[in]), %%xmm7\n movdqu 128(%[in]), %%xmm8\n"
        "movdqu 144(%[in]), %%xmm9\n movdqu 160(%[in]), %%xmm10\n movdqu 176(%[in]), %%xmm11\n"
        "movdqu 192(%[in]), %%xmm12\n movdqu 208(%[in]), %%xmm13\n movdqu 224(%[in]), %%xmm14\n"
        "movdqu 240(%[in]), %%xmm15\n"
        "movq %[nr], %%rax\n movq %[pid], %%rdi\n movq %[tid], %%rsi\n movq %[sig], %%rdx\n"
        "syscall\n"
        "movdqu %%xmm0, 0(%[out])\n movdqu %%xmm1, 16(%[out])\n movdqu %%xmm2, 32(%[out])\n"
        "movdqu %%xmm3, 48(%[out])\n movdqu %%xmm4, 64(%[out])\n movdqu %%xmm5, 80(%[out])\n"
        "movdqu %%xmm6, 96(%[out])\n movdqu %%xmm7, 112(%[out])\n movdqu %%xmm8, 128(%[out])\n"
        "movdqu %%xmm9, 144(%[out])\n movdqu %%xmm10, 160(%[out])\n movdqu %%xmm11, 176(%[out])\n"
        "movdqu %%xmm12, 192(%[out])\n movdqu %%xmm13, 208(%[out])\n movdqu %%xmm14, 224(%[out])\n"
        "movdqu %%xmm15, 240(%[out])\n"
        :: [in] "r"(in), [out] "r"(out), [nr] "m"(nr), [pid] "m"(pid), [tid] "m"(tid),
           [sig] "m"(sig)
        : "rax", "rdi", "rsi", "rdx", "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3",
          "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
          "xmm14", "xmm15");
    printf("handler entries=%d xmm0-15 preserved=%d\n", entries, !memcmp(in, out, sizeof in));

    /* x87 and MXCSR across a handler, during a computation. */
    volatile double x = 1.0;
    uint32_t mx_before, mx_after;
    __asm__ volatile("stmxcsr %0" : "=m"(mx_before));
    long double acc = 0;
    for (int i = 1; i <= 1000; i++) {
        acc += 1.0L / i;
        if (i % 250 == 0) raise(SIGUSR1);
    }
    __asm__ volatile("stmxcsr %0" : "=m"(mx_after));
    printf("harmonic(1000)=%.15Lf mxcsr_same=%d third=%.17g\n", acc, mx_before == mx_after,
           x / 3.0);

    /* The handler's frame alignment, on the alternate stack too (odd
     * sized, odd placed). */
    stack_t ss = {.ss_sp = (char *)malloc(65536 + 7) + 3, .ss_size = 65536 + 3};
    sigaltstack(&ss, NULL);
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR2);
    int aligned = 1;
    for (int i = 0; i < entries; i++) aligned &= (entry_rsp[i] % 16) == 8;
    printf("entries=%d all rsp%%16==8: %d\n", entries, aligned);
    return 0;
}
