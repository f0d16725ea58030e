/* Map single pages until the kernel refuses (vm.max_map_count: 65530
 * mappings), alternating protections so that no two neighbours merge;
 * then unmap every other one, map into the holes again, and remove all.
 * Prints what a program can see: whether the limit came as ENOMEM, and
 * roughly where. With the argument "touch" every page is read or written
 * as soon as it is mapped (on systrap each is then a host mapping of its
 * own, counted against the host's limit too). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAX
#define MAX 70000
#endif

static char *maps[MAX];

int main(int argc, char **argv)
{
    int touch = argc > 1 && strcmp(argv[1], "touch") == 0;
    int n = 0, err = 0;
    while (n < MAX) {
        int prot = n % 2 ? PROT_READ : PROT_READ | PROT_WRITE;
        char *p = mmap(NULL, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            err = errno;
            break;
        }
        if (touch && n % 2)
            (void)*(volatile char *)p;
        else if (touch)
            *(volatile char *)p = 1;
        maps[n++] = p;
    }
    printf("stopped by %s\n", err ? strerrorname_np(err) : "nothing");
    printf("near the limit: %s\n", n > 65000 && n <= 65530 ? "yes" : "no");
    /* Splitting a mapping in three needs two more: at the limit, ENOMEM. */
    char *big = NULL;
    if (n > 2) {
        munmap(maps[--n], 4096);
        munmap(maps[--n], 4096);
        big = mmap(NULL, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        int r = mprotect(big + 4096, 4096, PROT_NONE);
        printf("split at the limit: %s\n", r ? strerrorname_np(errno) : "ok");
    }
    int unmapped = 0;
    for (int i = 0; i < n; i += 2)
        unmapped += munmap(maps[i], 4096) == 0;
    int again = 0;
    for (int i = 0; i < n; i += 2) {
        maps[i] = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        again += maps[i] != MAP_FAILED;
    }
    printf("remapped all holes: %s\n", again == unmapped ? "yes" : "no");
    for (int i = 0; i < n; i++)
        munmap(maps[i], 4096);
    if (big)
        munmap(big, 3 * 4096);
    char *last = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("map after unmapping all: %s\n", last != MAP_FAILED ? "ok" : "failed");
    return 0;
}
