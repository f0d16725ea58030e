/* execv the file named by argv[1] and report how it failed (issue 13's
 * crash input 11 and an ELF asking for addresses below mmap_min_addr). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc > 2) {
        printf("image ran\n");
        return 0;
    }
    printf("before\n");
    fflush(stdout);
    execv(argv[1], (char *[]){argv[1], "ran", NULL});
    printf("execv: %s\n", strerror(errno));
    return 3;
}
