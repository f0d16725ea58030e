/* Extended attributes in an empty scratch directory (argv[1]): the user.*
 * namespace on regular files and directories with its flags, sizes and
 * errors (compared with Linux on every mount), and trusted.* for root
 * (the host's own on a volume). */
#include "fs_common.h"

#include <sys/xattr.h>
#include <time.h>

static void show_value(const char *label, const char *buf, long n)
{
    printf("%-44s : ", label);
    if (n < 0) {
        printf("%s\n", errname(errno));
        return;
    }
    for (long i = 0; i < n; i++)
        putchar(buf[i] ? buf[i] : '|');
    putchar('\n');
}

/* The names listxattr returns, sorted (the order is the filesystem's). */
static void show_list(const char *label, const char *path)
{
    char buf[512], *names[32];
    long n = listxattr(path, buf, sizeof buf);
    if (n < 0) {
        show_value(label, buf, n);
        return;
    }
    int count = 0;
    for (char *p = buf; p < buf + n && count < 32; p += strlen(p) + 1)
        if (!strncmp(p, "user.", 5) || !strncmp(p, "trusted.", 8))
            names[count++] = p;
    for (int i = 0; i < count; i++)
        for (int j = i + 1; j < count; j++)
            if (strcmp(names[i], names[j]) > 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    printf("%-44s :", label);
    for (int i = 0; i < count; i++)
        printf(" %s", names[i]);
    putchar('\n');
}

static long long ctime_ns(const char *path)
{
    struct stat st;
    stat(path, &st);
    return st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
}

static void g_user(void)
{
    char v[64];
    char big[70000];
    memset(big, 'b', sizeof big);
    put_file("f", "x", 0644);
    symlink("f", "l");
    mkdir("d", 0755);
    mkfifo("p", 0644);
    int fd = open("f", O_RDONLY);
    TRY(getxattr("f", "user.test", v, sizeof(v)));
    TRY(getxattr("f", "user.test", NULL, 0));
    TRY(fgetxattr(fd, "user.test", v, sizeof(v)));
    TRY(getxattr("f", "security.nothing", v, sizeof(v)));
    TRY(setxattr("f", "user.test", "hello", 5, 0));
    TRY(getxattr("f", "user.test", NULL, 0));
    TRY(getxattr("f", "user.test", v, 2));
    long n = getxattr("f", "user.test", v, sizeof(v));
    show_value("value", v, n);
    n = lgetxattr("l", "user.test", v, sizeof(v));
    show_value("through lgetxattr of the symlink", v, n);
    n = getxattr("l", "user.test", v, sizeof(v));
    show_value("through getxattr of the symlink", v, n);
    TRY(setxattr("f", "user.test", "1", 1, XATTR_CREATE));
    TRY(setxattr("f", "user.other", "1", 1, XATTR_REPLACE));
    TRY(setxattr("f", "user.test", "hi", 2, XATTR_REPLACE));
    n = fgetxattr(fd, "user.test", v, sizeof(v));
    show_value("replaced", v, n);
    TRY(fsetxattr(fd, "user.empty", NULL, 0, XATTR_CREATE));
    TRY(getxattr("f", "user.empty", v, sizeof(v)));
    TRY(setxattr("f", "user.test", "1", 1, 4));
    TRY(setxattr("f", "user.big", big, sizeof big, 0));
    const char *volatile null_value = NULL;     /* not a constant the compiler rejects */
    TRY(setxattr("f", "user.null", null_value, 1, 0));
    TRY(setxattr("f", "", "1", 1, 0));
    char longname[300];
    memset(longname, 'a', sizeof longname);
    memcpy(longname, "user.", 5);
    longname[256] = 0;
    TRY(setxattr("f", longname, "1", 1, 0));
    longname[255] = 0;
    TRY(setxattr("f", longname, "1", 1, 0));
    TRY(removexattr("f", longname));
    TRY(setxattr("f", "nosuchprefix.x", "1", 1, 0));
    TRY(getxattr("f", "nosuchprefix.x", v, sizeof(v)));
    TRY(lsetxattr("l", "user.test", "1", 1, 0));
    TRY(lgetxattr("l", "user.test", v, sizeof(v)));
    TRY(setxattr("p", "user.test", "1", 1, 0));
    TRY(getxattr("p", "user.test", v, sizeof(v)));
    TRY(setxattr("d", "user.dir", "1", 1, 0));
    show_list("list f", "f");
    show_list("list d", "d");
    TRY(listxattr("f", v, 3));
    TRY(flistxattr(fd, NULL, 0) > 0);
    TRY(removexattr("f", "user.empty"));
    TRY(removexattr("f", "user.empty"));
    TRY(fremovexattr(fd, "user.nothing"));
    show_list("list f after remove", "f");
    long long before = ctime_ns("f");
    struct timespec pause = {0, 30 * 1000 * 1000};
    nanosleep(&pause, NULL);
    setxattr("f", "user.touch", "1", 1, 0);
    SAY("%-44s : %d\n", "setxattr changes ctime", ctime_ns("f") != before);
    before = ctime_ns("f");
    nanosleep(&pause, NULL);
    removexattr("f", "user.touch");
    SAY("%-44s : %d\n", "removexattr changes ctime", ctime_ns("f") != before);
    int opath = open("f", O_PATH);
    TRY(fsetxattr(opath, "user.test", "1", 1, 0));
    TRY(fgetxattr(opath, "user.test", v, sizeof(v)));
    TRY(getxattr("nonexistent", "user.test", v, sizeof(v)));
    TRY(setxattr("nonexistent", "user.test", "1", 1, 0));
    TRY(setxattr("nonexistent", "user.test", "1", 1, 8));
    TRY(getxattr("f", "", v, sizeof(v)));
    TRY(getxattr("f", null_value, v, sizeof(v)));
    char *volatile bad_buffer = (char *)8;
    TRY(getxattr("f", "user.test", bad_buffer, sizeof(v)));
    close(opath);
    close(fd);
}

static void g_trusted(void)
{
    char v[64];
    put_file("f", "x", 0644);
    TRY(setxattr("f", "trusted.t", "tv", 2, 0));
    long n = getxattr("f", "trusted.t", v, sizeof(v));
    show_value("trusted value", v, n);
    show_list("list", "f");
    TRY(removexattr("f", "trusted.t"));
}

static const struct group GROUPS[] = {
    {"user", g_user},
    {"trusted", g_trusted},
    {0},
};

int main(int argc, char **argv)
{
    return run_groups(argc, argv, GROUPS);
}
