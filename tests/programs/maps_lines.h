/* Shared by tests/programs that print their own /proc/self/maps lines. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The mappings that meet [lo, hi), each as its start in pages from lo,
 * its size in pages, rights and a [heap] label (read with raw calls:
 * stdio's buffer may come from the heap being shown). */
static void print_maps(unsigned long lo, unsigned long hi, const char *what)
{
    static char maps[1 << 16];
    int fd = open("/proc/self/maps", O_RDONLY);
    ssize_t n = 0, r;
    while ((r = read(fd, maps + n, sizeof maps - 1 - n)) > 0)
        n += r;
    close(fd);
    maps[n] = 0;
    for (char *line = maps; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        char *dash;
        unsigned long a = strtoul(line, &dash, 16), b = strtoul(dash + 1, NULL, 16);
        if (b > lo && a < hi)
            printf("%s: %+ld pages %ld %.4s%s\n", what, ((long)a - (long)lo) / 4096,
                   (long)(b - a) / 4096, strchr(line, ' ') + 1,
                   strstr(line, "[heap]") ? " [heap]" : "");
        if (!nl)
            break;
        line = nl + 1;
    }
}
