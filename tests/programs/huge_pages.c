/* 2 MiB regions cut into 4 KiB pieces: large anonymous mappings whose
 * 2 MiB-aligned ranges the sentry backs with 2 MiB runs of frames (and on
 * EPT/NPT hosts one PS page-directory entry), then partial munmap,
 * mprotect, MADV_DONTNEED, fork (copy-on-write in both directions) and
 * mremap inside them. Every probe prints what a read or write of one page
 * does (its value, or SEGV), and the sandbox must print what Linux prints.
 * Page i of a region holds the byte (i * 7 + salt) & 0xff at offsets 0,
 * 2048 and 4095, so a page that moved or was mixed up shows. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define P 4096L
#define MB2 (2L << 20)
#define PAGES_PER_2M 512
#define REGION (16 * MB2)               /* 8 ranges of 2 MiB */

static sigjmp_buf env;

static void on_segv(int sig)
{
    (void)sig;
    siglongjmp(env, 1);
}

static unsigned char value(long page, int salt)
{
    return (unsigned char)(page * 7 + salt);
}

static void fill(unsigned char *base, long pages, int salt)
{
    for (long i = 0; i < pages; i++) {
        base[i * P] = value(i, salt);
        base[i * P + 2048] = value(i, salt);
        base[i * P + 4095] = value(i, salt);
    }
}

/* "ok" if every page of [first, first+count) holds its pattern, else the
 * first page that does not (a SEGV counts as a mismatch too). */
static void check(const char *what, unsigned char *base, long first, long count, int salt)
{
    volatile unsigned char *p = base;
    long i = first;
    if (sigsetjmp(env, 1) == 0) {
        for (; i < first + count; i++) {
            unsigned char want = value(i, salt);
            if (p[i * P] != want || p[i * P + 2048] != want || p[i * P + 4095] != want) {
                printf("%s: page %ld holds %d, not %d\n", what, i, p[i * P], want);
                return;
            }
        }
        printf("%s: %ld pages ok\n", what, count);
    } else {
        printf("%s: page %ld SEGV\n", what, i);
    }
}

static void probe(const char *what, unsigned char *base, long page, int write)
{
    volatile unsigned char *p = base + page * P + 100;
    if (sigsetjmp(env, 1) == 0) {
        int v = *p;
        if (write)
            *p = (unsigned char)v;
        printf("%s page %ld: %s %d\n", what, page, write ? "wrote" : "read", v);
    } else {
        printf("%s page %ld: SEGV\n", what, page);
    }
}

static long rss_pages(void)
{
    long size = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &size, &rss) != 2) {
        perror("statm");
        exit(1);
    }
    fclose(f);
    return rss;
}

