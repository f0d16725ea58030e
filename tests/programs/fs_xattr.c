/* Extended attributes in an empty scratch directory (argv[1], group
 * "tmpfs"). The sandbox answers like a tmpfs without user xattrs: no
 * attribute is ever there (ENODATA), none can be set (ENOTSUP). Linux's
 * answers depend on the file system (ext4 stores user.*), so this one is
 * checked against fixed expectations rather than a native run. */
#include "fs_common.h"

#include <sys/xattr.h>

static void g_tmpfs(void)
{
    char v[64];
    put_file("f", "x", 0644);
    symlink("f", "l");
    int fd = open("f", O_RDONLY);
    TRY(getxattr("f", "user.test", v, sizeof(v)));
    TRY(getxattr("f", "user.test", NULL, 0));
    TRY(lgetxattr("l", "user.test", v, sizeof(v)));
    TRY(fgetxattr(fd, "user.test", v, sizeof(v)));
    TRY(getxattr("f", "security.selinux", v, sizeof(v)));
    TRY(setxattr("f", "user.test", "1", 1, 0));
    TRY(lsetxattr("l", "user.test", "1", 1, 0));
    TRY(fsetxattr(fd, "user.test", "1", 1, XATTR_CREATE));
    TRY(getxattr("f", "user.test", v, sizeof(v)));
    TRY(removexattr("f", "user.test"));
    TRY(fremovexattr(fd, "user.test"));
    TRY(listxattr("f", v, sizeof(v)));
    TRY(llistxattr("l", v, sizeof(v)));
    TRY(flistxattr(fd, NULL, 0));
    TRY(getxattr("nonexistent", "user.test", v, sizeof(v)));
    TRY(setxattr("nonexistent", "user.test", "1", 1, 0));
    TRY(getxattr("f", "", v, sizeof(v)));
}

static const struct group GROUPS[] = {
    {"tmpfs", g_tmpfs},
    {0},
};

int main(int argc, char **argv)
{
    return run_groups(argc, argv, GROUPS);
}
