/* Less common syscalls, compared natively (as root of a user namespace)
 * and in the sandbox. Usage: misc_calls MODE [DIR]. Each line is a call
 * and its outcome ("= value" or "errno NAME"); nothing host-specific. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, long r) {
    if (r == -1)
        printf("%s: errno %s\n", what, strerrorname_np(errno));
    else
        printf("%s: = %ld\n", what, r);
    fflush(stdout);
}

#define CALL(what, expr) do { errno = 0; show(what, (long)(expr)); } while (0)

/* Calls a kernel may be built without (CONFIG_X86_IOPL_IOPERM, CONFIG_MODULES,
 * CONFIG_KEXEC): ENOSYS there, EPERM for a container's root elsewhere. */
static void refused(const char *what, long r) {
    if (r == -1 && (errno == EPERM || errno == ENOSYS))
        printf("%s: refused\n", what);
    else
        show(what, r);
}
#define REFUSED(what, expr) do { errno = 0; refused(what, (long)(expr)); } while (0)
/* ...and where such a call succeeds without privilege, ENOSYS stands for it. */
#define HARMLESS(what, expr) do { errno = 0; long r_ = (expr); \
        if (r_ == -1 && errno == ENOSYS) { r_ = 0; } \
        show(what, r_); } while (0)

static char *path(const char *dir, const char *name) {
    static char buf[4][512];
    static int n;
    char *b = buf[n++ & 3];
    snprintf(b, 512, "%s/%s", dir, name);
    return b;
}

/* --- privileged calls: argument checks, then EPERM ------------------------------------- */
static void mode_priv(void) {
    struct timeval tv = {1, 0}, bad = {1, 2000000};
    struct timespec ts = {1, 0}, badts = {1, 1000000000};
    CALL("settimeofday", syscall(SYS_settimeofday, &tv, NULL));
    CALL("settimeofday bad usec", syscall(SYS_settimeofday, &bad, NULL));
    CALL("settimeofday efault", syscall(SYS_settimeofday, (void *)8, NULL));
    CALL("settimeofday null", syscall(SYS_settimeofday, NULL, NULL));
    CALL("clock_settime realtime", syscall(SYS_clock_settime, CLOCK_REALTIME, &ts));
    CALL("clock_settime bad ns", syscall(SYS_clock_settime, CLOCK_REALTIME, &badts));
    CALL("clock_settime monotonic", syscall(SYS_clock_settime, CLOCK_MONOTONIC, &ts));
    CALL("clock_settime process", syscall(SYS_clock_settime, CLOCK_PROCESS_CPUTIME_ID, &ts));
    CALL("clock_settime bogus", syscall(SYS_clock_settime, 100, &ts));
    CALL("clock_settime efault", syscall(SYS_clock_settime, CLOCK_REALTIME, (void *)8));
    struct timex { unsigned modes; int pad; long rest[25]; } tx;
    memset(&tx, 0, sizeof tx);
    long r = syscall(SYS_adjtimex, &tx);
    printf("adjtimex read: ok=%d modes=%u tick=%ld tolerance=%ld\n", r >= 0, tx.modes,
           tx.rest[10], tx.rest[7]);
    memset(&tx, 0, sizeof tx);
    tx.modes = 0x0002;                                   /* ADJ_FREQUENCY */
    CALL("adjtimex set freq", syscall(SYS_adjtimex, &tx));
    tx.modes = 0x8000;                                   /* ADJ_ADJTIME alone */
    CALL("adjtimex adjtime no singleshot", syscall(SYS_adjtimex, &tx));
    tx.modes = 0xa001;                                   /* ADJ_OFFSET_SS_READ */
    CALL("adjtimex ss_read >= 0", syscall(SYS_adjtimex, &tx) >= 0);
    CALL("adjtimex efault", syscall(SYS_adjtimex, (void *)8));
    memset(&tx, 0, sizeof tx);
    CALL("clock_adjtime realtime >= 0", syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx) >= 0);
    CALL("clock_adjtime monotonic", syscall(SYS_clock_adjtime, CLOCK_MONOTONIC, &tx));
    CALL("clock_adjtime bogus", syscall(SYS_clock_adjtime, 100, &tx));
    CALL("vhangup", syscall(SYS_vhangup));
    CALL("acct", syscall(SYS_acct, "/nonexistent"));
    CALL("swapon bad flags", syscall(SYS_swapon, "/nonexistent", 0x100000));
    CALL("swapon", syscall(SYS_swapon, "/nonexistent", 0));
    CALL("swapoff", syscall(SYS_swapoff, "/nonexistent"));
    CALL("reboot bad magic", syscall(SYS_reboot, 1, 2, 0, NULL));
    CALL("reboot cad off", syscall(SYS_reboot, 0xfee1dead, 672274793, 0, NULL));
    HARMLESS("iopl 0", syscall(SYS_iopl, 0));
    REFUSED("iopl 3", syscall(SYS_iopl, 3));
    REFUSED("ioperm on", syscall(SYS_ioperm, 0x80, 1, 1));
    HARMLESS("ioperm off", syscall(SYS_ioperm, 0x80, 1, 0));
    REFUSED("init_module", syscall(SYS_init_module, NULL, 0, ""));
    REFUSED("finit_module", syscall(SYS_finit_module, 0, "", 0));
    REFUSED("delete_module", syscall(SYS_delete_module, "nothing", 0));
    REFUSED("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    REFUSED("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, "", 0));
}

/* --- utime family, old getdents -------------------------------------------------------- */
struct old_dirent { unsigned long ino; unsigned long off; unsigned short reclen; char name[]; };

static void mode_oldfs(const char *dir) {
    char *f = path(dir, "f");
    close(open(f, O_CREAT | O_WRONLY, 0644));
    struct stat st;
    struct utimbuf_ { long actime, modtime; } ub = {1000, 2000};
    CALL("utime", syscall(SYS_utime, f, &ub));
    stat(f, &st);
    printf("  atime %ld mtime %ld\n", (long)st.st_atime, (long)st.st_mtime);
    struct timeval tv[2] = {{3000, 5}, {4000, 999999}};
    CALL("utimes", syscall(SYS_utimes, f, tv));
    stat(f, &st);
    printf("  atime %ld.%09ld mtime %ld.%09ld\n", (long)st.st_atime, st.st_atim.tv_nsec,
           (long)st.st_mtime, st.st_mtim.tv_nsec);
    struct timeval badtv[2] = {{1, 1000000}, {1, 0}};
    CALL("utimes bad usec", syscall(SYS_utimes, f, badtv));
    CALL("utimes enoent", syscall(SYS_utimes, path(dir, "none"), tv));
    CALL("utimes efault", syscall(SYS_utimes, f, (void *)8));
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    struct timeval tv2[2] = {{5000, 0}, {6000, 0}};
    CALL("futimesat", syscall(SYS_futimesat, d, "f", tv2));
    stat(f, &st);
    printf("  atime %ld mtime %ld\n", (long)st.st_atime, (long)st.st_mtime);
    time_t before = time(NULL);
    CALL("utime now", syscall(SYS_utime, f, NULL));
    stat(f, &st);
    printf("  mtime recent %d\n", st.st_mtime >= before && st.st_mtime <= before + 5);
    CALL("futimesat notdir", syscall(SYS_futimesat, open(f, O_RDONLY), "x", tv2));
    /* old getdents: names and types, sorted */
    mkdir(path(dir, "sub"), 0755);
    symlink("f", path(dir, "lnk"));
    char buf[4096];
    long n = syscall(SYS_getdents, d, buf, sizeof buf);
    char names[16][64];
    int count = 0;
    for (long pos = 0; pos < n && count < 16;) {
        struct old_dirent *e = (void *)(buf + pos);
        snprintf(names[count++], 64, "%s type %d", e->name, buf[pos + e->reclen - 1]);
        pos += e->reclen;
    }
    qsort(names, count, 64, (int (*)(const void *, const void *))strcmp);
    for (int i = 0; i < count; i++)
        printf("  dirent %s\n", names[i]);
    CALL("getdents again (end)", syscall(SYS_getdents, d, buf, sizeof buf));
    lseek(d, 0, SEEK_SET);
    CALL("getdents tiny buffer", syscall(SYS_getdents, d, buf, 8));
    CALL("getdents on file", syscall(SYS_getdents, open(f, O_RDONLY), buf, sizeof buf));
    CALL("getdents bad fd", syscall(SYS_getdents, 999, buf, sizeof buf));
}

