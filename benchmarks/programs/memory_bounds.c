/* The three cases of issue 13 that once cost the sentry gigabytes:
 *   sparse DIR  a 1-byte pwrite at offset 4 GiB in DIR
 *   pipe        one 1 GiB write() into a pipe, read by a child process
 *   devnull     one 2 GiB write() to /dev/null
 * The buffers are anonymous memory never written (they read as zeros and
 * cost the kernel nothing). Prints one JSON line. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *untouched(size_t n)
{
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

static int sparse(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/sparse.bin", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    struct stat st;
    if (fd < 0 || pwrite(fd, "x", 1, 4LL << 30) != 1 || fstat(fd, &st) < 0) {
        perror("sparse");
        return 1;
    }
    unlink(path);
    printf("{\"case\": \"sparse\", \"size\": %lld, \"blocks\": %lld}\n",
           (long long)st.st_size, (long long)st.st_blocks);
    return 0;
}

static int pipe_write(void)
{
    size_t n = 1UL << 30;
    int p[2];
    if (pipe(p) < 0)
        return 1;
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    pid_t child = fork();
    if (child == 0) {
        close(p[1]);
        char *buf = malloc(1 << 20);
        long long total = 0;
        ssize_t r;
        while ((r = read(p[0], buf, 1 << 20)) > 0)
            total += r;
        _exit(total == (long long)n ? 0 : 3);
    }
    close(p[0]);
    char *buf = untouched(n);
    ssize_t w = write(p[1], buf, n);
    close(p[1]);
    int status;
    waitpid(child, &status, 0);
    printf("{\"case\": \"pipe\", \"written\": %zd, \"reader_status\": %d}\n", w, status);
    return w == (ssize_t)n && status == 0 ? 0 : 1;
}

static int devnull(void)
{
    size_t n = 2UL << 30;
    char *buf = untouched(n);
    int fd = open("/dev/null", O_WRONLY);
    ssize_t w = write(fd, buf, n);
    printf("{\"case\": \"devnull\", \"written\": %zd}\n", w);
    return w == 0x7ffff000 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc > 2 && !strcmp(argv[1], "sparse"))
        return sparse(argv[2]);
    if (argc > 1 && !strcmp(argv[1], "pipe"))
        return pipe_write();
    if (argc > 1 && !strcmp(argv[1], "devnull"))
        return devnull();
    fprintf(stderr, "usage: memory_bounds sparse DIR | pipe | devnull\n");
    return 2;
}
