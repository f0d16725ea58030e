/* Lookups of names a directory has just lost or gained: what a cache of
 * missing names (negative dentries) or of search permissions must never
 * get wrong. Every name is looked up (so any cache has it) before and
 * after each change, by root and by an unprivileged user, in a directory
 * of the scratch tree (tests/guest/test_fs_syscalls.py runs it on the
 * host root through the overlay and on a volume).
 */
#include "fs_common.h"
#include <sys/syscall.h>
#include <sys/wait.h>

#define NOBODY 65534
#define EXCHANGE 2           /* RENAME_EXCHANGE (musl has no renameat2) */

/* One lookup, shown as the name's type or the errno name; twice, so the
 * second one answers from whatever the first left cached. */
static void look(const char *name)
{
    for (int i = 0; i < 2; i++) {
        struct stat st;
        if (lstat(name, &st))
            printf("lookup %-36s : %s\n", name, errname(errno));
        else
            printf("lookup %-36s : %s\n", name, kind(st.st_mode));
    }
}

/* Run fn as uid/gid 65534 in a child; its output is ours. */
static void as_nobody(void (*fn)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (syscall(SYS_setgroups, 0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
            setresuid(NOBODY, NOBODY, NOBODY)) {
            perror("dropping privileges");
            _exit(3);
        }
        fn();
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    SAY("child status %d\n", status);
}

/* Each way of making a name, after lookups found it missing; then each
 * way of removing it, after lookups found it. */
static void make_and_remove(void)
{
    static const char *names[] = {"f", "d", "s", "h", "p", "r"};
    for (int round = 0; round < 3; round++) {
        for (unsigned i = 0; i < sizeof(names) / sizeof(*names); i++)
            look(names[i]);
        look("d/in");
        TRY(close(open("f", O_CREAT | O_WRONLY, 0644)));
        TRY(mkdir("d", 0755));
        TRY(symlink("f", "s"));
        TRY(link("f", "h"));
        TRY(mkfifo("p", 0644));
        TRY(close(open("tmp", O_CREAT | O_WRONLY, 0644)));
        look("tmp");
        TRY(rename("tmp", "r"));
        look("tmp");
        look("d/in");
        TRY(close(open("d/in", O_CREAT | O_WRONLY, 0644)));
        for (unsigned i = 0; i < sizeof(names) / sizeof(*names); i++)
            look(names[i]);
        look("d/in");
        look("s/in");
        TRY(unlink("d/in"));
        TRY(rmdir("d"));
        TRY(unlink("s"));
        TRY(unlink("h"));
        TRY(unlink("p"));
        TRY(rename("r", "gone"));
        TRY(unlink("gone"));
        TRY(unlink("f"));
        look("gone");
    }
    for (unsigned i = 0; i < sizeof(names) / sizeof(*names); i++)
        look(names[i]);
}

static void g_as_root(void)
{
    make_and_remove();
}

static void g_as_user(void)
{
    TRY(chmod(".", 0777));
    as_nobody(make_and_remove);
}

/* RENAME_EXCHANGE and a rename over an existing name, seen both ways. */
static void g_rename_over(void)
{
    put_file("a", "A", 0644);
    put_file("b", "B", 0644);
    look("a");
    look("c");
    TRY(rename("a", "c"));
    look("a");
    look("c");
    TRY(rename("b", "c"));
    look("b");
    show_file("c", "c");
    TRY(mkdir("dir", 0755));
    look("dir/c");
    TRY(syscall(SYS_renameat2, AT_FDCWD, "c", AT_FDCWD, "dir", EXCHANGE));
    look("c");
    look("dir/c");
    look("dir");
    TRY(syscall(SYS_renameat2, AT_FDCWD, "c", AT_FDCWD, "dir", EXCHANGE));
    look("dir");
    look("c");
    show_file("c", "c");
}

static void lookups_below(void)
{
    look("priv/x");
    look("priv/y");
    look("open/x");
}

/* Search permission is checked on every lookup: a directory's mode and
 * owner as they are now, never as a previous lookup found them. */
static void g_search_permission(void)
{
    TRY(mkdir("priv", 0700));
    TRY(mkdir("open", 0755));
    put_file("priv/x", "x", 0644);
    put_file("open/x", "x", 0644);
    as_nobody(lookups_below);
    TRY(chmod("priv", 0711));
    as_nobody(lookups_below);
    TRY(chmod("priv", 0700));
    TRY(chmod("open", 0700));
    as_nobody(lookups_below);
    TRY(chown("open", NOBODY, NOBODY));
    as_nobody(lookups_below);
    TRY(chown("priv", 0, NOBODY));
    TRY(chmod("priv", 0750));
    as_nobody(lookups_below);
    put_file("priv/y", "y", 0644);
    as_nobody(lookups_below);
    TRY(unlink("priv/x"));
    TRY(chmod("priv", 0000));
    as_nobody(lookups_below);
}

static const struct group GROUPS[] = {
    {"as_root", g_as_root},
    {"as_user", g_as_user},
    {"rename_over", g_rename_over},
    {"search_permission", g_search_permission},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return run_groups(argc, argv, GROUPS);
}