/* --- preadv2/pwritev2, readahead, sync_file_range --------------------------------------- */
static void mode_rwflags(const char *dir) {
    char *f = path(dir, "rw");
    int fd = open(f, O_CREAT | O_RDWR | O_TRUNC, 0644);
    char a[] = "hello world";
    struct iovec iov = {a, 11};
    CALL("pwritev2 at 0", syscall(SYS_pwritev2, fd, &iov, 1, 0, 0, 0));
    CALL("pos after", lseek(fd, 0, SEEK_CUR));
    CALL("pwritev2 -1 (file position)", syscall(SYS_pwritev2, fd, &iov, 1, -1, 0, 0));
    CALL("pos after", lseek(fd, 0, SEEK_CUR));
    struct iovec small = {a, 5};
    CALL("pwritev2 RWF_APPEND at 0", syscall(SYS_pwritev2, fd, &small, 1, 0, 0, 0x10));
    CALL("size", lseek(fd, 0, SEEK_END));
    CALL("pwritev2 DSYNC|SYNC|HIPRI", syscall(SYS_pwritev2, fd, &small, 1, 2, 0, 7));
    CALL("pwritev2 bad flag", syscall(SYS_pwritev2, fd, &small, 1, 0, 0, 0x1000));
    CALL("pwritev2 offset -2", syscall(SYS_pwritev2, fd, &small, 1, -2, 0, 0));
    char b[64] = {0};
    struct iovec rio = {b, 63};
    CALL("preadv2 at 0", syscall(SYS_preadv2, fd, &rio, 1, 0, 0, 0));
    printf("  data %s\n", b);
    lseek(fd, 6, SEEK_SET);
    memset(b, 0, sizeof b);
    CALL("preadv2 -1", syscall(SYS_preadv2, fd, &rio, 1, -1, 0, 0));
    printf("  data %s\n", b);
    CALL("preadv2 NOWAIT file", syscall(SYS_preadv2, fd, &rio, 1, 0, 0, 8));
    int p[2];
    pipe(p);
    CALL("preadv2 NOWAIT empty pipe", syscall(SYS_preadv2, p[0], &rio, 1, -1, 0, 8));
    CALL("preadv2 pipe offset", syscall(SYS_preadv2, p[0], &rio, 1, 0, 0, 0));
    write(p[1], "xy", 2);
    CALL("preadv2 NOWAIT pipe", syscall(SYS_preadv2, p[0], &rio, 1, -1, 0, 8));
    int afd = open(f, O_WRONLY | O_APPEND);
    CALL("pwritev2 NOAPPEND on O_APPEND", syscall(SYS_pwritev2, afd, &small, 1, 0, 0, 0x20));
    CALL("size", lseek(fd, 0, SEEK_END));
    CALL("readahead", syscall(SYS_readahead, fd, 0, 4096));
    CALL("readahead pipe", syscall(SYS_readahead, p[0], 0, 4096));
    CALL("readahead write-only", syscall(SYS_readahead, p[1], 0, 4096));
    CALL("readahead bad fd", syscall(SYS_readahead, 999, 0, 4096));
    CALL("sync_file_range", syscall(SYS_sync_file_range, fd, 0, 100, 7));
    CALL("sync_file_range bad flags", syscall(SYS_sync_file_range, fd, 0, 100, 8));
    CALL("sync_file_range negative", syscall(SYS_sync_file_range, fd, -1, 100, 0));
    CALL("sync_file_range pipe", syscall(SYS_sync_file_range, p[0], 0, 100, 0));
    CALL("sync_file_range bad fd", syscall(SYS_sync_file_range, 999, 0, 100, 0));
}

/* --- personality, ioprio, robust list, kcmp, restart_syscall --------------------------- */
static void mode_attrs(void) {
    CALL("personality query", syscall(SYS_personality, 0xffffffff));
    CALL("personality set ADDR_NO_RANDOMIZE", syscall(SYS_personality, 0x0040000));
    CALL("personality query", syscall(SYS_personality, 0xffffffff));
    pid_t c = fork();
    if (c == 0) {
        CALL("child personality", syscall(SYS_personality, 0xffffffff));
        _exit(0);
    }
    waitpid(c, NULL, 0);
    CALL("personality reset", syscall(SYS_personality, 0));
    CALL("ioprio_get self", syscall(SYS_ioprio_get, 1, 0));
    CALL("ioprio_set BE 3", syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 3));
    CALL("ioprio_get self", syscall(SYS_ioprio_get, 1, 0));
    CALL("ioprio_set IDLE", syscall(SYS_ioprio_set, 1, getpid(), 3 << 13));
    CALL("ioprio_get pid", syscall(SYS_ioprio_get, 1, getpid()));
    c = fork();
    if (c == 0) {
        CALL("child ioprio", syscall(SYS_ioprio_get, 1, 0));
        _exit(0);
    }
    waitpid(c, NULL, 0);
    CALL("ioprio_set BE 8", syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 8));
    CALL("ioprio_set RT", syscall(SYS_ioprio_set, 1, 0, (1 << 13) | 1));
    CALL("ioprio_set class 5", syscall(SYS_ioprio_set, 1, 0, 5 << 13));
    CALL("ioprio_set NONE 1", syscall(SYS_ioprio_set, 1, 0, 1));
    CALL("ioprio_set bad which", syscall(SYS_ioprio_set, 7, 0, 2 << 13));
    CALL("ioprio_get bad which", syscall(SYS_ioprio_get, 7, 0));
    CALL("ioprio_get no pid", syscall(SYS_ioprio_get, 1, 999999));
    void *head; size_t len;
    CALL("get_robust_list", syscall(SYS_get_robust_list, 0, &head, &len));
    printf("  len %zu head set %d\n", len, head != NULL);
    CALL("get_robust_list esrch", syscall(SYS_get_robust_list, 999999, &head, &len));
    CALL("get_robust_list efault", syscall(SYS_get_robust_list, 0, (void *)8, &len));
    CALL("restart_syscall", syscall(SYS_restart_syscall));
    int fd = open("/dev/null", O_RDONLY), fd2 = dup(fd), fd3 = open("/dev/null", O_RDONLY);
    pid_t me = getpid();
    CALL("kcmp file dup", syscall(SYS_kcmp, me, me, 0, fd, fd2));
    CALL("kcmp file other != 0", syscall(SYS_kcmp, me, me, 0, fd, fd3) != 0);
    CALL("kcmp file ebadf", syscall(SYS_kcmp, me, me, 0, fd, 999));
    CALL("kcmp vm self", syscall(SYS_kcmp, me, me, 1, 0, 0));
    CALL("kcmp bad type", syscall(SYS_kcmp, me, me, 99, 0, 0));
    CALL("kcmp esrch", syscall(SYS_kcmp, me, 999999, 1, 0, 0));
    int pipefd[2];
    pipe(pipefd);
    c = fork();
    if (c == 0) {
        char x;
        read(pipefd[0], &x, 1);
        _exit(0);
    }
    CALL("kcmp vm child != 0", syscall(SYS_kcmp, me, c, 1, 0, 0) != 0);
    CALL("kcmp files child != 0", syscall(SYS_kcmp, me, c, 2, 0, 0) != 0);
    CALL("kcmp fs child != 0", syscall(SYS_kcmp, me, c, 3, 0, 0) != 0);
    CALL("kcmp inherited file", syscall(SYS_kcmp, me, c, 0, fd, fd));
    write(pipefd[1], "x", 1);
    waitpid(c, NULL, 0);
}

