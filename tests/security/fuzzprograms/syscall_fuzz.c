/* syscall_fuzz SEED ROUNDS CALLS [NR,NR,...]: a syscall fuzzer for the sandbox only
 * (never run it natively: it creates, renames and deletes files with
 * random names and changes its own credentials and limits).
 *
 * Each round forks a child that executes CALLS random system calls,
 * (nr, args) drawn from the seed and the round number: half the
 * arguments are edge values (0, -1, 1 << 63, page boundaries, kernel-half
 * and non-canonical pointers, huge lengths), the rest small integers,
 * plausible fds, pointers into a valid scratch buffer of random bytes,
 * existing paths or iovec arrays.
 * The parent gives each child a few seconds, then SIGKILLs it (a random
 * call may block for ever), and prints how each round ended. What the
 * calls return does not matter; the test only requires that the sandbox
 * survives every one of them.
 *
 * Skipped, because they would end or explode the run rather than test
 * the sentry: exit, exit_group (end the child at once), kill, tkill,
 * tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo, pidfd_send_signal (could
 * kill the parent or the whole sandbox), execve, execveat (replace the
 * child), fork, vfork, clone, clone3 (fork bombs), rt_sigreturn (loads
 * garbage registers: a guaranteed crash of the child, nothing more),
 * pause and rt_sigsuspend (always wait for a signal: the rest of the
 * round would be lost to the parent's timeout), ptrace (a child that
 * attaches to the parent stops it until the child ends).
 *
 * The optional list names the calls the sandbox implements: seven calls
 * in eight are drawn from it (the rest from every number), so the run is
 * not spent on ENOSYS. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_NR 470
#define SCRATCH (64 * 1024)
#define CHILD_SECONDS 1

static const int skipped[] = {
    SYS_exit, SYS_exit_group, SYS_kill, SYS_tkill, SYS_tgkill,
    SYS_rt_sigqueueinfo, SYS_rt_tgsigqueueinfo, 424 /* pidfd_send_signal */,
    SYS_execve, 322 /* execveat */, SYS_fork, SYS_vfork, SYS_clone,
    435 /* clone3 */, SYS_rt_sigreturn, SYS_pause, SYS_rt_sigsuspend, SYS_ptrace,
    SYS_process_vm_writev,  /* could write into the runner's memory, as kill could kill it */
};

static uint64_t state;

static uint64_t next(void)          /* xorshift64* */
{
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1DULL;
}

static int is_skipped(uint64_t nr)
{
    for (size_t i = 0; i < sizeof skipped / sizeof *skipped; i++)
        if (nr == (uint64_t)skipped[i])
            return 1;
    return 0;
}

static unsigned char *scratch;
static uint64_t favoured[MAX_NR];
static int nfavoured;

static uint64_t edge_value(void)
{
    static const uint64_t edges[] = {
        0, 1, 2, 3, 7, 8, 16, 255, 256, 4095, 4096, 4097, 65535, 65536,
        0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ULL,
        0x7fffffffffffffffULL, 0x8000000000000000ULL, 0xffffffffffffffffULL,
        0xfffffffffffffffeULL, 0xffffffff80000000ULL,
        0x7ffffffff000ULL, 0x7fffffffffffULL, 0x800000000000ULL,   /* user top, non-canonical */
        0xffff800000000000ULL, 0xffffffffff600000ULL,              /* kernel half, vsyscall */
        0xffffff8000000000ULL, 0xffffff8000002000ULL,              /* where a guest kernel lives */
        0x10000, 0xfff, 0x1000, 0x400000, 0x7fff0000ULL,
        SCRATCH, 1ULL << 30, 1ULL << 40, 0x7ffff000,
    };
    return edges[next() % (sizeof edges / sizeof *edges)];
}

/* Well-formed inputs the random ones are mixed with: paths that exist
 * (or may, once created), and iovec arrays over the scratch buffer. */
