/* C side of kvmsentry._sandbox: raw system calls and the SIGSYS handler. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static uint32_t kvmsentry_scmp_act_errno(uint32_t err)
{
    return SCMP_ACT_ERRNO(err);
}

/* What seccomp_load() does with the TSYNC attribute set, for a program
 * compiled earlier (sandbox/seccomp.py keeps it between runs). */
static int kvmsentry_seccomp_load_bpf(const void *insns, unsigned int count)
{
    struct sock_fprog prog;
    long rc;

    if (count == 0 || count > BPF_MAXINSNS)
        return -EINVAL;
    prog.len = (unsigned short)count;
    prog.filter = (struct sock_filter *)insns;
    rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
    if (rc > 0)
        return -ESRCH;
    return rc == 0 ? 0 : -errno;
}

static int kvmsentry_unshare(int flags) { return unshare(flags); }

static int kvmsentry_setns(int fd, int nstype) { return setns(fd, nstype); }

/* kvmsentry_unshare_user: mapping more than one's own uid needs
 * CAP_SETUID in the parent user namespace, which the caller no longer has
 * once it has unshared, so a helper started before writes the maps (as
 * unshare(1) and newuidmap do). The helper is a clone sharing the
 * caller's memory and running only idmap_writer: a fork of the Python
 * process would copy its page tables and make every page of its heap
 * copy-on-write, for three small writes. */
struct idmaps {
    pid_t pid;
    int go;                         /* read end: '1' once the caller has unshared */
    const char *uid_map, *gid_map, *setgroups;
};

static int idmap_write(pid_t pid, const char *file, const char *text)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int idmap_writer(void *arg)
{
    struct idmaps *m = arg;
    char go = 0;
    if (read(m->go, &go, 1) != 1 || go != '1')
        return 1;
    if (m->setgroups && idmap_write(m->pid, "setgroups", m->setgroups) != 0)
        return 1;
    if (idmap_write(m->pid, "uid_map", m->uid_map) != 0 ||
        idmap_write(m->pid, "gid_map", m->gid_map) != 0)
        return 1;
    return 0;
}

static int kvmsentry_unshare_user(const char *uid_map, const char *gid_map,
                                  const char *setgroups)
{
    enum { STACK = 64 * 1024 };
    int go[2];
    if (pipe2(go, O_CLOEXEC) != 0)
        return -1;
    struct idmaps m = { getpid(), go[0], uid_map, gid_map, setgroups };
    char *stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    pid_t helper = stack == MAP_FAILED ? -1 :
        clone(idmap_writer, stack + STACK, CLONE_VM | SIGCHLD, &m);
    if (helper < 0) {
        int err = errno;
        if (stack != MAP_FAILED)
            munmap(stack, STACK);
        close(go[0]);
        close(go[1]);
        errno = err;
        return -1;
    }
    int rc = unshare(CLONE_NEWUSER);
    int err = errno;
    char answer = rc == 0 ? '1' : '0';
    ssize_t sent = write(go[1], &answer, 1);
    close(go[1]);
    int status = 0;
    while (waitpid(helper, &status, 0) < 0 && errno == EINTR)
        ;
    close(go[0]);
    munmap(stack, STACK);
    if (rc != 0) {
        errno = err;
        return -1;
    }
    if (sent != 1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        errno = EPROTO;
        return -1;
    }
    return 0;
}

static int kvmsentry_pivot_root(const char *new_root, const char *put_old)
{
    return syscall(SYS_pivot_root, new_root, put_old);
}

static int kvmsentry_mount(const char *source, const char *target, const char *fstype,
                           unsigned long flags, const char *data)
{
    return mount(source, target, fstype, flags, data);
}

static int kvmsentry_umount2(const char *target, int flags) { return umount2(target, flags); }

/* Effective, permitted and inheritable sets become `keep` (a mask of
 * CAP_* bits below 64); ambient is cleared. */
static int kvmsentry_set_caps(uint64_t keep)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    data[0].effective = data[0].permitted = data[0].inheritable = (uint32_t)keep;
    data[1].effective = data[1].permitted = data[1].inheritable = (uint32_t)(keep >> 32);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        return -1;
    return syscall(SYS_capset, &hdr, data);
}

/* Drop every capability not in `keep` from the bounding set (needs
 * CAP_SETPCAP, so before set_caps takes it away). */
static int kvmsentry_drop_bounding(uint64_t keep)
{
    for (int cap = 0; cap < 64; cap++) {
        if (keep & (1ULL << cap))
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            if (errno == EINVAL)
                break;              /* past the kernel's last capability */
            return -1;
        }
    }
    return 0;
}

static int kvmsentry_prctl(int option, unsigned long arg2)
{
    return prctl(option, arg2, 0, 0, 0);
}

/* --- SIGSYS ---------------------------------------------------------- */
#define SIGSYS_NAMES 512
static const char *sigsys_names[SIGSYS_NAMES];
static volatile int sigsys_fd = 2;
static volatile uint64_t sigsys_count;
static volatile int sigsys_last = -1;

