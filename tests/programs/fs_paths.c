/* Path walking and namespace operations in an empty scratch directory
 * (argv[1]): open flags against existing names, symlinks and loops, long
 * names, trailing slashes, mkdir/rmdir/unlink/rename/link/symlink edge
 * cases, readlink, access. */
#include "fs_common.h"

#include <limits.h>
#include <sys/syscall.h>

static char buf[PATH_MAX * 2];
static struct stat st;

static void chain(int n)
{
    /* c0 -> c1 -> ... -> c<n-1> -> file: opening c0 follows n links. */
    char name[32], target[32];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "chain%d_%d", n, i);
        if (i == n - 1)
            snprintf(target, sizeof(target), "file");
        else
            snprintf(target, sizeof(target), "chain%d_%d", n, i + 1);
        symlink(target, name);
    }
}

static void setup(void)
{
    put_file("file", "contents\n", 0644);
    mkdir("dir", 0755);
    mkdir("full", 0755);
    put_file("full/inner", "x", 0600);
    mkdir("empty", 0700);
    symlink("file", "lnk");
    symlink("dir", "dirlnk");
    symlink("missing", "dangling");
    symlink("loop_b", "loop_a");
    symlink("loop_a", "loop_b");
    symlink("self", "self");
}

static void g_open(void)
{
    setup();
    TRY(open("file", O_CREAT | O_EXCL | O_WRONLY, 0600));
    TRY(open("lnk", O_CREAT | O_EXCL | O_WRONLY, 0600));
    TRY(open("dangling", O_CREAT | O_EXCL | O_WRONLY, 0600));
    TRY(close(open("dangling", O_CREAT | O_WRONLY, 0640)));
    show_stat("missing", 0);
    TRY(open("dir", O_CREAT | O_EXCL | O_RDONLY, 0600));
    TRY(open("dir", O_WRONLY));
    TRY(open("dir", O_RDWR));
    TRY(close(open("dir", O_RDONLY)));
    TRY(open("dir", O_CREAT | O_RDONLY, 0600));
    TRY(open("file", O_DIRECTORY | O_RDONLY));
    TRY(open("lnk", O_DIRECTORY | O_RDONLY));
    TRY(close(open("dirlnk", O_DIRECTORY | O_RDONLY)));
    TRY(open("lnk", O_NOFOLLOW | O_RDONLY));
    TRY(close(open("lnk", O_NOFOLLOW | O_PATH)));
    TRY(close(open("dirlnk/../file", O_NOFOLLOW | O_RDONLY)));
    TRY(open("nonexistent", O_RDONLY));
    TRY(open("nonexistent/x", O_RDONLY));
    TRY(open("file/x", O_RDONLY));
    TRY(open("", O_RDONLY));
    TRY(open("full/inner/..", O_RDONLY));
}

static void g_loops(void)
{
    setup();
    TRY(open("loop_a", O_RDONLY));
    TRY(open("self", O_RDONLY));
    TRY(open("self/x", O_RDONLY));
    TRY(stat("loop_a", &st));
    TRY(lstat("loop_a", &st));
    TRY(open("loop_a", O_CREAT | O_WRONLY, 0600));
    chain(40);
    chain(41);
    TRY(close(open("chain40_0", O_RDONLY)));
    TRY(open("chain41_0", O_RDONLY));
}

static void g_long_names(void)
{
    setup();
    memset(buf, 'n', 255);
    buf[255] = 0;
    TRY(close(open(buf, O_CREAT | O_WRONLY, 0600)));
    TRY(unlink(buf));
    memset(buf, 'n', 256);
    buf[256] = 0;
    TRY(open(buf, O_CREAT | O_WRONLY, 0600));
    TRY(stat(buf, &st));
    TRY(mkdir(buf, 0700));
    for (int i = 0; i + 2 < (int)sizeof(buf); i += 2)
        buf[i] = '.', buf[i + 1] = '/';
    buf[sizeof(buf) - 1] = 0;
    TRY(stat(buf, &st));
    buf[PATH_MAX - 1] = 0;            /* 4095 chars + NUL: allowed */
    buf[PATH_MAX - 2] = '.';
    TRY(stat(buf, &st));
    buf[PATH_MAX - 1] = '.';          /* 4096 chars: too long */
    buf[PATH_MAX] = 0;
    TRY(stat(buf, &st));
}

