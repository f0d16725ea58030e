/* Escape checks for the systrap platform (tests/systrap/test_escape.py).
 *
 * 1. Every x86-64 syscall number 0..460 with zero arguments, between two
 *    marker calls (500, 501): the sentry's --strace must show each one, so
 *    each was trapped (SECCOMP_RET_TRAP: the host never ran it). Calls that
 *    would end or block the program, or lock it into strict seccomp, are
 *    left out and listed in the test.
 * 2. The other entries: x32 getpid (0x40000000|39) and int 0x80 getpid
 *    (i386 nr 20) must answer -ENOSYS, not a host pid.
 * 3. The stub's code cannot be written: a store to it is a SIGSEGV; nor
 *    can its range be mapped over (MAP_FIXED succeeds, a touch faults).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static long raw(long nr)
{
    long ret;
    register long r10 __asm__("r10") = 0, r8 __asm__("r8") = 0, r9 __asm__("r9") = 0;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(0L), "S"(0L), "d"(0L),
                     "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
    return ret;
}

static int skipped(long nr)
{
    static const long skip[] = { 15, 23, 34, 56, 57, 58, 60, 70, 231, 270, 271, 317, 335, 336 };
    for (unsigned i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
        if (skip[i] == nr)
            return 1;
    return 0;
}

static sigjmp_buf jb;
static void on_segv(int sig) { siglongjmp(jb, 1); }

int main(int argc, char **argv)
{
    raw(500);
    for (long nr = 0; nr <= 460; nr++)
        if (!skipped(nr))
            raw(nr);
    raw(501);
    long x32 = raw(0x40000000 | 39);
    long i386;
    __asm__ volatile("int $0x80" : "=a"(i386) : "a"(20L) : "memory");
    printf("x32 getpid: %ld\nint 0x80 getpid: %ld\n", x32, (long)(int)i386);
    signal(SIGSEGV, on_segv);
    volatile unsigned char *stub = (unsigned char *)(STUB_BASE + 0x1000);
    if (sigsetjmp(jb, 1) == 0) {
        stub[0] = 0xcc;
        printf("stub write: allowed\n");
    } else {
        printf("stub write: SIGSEGV\n");
    }
    char *over = mmap((void *)(STUB_BASE + 0x10000), 4096, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (sigsetjmp(jb, 1) == 0) {
        over[0] = 1;
        printf("map over the stub: allowed\n");
    } else {
        printf("map over the stub: SIGSEGV\n");
    }
    fflush(stdout);
    return 0;
}