static size_t fmt_u64(char *p, uint64_t v, int base)
{
    char tmp[24];
    size_t n = 0, i;
    do { tmp[n++] = "0123456789abcdef"[v % base]; v /= base; } while (v);
    for (i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

static size_t put(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return n;
}

/* Only async-signal-safe calls here: it runs inside whatever host call
 * the filter refused, on any thread. */
static void sigsys_handler(int sig, siginfo_t *info, void *uctx)
{
    ucontext_t *uc = uctx;
    int saved = errno;
    int nr = info->si_syscall;
    char line[200];
    size_t n = 0;

    (void)sig;
    uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
    __atomic_add_fetch(&sigsys_count, 1, __ATOMIC_RELAXED);
    sigsys_last = nr;
    n += put(line + n, "kvmsentry: seccomp refused host syscall ");
    if (nr >= 0 && nr < SIGSYS_NAMES && sigsys_names[nr]) {
        n += put(line + n, sigsys_names[nr]);
        n += put(line + n, " (");
        n += fmt_u64(line + n, (uint64_t)nr, 10);
        n += put(line + n, ")");
    } else {
        n += fmt_u64(line + n, (uint64_t)(unsigned)nr, 10);
    }
    n += put(line + n, " at 0x");
    n += fmt_u64(line + n, (uint64_t)(uintptr_t)info->si_call_addr, 16);
    n += put(line + n, ": returned EPERM\n");
    if (write(sigsys_fd, line, n) < 0) {
        /* nowhere left to say it */
    }
    errno = saved;
}

static int kvmsentry_install_sigsys(int log_fd)
{
    struct sigaction sa;
    for (int nr = 0; nr < SIGSYS_NAMES; nr++) {
        if (!sigsys_names[nr])
            sigsys_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    }
    sigsys_fd = log_fd;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = sigsys_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGSYS, &sa, NULL);
}

static void kvmsentry_sigsys_log_fd(int log_fd) { sigsys_fd = log_fd; }
static uint64_t kvmsentry_sigsys_denied_count(void) { return sigsys_count; }
static int kvmsentry_sigsys_last_denied(void) { return sigsys_last; }

/* Python's object arenas (obmalloc's, 1 MiB each in 3.11) carved from
 * 2 MiB-aligned chunks marked MADV_HUGEPAGE. A start fills a few MiB of
 * arenas, page by page, and on these hosts each 4 KiB page fault costs
 * ~4.5 us while one transparent huge page costs ~0.5 ms, about 110 small
 * faults; arenas fill densely, so a chunk saves most of its 512 faults.
 * The allocator is CPython's documented hook (PyObject_SetArenaAllocator),
 * found with dlsym: this module is built against the limited API, which
 * leaves it out. Arenas are made with the GIL held: the chunk needs no
 * lock. */
#include <dlfcn.h>

#define ARENA_CHUNK (2UL << 20)

struct arena_allocator {          /* CPython's PyObjectArenaAllocator */
    void *ctx;
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *ptr, size_t size);
};

static char *arena_next, *arena_end;

static void *map_anonymous(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void *huge_arena_alloc(void *ctx, size_t size)
{
    (void)ctx;
    /* Only arenas (1 MiB: two to a chunk) come from chunks. CPython also
     * takes each thread's frame stack (16 KiB and up) through this hook:
     * those get mappings of their own, so a chunk holds whole arenas. */
    if (size != ARENA_CHUNK / 2 && size != ARENA_CHUNK)
        return map_anonymous(size);
    if ((size_t)(arena_end - arena_next) < size) {
        /* Twice the chunk, then the unaligned ends given back. */
        char *p = map_anonymous(2 * ARENA_CHUNK);
        char *start;
        if (p == NULL)
            return NULL;
        start = (char *)(((uintptr_t)p + ARENA_CHUNK - 1) & ~(uintptr_t)(ARENA_CHUNK - 1));
        if (start > p)
            munmap(p, start - p);
        munmap(start + ARENA_CHUNK, p + 2 * ARENA_CHUNK - (start + ARENA_CHUNK));
        /* Refused or unsupported: the arenas still work, in small pages. */
        (void)madvise(start, ARENA_CHUNK, MADV_HUGEPAGE);
        arena_next = start;
        arena_end = start + ARENA_CHUNK;
    }
    arena_next += size;
    return arena_next - size;
}

static void huge_arena_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    munmap(ptr, size);
}

static struct arena_allocator huge_arenas = {NULL, huge_arena_alloc, huge_arena_free};

static int kvmsentry_use_huge_arenas(void)
{
    void (*set)(struct arena_allocator *) =
        (void (*)(struct arena_allocator *))dlsym(RTLD_DEFAULT, "PyObject_SetArenaAllocator");
    if (set == NULL)
        return -1;
    set(&huge_arenas);
    return 0;
}

static long kvmsentry_fs_type(int fd)
{
    struct statfs s;
    if (fstatfs(fd, &s) != 0)
        return -errno;
    return (long)s.f_type;
}