/* --- NUMA, protection keys, membarrier --------------------------------------------------- */
static void mode_numa(void) {
    char *m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    m[0] = 1;
    unsigned long node0 = 1, node1 = 2;
    CALL("mbind default", syscall(SYS_mbind, m, 4096, 0, NULL, 0, 0));
    CALL("mbind bind node0", syscall(SYS_mbind, m, 4096, 2, &node0, 2, 0));
    CALL("mbind bind node1", syscall(SYS_mbind, m, 4096, 2, &node1, 3, 0));
    CALL("mbind bind empty", syscall(SYS_mbind, m, 4096, 2, NULL, 0, 0));
    CALL("mbind default with nodes", syscall(SYS_mbind, m, 4096, 0, &node0, 2, 0));
    CALL("mbind preferred empty", syscall(SYS_mbind, m, 4096, 1, NULL, 0, 0));
    CALL("mbind unaligned", syscall(SYS_mbind, m + 1, 4096, 0, NULL, 0, 0));
    CALL("mbind bad mode", syscall(SYS_mbind, m, 4096, 9, NULL, 0, 0));
    CALL("mbind bad flags", syscall(SYS_mbind, m, 4096, 0, NULL, 0, 8));
    CALL("mbind move_all", syscall(SYS_mbind, m, 4096, 0, NULL, 0, 4));
    CALL("mbind strict move", syscall(SYS_mbind, m, 4096, 2, &node0, 2, 3));
    CALL("mbind zero length", syscall(SYS_mbind, m, 0, 2, &node1, 3, 0));
    munmap(m + 4096, 4096);
    CALL("mbind hole", syscall(SYS_mbind, m, 3 * 4096, 2, &node0, 2, 0));
    CALL("migrate_pages 0->0", syscall(SYS_migrate_pages, 0, 2, &node0, &node0));
    CALL("migrate_pages 0->1", syscall(SYS_migrate_pages, 0, 3, &node0, &node1));
    CALL("migrate_pages esrch", syscall(SYS_migrate_pages, 999999, 2, &node0, &node0));
    void *pages[2] = {m, m + 4096};
    int status[2] = {7, 7}, nodes[2] = {0, 0}, bad[2] = {1, 1};
    CALL("move_pages query", syscall(SYS_move_pages, 0, 2, pages, NULL, status, 0));
    printf("  status %d %d\n", status[0], status[1]);
    CALL("move_pages to 0", syscall(SYS_move_pages, 0, 1, pages, nodes, status, 2));
    printf("  status %d\n", status[0]);
    CALL("move_pages to 1", syscall(SYS_move_pages, 0, 1, pages, bad, status, 2));
    CALL("move_pages bad flags", syscall(SYS_move_pages, 0, 1, pages, NULL, status, 1));
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    printf("cpuid pku %d\n", (c >> 3) & 1);
    CALL("pkey_alloc", syscall(SYS_pkey_alloc, 0, 0));
    CALL("pkey_alloc bad flags", syscall(SYS_pkey_alloc, 1, 0));
    CALL("pkey_alloc bad rights", syscall(SYS_pkey_alloc, 0, 4));
    CALL("pkey_free", syscall(SYS_pkey_free, 1));
    CALL("pkey_mprotect -1", syscall(SYS_pkey_mprotect, m, 4096, PROT_READ, -1));
    CALL("pkey_mprotect 1", syscall(SYS_pkey_mprotect, m, 4096, PROT_READ, 1));
    CALL("pkey_mprotect unaligned", syscall(SYS_pkey_mprotect, m + 1, 4096, PROT_READ, 1));
    CALL("membarrier query", syscall(SYS_membarrier, 0, 0, 0));
    CALL("membarrier registrations", syscall(SYS_membarrier, 1 << 9, 0, 0));
    CALL("membarrier private unregistered", syscall(SYS_membarrier, 1 << 3, 0, 0));
    CALL("membarrier register private", syscall(SYS_membarrier, 1 << 4, 0, 0));
    CALL("membarrier private", syscall(SYS_membarrier, 1 << 3, 0, 0));
    CALL("membarrier sync_core unregistered", syscall(SYS_membarrier, 1 << 5, 0, 0));
    CALL("membarrier global", syscall(SYS_membarrier, 1, 0, 0));
    CALL("membarrier global expedited", syscall(SYS_membarrier, 2, 0, 0));
    CALL("membarrier register global", syscall(SYS_membarrier, 4, 0, 0));
    CALL("membarrier registrations", syscall(SYS_membarrier, 1 << 9, 0, 0));
    CALL("membarrier bad flags", syscall(SYS_membarrier, 1 << 3, 1, 0));
    CALL("membarrier bad cmd", syscall(SYS_membarrier, 1 << 12, 0, 0));
    pid_t ch = fork();
    if (ch == 0) {
        CALL("child registrations", syscall(SYS_membarrier, 1 << 9, 0, 0));
        CALL("child private", syscall(SYS_membarrier, 1 << 3, 0, 0));
        _exit(0);
    }
    waitpid(ch, NULL, 0);
}

/* --- process_vm_readv/writev -------------------------------------------------------------- */
static char shared_area[64] = "parent data";

static void mode_vm(void) {
    int ready[2], done[2];
    pipe(ready);
    pipe(done);
    pid_t c = fork();
    if (c == 0) {
        strcpy(shared_area, "child data here");
        write(ready[1], "r", 1);
        char x;
        read(done[0], &x, 1);
        printf("child sees: %s\n", shared_area);
        fflush(stdout);
        _exit(0);
    }
    char x;
    read(ready[0], &x, 1);
    char buf1[6] = {0}, buf2[32] = {0};
    struct iovec local[2] = {{buf1, 5}, {buf2, 20}};
    struct iovec remote[1] = {{shared_area, 15}};
    CALL("process_vm_readv", syscall(SYS_process_vm_readv, c, local, 2, remote, 1, 0));
    printf("  got '%s' '%s'\n", buf1, buf2);
    struct iovec src = {"WRITTEN", 7}, dst = {shared_area, 7};
    CALL("process_vm_writev", syscall(SYS_process_vm_writev, c, &src, 1, &dst, 1, 0));
    struct iovec bad = {(void *)4096, 10};
    CALL("readv remote efault", syscall(SYS_process_vm_readv, c, local, 1, &bad, 1, 0));
    struct iovec two[2] = {{shared_area, 3}, {(void *)4096, 10}};
    CALL("readv partial", syscall(SYS_process_vm_readv, c, local, 2, two, 2, 0));
    CALL("readv flags", syscall(SYS_process_vm_readv, c, local, 1, remote, 1, 1));
    CALL("readv esrch", syscall(SYS_process_vm_readv, 999999, local, 1, remote, 1, 0));
    struct iovec empty = {buf1, 0};
    CALL("readv empty esrch-free", syscall(SYS_process_vm_readv, 999999, &empty, 1, remote, 1, 0));
    CALL("readv local efault", syscall(SYS_process_vm_readv, c, (void *)8, 1, remote, 1, 0));
    struct iovec ro = {(void *)"const", 5};
    struct iovec wro = {(void *)mode_vm, 5};          /* the child's code: not writable */
    CALL("writev to read-only", syscall(SYS_process_vm_writev, c, &ro, 1, &wro, 1, 0));
    CALL("readv self", syscall(SYS_process_vm_readv, getpid(), local, 1, remote, 1, 0));
    write(done[1], "d", 1);
    waitpid(c, NULL, 0);
}

/* --- splice, tee, vmsplice, sendfile, copy_file_range ------------------------------------- */
#include <sys/sendfile.h>
#include <sys/socket.h>

