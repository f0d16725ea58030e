/* A SIGSEGV handler (SA_SIGINFO) that siglongjmps out of a bad access,
 * three times, checking si_addr and that the mask is restored; with
 * argv[1] = "codes" it prints si_code too (SEGV_MAPERR for no mapping,
 * SEGV_ACCERR for a mapping that forbids the access). */
#include <string.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>

static sigjmp_buf env;
static volatile void *fault_addr;
static volatile int fault_code, hits;

static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    hits++;
    fault_addr = si->si_addr;
    fault_code = si->si_code;
    siglongjmp(env, sig);
}

int main(int argc, char **argv) {
    int codes = argc > 1 && !strcmp(argv[1], "codes");
    struct sigaction sa = {0};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);

    char *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    volatile char *targets[3] = {(char *)16, none + 100, ro + 200};
    const char *names[3] = {"null+16", "prot_none", "read_only"};
    for (int i = 0; i < 3; i++) {
        int r = sigsetjmp(env, 1);
        if (r == 0) {
            if (i == 2) targets[i][0] = 1;             /* write fault */
            else (void)targets[i][0];                  /* read fault */
            printf("%s: no fault?\n", names[i]);
        } else {
            sigset_t cur;
            sigprocmask(SIG_BLOCK, NULL, &cur);
            printf("%s: sig=%d addr_ok=%d segv_blocked_after=%d", names[i], r,
                   fault_addr == (void *)targets[i], sigismember(&cur, SIGSEGV));
            if (codes)
                printf(" code=%s", fault_code == SEGV_MAPERR ? "MAPERR" :
                       fault_code == SEGV_ACCERR ? "ACCERR" : "other");
            printf("\n");
        }
    }
    printf("hits=%d\n", hits);
    return 0;
}