static void g_trailing_slash(void)
{
    setup();
    TRY(open("file/", O_RDONLY));
    TRY(open("newfile/", O_CREAT | O_WRONLY, 0600));
    TRY(stat("file/", &st));
    TRY(lstat("lnk/", &st));
    TRY(stat("dir/", &st));
    TRY(lstat("dirlnk/", &st));
    show_stat("dirlnk/", 0);
    TRY(unlink("file/"));
    TRY(unlink("dir/"));
    TRY(mkdir("newdir/", 0755));
    TRY(rmdir("newdir/"));
}

static void g_mkdir_rmdir(void)
{
    setup();
    TRY(mkdir("dir", 0755));
    TRY(mkdir("file", 0755));
    TRY(mkdir("lnk", 0755));
    TRY(mkdir("dangling", 0755));
    TRY(mkdir("missing_parent/x", 0755));
    TRY(mkdir(".", 0755));
    TRY(mkdir("dir/..", 0755));
    TRY(rmdir("full"));
    TRY(rmdir("file"));
    TRY(rmdir("dirlnk"));
    TRY(rmdir("."));
    TRY(rmdir("dir/."));
    TRY(rmdir(".."));
    TRY(rmdir("nonexistent"));
    TRY(unlink("dir"));
    TRY(unlink("nonexistent"));
    TRY(unlink("dirlnk"));
    TRY(symlink("dir", "dirlnk"));
    TRY(rmdir("empty"));
    TRY(rmdir("empty"));
}

static void g_rename(void)
{
    setup();
    mkdir("r_dir", 0755);
    mkdir("r_dir2", 0755);
    mkdir("r_full", 0755);
    put_file("r_full/x", "x", 0644);
    put_file("r_file", "r_file\n", 0644);
    put_file("r_file2", "r_file2\n", 0644);
    TRY(rename("r_file", "r_dir"));
    TRY(rename("r_dir", "r_file"));
    TRY(rename("r_dir", "r_full"));
    TRY(rename("r_dir", "r_dir/sub"));
    TRY(rename("r_dir", "r_dir2"));
    show_stat("r_dir", 0);
    show_stat("r_dir2", 0);
    TRY(rename("r_file", "r_file2"));
    show_file("r_file2 after rename over it", "r_file2");
    show_stat("r_file", 0);
    TRY(rename("r_file2", "r_file2"));
    TRY(rename("nonexistent", "r_x"));
    TRY(rename("r_full/x", "r_full/y"));
    TRY(rename(".", "r_dot"));
    TRY(rename("lnk", "lnk2"));
    TRY(readlink("lnk2", buf, sizeof(buf)));
    TRY(rename("lnk2", "lnk"));
    TRY(syscall(SYS_renameat2, AT_FDCWD, "r_full", AT_FDCWD, "r_dir2", 1 /* NOREPLACE */));
    TRY(syscall(SYS_renameat2, AT_FDCWD, "r_full", AT_FDCWD, "r_dir2", 2 /* EXCHANGE */));
    show_stat("r_dir2/x", 0);
    show_stat("r_full/x", 0);
    TRY(syscall(SYS_renameat2, AT_FDCWD, "r_full", AT_FDCWD, "r_new", 2 /* EXCHANGE */));
}

