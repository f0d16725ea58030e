/* Mounts as gVisor's mount_test found them different: umount2(".") in a
 * directory mounted over twice unmounts the topmost mount each time, and
 * MS_NOEXEC is enforced: execve EACCES, mmap(PROT_EXEC) EPERM, mprotect
 * adding PROT_EXEC EACCES; a remount without it lifts it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHOW(label, expr) do { long r_ = (long)(expr); \
    printf("%-44s %s\n", label, r_ == -1 ? strerror(errno) : "ok"); } while (0)

static int try_exec(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {(char *)path, NULL};
        execv(path, argv);
        _exit(errno);
    }
    int status;
    waitpid(pid, &status, 0);
    return WEXITSTATUS(status);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    char cwd[4096];
    getcwd(cwd, sizeof(cwd));
    mkdir("stack", 0755);
    chdir("stack");
    SHOW("mount a tmpfs on the cwd", mount("none", ".", "tmpfs", 0, "mode=0700"));
    SHOW("and another", mount("none", ".", "tmpfs", 0, "mode=0700"));
    SHOW("umount2(\".\", MNT_DETACH)", umount2(".", MNT_DETACH));
    SHOW("umount2(\".\", MNT_DETACH) again", umount2(".", MNT_DETACH));
    SHOW("and a third time", umount2(".", MNT_DETACH));
    chdir(cwd);

    mkdir("nx", 0755);
    SHOW("mount a noexec tmpfs", mount("none", "nx", "tmpfs", MS_NOEXEC, NULL));
    int fd = open("nx/script", O_CREAT | O_WRONLY, 0755);
    write(fd, "#!/bin/sh\nexit 7\n", 17);
    close(fd);
    printf("execve there: %s\n", strerror(try_exec("nx/script")));
    fd = open("nx/script", O_RDONLY);
    SHOW("mmap PROT_EXEC", (long)mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0));
    void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    SHOW("mmap PROT_READ", (long)p);
    SHOW("mprotect to PROT_EXEC", mprotect(p, 4096, PROT_READ | PROT_EXEC));
    SHOW("mprotect to PROT_READ|PROT_WRITE", mprotect(p, 4096, PROT_READ | PROT_WRITE));
    munmap(p, 4096);
    close(fd);
    SHOW("remount without noexec", mount("none", "nx", NULL, MS_REMOUNT, NULL));
    printf("execve there now: status %d\n", try_exec("nx/script"));
    umount("nx");
    return 0;
}
