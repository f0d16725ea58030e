/* A signal handler that rewrites its saved context, then sigreturn: a
 * non-canonical rip, a kernel-half rip, or CS = 0x23 (compatibility
 * mode) with rip at 32-bit code.  The return itself must never reach
 * ring 0 or 32-bit code in the sandbox.
 * Usage: bad_sigreturn {noncanonical|kernel|cs23|iopl} */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

static const char *mode;

void compat_target(void);
__asm__(".text\n.code32\n.globl compat_target\ncompat_target:\n"
        "    movl $20, %eax\n    syscall\n    hlt\n.code64\n");

static void handler(int sig, siginfo_t *si, void *uc_)
{
    ucontext_t *uc = uc_;
    greg_t *g = uc->uc_mcontext.gregs;
    if (!strcmp(mode, "noncanonical"))
        g[REG_RIP] = 0x0000800000000000L;
    else if (!strcmp(mode, "kernel"))
        g[REG_RIP] = (greg_t)0xffffff8000002000UL;
    else if (!strcmp(mode, "cs23")) {
        g[REG_RIP] = (greg_t)(unsigned long)compat_target;
        g[REG_CSGSFS] = (g[REG_CSGSFS] & ~0xffffL) | 0x23;
    } else if (!strcmp(mode, "iopl"))
        g[REG_EFL] |= 0x3000;
}

int main(int argc, char **argv)
{
    mode = argc > 1 ? argv[1] : "";
    struct sigaction sa = {0};
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    printf("mode %s\n", mode);
    fflush(stdout);
    raise(SIGUSR1);
    if (!strcmp(mode, "iopl")) {
        __asm__ volatile("cli");          /* needs IOPL 3 */
        printf("cli with IOPL 3\n");
    }
    printf("returned\n");
    return 0;
}