/* The VmFlags line of the smaps block of the mapping starting at addr. */
static void vm_flags(const char *what, void *addr)
{
    static char text[1 << 16];
    char head[32], *line, *flags;
    FILE *f = fopen("/proc/self/smaps", "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = 0;
    snprintf(head, sizeof head, "%lx-", (unsigned long)addr);
    line = strstr(text, head);
    flags = line ? strstr(line, "VmFlags:") : NULL;
    if (!flags) {
        printf("%s: no smaps block\n", what);
        return;
    }
    *strchr(flags, '\n') = 0;
    printf("%s: hg %d nh %d\n", what, strstr(flags, " hg") != NULL, strstr(flags, " nh") != NULL);
}

static unsigned char *map_region(long length, int flags)
{
    unsigned char *m = mmap(NULL, length, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
    if (m == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return m;
}

int main(void)
{
    struct sigaction sa = {.sa_handler = on_segv, .sa_flags = SA_NODEFER};
    sigaction(SIGSEGV, &sa, NULL);
    setvbuf(stdout, NULL, _IONBF, 0);
    long pages = REGION / P;

    /* Touched in order (the sentry's fault window grows to 2 MiB runs). */
    long rss0 = rss_pages();
    unsigned char *m = map_region(REGION, 0);
    fill(m, pages, 1);
    printf("rss grew by the region: %d\n", rss_pages() - rss0 >= pages);
    check("filled", m, 0, pages, 1);

    /* munmap of one page inside range 1, and of a span across ranges 2-3. */
    long r1 = PAGES_PER_2M, r2 = 2 * PAGES_PER_2M;
    munmap(m + (r1 + 37) * P, P);
    probe("unmapped", m, r1 + 37, 0);
    check("range 1 before hole", m, r1, 37, 1);
    check("range 1 after hole", m, r1 + 38, PAGES_PER_2M - 38, 1);
    munmap(m + (r2 + 500) * P, 30 * P);
    probe("span start", m, r2 + 500, 0);
    probe("span end", m, r2 + 529, 0);
    check("around span", m, r2 + 530, 10, 1);
    check("before span", m, r2 + 490, 10, 1);

    /* mprotect one page of range 4 read-only, all of range 5 PROT_NONE. */
    long r4 = 4 * PAGES_PER_2M, r5 = 5 * PAGES_PER_2M;
    mprotect(m + (r4 + 100) * P, P, PROT_READ);
    probe("read-only", m, r4 + 100, 1);
    probe("read-only", m, r4 + 100, 0);
    probe("next to read-only", m, r4 + 101, 1);
    mprotect(m + r5 * P, MB2, PROT_NONE);
    probe("none", m, r5, 0);
    probe("none", m, r5 + 511, 0);
    probe("after none", m, r5 + 512, 1);
    mprotect(m + r5 * P, MB2, PROT_READ | PROT_WRITE);
    check("range 5 back", m, r5, PAGES_PER_2M, 1);

    /* MADV_DONTNEED of two pages of range 6 reads zeros there only. */
    long r6 = 6 * PAGES_PER_2M;
    madvise(m + (r6 + 10) * P, 2 * P, MADV_DONTNEED);
    probe("dontneed", m, r6 + 10, 0);
    probe("dontneed", m, r6 + 11, 0);
    check("range 6 rest", m, r6 + 12, 100, 1);

    /* fork: the child writes range 7 and sees the parent's later writes
     * to range 0 not at all; the parent sees none of the child's. */
    long r7 = 7 * PAGES_PER_2M;
    int go[2];
    if (pipe(go))
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        fill(m + r7 * P, PAGES_PER_2M, 9);
        if (read(go[0], &c, 1) != 1)
            _exit(3);
        check("child range 0", m, 0, PAGES_PER_2M, 1);
        check("child range 7", m + r7 * P, 0, PAGES_PER_2M, 9);
        _exit(0);
    }
    fill(m, PAGES_PER_2M, 5);
    if (write(go[1], "x", 1) != 1)
        return 1;
    int status;
    waitpid(pid, &status, 0);
    printf("child status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    check("parent range 0", m, 0, PAGES_PER_2M, 5);
    check("parent range 7", m, r7, PAGES_PER_2M, 1);

    /* mremap range 3 (its low pages unmapped) elsewhere, grown. */
    long r3 = 3 * PAGES_PER_2M;
    unsigned char *moved = mremap(m + (r3 + 32) * P, MB2 - 32 * P, 2 * MB2, MREMAP_MAYMOVE);
    if (moved == MAP_FAILED) {
        perror("mremap");
        return 1;
    }
    check("moved", moved - r3 * P - 32 * P, r3 + 32, PAGES_PER_2M - 32, 1);
    probe("old place", m, r3 + 32, 0);
    probe("grown part", moved, PAGES_PER_2M + 3, 1);

    /* MAP_POPULATE, MADV_HUGEPAGE and MADV_NOHUGEPAGE regions. */
    unsigned char *pop = map_region(4 * MB2, MAP_POPULATE);
    probe("populated", pop, 3 * PAGES_PER_2M + 5, 0);
    fill(pop, 4 * PAGES_PER_2M, 3);
    munmap(pop + MB2 + 5 * P, P);
    check("populated low", pop, 0, PAGES_PER_2M + 5, 3);
    check("populated high", pop, PAGES_PER_2M + 6, 3 * PAGES_PER_2M - 6, 3);
    unsigned char *h = map_region(4 * MB2, 0);
    printf("hugepage advice: %d\n", madvise(h, 2 * MB2, MADV_HUGEPAGE));
    printf("nohugepage advice: %d\n", madvise(h + 2 * MB2, 2 * MB2, MADV_NOHUGEPAGE));
    vm_flags("hugepage flags", h);
    vm_flags("nohugepage flags", h + 2 * MB2);
    h[5 * P] = 1;                            /* one scattered touch each */
    h[2 * MB2 + 5 * P] = 2;
    fill(h, 4 * PAGES_PER_2M, 4);
    mprotect(h + 700 * P, P, PROT_READ);
    probe("hugepage read-only", h, 700, 1);
    check("hugepage rest", h, 701, 4 * PAGES_PER_2M - 701, 4);

    long before = rss_pages();
    munmap(m, REGION);
    printf("rss fell by the unmapped pages: %d\n", before - rss_pages() >= pages - 600);
    probe("gone", m, 0, 0);
    return 0;
}
