/* Behaviours checked one at a time (argv[1] names the case), so that each
 * can be compared with Linux on its own. Most are about what a call leaves
 * behind when it fails half-way. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PG 4096ul
#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

static void show(const char *what, long r)
{
    printf("%s = %ld", what, r);
    if (r == -1)
        printf(" errno=%d (%s)", errno, strerror(errno));
    printf("\n");
}

#define TRY(call) (errno = 0, show(#call, (long)(call)))

/* Two mapped pages followed by an unmapped one. */
static char *two_pages_then_hole(void)
{
    char *p = mmap(NULL, 3 * PG, RW, ANON, -1, 0);
    memset(p, 'x', 2 * PG);
    munmap(p + 2 * PG, PG);
    return p;
}

/* Whether the kernel may write to p: a raw getrandom into it. */
static int kernel_can_write(char *p)
{
    return syscall(SYS_getrandom, p, 1, 0) == 1;
}

/* getpid through a syscall instruction at a known address. */
long raw_getpid(void);
extern const unsigned char raw_getpid_site[];
__asm__(".text\n"
        ".globl raw_getpid\n"
        "raw_getpid:\n"
        "  mov $39, %eax\n"
        ".globl raw_getpid_site\n"
        "raw_getpid_site:\n"
        "  syscall\n"
        "  ret\n");