static void g_link(void)
{
    setup();
    TRY(link("file", "hard"));
    show_stat("file", 0);
    show_stat("hard", 0);
    TRY(link("file", "hard"));
    TRY(link("dir", "dirhard"));
    TRY(link("nonexistent", "h2"));
    TRY(link("lnk", "lnkhard"));
    show_stat("lnkhard", 0);
    TRY(linkat(AT_FDCWD, "lnk", AT_FDCWD, "lnkhard2", AT_SYMLINK_FOLLOW));
    show_stat("lnkhard2", 0);
    show_stat("file", 0);
    TRY(unlink("hard"));
    show_stat("file", 0);
    TRY(symlink("file", "lnk"));
    TRY(symlink("", "emptylink"));
    TRY(symlink("a/b/../c/", "oddlink"));
    memset(buf, 0, sizeof(buf));
    TRY(readlink("oddlink", buf, sizeof(buf)));
    SAY("oddlink -> %s\n", buf);
    memset(buf, 0, sizeof(buf));
    TRY(readlink("oddlink", buf, 3));
    SAY("truncated -> %s\n", buf);
    TRY(readlink("oddlink", buf, 0));
    TRY(readlink("file", buf, sizeof(buf)));
    TRY(readlink("dir", buf, sizeof(buf)));
    TRY(readlink("nonexistent", buf, sizeof(buf)));
    TRY(readlink("dirlnk/", buf, sizeof(buf)));
    show_stat("oddlink", 0);
    TRY(symlink("/", "rootlink"));
    TRY(stat("rootlink/..", &st));
}

static void g_access(void)
{
    setup();
    put_file("noperm", "", 0000);
    put_file("exec", "", 0100);
    TRY(access("file", F_OK));
    TRY(access("file", R_OK | W_OK));
    TRY(access("file", X_OK));
    TRY(access("noperm", R_OK | W_OK));
    TRY(access("noperm", X_OK));
    TRY(access("exec", X_OK));
    TRY(access("dir", X_OK));
    TRY(access("nonexistent", F_OK));
    TRY(access("dangling", F_OK));
    TRY(access("file", 8));
    TRY(faccessat(AT_FDCWD, "dangling", F_OK, AT_SYMLINK_NOFOLLOW));
    TRY(faccessat(AT_FDCWD, "file", R_OK, AT_EACCESS));
    TRY(faccessat(AT_FDCWD, "file", R_OK, 0x8000));
    TRY(syscall(SYS_faccessat2, AT_FDCWD, "file", R_OK, 0x8000));
    int dfd = open("full", O_RDONLY | O_DIRECTORY);
    TRY(faccessat(dfd, "inner", R_OK, 0));
    TRY(faccessat(dfd, "../file", R_OK, 0));
    TRY(faccessat(-5, "inner", R_OK, 0));
    int ffd = open("file", O_RDONLY);
    TRY(faccessat(ffd, "inner", R_OK, 0));
    TRY(faccessat(ffd, "/", R_OK, 0));
}

static void g_open_dir_nofollow(void)
{
    setup();
    TRY(open("dirlnk", O_DIRECTORY | O_NOFOLLOW | O_RDONLY));
}

static void g_slash_new_name(void)
{
    setup();
    TRY(rename("file/", "renamed"));
    TRY(rename("file", "renamed/"));
    TRY(symlink("file", "slashlink/"));
    TRY(link("file", "hard/"));
    show_stat("file", 0);
    show_stat("renamed", 0);
    show_stat("slashlink", 0);
}

static void g_rename_onto_dot(void)
{
    setup();
    mkdir("r_dir2", 0755);
    TRY(rename("r_dir2", "."));
    TRY(rename("r_dir2", ".."));
    TRY(rename("r_dir2", "dir/."));
}

static void g_readlink_empty(void)
{
    setup();
    TRY(readlinkat(AT_FDCWD, "", buf, sizeof(buf)));
    int fd = open("lnk", O_PATH | O_NOFOLLOW);
    TRY(readlinkat(fd, "", buf, sizeof(buf)));
    SAY("%.4s\n", buf);
}

static const struct group GROUPS[] = {
    {"open", g_open},
    {"loops", g_loops},
    {"long_names", g_long_names},
    {"trailing_slash", g_trailing_slash},
    {"mkdir_rmdir", g_mkdir_rmdir},
    {"rename", g_rename},
    {"link", g_link},
    {"access", g_access},
    {"open_dir_nofollow", g_open_dir_nofollow},
    {"slash_new_name", g_slash_new_name},
    {"rename_onto_dot", g_rename_onto_dot},
    {"readlink_empty", g_readlink_empty},
    {0},
};

int main(int argc, char **argv)
{
    return run_groups(argc, argv, GROUPS);
}
