/* Fill the filesystem of DIR (argv[1]) with a file until it is full;
 * print how much fit and the error, then check that unlinking the file
 * gives the space back. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static long long fill(const char *path, long long limit)
{
    static char buf[65536];
    memset(buf, 'x', sizeof buf);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    long long total = 0;
    ssize_t n;
    while (total < limit && (n = write(fd, buf, sizeof buf)) > 0)
        total += n;
    printf("%s: %lld KiB, then %s\n", path, total >> 10,
           total < limit ? strerrorname_np(errno) : "limit");
    close(fd);
    return total;
}

int main(int argc, char **argv)
{
    if (argc < 2 || chdir(argv[1]) < 0)
        return 2;
    fill("first", 1LL << 40);
    unlink("first");
    fill("second", 1 << 20);
    unlink("second");
    return 0;
}
