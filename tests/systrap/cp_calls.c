/* musl's cancellable calls (read, write, close through __syscall_cp) in a
 * program without threads, whose one site is patched on systrap
 * (tests/systrap/test_patching.py): results and errno as natively. stderr
 * says whether read's site was patched (not compared): read calls
 * __syscall_cp, a jump to __syscall_cp_c, whose code holds the site. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const unsigned char *follow(const unsigned char *p, int len)
{
    for (int i = 0; i < len; i++)
        if (p[i] == 0xe8 || p[i] == 0xe9) {
            int rel;
            memcpy(&rel, p + i + 1, 4);
            return p + i + 5 + rel;
        }
    return 0;
}

int main(void)
{
    int fds[2];
    if (pipe(fds))
        return 1;
    long bad = 0, sum = 0;
    for (int i = 0; i < 3000; i++) {
        char c = (char)i, d = 0;
        if (write(fds[1], &c, 1) != 1 || read(fds[0], &d, 1) != 1 || d != c)
            bad++;
        sum += (unsigned char)d;
        errno = 0;
        if (read(-1, &d, 1) != -1 || errno != EBADF)
            bad++;
    }
    printf("bad=%ld sum=%ld\n", bad, sum);
    const unsigned char *cp = follow((const unsigned char *)read, 64);
    if (cp && cp[0] == 0xe9)
        cp = follow(cp, 1);
    int patched = 0;
    for (int i = 0; cp && i < 48; i++)
        if (cp[i] == 0xff && cp[i + 1] == 0x24 && cp[i + 2] == 0x25)
            patched = 1;
    fprintf(stderr, "read site patched: %s\n", patched ? "yes" : "no");
    return 0;
}
