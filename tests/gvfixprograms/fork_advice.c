/* madvise's fork advice (gVisor madvise_test Dontfork*): MADV_DONTFORK
 * leaves a range out of a forked child, MADV_DOFORK puts it back,
 * MADV_WIPEONFORK gives the child zeros (private anonymous memory only),
 * and a range with a hole is ENOMEM after the mapped parts took it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096
#define SHOW(label, expr) do { long r_ = (long)(expr); \
    printf("%-40s %ld %s\n", label, r_, r_ < 0 ? strerror(errno) : ""); } while (0)

static int mapped(char *p) { return msync(p, PG, MS_ASYNC) == 0; }

static void child_view(const char *label, char *base, int pages)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        printf("%s:", label);
        for (int i = 0; i < pages; i++) {
            char *p = base + i * PG;
            if (mapped(p)) {
                printf(" [%d]", p[0]);
                p[0] = 99;          /* a private copy in the child */
            } else
                printf(" [unmapped]");
        }
        printf("\n");
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    char *anon = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *shared = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < 3; i++)
        memset(anon + i * PG, i + 1, PG);
    memset(shared, 7, 2 * PG);

    SHOW("DONTFORK the middle page", madvise(anon + PG, PG, MADV_DONTFORK));
    child_view("child", anon, 3);
    printf("parent after: %d %d %d\n", anon[0], anon[PG], anon[2 * PG]);
    SHOW("DOFORK it again", madvise(anon + PG, PG, MADV_DOFORK));
    child_view("child", anon, 3);
    SHOW("WIPEONFORK the last page", madvise(anon + 2 * PG, PG, MADV_WIPEONFORK));
    child_view("child", anon, 3);
    printf("parent after: %d %d %d\n", anon[0], anon[PG], anon[2 * PG]);
    SHOW("KEEPONFORK it", madvise(anon + 2 * PG, PG, MADV_KEEPONFORK));
    child_view("child", anon, 3);
    SHOW("WIPEONFORK shared memory", madvise(shared, PG, MADV_WIPEONFORK));
    SHOW("DONTFORK a shared page", madvise(shared + PG, PG, MADV_DONTFORK));
    child_view("child (shared)", shared, 2);
    printf("parent's shared page after: %d\n", shared[0]);

    /* A hole: the mapped page still takes the advice. */
    munmap(anon + PG, PG);
    SHOW("DONTFORK across a hole", madvise(anon, 3 * PG, MADV_DONTFORK));
    child_view("child", anon, 3);
    SHOW("unknown advice", madvise(anon, PG, 77));
    return 0;
}