int main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "";

    if (!strcmp(c, "getrandom_partial")) {
        /* Bytes copied before the fault are returned, as with read(2). */
        char *p = two_pages_then_hole();
        TRY(syscall(SYS_getrandom, p + 2 * PG - 8, 16, 0));
    } else if (!strcmp(c, "write_partial")) {
        /* A write that runs into a hole writes what comes before it and
         * returns that count (stdout is a pipe). Output is on stderr. */
        char *p = two_pages_then_hole();
        errno = 0;
        long r = syscall(SYS_write, 1, p, 3 * PG);
        fprintf(stderr, "write(1, p, 3 pages) = %ld errno=%d\n", r, errno);
        struct iovec iov[2] = {{p + PG, 2 * PG}, {p, 10}};
        errno = 0;
        r = syscall(SYS_writev, 1, iov, 2);
        fprintf(stderr, "writev(1, [1 page then hole, 10]) = %ld errno=%d\n", r, errno);
        return 0;
    } else if (!strcmp(c, "read_large_count")) {
        /* The count only has to stay inside the user address range: a
         * pipe read copies what is there (stdin holds a short line). */
        static char buf[4096];
        TRY(syscall(SYS_read, 0, buf, 1ul << 40));
    } else if (!strcmp(c, "mprotect_partial")) {
        /* mprotect over [mapped, hole) fails with ENOMEM, but the mapped
         * part before the hole has already changed protection. */
        char *p = two_pages_then_hole();
        TRY(mprotect(p + PG, 2 * PG, PROT_READ));
        printf("page 0 writable: %d\n", kernel_can_write(p));
        printf("page 1 writable: %d\n", kernel_can_write(p + PG));
    } else if (!strcmp(c, "madvise_partial")) {
        /* madvise(DONTNEED) over [mapped, hole) drops the mapped pages and
         * still reports ENOMEM for the hole. */
        char *p = two_pages_then_hole();
        TRY(madvise(p + PG, 2 * PG, MADV_DONTNEED));
        printf("page 0 kept: %d, page 1 zeroed: %d\n", p[0] == 'x', p[PG] == 0);
    } else if (!strcmp(c, "mremap_overlap")) {
        /* MREMAP_FIXED to a range that overlaps the source is EINVAL. */
        char *a = mmap(NULL, 8 * PG, RW, ANON, -1, 0);
        memset(a, 'a', 8 * PG);
        TRY(mremap(a, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, a) == MAP_FAILED ? -1 : 0);
        TRY(mremap(a, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, a + PG) == MAP_FAILED ? -1 : 0);
        TRY(mremap(a + PG, 2 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, a) == MAP_FAILED ? -1 : 0);
        printf("data kept: %d\n", a[0] == 'a' && a[3 * PG] == 'a');
    } else if (!strcmp(c, "mmap_prot_bits")) {
        /* mmap does not check prot for unknown bits (mprotect does). */
        TRY(mmap(NULL, PG, RW | 0x8 /* PROT_SEM */, ANON, -1, 0) == MAP_FAILED ? -1 : 0);
        TRY(mmap(NULL, PG, RW | 0x80, ANON, -1, 0) == MAP_FAILED ? -1 : 0);
        char *a = mmap(NULL, PG, RW, ANON, -1, 0);
        TRY(mprotect(a, PG, PROT_READ | 0x8));
        TRY(mprotect(a, PG, PROT_READ | PROT_GROWSDOWN));
    } else if (!strcmp(c, "madvise_checks")) {
        char *a = mmap(NULL, 2 * PG, RW, ANON, -1, 0);
        TRY(madvise(a, -PG, MADV_DONTNEED));           /* wraps: EINVAL */
        TRY(madvise(a, PG, MADV_REMOVE));              /* private anon: EINVAL */
        TRY(madvise(a, PG, 1000));                     /* unknown advice */
    } else if (!strcmp(c, "map_shared_validate_anon")) {
        /* MAP_SHARED_VALIDATE (== MAP_SHARED|MAP_PRIVATE) is only for files. */
        errno = 0;
        void *p = mmap(NULL, PG, RW, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, -1, 0);
        printf("mmap(MAP_SHARED_VALIDATE|MAP_ANONYMOUS) failed=%d errno=%d\n",
               p == MAP_FAILED, errno);
    } else if (!strcmp(c, "cputime_nanosleep")) {
        /* Sleeping on a thread CPU clock is not supported. */
        struct timespec zero = {0, 0};
        TRY(syscall(SYS_clock_nanosleep, CLOCK_THREAD_CPUTIME_ID, 0, &zero, NULL));
        TRY(syscall(SYS_clock_nanosleep, CLOCK_PROCESS_CPUTIME_ID, 0, &zero, NULL));
    } else if (!strcmp(c, "cpu_clock_ids")) {
        /* Per-process and per-thread CPU clocks named by pid/tid, as
         * clock_getcpuclockid() makes them: ((~pid) << 3) | CPUCLOCK_SCHED. */
        struct timespec ts;
        clockid_t self = (clockid_t)((~0u << 3) | 2);
        clockid_t by_pid = (clockid_t)((~(unsigned)getpid() << 3) | 2);
        clockid_t thread = (clockid_t)((~(unsigned)syscall(SYS_gettid) << 3) | 6);
        clockid_t cid;
        printf("clock_getcpuclockid(0) = %d\n", clock_getcpuclockid(0, &cid));
        TRY(syscall(SYS_clock_gettime, self, &ts));
        TRY(syscall(SYS_clock_gettime, by_pid, &ts));
        TRY(syscall(SYS_clock_getres, thread, &ts));
    } else if (!strcmp(c, "overcommit")) {
        /* With vm.overcommit_memory=0 a single request for more than RAM +
         * swap is refused up front, by mmap and brk alike. */
        errno = 0;
        void *p = mmap(NULL, 1ul << 45, RW, ANON, -1, 0);
        printf("mmap(32 TiB) failed=%d errno=%d\n", p == MAP_FAILED, errno);
        unsigned long base = syscall(SYS_brk, 0);
        printf("brk(+32 TiB) refused=%d\n", syscall(SYS_brk, base + (1ul << 45)) == (long)base);
    } else if (!strcmp(c, "negative_offset")) {
        /* A negative offset is EINVAL, checked before the file can say
         * that it does not seek (ESPIPE on a pipe). */
        char buf[4] = "abc";
        TRY(pread(0, buf, 1, -1));
        TRY(pwrite(1, buf, 1, -1));
    } else if (!strcmp(c, "syscall_site_bytes")) {
        /* A program may read its own code: a syscall instruction it has
         * run still reads back as 0f 05. */
        printf("before: %02x %02x\n", raw_getpid_site[0], raw_getpid_site[1]);
        raw_getpid();
        raw_getpid();
        printf("after: %02x %02x\n", raw_getpid_site[0], raw_getpid_site[1]);
    } else {
        printf("unknown case \"%s\"\n", c);
        return 2;
    }
    return 0;
}
