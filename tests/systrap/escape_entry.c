/* The patched-syscall entry from the program's side (tests/systrap/
 * test_patching.py): a program that jumps into the stub's syscall_entry
 * or a trampoline itself, with registers of its choosing, gets what a
 * syscall gives and nothing more; one whose gs base is not its slot
 * (wrgsbase) dies of a fault, the sentry does not.
 *
 * Message offsets: MSG_ENTRY, MSG_ENTRY_RSP, MSG_ENTRY_RIP (-D, from
 * the layout). Static glibc: its getpid is `mov $39,%eax; syscall; ret`. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned long slot(void)
{
    unsigned long gs;
    __asm__ volatile("rdgsbase %0" : "=r"(gs));
    return gs;
}

/* Jump into the entry with rax = nr and a return address of our own. */
static long via_entry(long nr)
{
    unsigned long entry = *(unsigned long *)(slot() + MSG_ENTRY);
    long ret;
    __asm__ volatile(
        "lea 1f(%%rip), %%rcx\n"
        "mov %%rcx, %%gs:%c[rip]\n"
        "mov %%rsp, %%gs:%c[rsp]\n"
        "jmp *%[entry]\n"
        "1:\n"
        : "=a"(ret)
        : "a"(nr), [entry] "r"(entry), [rip] "i"(MSG_ENTRY_RIP), [rsp] "i"(MSG_ENTRY_RSP)
        : "rcx", "r11", "memory", "cc");
    return ret;
}

int main(void)
{
    pid_t pid = getpid();
    for (int i = 0; i < 100; i++)
        getpid();                                   /* (its site is patched now) */
    const unsigned char *code = (const unsigned char *)getpid;
    printf("getpid patched: %s\n", code[0] == 0xff && code[1] == 0x24 ? "yes" : "no");
    printf("entry getpid: %s\n", via_entry(39) == pid ? "same" : "differs");
    printf("entry x32 getpid: %ld\n", via_entry(0x40000000 | 39));
    printf("entry 500: %ld\n", via_entry(500));
    printf("entry -1: %ld\n", via_entry(-1));

    /* getpid's cell, its trampoline, called: the trampoline returns to
     * getpid's `ret`, which returns here. */
    unsigned int cell;
    memcpy(&cell, code + 3, 4);
    unsigned long tramp = *(unsigned long *)(unsigned long)cell;
    long r;
    __asm__ volatile("call *%1" : "=a"(r) : "r"(tramp)
                     : "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory", "cc");
    printf("trampoline getpid: %s\n", r == pid ? "same" : "differs");

    /* The table cannot be written. */
    pid_t p = fork();
    if (p == 0) {
        *(volatile unsigned long *)(unsigned long)cell = 0;
        _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
    printf("table write: %s\n", WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "allowed");

    /* A gs base of the program's own: the entry faults. */
    p = fork();
    if (p == 0) {
        static unsigned long fake[8192];
        unsigned long entry = *(unsigned long *)(slot() + MSG_ENTRY);
        __asm__ volatile("wrgsbase %0" : : "r"(fake));
        __asm__ volatile("mov %%rsp, %%gs:%c[rsp]\n"
                         "mov $39, %%eax\n"
                         "jmp *%[entry]\n"
                         : : [entry] "r"(entry), [rsp] "i"(MSG_ENTRY_RSP) : "rax", "memory");
        _exit(0);
    }
    waitpid(p, &st, 0);
    printf("foreign gs base: %s\n", WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exited");
    return 0;
}
