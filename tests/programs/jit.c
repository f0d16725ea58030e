/* Generated code, as a JIT makes it: machine code written into an RWX
 * mapping and run, read back, copied, and rewritten. The code a program
 * reads must be the code it wrote, even after running it. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef long (*fn)(void);

int main(void)
{
    /* mov $39, %eax; syscall; ret   (getpid) */
    unsigned char code[] = {0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xc3};
    unsigned char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memcpy(p, code, sizeof(code));
    long a = ((fn)p)(), b = ((fn)p)();
    printf("same result twice: %d\n", a == b && a == getpid());
    printf("code reads back as written: %d (%02x %02x)\n", !memcmp(p, code, sizeof(code)),
           p[5], p[6]);

    /* A copy in a second mapping, made executable with mprotect. */
    unsigned char *q = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            -1, 0);
    memcpy(q, p, 4096);
    mprotect(q, 4096, PROT_READ | PROT_EXEC);
    printf("copy equals the original: %d\n", !memcmp(q, code, sizeof(code)));
    printf("copy runs: %d\n", ((fn)q)() == a);

    /* Rewritten in place: now getuid. */
    p[1] = 102;
    printf("rewritten code runs: %d\n", ((fn)p)() == (long)getuid());
    memcpy(p + 100, code, sizeof(code));
    p[101] = 104;                               /* getgid */
    printf("new code runs: %d\n", ((fn)(p + 100))() == (long)getgid());
    printf("final bytes: %02x %02x %02x %02x\n", p[5], p[6], p[105], p[106]);
    return 0;
}
