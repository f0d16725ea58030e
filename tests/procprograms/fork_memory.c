/* What fork, vfork and execve do to memory, in one program: a small
 * process's pages (copied at fork in the sandbox) and a large private
 * mapping (copy-on-write there) are the child's own; shared anonymous
 * memory stays shared; a vfork child shares its parent's memory until it
 * execs; failed execs return to the caller; a process with a second
 * thread forks too. Prints one line per check. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static int global = 1;
static char zeros[3 * 4096];             /* bss, never written before fork */

static int wait_child(pid_t pid) {
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void small_process(void) {
    int local = 2;
    char *heap = malloc(64);
    strcpy(heap, "parent");
    int to_child[2], to_parent[2];
    if (pipe(to_child) || pipe(to_parent)) exit(1);
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        global = 10; local = 20; strcpy(heap, "child"); zeros[4096] = 7;
        if (write(to_parent[1], "x", 1) != 1 || read(to_child[0], &c, 1) != 1) _exit(1);
        /* The parent wrote its copies meanwhile: ours must not change. */
        printf("small child: global=%d local=%d heap=%s zeros=%d\n",
               global, local, heap, zeros[4096]);
        fflush(stdout);
        _exit(0);
    }
    char c;
    if (read(to_parent[0], &c, 1) != 1) exit(1);
    printf("small parent: global=%d local=%d heap=%s zeros=%d\n",
           global, local, heap, zeros[4096]);
    fflush(stdout);
    global = 100; local = 200; strcpy(heap, "parent2"); zeros[4096] = 9;
    if (write(to_child[1], "x", 1) != 1) exit(1);
    printf("small child exit=%d\n", wait_child(pid));
    free(heap);
}

static void large_mapping(void) {
    size_t size = 4 << 20;                /* 1024 pages: copy-on-write */
    unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) exit(1);
    for (size_t i = 0; i < size; i += 4096) p[i] = (unsigned char)(i >> 12);
    pid_t pid = fork();
    if (pid == 0) {
        int bad = 0;
        for (size_t i = 0; i < size; i += 8192) p[i] = 0xEE;
        for (size_t i = 4096; i < size; i += 8192) bad += p[i] != (unsigned char)(i >> 12);
        _exit(bad ? 1 : 0);
    }
    int child = wait_child(pid), bad = 0;
    for (size_t i = 0; i < size; i += 4096) bad += p[i] != (unsigned char)(i >> 12);
    printf("large: child exit=%d parent mismatches=%d\n", child, bad);
    munmap(p, size);
}

static void shared_mapping(void) {
    int *s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) exit(1);
    *s = 1;
    pid_t pid = fork();
    if (pid == 0) { *s = 42; _exit(0); }
    int child = wait_child(pid);
    printf("shared: child exit=%d value=%d\n", child, *s);
    munmap(s, 4096);
}

static void vfork_checks(void) {
    volatile int seen = 0;
    pid_t pid = vfork();
    if (pid == 0) { seen = 5; _exit(3); }
    printf("vfork: exit=%d parent sees %d\n", wait_child(pid), seen);
    pid = vfork();
    if (pid == 0) {
        char *argv[] = {"/nonexistent/prog", NULL};
        execv(argv[0], argv);
        _exit(errno == ENOENT ? 127 : 1);
    }
    printf("vfork exec missing: exit=%d\n", wait_child(pid));
    fflush(stdout);
    pid = vfork();
    if (pid == 0) {
        char *argv[] = {"/bin/echo", "vfork exec: echo ran", NULL};
        execv(argv[0], argv);
        _exit(1);
    }
    printf("vfork exec: exit=%d\n", wait_child(pid));
}

static void exec_failures(void) {
    const char *paths[] = {"/nonexistent/prog", "/etc/passwd", "/"};
    for (int i = 0; i < 3; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            char *argv[] = {(char *)paths[i], NULL};
            int before = global;
            execv(paths[i], argv);
            /* Still this program, memory intact. */
            printf("exec %s: %s, global still %d\n", paths[i], strerror(errno), before);
            fflush(stdout);
            _exit(0);
        }
        wait_child(pid);
    }
}

static void *idle_thread(void *arg) {
    int *fd = arg;
    char c;
    return read(*fd, &c, 1) == 1 ? NULL : arg;
}

static void threaded_fork(void) {
    int p[2];
    pthread_t t;
    if (pipe(p) || pthread_create(&t, NULL, idle_thread, &p[0])) exit(1);
    global = 7;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        global = 8;
        printf("threaded child: global=%d\n", global);
        fflush(stdout);
        _exit(0);
    }
    int child = wait_child(pid);
    printf("threaded parent: child exit=%d global=%d\n", child, global);
    if (write(p[1], "x", 1) != 1 || pthread_join(t, NULL)) exit(1);
}

/* File mappings the parent has touched: the child of a small process
 * gets their page-cache pages mapped at fork in the sandbox. A shared
 * one stays shared both ways, a private one made writable in the child
 * is the child's own. */
static void file_mappings(void) {
    char path[] = "/tmp/fork_memory_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) { perror("mkstemp"); return; }
    unlink(path);
    char page[4096];
    for (int i = 0; i < 3; i++) {
        memset(page, 'a' + i, sizeof page);
        if (write(fd, page, sizeof page) != sizeof page) { perror("write"); return; }
    }
    char *ro = mmap(NULL, 3 * 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    char *sh = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ro == MAP_FAILED || sh == MAP_FAILED) { perror("mmap"); return; }
    printf("file: parent reads %c %c %c / %c\n", ro[0], ro[4096], ro[8192], sh[4096]);
    pid_t pid = fork();
    if (pid == 0) {
        int ok = ro[0] == 'a' && ro[4096] == 'b' && ro[8192] == 'c' && sh[0] == 'a';
        sh[4096] = 'X';
        if (mprotect(ro, 3 * 4096, PROT_READ | PROT_WRITE)) _exit(3);
        ro[0] = 'Y';
        /* (page 1 of the private mapping, never written, shows the file) */
        _exit(ok && ro[0] == 'Y' && ro[4096] == 'X' ? 0 : 2);
    }
    int code = wait_child(pid);
    char back;
    pread(fd, &back, 1, 4096);
    printf("file: child %d, parent sees shared %c (file %c), private %c\n",
           code, sh[4096], back, ro[0]);
    munmap(ro, 3 * 4096);
    munmap(sh, 3 * 4096);
    close(fd);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    file_mappings();
    small_process();
    large_mapping();
    shared_mapping();
    vfork_checks();
    exec_failures();
    threaded_fork();
    return 0;
}
