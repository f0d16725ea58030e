/* A debugger's view of a patched site (tests/systrap/test_patching.py),
 * natively and in the sandbox alike: the parent calls getpid until its
 * site is patched (on systrap), forks a traced child, reads getpid's code
 * (the original bytes), plants a breakpoint there, sees the child stop on
 * it, takes it out and lets the child finish; then single-steps the child
 * through syscall(2), whose site is patched too (on systrap). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "breakpoint.h"

int main(void)
{
    for (int i = 0; i < 100; i++)
        getpid() + syscall(SYS_getpid);
    unsigned long at = (unsigned long)getpid;
    pid_t child = fork();
    if (child == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        pid_t a = getpid();
        raise(SIGSTOP);
        pid_t b = syscall(SYS_getpid);
        printf("child: getpid twice %s\n", a == b && a == getpid() ? "same" : "differs");
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(child, &st, 0);
    long word = ptrace(PTRACE_PEEKTEXT, child, (void *)at, 0);
    printf("code: %02lx %02lx %02lx %02lx %02lx %02lx %02lx\n", word & 0xff, (word >> 8) & 0xff,
           (word >> 16) & 0xff, (word >> 24) & 0xff, (word >> 32) & 0xff, (word >> 40) & 0xff,
           (word >> 48) & 0xff);
    breakpoint_stop(child, at, word, "getpid");
    struct user_regs_struct regs;
    ptrace(PTRACE_CONT, child, 0, 0);
    waitpid(child, &st, 0);                        /* the second SIGSTOP */
    /* Step through syscall(2): its moves, the syscall, the check after. */
    at = (unsigned long)syscall;
    int steps = 0;
    unsigned long rips[16];
    for (int n = 0; n < 100000 && steps < 11; n++) {
        ptrace(PTRACE_GETREGS, child, 0, &regs);
        if (regs.rip == at || steps)
            rips[steps++] = regs.rip;
        ptrace(PTRACE_SINGLESTEP, child, 0, 0);
        waitpid(child, &st, 0);
        if (!WIFSTOPPED(st))
            break;
    }
    printf("steps:");
    for (int i = 0; i < steps; i++)
        printf(" syscall+%ld", (long)(rips[i] - at));
    printf("\n");
    fflush(stdout);
    ptrace(PTRACE_CONT, child, 0, 0);
    waitpid(child, &st, 0);
    printf("child status: %#x\n", st);
    return 0;
}
