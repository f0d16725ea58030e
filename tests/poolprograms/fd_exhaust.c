/* Raise RLIMIT_NOFILE (to at most CAP), open DIR/f0, f1, ... until the
 * open fails, then create a thread: it must run. Usage: fd_exhaust DIR CAP
 * In the sandbox the guest's limit is its own, and the host files behind
 * its fds may not take the sentry's last host fds: EMFILE or ENFILE. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void *worker(void *arg)
{
    static const char msg[] = "thread ran\n";
    (void)arg;
    if (write(1, msg, sizeof msg - 1) < 0)
        return NULL;
    return (void *)42L;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t cap = strtoul(argv[2], NULL, 10);
    rl.rlim_cur = rl.rlim_max < cap ? rl.rlim_max : cap;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        perror("setrlimit");
    int count = 0, err = 0, last = -1;
    for (int i = 0;; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/f%d", argv[1], i);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            err = errno;
            break;
        }
        last = fd;
        count++;
    }
    printf("opened more than 1000: %s\n", count > 1000 ? "yes" : "no");
    printf("stopped by: %s\n", err == EMFILE || err == ENFILE ? "EMFILE or ENFILE" : strerror(err));
    fflush(stdout);
    pthread_t t;
    void *ret = NULL;
    int rc = pthread_create(&t, NULL, worker, NULL);
    if (rc == 0)
        pthread_join(t, &ret);
    printf("thread: create=%d ret=%ld\n", rc, (long)ret);
    for (int fd = 3; fd <= last; fd++)
        close(fd);
    char path[4096];
    snprintf(path, sizeof path, "%s/f0", argv[1]);
    int fd = open(path, O_RDONLY);
    printf("reopen after closing: %s\n", fd >= 0 ? "ok" : strerror(errno));
    return 0;
}