static const char *const paths[] = {
    ".", "..", "fuzzfile", "fuzzdir", "fuzzlink", "fuzzdir/inner", "/dev/null",
    "/dev/zero", "/tmp", "/", "/proc/self/maps", "", "/dev/full", "fuzzfifo",
};
static struct iovec *iovs;

static uint64_t well_formed(void)
{
    if (next() % 2)
        return (uint64_t)paths[next() % (sizeof paths / sizeof *paths)];
    return (uint64_t)(iovs + next() % 8);
}

static uint64_t argument(void)
{
    switch (next() % 9) {
    case 8:
        return well_formed();
    case 0: case 1: case 2:
        return edge_value();
    case 3:
        return next() % 64;                                   /* small ints, fds */
    case 4:                                                   /* inside scratch */
        return (uint64_t)(scratch + (next() % SCRATCH & ~7ULL));
    case 5:                                                   /* page boundaries */
        return (uint64_t)(scratch + SCRATCH - (next() % 16));
    case 6:
        return (uint64_t)scratch;
    default:
        return next();
    }
}

static void fuzz(uint64_t seed, int round, int calls)
{
    state = seed * 0x9E3779B97F4A7C15ULL + (uint64_t)round * 0xBF58476D1CE4E5B9ULL + 1;
    for (int i = 0; i < calls; i++) {
        /* Refill part of the scratch buffer so pointers keep meeting
         * both strings (NUL-terminated soon) and random structs. */
        for (int j = 0; j < 64; j++)
            scratch[next() % SCRATCH] = (unsigned char)(next() % 4 ? next() : 0);
        uint64_t nr = !(next() % 64) ? edge_value()
                    : nfavoured && next() % 8 ? favoured[next() % nfavoured]
                    : next() % MAX_NR;
        if (is_skipped(nr))
            continue;
        uint64_t a[6];
        for (int j = 0; j < 6; j++)
            a[j] = argument();
        syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    uint64_t seed = strtoull(argv[1], NULL, 0);
    int rounds = atoi(argv[2]), calls = atoi(argv[3]);
    for (char *p = argc > 4 ? argv[4] : ""; *p && nfavoured < MAX_NR; ) {
        favoured[nfavoured++] = strtoull(p, &p, 10);
        if (*p == ',')
            p++;
        else
            break;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int round = 0; round < rounds; round++) {
        pid_t child = fork();
        if (child < 0) {
            perror("fork");
            return 1;
        }
        if (child == 0) {
            /* The child's own output goes nowhere; only the parent reports. */
            freopen("/dev/null", "w", stdout);
            freopen("/dev/null", "w", stderr);
            /* Give small fd numbers something to name: a directory, a
             * file, both ends of a pipe, /dev/zero. */
            open(".", O_RDONLY | O_DIRECTORY);
            open("fuzzfile", O_RDWR | O_CREAT, 0644);
            int ends[2];
            pipe(ends);
            open("/dev/zero", O_RDWR);
            scratch = mmap(NULL, SCRATCH, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            state = seed + round;
            for (int j = 0; j < SCRATCH; j++)
                scratch[j] = (unsigned char)next();
            iovs = malloc(16 * sizeof *iovs);
            for (int j = 0; j < 16; j++) {
                iovs[j].iov_base = scratch + next() % (SCRATCH / 2);
                iovs[j].iov_len = next() % 4096;
            }
            fuzz(seed, round, calls);
            _exit(0);
        }
        int status = 0, waited = 0;
        struct timespec tick = {0, 10 * 1000 * 1000};
        while (waited < CHILD_SECONDS * 100 && waitpid(child, &status, WNOHANG) == 0) {
            nanosleep(&tick, NULL);
            waited++;
        }
        if (waited >= CHILD_SECONDS * 100) {
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
            printf("round %d: stuck, killed\n", round);
        } else if (WIFSIGNALED(status)) {
            printf("round %d: signal %d\n", round, WTERMSIG(status));
        } else {
            printf("round %d: exit %d\n", round, WEXITSTATUS(status));
        }
    }
    printf("fuzz done: seed %llu, %d rounds of %d calls\n",
           (unsigned long long)seed, rounds, calls);
    return 0;
}
