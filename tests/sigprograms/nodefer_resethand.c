/* SA_NODEFER lets a handler be re-entered by its own signal; without it
 * the signal stays pending until the handler returns. SA_RESETHAND puts
 * the default action back after one delivery. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile int depth, max_depth, calls;
static char log_[64];
static volatile int loglen;

static void nested(int sig) {
    (void)sig;
    calls++;
    depth++;
    if (depth > max_depth) max_depth = depth;
    log_[loglen++] = '0' + depth;
    if (calls < 3) raise(SIGUSR1);
    log_[loglen++] = 'r';
    depth--;
}

static void once(int sig) { (void)sig; calls++; }

static void run(int flags, const char *name) {
    struct sigaction sa = {0};
    sa.sa_handler = nested;
    sa.sa_flags = flags;
    sigaction(SIGUSR1, &sa, NULL);
    depth = max_depth = calls = loglen = 0;
    memset(log_, 0, sizeof log_);
    raise(SIGUSR1);
    printf("%s: calls=%d max_depth=%d order=%s\n", name, calls, max_depth, log_);
}

int main(void) {
    run(0, "default");
    run(SA_NODEFER, "SA_NODEFER");

    struct sigaction sa = {0}, old;
    sa.sa_handler = once;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGUSR2, &sa, NULL);
    calls = 0;
    raise(SIGUSR2);
    sigaction(SIGUSR2, NULL, &old);
    printf("SA_RESETHAND: calls=%d now_default=%d\n", calls, old.sa_handler == SIG_DFL);
    /* SA_RESETHAND implies SA_NODEFER on Linux: the signal is not blocked
     * inside the handler. */
    fflush(stdout);
    raise(SIGUSR2);                       /* default action: terminate */
    puts("not reached");
    return 0;
}
