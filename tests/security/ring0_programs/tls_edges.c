/* TLS bases outside user space: clone(CLONE_SETTLS) and arch_prctl must
 * refuse them with EPERM (issue 13's crash input 4). */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const unsigned long bad[] = {
    0x0000800000000000UL,        /* first non-canonical */
    0x8000000000000000UL,
    0xffff800000000000UL,        /* kernel half, canonical */
    0xffffff8000002000UL,        /* the sandbox's stub */
    0x00007ffffffff000UL,        /* TASK_SIZE itself */
};

int main(void)
{
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long r = syscall(SYS_clone, CLONE_SETTLS | SIGCHLD, 0, 0, 0, bad[i]);
        if (r == 0)
            _exit(0);
        if (r > 0)
            waitpid(r, NULL, 0);
        printf("clone settls %#lx: %s\n", bad[i], r < 0 ? strerror(errno) : "created");
        r = syscall(SYS_arch_prctl, ARCH_SET_FS, bad[i]);
        printf("set_fs %#lx: %s\n", bad[i], r < 0 ? strerror(errno) : "ok");
        r = syscall(SYS_arch_prctl, ARCH_SET_GS, bad[i]);
        printf("set_gs %#lx: %s\n", bad[i], r < 0 ? strerror(errno) : "ok");
    }
    long r = syscall(SYS_arch_prctl, ARCH_SET_GS, 0x7fffffffe000UL);
    printf("set_gs last user page: %s\n", r < 0 ? strerror(errno) : "ok");
    return 0;
}
