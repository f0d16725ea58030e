/* Make system calls for ever (or N times with an argument), so that
 * --strace has something to write on every one. */
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : -1;
    for (long i = 0; n < 0 || i < n; i++)
        getppid();
    return 0;
}
