/* Exit statuses are taken modulo 256, whichever way the program leaves:
 * argv[1] is the status, argv[2] the way (return, exit, _exit, exit_group
 * or exit, the single-thread syscall). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3)
        return 100;
    int status = atoi(argv[1]);
    const char *how = argv[2];
    printf("leaving with %d by %s\n", status, how);
    fflush(stdout);
    if (!strcmp(how, "exit"))
        exit(status);
    if (!strcmp(how, "_exit"))
        _exit(status);
    if (!strcmp(how, "SYS_exit_group"))
        syscall(SYS_exit_group, status);
    if (!strcmp(how, "SYS_exit"))
        syscall(SYS_exit, status);
    return status;
}
