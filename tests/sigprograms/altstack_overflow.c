/* Infinite recursion overflows the main stack; the SIGSEGV handler runs
 * on a sigaltstack (SA_ONSTACK) and siglongjmps back. */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static sigjmp_buf env;
static char *alt;
static size_t alt_size = 64 * 1024;
static volatile int limit = 1 << 30;
static volatile int on_alt, depth_reached, ss_flags_in_handler;

static int recurse(volatile int depth) {
    volatile char pad[512];
    pad[0] = (char)depth;
    depth_reached = depth;
    if (depth > limit) return 0;          /* never: keeps -Winfinite-recursion quiet */
    return recurse(depth + 1) + pad[0];
}

static void on_segv(int sig) {
    char here;
    stack_t cur;
    sigaltstack(NULL, &cur);
    ss_flags_in_handler = cur.ss_flags;
    on_alt = (&here >= alt && &here < alt + alt_size);
    siglongjmp(env, sig);
}

int main(void) {
    struct rlimit rl = {8 << 20, 8 << 20};
    setrlimit(RLIMIT_STACK, &rl);
    alt = malloc(alt_size);
    stack_t ss = {.ss_sp = alt, .ss_size = alt_size, .ss_flags = 0};
    if (sigaltstack(&ss, NULL)) { perror("sigaltstack"); return 1; }
    struct sigaction sa = {0};
    sa.sa_handler = on_segv;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);

    for (int round = 0; round < 2; round++) {
        if (sigsetjmp(env, 1) == 0) {
            recurse(0);
            puts("recursion returned?");
        } else {
            stack_t after;
            sigaltstack(NULL, &after);
            printf("round %d: caught on_alt=%d deep=%d in_handler_flags=%s after_flags=%d\n",
                   round, on_alt, depth_reached > 1000,
                   ss_flags_in_handler == SS_ONSTACK ? "SS_ONSTACK" : "other",
                   after.ss_flags);
        }
    }
    /* Disabling the alternate stack: */
    stack_t off = {.ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    stack_t now;
    sigaltstack(NULL, &now);
    printf("disabled=%d\n", now.ss_flags == SS_DISABLE);
    return 0;
}
