/* Pages a fault maps beyond the one it asked for (file fault-around,
 * anonymous populate-ahead, MAP_POPULATE, madvise populate) must never
 * widen what the program may touch: every probe prints what a read or
 * write of one page does (a value, SEGV or BUS), and the sandbox must
 * print what Linux prints. Mappings are over 1 MiB so the sentry maps
 * them on fault, not when they are made. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ                /* musl's headers lack them */
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

#define P 4096L
#define FILE_PAGES 300           /* plus 100 bytes: page 300 is partial */
#define MAP_PAGES 320

static sigjmp_buf env;
static volatile int caught;

static void on_fault(int sig)
{
    caught = sig;
    siglongjmp(env, 1);
}

static void probe(const char *what, volatile unsigned char *base, long page, int write)
{
    caught = 0;
    if (sigsetjmp(env, 1) == 0) {
        volatile unsigned char *p = base + page * P + 7;
        int v = *p;
        if (write)
            *p = (unsigned char)(v + 1);
        printf("%s page %ld: %s %d\n", what, page, write ? "wrote" : "read", v);
    } else {
        printf("%s page %ld: %s\n", what, page, caught == SIGSEGV ? "SEGV" : "BUS");
    }
}

static unsigned char *map_file(int fd, int prot, int flags)
{
    unsigned char *m = mmap(NULL, MAP_PAGES * P, prot, flags, fd, 0);
    if (m == MAP_FAILED) {
        perror("mmap");
        _exit(1);
    }
    return m;
}

static void file_pages(void)
{
    int fd = open("fault_window.dat", O_RDWR | O_CREAT | O_TRUNC, 0600);
    unsigned char page[P];
    for (long i = 0; i < FILE_PAGES; i++) {
        memset(page, (int)(i & 0xff), P);
        write(fd, page, P);
    }
    memset(page, 0xee, 100);
    write(fd, page, 100);

    unsigned char *ro = map_file(fd, PROT_READ, MAP_PRIVATE);
    mprotect(ro + 17 * P, P, PROT_NONE);     /* inside the window of page 18 */
    munmap(ro + 33 * P, P);                  /* a hole in the next window */
    probe("ro", ro, 18, 0);
    for (long pg = 16; pg <= 20; pg++)
        probe("ro", ro, pg, 0);
    probe("ro", ro, 18, 1);                  /* read-only: SEGV */
    probe("ro", ro, 34, 0);
    probe("ro", ro, 33, 0);
    probe("ro", ro, 32, 0);
    probe("ro", ro, 299, 0);
    probe("ro", ro, 300, 0);                 /* partial page: zeros past EOF */
    probe("ro", ro, 301, 0);                 /* wholly past EOF: BUS */
    probe("ro", ro, 319, 0);

    unsigned char *sh = map_file(fd, PROT_READ | PROT_WRITE, MAP_SHARED);
    probe("shared", sh, 65, 1);
    probe("shared", sh, 66, 1);              /* mapped by the fault on 65 */
    unsigned char b[2];
    pread(fd, b, 1, 65 * P + 7);
    pread(fd, b + 1, 1, 66 * P + 7);
    printf("file after shared writes: %d %d\n", b[0], b[1]);

    unsigned char *pv = map_file(fd, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    probe("private", pv, 100, 0);
    probe("private", pv, 101, 1);            /* a private copy, not the file */
    probe("private", pv, 101, 0);
    pread(fd, b, 1, 101 * P + 7);
    printf("file after private write: %d\n", b[0]);
    probe("ro", ro, 101, 0);

    unsigned char *pop = mmap(NULL, MAP_PAGES * P, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    probe("populated", pop, 250, 0);
    probe("populated", pop, 301, 0);
    unsigned char *wn = map_file(fd, PROT_READ, MAP_SHARED);
    printf("willneed: %d\n", madvise(wn, MAP_PAGES * P, MADV_WILLNEED));
    probe("willneed", wn, 200, 0);
    probe("willneed", wn, 310, 0);
    int r = madvise(wn, 10 * P, MADV_POPULATE_WRITE);
    printf("populate_write on read-only: %d %s\n", r, r ? strerror(errno) : "");
    r = madvise(wn, 10 * P, MADV_POPULATE_READ);
    printf("populate_read: %d\n", r);
    r = madvise(wn + 290 * P, 20 * P, MADV_POPULATE_READ);
    printf("populate_read past EOF: %d %s\n", r, r ? strerror(errno) : "");
    close(fd);
    unlink("fault_window.dat");
}

static void anonymous_pages(void)
{
    long n = 2048;                           /* 8 MiB */
    unsigned char *a = mmap(NULL, n * P, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(a + 20 * P, P, PROT_NONE);
    mprotect(a + 600 * P, P, PROT_READ);
    for (long pg = 0; pg < 20; pg++)         /* sequential: the window grows */
        a[pg * P] = 1;
    probe("anon", a, 20, 0);
    probe("anon", a, 21, 1);
    for (long pg = 22; pg < 600; pg++)
        a[pg * P] = 2;
    probe("anon", a, 600, 0);
    probe("anon", a, 600, 1);                /* read-only page: SEGV */
    probe("anon", a, 601, 1);
    probe("anon", a, 700, 0);                /* populated ahead, never written */
    pid_t pid = fork();
    if (pid == 0) {
        a[701 * P] = 9;
        a[5 * P] = 9;
        _exit(a[701 * P] + a[5 * P] == 18 ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("child status %d, parent sees %d %d\n", WEXITSTATUS(status), a[701 * P], a[5 * P]);
    munmap(a + 1000 * P, P);
    for (long pg = 990; pg < 1000; pg++)
        a[pg * P] = 3;
    probe("anon", a, 1000, 0);
    probe("anon", a, 1001, 0);
    /* Top-down use of a region: windows grow downwards too. */
    for (long pg = 1900; pg > 1500; pg--)
        a[pg * P] = 4;
    probe("anon", a, 1400, 0);
    munmap(a + 1499 * P, P);
    probe("anon", a, 1499, 0);
    int r = madvise(a + 1800 * P, 200 * P, MADV_POPULATE_WRITE);
    printf("populate_write anon: %d\n", r);
    r = madvise(a + 590 * P, 20 * P, MADV_POPULATE_WRITE);
    printf("populate_write over read-only: %d %s\n", r, r ? strerror(errno) : "");
    r = madvise(a + 1490 * P, 20 * P, MADV_POPULATE_READ);
    printf("populate_read over hole: %d %s\n", r, r ? strerror(errno) : "");
    munmap(a, n * P);
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fault;
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);
    file_pages();
    anonymous_pages();
    return 0;
}
