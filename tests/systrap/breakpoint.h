/* A debugger's breakpoint, for the test programs of
 * tests/systrap/test_patching.py: the stopped tracee gets an int3 at `at`
 * (over `word`, the code's first 8 bytes there), runs to it, and is put
 * back at `at` with its code as it was; prints where it stopped. */
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>

static void breakpoint_stop(pid_t child, unsigned long at, long word, const char *name)
{
    int st;
    struct user_regs_struct regs;
    ptrace(PTRACE_POKETEXT, child, (void *)at, (void *)((word & ~0xffL) | 0xcc));
    ptrace(PTRACE_CONT, child, 0, 0);
    waitpid(child, &st, 0);
    ptrace(PTRACE_GETREGS, child, 0, &regs);
    printf("stop: %s at %s+%ld\n", WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP ? "SIGTRAP"
           : "other", name, (long)(regs.rip - at));
    ptrace(PTRACE_POKETEXT, child, (void *)at, (void *)word);
    regs.rip = at;
    ptrace(PTRACE_SETREGS, child, 0, &regs);
}
