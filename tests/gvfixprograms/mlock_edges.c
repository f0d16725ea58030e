/* mlocked memory as gVisor's mlock_test probes it: msync(MS_INVALIDATE)
 * is EBUSY on locked pages and MADV_DONTNEED EINVAL, mlock of PROT_NONE
 * memory locks it but fails ENOMEM; without CAP_IPC_LOCK, MAP_LOCKED is
 * EPERM at RLIMIT_MEMLOCK 0 and EAGAIN past it, and a locked mapping
 * cannot grow past it with mremap. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PG 4096
#define SHOW(label, expr) do { long r_ = (long)(expr); \
    printf("%-44s %s\n", label, r_ == -1 ? strerror(errno) : "ok"); } while (0)

static int locked(void *p)
{
    return msync(p, PG, MS_ASYNC | MS_INVALIDATE) == -1 && errno == EBUSY;
}

static void drop_ipc_lock(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    syscall(SYS_capget, &h, d);
    d[0].effective &= ~(1u << CAP_IPC_LOCK);
    printf("drop CAP_IPC_LOCK: %ld\n", syscall(SYS_capset, &h, d));
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("locked before mlock: %d\n", locked(m));
    SHOW("mlock", mlock(m, PG));
    printf("locked after: %d %d\n", locked(m), locked(m + PG));
    SHOW("msync MS_SYNC|MS_INVALIDATE", msync(m, 2 * PG, MS_SYNC | MS_INVALIDATE));
    SHOW("msync MS_ASYNC only", msync(m, 2 * PG, MS_ASYNC));
    SHOW("MADV_DONTNEED on it", madvise(m, PG, MADV_DONTNEED));
    SHOW("MADV_DONTNEED on the unlocked page", madvise(m + PG, PG, MADV_DONTNEED));
    SHOW("munlock", munlock(m, PG));
    printf("locked after munlock: %d\n", locked(m));
    char *none = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    SHOW("mlock of PROT_NONE memory", mlock(none, PG));
    printf("locked anyway: %d\n", locked(none));
    SHOW("mlock2(MLOCK_ONFAULT) of it", syscall(SYS_mlock2, none, PG, 1));
    munlock(none, PG);

    drop_ipc_lock();
    struct rlimit old, zero, one;
    getrlimit(RLIMIT_MEMLOCK, &old);
    zero = (struct rlimit){0, old.rlim_max};
    one = (struct rlimit){PG, old.rlim_max};
    SHOW("RLIMIT_MEMLOCK 0", setrlimit(RLIMIT_MEMLOCK, &zero));
    SHOW("MAP_LOCKED at RLIMIT_MEMLOCK 0", (long)mmap(NULL, PG, PROT_READ | PROT_WRITE,
                                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0));
    SHOW("RLIMIT_MEMLOCK one page", setrlimit(RLIMIT_MEMLOCK, &one));
    SHOW("MAP_LOCKED of 2 pages, 1 allowed", (long)mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE,
                                                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0));
    char *l = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
    printf("MAP_LOCKED of 1 page: %s, locked %d\n", l == MAP_FAILED ? strerror(errno) : "ok",
           l != MAP_FAILED && locked(l));
    SHOW("mremap it to 2 pages", (long)mremap(l, PG, 2 * PG, MREMAP_MAYMOVE));
    SHOW("mremap it to 1 page in place", (long)mremap(l, PG, PG, 0));
    return 0;
}
