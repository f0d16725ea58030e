/* musl's cancellable calls in a program that links pthread_cancel (its
 * __syscall_cp_asm: `mov %r11,8(%rsp); syscall`), run natively and in the
 * sandbox (tests/systrap/test_patching.py): stdout must match. Threads
 * pass bytes through pipes with read and write, then a thread blocked in
 * read is cancelled (musl acts on the cancel where the signal finds the
 * thread at or before the syscall: a patched site must show it there).
 * stderr says whether the site is patched (its bytes read back as
 * jmp *CELL on systrap; not compared). */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

extern const unsigned char __cp_end[];          /* (musl's, right after the syscall) */
static int ping[2], pong[2], idle[2];

static void *echo(void *arg)
{
    char c;
    while (read(ping[0], &c, 1) == 1 && c)
        write(pong[1], &c, 1);
    return arg;
}

static void *blocked(void *arg)
{
    char c;
    read(idle[0], &c, 1);                      /* nothing comes: cancelled here */
    return arg;
}

int main(void)
{
    if (pipe(ping) || pipe(pong) || pipe(idle))
        return 1;
    pthread_t t;
    pthread_create(&t, 0, echo, 0);
    long sum = 0, bad = 0;
    for (int i = 0; i < 3000; i++) {
        char c = 'a' + i % 26, got = 0;
        if (write(ping[1], &c, 1) != 1 || read(pong[0], &got, 1) != 1 || got != c)
            bad++;
        sum += got;
    }
    write(ping[1], "", 1);
    pthread_join(t, 0);
    printf("round trips: bad=%ld sum=%ld\n", bad, sum);
    const unsigned char *site = __cp_end - 7;
    fprintf(stderr, "cancellable site patched: %s\n",
            site[0] == 0xff && site[1] == 0x24 ? "yes" : site[0] == 0x4c ? "no" : "unknown");

    for (int i = 0; i < 3; i++) {
        void *res;
        pthread_create(&t, 0, blocked, 0);
        usleep(20000 * (i + 1));
        pthread_cancel(t);
        pthread_join(t, &res);
        printf("blocked reader %d: %s\n", i, res == PTHREAD_CANCELED ? "cancelled" : "returned");
    }
    return 0;
}
