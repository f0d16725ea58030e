/* The stub's own host calls from the program's side (tests/systrap/
 * test_systrap.py): a program that jumps to a `syscall` in the stub's
 * code, with registers of its choosing, makes a syscall the sentry
 * serves, never the host call the stub's filter lets the stub make. The
 * mapping calls (mmap of the pool memfd, munmap, mprotect) are the mapper
 * thread's alone: the program's threads hold neither the pool's fd nor
 * those calls, so it can neither map another process's memory nor make
 * the stub or the mapper's request page writable.
 *
 * -D: STUB_BASE, MAPPER_VA, POOL_FD, DONE_FD (the layout). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

static sigjmp_buf jb;
static long got_rax;
static unsigned long site;           /* a `syscall; ud2` in the stub's code */

static void on_ill(int sig, siginfo_t *si, void *ctx)
{
    got_rax = ((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RAX];
    siglongjmp(jb, 1);
}

static void on_segv(int sig) { siglongjmp(jb, 2); }

/* The syscall at `site` with these registers; it is followed by ud2,
 * whose SIGILL brings back rax. */
static long stub_call(long nr, long a, long b, long c, long d, long e, long f)
{
    if (sigsetjmp(jb, 1) == 0) {
        register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
        __asm__ volatile("jmp *%[site]" : : [site] "r"(site), "a"(nr), "D"(a), "S"(b),
                         "d"(c), "r"(r10), "r"(r8), "r"(r9) : "memory");
        __builtin_unreachable();
    }
    return got_rax;
}

static const char *store(volatile unsigned char *p)
{
    if (sigsetjmp(jb, 1) == 0) {
        *p = *p;
        return "allowed";
    }
    return "SIGSEGV";
}

int main(void)
{
    /* The stub's signal restorer: mov $15,%eax; syscall; ud2. */
    static const unsigned char pat[] = { 0xb8, 0x0f, 0, 0, 0, 0x0f, 0x05, 0x0f, 0x0b };
    for (unsigned long p = STUB_BASE + 0x1000; p < STUB_BASE + 0x3000; p++)
        if (memcmp((void *)p, pat, sizeof(pat)) == 0) {
            site = p + 5;
            break;
        }
    printf("stub site: %s\n", site ? "found" : "missing");
    struct sigaction sa = { 0 };
    sa.sa_sigaction = on_ill;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGILL, &sa, 0);
    signal(SIGSEGV, on_segv);

    /* The sentry's getpid: the call is trapped like any other. */
    printf("stub getpid: %s\n", stub_call(39, 0, 0, 0, 0, 0, 0) == getpid() ? "same" : "differs");
    /* The pool memfd (every process's memory): not this thread's fd. */
    long r = stub_call(9, 0x10000000, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                       POOL_FD, 0);
    printf("stub mmap of the pool: %ld\n", r);
    /* The stub's code made writable, and the mapper's request page. */
    r = stub_call(10, STUB_BASE + 0x1000, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, 0, 0, 0);
    printf("stub mprotect of the stub: %ld\n", r);
    printf("stub write: %s\n", store((unsigned char *)STUB_BASE + 0x1000));
    r = stub_call(10, MAPPER_VA, 4096, PROT_READ | PROT_WRITE, 0, 0, 0);
    printf("stub mprotect of the request page: %ld\n", r);
    printf("request page write: %s\n", store((unsigned char *)MAPPER_VA + 8));
    /* The mapper's eventfd ("done"): not this thread's fd either. */
    static const unsigned long one = 1;
    r = stub_call(1, DONE_FD, (long)&one, 8, 0, 0, 0);
    printf("stub write to the mapper's eventfd: %ld\n", r);
    /* The request page stays (a munmap is the sentry's, of nothing). */
    r = stub_call(11, MAPPER_VA, 4096, 0, 0, 0, 0);
    printf("stub munmap of the request page: %ld\n", r);
    volatile unsigned char *page = (unsigned char *)MAPPER_VA;
    int readable = sigsetjmp(jb, 1) == 0 ? (page[0], 1) : 0;
    printf("request page after: %s\n", readable ? "still there" : "gone");
    fflush(stdout);
    return 0;
}