static void drain(const char *what, int fd) {
    char b[256];
    long n = read(fd, b, sizeof b - 1);
    b[n > 0 ? n : 0] = 0;
    printf("  %s read %ld '%s'\n", what, n, b);
}

static void mode_splice(const char *dir) {
    char *f = path(dir, "src");
    int fd = open(f, O_CREAT | O_RDWR | O_TRUNC, 0644);
    write(fd, "0123456789abcdefghij", 20);
    int p[2], q[2];
    pipe(p);
    pipe(q);
    loff_t off = 5;
    CALL("splice file->pipe at 5", splice(fd, &off, p[1], NULL, 4, 0));
    printf("  off %lld pos %ld\n", (long long)off, (long)lseek(fd, 0, SEEK_CUR));
    lseek(fd, 0, SEEK_SET);
    CALL("splice file->pipe at pos", splice(fd, NULL, p[1], NULL, 3, SPLICE_F_MORE));
    printf("  pos %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    CALL("tee p->q", tee(p[0], q[1], 100, 0));
    drain("q", q[0]);
    CALL("splice p->q", splice(p[0], NULL, q[1], NULL, 2, 0));
    drain("q", q[0]);
    int out = open(path(dir, "dst"), O_CREAT | O_RDWR | O_TRUNC, 0644);
    CALL("splice pipe->file", splice(p[0], NULL, out, NULL, 100, 0));
    printf("  dst pos %ld\n", (long)lseek(out, 0, SEEK_CUR));
    write(p[1], "XYZ", 3);
    off = 10;
    CALL("splice pipe->file at 10", splice(p[0], NULL, out, &off, 100, 0));
    printf("  off %lld size %ld\n", (long long)off, (long)lseek(out, 0, SEEK_END));
    CALL("splice empty pipe NONBLOCK", splice(p[0], NULL, out, NULL, 10, SPLICE_F_NONBLOCK));
    CALL("tee empty NONBLOCK", tee(p[0], q[1], 10, SPLICE_F_NONBLOCK));
    CALL("splice file->file", splice(fd, NULL, out, NULL, 10, 0));
    CALL("splice offset on pipe", splice(p[0], &off, out, NULL, 10, 0));
    CALL("splice to self", splice(p[0], NULL, p[1], NULL, 10, 0));
    CALL("splice bad flags", splice(fd, NULL, p[1], NULL, 10, 0x100));
    CALL("splice zero length", splice(999, NULL, 998, NULL, 0, 0));
    CALL("splice ebadf", splice(p[1], NULL, out, NULL, 10, 0));
    CALL("tee file", tee(fd, q[1], 10, 0));
    CALL("tee same", tee(p[0], p[1], 10, 0));
    int app = open(path(dir, "dst"), O_WRONLY | O_APPEND);
    write(p[1], "A", 1);
    CALL("splice to O_APPEND", splice(p[0], NULL, app, NULL, 10, 0));
    drain("p", p[0]);
    /* EOF: no writer left */
    int r[2];
    pipe(r);
    close(r[1]);
    CALL("splice from writerless pipe", splice(r[0], NULL, out, NULL, 10, 0));
    /* a full pipe */
    int full[2];
    pipe(full);
    fcntl(full[1], F_SETPIPE_SZ, 4096);
    char page[4096];
    memset(page, 'x', sizeof page);
    write(full[1], page, sizeof page);
    CALL("splice to full pipe NONBLOCK", splice(fd, NULL, full[1], NULL, 10, SPLICE_F_NONBLOCK));
    fcntl(full[1], F_SETFL, O_NONBLOCK);
    CALL("splice to full O_NONBLOCK pipe", splice(fd, NULL, full[1], NULL, 10, 0));
    /* sockets */
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    write(p[1], "sock", 4);
    CALL("splice pipe->socket", splice(p[0], NULL, sv[0], NULL, 100, 0));
    drain("socket", sv[1]);
    write(sv[1], "back", 4);
    CALL("splice socket->pipe", splice(sv[0], NULL, p[1], NULL, 100, 0));
    drain("p", p[0]);
    /* vmsplice */
    struct iovec iov[2] = {{"vm", 2}, {"splice", 6}};
    CALL("vmsplice to pipe", vmsplice(p[1], iov, 2, 0));
    char b1[3] = {0}, b2[16] = {0};
    struct iovec riov[2] = {{b1, 2}, {b2, 15}};
    CALL("vmsplice from pipe", vmsplice(p[0], riov, 2, 0));
    printf("  got '%s' '%s'\n", b1, b2);
    CALL("vmsplice empty NONBLOCK", vmsplice(p[0], riov, 2, SPLICE_F_NONBLOCK));
    CALL("vmsplice file", vmsplice(fd, iov, 2, 0));
    CALL("vmsplice bad flags", vmsplice(p[1], iov, 2, 0x40));
    CALL("vmsplice full NONBLOCK", vmsplice(full[1], iov, 2, SPLICE_F_NONBLOCK));
    CALL("vmsplice zero", vmsplice(fd, iov, 0, 0));
    /* sendfile and copy_file_range */
    off = 2;
    CALL("sendfile file->pipe", sendfile(p[1], fd, &off, 5));
    printf("  off %lld\n", (long long)off);
    drain("p", p[0]);
    lseek(fd, 15, SEEK_SET);
    CALL("sendfile file->socket", sendfile(sv[0], fd, NULL, 100));
    drain("socket", sv[1]);
    write(p[1], "zz", 2);
    CALL("sendfile pipe->file", sendfile(out, p[0], NULL, 2));
    CALL("sendfile to O_APPEND", sendfile(app, fd, NULL, 2));
    loff_t i = 0, o = 0;
    int cf = open(path(dir, "copy"), O_CREAT | O_RDWR | O_TRUNC, 0644);
    CALL("copy_file_range", copy_file_range(fd, &i, cf, &o, 12, 0));
    printf("  in %lld out %lld\n", (long long)i, (long long)o);
    CALL("copy_file_range flags", copy_file_range(fd, &i, cf, &o, 12, 1));
    CALL("copy_file_range pipe", copy_file_range(p[0], NULL, cf, NULL, 12, 0));
}

/* --- chroot, unshare, setns ------------------------------------------------------------- */
#include <pthread.h>
#include <sys/utsname.h>

static int fd_for_thread = -1;

static void *unshare_thread(void *arg) {
    CALL("thread unshare(CLONE_FILES)", unshare(CLONE_FILES));
    CALL("thread close", close(fd_for_thread));
    CALL("thread unshare(CLONE_FS)", unshare(CLONE_FS));
    CALL("thread chdir /", chdir("/"));
    CALL("thread unshare(CLONE_THREAD)", unshare(CLONE_THREAD));
    return arg;
}

static void mode_ns(const char *dir) {
    CALL("unshare(CLONE_THREAD) single", unshare(CLONE_THREAD));
    char *root = path(dir, "root");
    mkdir(root, 0755);
    char hello[600];
    snprintf(hello, sizeof hello, "%s/hello", root);
    int h = open(hello, O_CREAT | O_WRONLY, 0644);
    write(h, "inside", 6);
    close(h);
    int ready[2], go[2];
    pipe(ready);
    pipe(go);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        CALL("chroot", chroot(root));
        CALL("chdir /", chdir("/"));
        char b[16] = {0};
        int f = open("/../../hello", O_RDONLY);
        read(f, b, 15);
        printf("  /../../hello: %s\n", b);
        char cwd[256];
        printf("  cwd %s\n", getcwd(cwd, sizeof cwd));
        CALL("open outside", open(dir, O_RDONLY));
        fflush(stdout);
        write(ready[1], "r", 1);
        read(go[0], b, 1);
        _exit(0);
    }
    char x;
    read(ready[0], &x, 1);
    char link[64], target[600];
    snprintf(link, sizeof link, "/proc/%d/root", c);
    long n = readlink(link, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    printf("child root link is the new root: %d\n", n > 0 && !strcmp(target, root));
    write(go[1], "g", 1);
    waitpid(c, NULL, 0);
    CALL("chroot enoent", chroot(path(dir, "none")));
    CALL("chroot enotdir", chroot(hello));
    CALL("chroot efault", chroot((char *)8));
    /* UTS namespaces */
    struct utsname before, u;
    uname(&before);
    fflush(stdout);
    c = fork();
    if (c == 0) {
        CALL("unshare(CLONE_NEWUTS)", unshare(CLONE_NEWUTS));
        CALL("sethostname", sethostname("inner", 5));
        uname(&u);
        printf("  child nodename %s\n", u.nodename);
        fflush(stdout);
        pid_t g = fork();
        if (g == 0) {
            uname(&u);
            printf("  grandchild nodename %s\n", u.nodename);
            fflush(stdout);
            _exit(0);
        }
        waitpid(g, NULL, 0);
        fflush(stdout);
        write(ready[1], "r", 1);
        read(go[0], &x, 1);
        _exit(0);
    }
    read(ready[0], &x, 1);
    uname(&u);
    printf("parent nodename unchanged: %d\n", !strcmp(u.nodename, before.nodename));
    int pfd = syscall(SYS_pidfd_open, c, 0);
    fflush(stdout);
    pid_t j = fork();
    if (j == 0) {
        CALL("setns(pidfd, 0)", setns(pfd, 0));
        CALL("setns(pidfd, CLONE_NEWUSER)", setns(pfd, CLONE_NEWUSER));
        CALL("setns(pidfd, CLONE_NEWUTS)", setns(pfd, CLONE_NEWUTS));
        uname(&u);
        printf("  joined nodename %s\n", u.nodename);
        CALL("setns(file, 0)", setns(open("/dev/null", O_RDONLY), 0));
        CALL("setns(bad fd)", setns(999, 0));
        _exit(0);
    }
    waitpid(j, NULL, 0);
    write(go[1], "g", 1);
    waitpid(c, NULL, 0);
    /* unsharing the fd table and fs context in a thread */
    fd_for_thread = open("/dev/null", O_RDONLY);
    char cwd0[600], cwd1[600];
    getcwd(cwd0, sizeof cwd0);
    pthread_t t;
    pthread_create(&t, NULL, unshare_thread, NULL);
    pthread_join(t, NULL);
    CALL("main still has the fd", fcntl(fd_for_thread, F_GETFD));
    getcwd(cwd1, sizeof cwd1);
    printf("main cwd unchanged: %d\n", !strcmp(cwd0, cwd1));
    CALL("unshare(CLONE_SYSVSEM)", unshare(CLONE_SYSVSEM));
    CALL("unshare(CLONE_FILES|CLONE_FS)", unshare(CLONE_FILES | CLONE_FS));
    CALL("unshare(CSIGNAL bits)", unshare(0x11));
    CALL("unshare(CLONE_VFORK)", unshare(CLONE_VFORK));
}

/* --- futex_waitv ------------------------------------------------------------------------- */
struct waitv { uint64_t val, uaddr; uint32_t flags, reserved; };
static uint32_t fa, fb;
static volatile int waiting;

static void *waitv_thread(void *arg) {
    struct waitv w[2] = {{0, (uintptr_t)&fa, 2 | 128, 0}, {0, (uintptr_t)&fb, 2 | 128, 0}};
    waiting = 1;
    errno = 0;
    long r = syscall(SYS_futex_waitv, w, 2, 0, NULL, 0);
    printf("waitv woke: %ld %s\n", r, r < 0 ? strerrorname_np(errno) : "");
    fflush(stdout);
    return arg;
}

static void mode_futexv(void) {
    struct waitv w[2] = {{0, (uintptr_t)&fa, 2 | 128, 0}, {1, (uintptr_t)&fb, 2 | 128, 0}};
    CALL("waitv value differs", syscall(SYS_futex_waitv, w, 2, 0, NULL, 0));
    w[1].val = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += 20 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
    CALL("waitv timeout", syscall(SYS_futex_waitv, w, 2, 0, &ts, CLOCK_MONOTONIC));
    CALL("waitv bad clock", syscall(SYS_futex_waitv, w, 2, 0, &ts, CLOCK_BOOTTIME));
    CALL("waitv flags", syscall(SYS_futex_waitv, w, 2, 1, NULL, 0));
    CALL("waitv zero", syscall(SYS_futex_waitv, w, 0, 0, NULL, 0));
    CALL("waitv too many", syscall(SYS_futex_waitv, w, 129, 0, NULL, 0));
    CALL("waitv null", syscall(SYS_futex_waitv, NULL, 1, 0, NULL, 0));
    CALL("waitv efault", syscall(SYS_futex_waitv, (void *)8, 1, 0, NULL, 0));
    struct waitv bad = {0, (uintptr_t)&fa, 1 | 128, 0};
    CALL("waitv u16 size", syscall(SYS_futex_waitv, &bad, 1, 0, NULL, 0));
    bad.flags = 2;
    bad.reserved = 1;
    CALL("waitv reserved", syscall(SYS_futex_waitv, &bad, 1, 0, NULL, 0));
    bad.reserved = 0;
    bad.uaddr = (uintptr_t)&fa + 1;
    CALL("waitv unaligned", syscall(SYS_futex_waitv, &bad, 1, 0, NULL, 0));
    bad.uaddr = (uintptr_t)&fa;
    bad.val = 1ull << 32;
    CALL("waitv big value", syscall(SYS_futex_waitv, &bad, 1, 0, NULL, 0));
    pthread_t t;
    pthread_create(&t, NULL, waitv_thread, NULL);
    int woke = 0;
    for (int i = 0; i < 2000 && !woke; i++) {
        usleep(2000);
        if (waiting)
            woke = syscall(SYS_futex, &fb, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
    pthread_join(t, NULL);
    printf("woken by FUTEX_WAKE on the second: %d\n", woke);
}

/* --- mount, umount2, pivot_root -------------------------------------------------------- */
#include <sys/mount.h>

static void list_dir(const char *what, const char *d) {
    DIR *dir = opendir(d);
    char names[32][64];
    int n = 0;
    struct dirent *e;
    while (dir && (e = readdir(dir)) && n < 32)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            snprintf(names[n++], 64, "%.63s", e->d_name);
    if (dir)
        closedir(dir);
    qsort(names, n, 64, (int (*)(const void *, const void *))strcmp);
    printf("  %s:", what);
    for (int i = 0; i < n; i++)
        printf(" %s", names[i]);
    printf("\n");
}

static int in_mounts(const char *where, const char *type) {
    FILE *f = fopen("/proc/self/mounts", "r");
    char line[1024], want[700];
    snprintf(want, sizeof want, " %s %s ", where, type);
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        found |= strstr(line, want) != NULL;
    if (f)
        fclose(f);
    return found;
}

static void touch(const char *p) {
    int fd = open(p, O_CREAT | O_WRONLY, 0644);
    if (fd >= 0) {
        write(fd, "data", 4);
        close(fd);
    }
}

/* --- devpts instances: each mount has its own ptmx and numbering ------------------------ */
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

static void show_node(const char *what, const char *p) {
    struct stat st;
    if (stat(p, &st))
        printf("  %s: errno %s\n", what, strerrorname_np(errno));
    else
        printf("  %s: mode %o uid %u gid %u dev %u:%u\n", what, st.st_mode, st.st_uid, st.st_gid,
               major(st.st_rdev), minor(st.st_rdev));
}

static void mode_devpts(const char *dir) {
    char *a = strdup(path(dir, "a")), *b = strdup(path(dir, "b"));
    mkdir(a, 0755);
    mkdir(b, 0755);
    CALL("mount a", mount("devpts", a, "devpts", 0, "newinstance,ptmxmode=0666,mode=0620"));
    CALL("mount b", mount("devpts", b, "devpts", 0, NULL));
    CALL("bogus option", mount("devpts", b, "devpts", 0, "bogus"));
    struct statfs sf;
    statfs(a, &sf);
    printf("  type %lx listed %d\n", (long)sf.f_type, in_mounts(a, "devpts"));
    show_node("a/ptmx", path(a, "ptmx"));
    show_node("b/ptmx", path(b, "ptmx"));
    list_dir("a", a);
    int m = open(path(a, "ptmx"), O_RDWR | O_NOCTTY | O_TRUNC);
    show("open a/ptmx", m);
    int n = -1, unlock = 0;
    CALL("TIOCGPTN", ioctl(m, TIOCGPTN, &n));
    printf("  index %d\n", n);
    CALL("TIOCSPTLCK", ioctl(m, TIOCSPTLCK, &unlock));
    char name[16];
    snprintf(name, sizeof name, "%d", n);
    show_node("a/N", path(a, name));
    CALL("open b/N", open(path(b, name), O_RDWR | O_NOCTTY));
    int s = open(path(a, name), O_RDWR | O_NOCTTY);
    show("open a/N", s);
    CALL("ftruncate", ftruncate(m, 0));
    write(m, "hi\n", 3);
    char buf[16] = {0};
    CALL("read replica", read(s, buf, sizeof buf - 1));
    printf("  got %s", buf);
    list_dir("a", a);
    CALL("create in devpts", open(path(a, "x"), O_CREAT | O_WRONLY, 0644));
    CALL("mkdir in devpts", mkdir(path(a, "y"), 0755));
    close(s);
    close(m);
    list_dir("a after close", a);
    CALL("umount a", umount2(a, 0));
    CALL("remount b max=1", mount("devpts", b, "devpts", MS_REMOUNT, "max=1"));
    CALL("umount b", umount2(b, 0));
    CALL("mount b max=1", mount("devpts", b, "devpts", 0, "max=1,ptmxmode=666"));
    int m1 = open(path(b, "ptmx"), O_RDWR | O_NOCTTY);
    show("open 1", m1 >= 0 ? 0 : -1);
    CALL("open 2", open(path(b, "ptmx"), O_RDWR | O_NOCTTY));
    close(m1);
    CALL("umount b", umount2(b, 0));
    /* /dev/ptmx opens the instance mounted on the "pts" beside it; a bind
     * mount of the node alone finds no "pts" (its parent is outside). */
    CALL("mount /dev/pts", mount("devpts", "/dev/pts", "devpts", 0, "ptmxmode=666"));
    int md = open("/dev/ptmx", O_RDWR | O_NOCTTY);
    show("open /dev/ptmx", md >= 0 ? 0 : -1);
    CALL("TIOCGPTN", ioctl(md, TIOCGPTN, &n));
    printf("  index %d\n", n);
    list_dir("/dev/pts", "/dev/pts");
    close(md);
    CALL("umount /dev/pts", umount2("/dev/pts", MNT_DETACH));
    char *d = strdup(path(dir, "d"));
    mkdir(d, 0755);
    touch(path(d, "ptmx"));
    CALL("bind ptmx", mount("/dev/ptmx", path(d, "ptmx"), NULL, MS_BIND, NULL));
    CALL("open bound ptmx", open(path(d, "ptmx"), O_RDWR | O_NOCTTY));
    CALL("umount bound ptmx", umount2(path(d, "ptmx"), 0));
}

static void mode_mount(const char *dir) {
    char *mnt = strdup(path(dir, "mnt")), *src = strdup(path(dir, "src"));
    char *bind = strdup(path(dir, "bind"));
    mkdir(mnt, 0755);
    mkdir(src, 0755);
    mkdir(bind, 0755);
    touch(path(src, "a"));
    CALL("mount tmpfs", mount("none", mnt, "tmpfs", 0, "mode=0700,size=1m"));
    struct stat st;
    stat(mnt, &st);
    printf("  mode %o listed %d\n", st.st_mode & 07777, in_mounts(mnt, "tmpfs"));
    touch(path(mnt, "f"));
    list_dir("mnt", mnt);
    CALL("mount bind", mount(src, bind, NULL, MS_BIND, NULL));
    list_dir("bind", bind);
    CALL("remount bind ro", mount(NULL, bind, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
    CALL("create in ro bind", open(path(bind, "new"), O_CREAT | O_WRONLY, 0644));
    CALL("create in source", open(path(src, "new"), O_CREAT | O_WRONLY, 0644));
    list_dir("bind", bind);
    CALL("remount bind rw", mount(NULL, bind, NULL, MS_REMOUNT | MS_BIND, NULL));
    CALL("create in rw bind", open(path(bind, "new2"), O_CREAT | O_WRONLY, 0644));
    CALL("remount not a mount", mount(NULL, src, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
    CALL("make private", mount(NULL, mnt, NULL, MS_PRIVATE, NULL));
    CALL("make private|shared", mount(NULL, mnt, NULL, MS_PRIVATE | MS_SHARED, NULL));
    CALL("make private not a mount", mount(NULL, src, NULL, MS_PRIVATE, NULL));
    CALL("unknown type", mount("none", mnt, "nosuchfs", 0, NULL));
    CALL("no type", mount("none", mnt, NULL, 0, NULL));
    CALL("bad tmpfs option", mount("none", mnt, "tmpfs", 0, "bogus=1"));
    CALL("target enoent", mount("none", path(dir, "none"), "tmpfs", 0, NULL));
    CALL("tmpfs on a file", mount("none", path(src, "a"), "tmpfs", 0, NULL));
    CALL("target efault", mount("none", (char *)8, "tmpfs", 0, NULL));
    char *fa = strdup(path(dir, "filebind"));
    touch(fa);
    CALL("bind file on file", mount(path(src, "a"), fa, NULL, MS_BIND, NULL));
    CALL("bind dir on file", mount(src, fa, NULL, MS_BIND, NULL));
    CALL("umount file bind", umount2(fa, 0));
    /* umount: busy, expire, detach */
    int busy = open(path(mnt, "f"), O_RDONLY);
    CALL("umount busy", umount2(mnt, 0));
    close(busy);
    CALL("umount bad flags", umount2(mnt, 0x100));
    CALL("umount not a mount", umount2(src, 0));
    CALL("umount expire 1", umount2(mnt, MNT_EXPIRE));
    CALL("umount expire 2", umount2(mnt, MNT_EXPIRE));
    list_dir("mnt after umount", mnt);
    printf("  listed %d\n", in_mounts(mnt, "tmpfs"));
    CALL("mount tmpfs again", mount("t2", mnt, "tmpfs", MS_RDONLY, NULL));
    CALL("create in ro tmpfs", open(path(mnt, "x"), O_CREAT | O_WRONLY, 0644));
    CALL("chdir in", chdir(mnt));
    CALL("umount cwd busy", umount2(mnt, 0));
    CALL("umount detach", umount2(mnt, MNT_DETACH));
    chdir(dir);
    /* MS_MOVE */
    char *m1 = strdup(path(dir, "m1")), *m2 = strdup(path(dir, "m2"));
    mkdir(m1, 0755);
    mkdir(m2, 0755);
    mount("none", m1, "tmpfs", 0, NULL);
    touch(path(m1, "moved"));
    CALL("move", mount(m1, m2, NULL, MS_MOVE, NULL));
    list_dir("m1", m1);
    list_dir("m2", m2);
    CALL("move not a mount", mount(src, m1, NULL, MS_MOVE, NULL));
    mount("none", m1, "tmpfs", 0, NULL);
    CALL("umount force", umount2(m1, MNT_FORCE));
    CALL("umount bind", umount2(bind, 0));
    list_dir("bind after", bind);
    /* pivot_root in a child (the whole namespace follows it) */
    char *nr = strdup(path(dir, "newroot"));
    mkdir(nr, 0755);
    char *sub = strdup(path(m2, "sub"));
    mkdir(sub, 0755);
    CALL("pivot_root not a mount", syscall(SYS_pivot_root, sub, sub));
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        mount("none", nr, "tmpfs", 0, NULL);
        mkdir(path(nr, "old"), 0755);
        touch(path(nr, "marker"));
        chdir(nr);
        CALL("pivot_root put_old outside", syscall(SYS_pivot_root, ".", dir));
        CALL("pivot_root", syscall(SYS_pivot_root, ".", "old"));
        list_dir("new /", "/");
        CALL("chdir /", chdir("/"));
        CALL("umount old root", umount2("/old", MNT_DETACH));
        list_dir("old after umount", "/old");
        fflush(stdout);
        _exit(0);
    }
    waitpid(c, NULL, 0);
}

/* --- syslog: the sandbox's kernel log is empty (checked against expectations, not
 * natively: the host's log is neither empty nor readable from a user namespace) --- */
static void mode_syslog(void) {
    char buf[256];
    CALL("size buffer > 0", syscall(SYS_syslog, 10, NULL, 0) > 0);
    CALL("read all", syscall(SYS_syslog, 3, buf, sizeof buf));
    CALL("size unread", syscall(SYS_syslog, 9, NULL, 0));
    CALL("read all null", syscall(SYS_syslog, 3, NULL, 10));
    CALL("read all negative", syscall(SYS_syslog, 3, buf, -1));
    CALL("read all efault", syscall(SYS_syslog, 3, (void *)8, 10));
    CALL("console level 9", syscall(SYS_syslog, 8, NULL, 9));
    CALL("open", syscall(SYS_syslog, 1, NULL, 0));
    CALL("bad action", syscall(SYS_syslog, 99, NULL, 0));
}

/* --- the privileged calls as a user without capabilities (natively: uid 1000 of a
 * user namespace; in the sandbox: root that setuid(1000) itself) -------------------- */
#include <grp.h>

static void mode_nonroot(const char *dir) {
    if (getuid() == 0 && (setgroups(0, NULL) || setgid(1000) || setuid(1000)))
        perror("setuid");
    printf("uid %d euid %d\n", getuid(), geteuid());
    CALL("mount", mount("none", dir, "tmpfs", 0, NULL));
    CALL("umount2", umount2(dir, 0));
    CALL("chroot", chroot(dir));
    CALL("pivot_root", syscall(SYS_pivot_root, dir, dir));
    CALL("unshare(CLONE_NEWUTS)", unshare(CLONE_NEWUTS));
    CALL("unshare(CLONE_FILES)", unshare(CLONE_FILES));
    CALL("sethostname", sethostname("x", 1));
    int pfd = syscall(SYS_pidfd_open, getpid(), 0);
    CALL("setns(pidfd, CLONE_NEWUTS)", setns(pfd, CLONE_NEWUTS));
    struct sock_filter_ { unsigned short code; unsigned char jt, jf; unsigned k; } f[] = {
        {6, 0, 0, 0x7fff0000}};
    struct { unsigned short len; void *filter; } prog = {1, f};
    CALL("seccomp without no_new_privs", syscall(SYS_seccomp, 1, 0, &prog));
    CALL("prctl(PR_SET_NO_NEW_PRIVS)", prctl(38, 1, 0, 0, 0));
    CALL("seccomp with no_new_privs", syscall(SYS_seccomp, 1, 0, &prog));
    struct timeval tv = {1, 0};
    CALL("settimeofday", syscall(SYS_settimeofday, &tv, NULL));
    CALL("ioprio_set RT", syscall(SYS_ioprio_set, 1, 0, (1 << 13) | 1));
    CALL("ioprio_set BE 7", syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 7));
}

/* --- root without one capability: the calls it guards fail as for any user ----------- */
#include <sys/resource.h>
static void drop_cap(int cap) {
    struct { uint32_t version; int pid; } h = {0x20080522, 0};   /* version 3 */
    struct { uint32_t effective, permitted, inheritable; } d[2];
    syscall(SYS_capget, &h, d);
    d[cap / 32].effective &= ~(1u << (cap % 32));
    d[cap / 32].permitted &= ~(1u << (cap % 32));
    if (syscall(SYS_capset, &h, d))
        perror("capset");
}

static void in_child_without(int cap, const char *name, void (*body)(const char *), const char *dir) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        if (cap >= 0)
            drop_cap(cap);
        printf("without %s:\n", name);
        body(dir);
        fflush(stdout);
        _exit(0);
    }
    waitpid(c, NULL, 0);
}

static void admin_calls(const char *dir) {
    CALL("  sethostname", sethostname("capdrop", 7));
    CALL("  setdomainname", setdomainname("capdrop", 7));
    CALL("  unshare(CLONE_NEWUTS)", unshare(CLONE_NEWUTS));
    CALL("  mount", mount("none", dir, "tmpfs", 0, NULL));
    CALL("  umount2", umount2(dir, 0));
    CALL("  chroot", chroot(dir));
}

#include <arpa/inet.h>
#include <netinet/in.h>

static int bind_at(int family, const char *ip, int port) {
    int s = socket(family, SOCK_STREAM, 0);
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        inet_pton(AF_INET, ip, &a->sin_addr);
        len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        inet_pton(AF_INET6, ip, &a->sin6_addr);
        len = sizeof *a;
    }
    int r = bind(s, (struct sockaddr *)&ss, len);
    int e = errno;
    close(s);
    errno = e;
    return r;
}

/* Ports below ip_unprivileged_port_start (1024) need CAP_NET_BIND_SERVICE.
 * Natively in a network namespace of its own. */
static void net_bind_calls(const char *dir) {
    (void)dir;
    CALL("  port 1023", bind_at(AF_INET, "0.0.0.0", 1023));
    CALL("  port 1024", bind_at(AF_INET, "0.0.0.0", 1024));
    CALL("  port 0", bind_at(AF_INET, "0.0.0.0", 0));
    CALL("  ipv6 port 80", bind_at(AF_INET6, "::", 80));
}

static void mode_netbind(void) {
    in_child_without(-1, "nothing", net_bind_calls, NULL);
    in_child_without(10, "CAP_NET_BIND_SERVICE", net_bind_calls, NULL);
}

static void mode_capdrop(const char *dir) {
    in_child_without(-1, "nothing", admin_calls, dir);
    in_child_without(21, "CAP_SYS_ADMIN", admin_calls, dir);
    in_child_without(18, "CAP_SYS_CHROOT", admin_calls, dir);
}

/* What only the init namespace's root may do natively (a user namespace's root
 * gets EPERM with or without the capability), so checked against Linux's rules. */
static void resource_calls(const char *dir) {
    (void)dir;
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_max = r.rlim_cur;
    CALL("  lower hard NOFILE", setrlimit(RLIMIT_NOFILE, &r));
    r.rlim_max += 1;
    CALL("  raise hard NOFILE", setrlimit(RLIMIT_NOFILE, &r));
    int fd = open("/proc/self/oom_score_adj", O_WRONLY);
    CALL("  oom_score_adj 100", write(fd, "100", 3));
    CALL("  oom_score_adj -100", write(fd, "-100", 4));
    close(fd);
    int p[2];
    pipe(p);
    CALL("  pipe size over pipe-max-size", fcntl(p[1], F_SETPIPE_SZ, 2 << 20) == 2 << 20);
    close(p[0]);
    close(p[1]);
}

static void mode_capres(void) {
    in_child_without(-1, "nothing", resource_calls, ".");
    in_child_without(24, "CAP_SYS_RESOURCE", resource_calls, ".");
}

/* --- who may signal whom: the same user, CAP_KILL, or SIGCONT in the session ----------- */
#include <sys/types.h>
static void as_user(uid_t uid) {
    if (setgroups(0, NULL) || setgid(uid) || setuid(uid))
        perror("setuid");
}

static void mode_killperm(void) {
    int go[2], ready[2];
    char x;
    pipe(go);
    pipe(ready);
    fflush(stdout);
    pid_t a = fork();
    if (a == 0) {
        as_user(1000);
        write(ready[1], "r", 1);
        read(go[0], &x, 1);
        _exit(0);
    }
    if (a < 0 || read(ready[0], &x, 1) != 1)
        exit(1);
    union sigval v = {0};
    pid_t b = fork();
    if (b == 0) {
        as_user(1001);
        CALL("other user: kill 0", kill(a, 0));
        CALL("other user: kill SIGTERM", kill(a, SIGTERM));
        CALL("other user: tgkill", syscall(SYS_tgkill, a, a, SIGTERM));
        CALL("other user: sigqueue", sigqueue(a, SIGUSR1, v));
        CALL("other user: SIGCONT in the session", kill(a, SIGCONT));
        CALL("other user: its own process group", kill(0, 0));
        _exit(0);
    }
    waitpid(b, NULL, 0);
    pid_t c = fork();
    if (c == 0) {
        as_user(1000);
        CALL("same user: kill 0", kill(a, 0));
        _exit(0);
    }
    waitpid(c, NULL, 0);
    pid_t d = fork();
    if (d == 0) {
        drop_cap(5);                               /* CAP_KILL */
        CALL("root without CAP_KILL: kill 0", kill(a, 0));
        _exit(0);
    }
    waitpid(d, NULL, 0);
    CALL("root: kill 0", kill(a, 0));
    write(go[1], "g", 1);
    waitpid(a, NULL, 0);
}

/* --- process_madvise, process_mrelease, set_mempolicy_home_node ------------------------ */
static void mode_pidfd_mm(void) {
    char *m = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    m[0] = 1;
    int self = syscall(SYS_pidfd_open, getpid(), 0);
    struct iovec iov[2] = {{m, 4096}, {m + 2 * 4096, 8192}};
    CALL("process_madvise self WILLNEED", syscall(SYS_process_madvise, self, iov, 2, MADV_WILLNEED, 0));
    CALL("process_madvise self DONTNEED", syscall(SYS_process_madvise, self, iov, 1, MADV_DONTNEED, 0));
    printf("  after DONTNEED: %d\n", m[0]);
    CALL("process_madvise flags", syscall(SYS_process_madvise, self, iov, 1, MADV_WILLNEED, 1));
    CALL("process_madvise not a pidfd", syscall(SYS_process_madvise, 0, iov, 1, MADV_WILLNEED, 0));
    CALL("process_madvise bad advice", syscall(SYS_process_madvise, self, iov, 1, 999, 0));
    munmap(m + 3 * 4096, 4096);
    CALL("process_madvise hole", syscall(SYS_process_madvise, self, &iov[1], 1, MADV_WILLNEED, 0));
    int go[2];
    pipe(go);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        char x;
        read(go[0], &x, 1);
        _exit(0);
    }
    int child = syscall(SYS_pidfd_open, c, 0);
    CALL("process_madvise child COLD", syscall(SYS_process_madvise, child, iov, 1, MADV_COLD, 0));
    CALL("process_madvise child DONTNEED", syscall(SYS_process_madvise, child, iov, 1, MADV_DONTNEED, 0));
    CALL("process_mrelease live", syscall(SYS_process_mrelease, child, 0));
    CALL("process_mrelease flags", syscall(SYS_process_mrelease, child, 1));
    CALL("process_mrelease not a pidfd", syscall(SYS_process_mrelease, 0, 0));
    write(go[1], "g", 1);
    siginfo_t si;
    waitid(P_PID, c, &si, WEXITED | WNOWAIT);
    CALL("process_mrelease zombie", syscall(SYS_process_mrelease, child, 0));
    CALL("process_madvise zombie", syscall(SYS_process_madvise, child, iov, 1, MADV_COLD, 0));
    waitpid(c, NULL, 0);
    CALL("set_mempolicy_home_node", syscall(SYS_set_mempolicy_home_node, m, 4096, 0, 0));
    CALL("home node 1", syscall(SYS_set_mempolicy_home_node, m, 4096, 1, 0));
    CALL("home node unaligned", syscall(SYS_set_mempolicy_home_node, m + 1, 4096, 0, 0));
    CALL("home node flags", syscall(SYS_set_mempolicy_home_node, m, 4096, 0, 1));
}

/* --- /proc/sys files are pollable; hostname/domainname report a change once --------- */
#include <poll.h>
#include <sys/epoll.h>

static void mode_sysctlpoll(void) {
    int h1 = open("/proc/sys/kernel/hostname", O_RDONLY);
    int h2 = open("/proc/sys/kernel/hostname", O_RDONLY);
    int d = open("/proc/sys/kernel/domainname", O_RDONLY);
    int os = open("/proc/sys/kernel/ostype", O_RDONLY);
    int e1 = epoll_create1(0), e2 = epoll_create1(0), e3 = epoll_create1(0);
    struct epoll_event ev = {0};
    CALL("add hostname 1", epoll_ctl(e1, EPOLL_CTL_ADD, h1, &ev));
    CALL("add hostname 2", epoll_ctl(e2, EPOLL_CTL_ADD, h2, &ev));
    ev.events = EPOLLIN;
    CALL("add ostype", epoll_ctl(e3, EPOLL_CTL_ADD, os, &ev));
    CALL("ostype ready", epoll_wait(e3, &ev, 1, 0));
    printf("  events %x\n", ev.events);
    CALL("before the change", epoll_wait(e1, &ev, 1, 0));
    CALL("sethostname", sethostname("sysctl-poll", 11));
    for (int i = 0; i < 2; i++) {
        int ep = i ? e2 : e1;
        ev.events = 0;
        CALL("woken", epoll_wait(ep, &ev, 1, 5000));
        printf("  events %x\n", ev.events);
        CALL("not again", epoll_wait(ep, &ev, 1, 50));
    }
    struct pollfd p = {d, POLLIN, 0};
    CALL("poll domainname", poll(&p, 1, 0));
    printf("  revents %x\n", p.revents);
    CALL("setdomainname", setdomainname("sysctl.poll", 11));
    CALL("poll after change", poll(&p, 1, 0));
    printf("  revents %x\n", p.revents);
    CALL("poll again", poll(&p, 1, 0));
    printf("  revents %x\n", p.revents);
    int w = open("/proc/sys/kernel/hostname", O_WRONLY);
    CALL("write hostname", write(w, "by-proc\n", 8));
    p.fd = h1;
    CALL("poll hostname after a proc write", poll(&p, 1, 0));
    printf("  revents %x\n", p.revents);
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    const char *m = argv[1], *dir = argc > 2 ? argv[2] : ".";
    if (!strcmp(m, "priv")) mode_priv();
    else if (!strcmp(m, "oldfs")) mode_oldfs(dir);
    else if (!strcmp(m, "rwflags")) mode_rwflags(dir);
    else if (!strcmp(m, "attrs")) mode_attrs();
    else if (!strcmp(m, "numa")) mode_numa();
    else if (!strcmp(m, "vm")) mode_vm();
    else if (!strcmp(m, "splice")) mode_splice(dir);
    else if (!strcmp(m, "ns")) mode_ns(dir);
    else if (!strcmp(m, "futexv")) mode_futexv();
    else if (!strcmp(m, "mount")) mode_mount(dir);
    else if (!strcmp(m, "devpts")) mode_devpts(dir);
    else if (!strcmp(m, "syslog")) mode_syslog();
    else if (!strcmp(m, "nonroot")) mode_nonroot(dir);
    else if (!strcmp(m, "capdrop")) mode_capdrop(dir);
    else if (!strcmp(m, "netbind")) mode_netbind();
    else if (!strcmp(m, "capres")) mode_capres();
    else if (!strcmp(m, "killperm")) mode_killperm();
    else if (!strcmp(m, "pidfd_mm")) mode_pidfd_mm();
    else if (!strcmp(m, "sysctlpoll")) mode_sysctlpoll();
    else return 2;
    return 0;
}
