/* abort() raises SIGABRT: the process dies with status 134 in a shell. */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    printf("about to abort\n");
    fflush(stdout);
    abort();
}
