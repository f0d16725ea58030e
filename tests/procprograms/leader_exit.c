/* Threads made after the thread group leader has gone: the leader ends
 * with pthread_exit or a raw SYS_exit while a second thread runs; that
 * thread waits for it to be gone (the kernel clears its tid), then makes
 * threads that make threads, every one writing to a pipe and returning a
 * value its creator checks. Modes (argv[1]):
 *   pthread_exit  the leader pthread_exits; the last thread calls exit(7)
 *   sys_exit      the leader makes a raw SYS_exit; the last thread's
 *                 own exit ends the process (status 0)
 *   reuse         a fork child that exits at once (its host process may
 *                 be kept for the next one), then a fork child running
 *                 each of the above, three rounds
 *   exec          a second thread execs this program ("pthread_exit"),
 *                 which becomes the process's only thread
 * An alarm turns a thread that never runs into SIGALRM, not a hang. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { WIDTH = 4, DEPTH = 3 };        /* each thread makes WIDTH, DEPTH levels down */

static int fds[2];
static pthread_t leader;
static const char *mode;

static void say(const char *fmt, long a, long b)
{
    char line[128];
    int n = snprintf(line, sizeof line, fmt, a, b);
    if (write(1, line, n) != n)
        _exit(90);
}

/* A thread at level `depth`: writes a byte, makes its children (if any
 * levels are left) and returns how many threads its subtree had. */
static void *grow(void *arg)
{
    long depth = (long)arg;
    char c = 'a' + depth;
    if (write(fds[1], &c, 1) != 1)
        _exit(91);
    long n = 1;
    if (depth + 1 < DEPTH) {
        pthread_t t[WIDTH];
        for (int i = 0; i < WIDTH; i++)
            if (pthread_create(&t[i], 0, grow, (void *)(depth + 1)))
                _exit(92);
        for (int i = 0; i < WIDTH; i++) {
            void *r;
            if (pthread_join(t[i], &r))
                _exit(93);
            n += (long)r;
        }
    }
    return (void *)n;
}

static void *second(void *arg)
{
    /* The leader's tid word is cleared (and its futex woken) by the
     * kernel when it has exited: joining it waits for exactly that. */
    if (pthread_join(leader, 0))
        _exit(94);
    say("leader gone%.0ld, this thread is not it: %ld\n", 0, syscall(SYS_gettid) != getpid());
    long total = 0;
    for (int round = 0; round < 3; round++) {
        pthread_t t[WIDTH];
        for (int i = 0; i < WIDTH; i++)
            if (pthread_create(&t[i], 0, grow, (void *)0))
                _exit(95);
        for (int i = 0; i < WIDTH; i++) {
            void *r;
            pthread_join(t[i], &r);
            total += (long)r;
        }
    }
    char buf[4096];
    long got = 0, letters[DEPTH] = {0};
    for (;;) {
        ssize_t k = read(fds[0], buf, sizeof buf);
        for (ssize_t i = 0; i < k; i++)
            letters[buf[i] - 'a']++;
        got += k > 0 ? k : 0;
        if (got >= total || k <= 0)
            break;
    }
    say("threads %ld, bytes %ld\n", total, got);
    say("level a %ld, level c %ld\n", letters[0], letters[DEPTH - 1]);
    if (!strcmp(mode, "pthread_exit"))
        exit(7);
    return 0;                         /* the last thread: the process ends 0 */
}

static int scenario(void)
{
    if (pipe(fds))
        return 96;
    leader = pthread_self();
    pthread_t t;
    if (pthread_create(&t, 0, second, 0))
        return 97;
    if (!strcmp(mode, "sys_exit"))
        syscall(SYS_exit, 0);
    pthread_exit(0);
}

static void *exec_self(void *arg)
{
    char *argv[] = {(char *)arg, "pthread_exit", 0};
    execv(argv[0], argv);
    _exit(98);
}

int main(int argc, char **argv)
{
    alarm(30);
    mode = argc > 1 ? argv[1] : "pthread_exit";
    if (!strcmp(mode, "reuse")) {
        static const char *modes[] = {"pthread_exit", "sys_exit", "pthread_exit"};
        for (int round = 0; round < 3; round++) {
            int st;
            pid_t p = fork();
            if (p == 0)
                _exit(round);
            waitpid(p, &st, 0);
            p = fork();
            if (p == 0) {
                mode = modes[round];
                return scenario();
            }
            waitpid(p, &st, 0);
            say("round %ld: status %ld\n", round, WIFEXITED(st) ? WEXITSTATUS(st)
                                                             : 128 + WTERMSIG(st));
        }
        return 0;
    }
    if (!strcmp(mode, "exec")) {
        pthread_t t;
        pthread_create(&t, 0, exec_self, argv[0]);
        pthread_join(t, 0);
        return 99;
    }
    return scenario();
}
