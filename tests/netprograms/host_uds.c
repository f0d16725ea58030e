/* --host-uds: `connect PATH` talks to a listener at PATH; `serve PATH`
 * binds PATH, accepts one client, greets it and prints its reply. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strncpy(a.sun_path, argv[2], sizeof a.sun_path - 1);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    char buf[64];
    if (!strcmp(argv[1], "connect")) {
        if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
            printf("connect: %s\n", strerrorname_np(errno));
            return 1;
        }
        int n = read(s, buf, sizeof buf);
        printf("got %.*s\n", n, buf);
        write(s, "from sandbox", 12);
        return 0;
    }
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) {
        printf("bind: %s\n", strerrorname_np(errno));
        return 1;
    }
    listen(s, 1);
    printf("listening\n");
    fflush(stdout);
    int c = accept(s, NULL, NULL);
    write(c, "hello host", 10);
    int n = read(c, buf, sizeof buf);
    printf("server got %.*s\n", n, buf);
    return 0;
}
