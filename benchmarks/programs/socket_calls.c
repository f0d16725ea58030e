/* A redis connection's system calls, argv[2] times, for counting the
 * sentry's instructions per call with callgrind (the difference of two
 * counts, N and N0, divided by N - N0). argv[1]:
 *   conn   socket + connect (client), accept4 (SOCK_NONBLOCK|SOCK_CLOEXEC),
 *          close of both
 *   setup  conn + a server's set-up: TCP_NODELAY, SO_KEEPALIVE,
 *          TCP_KEEPIDLE/INTVL/CNT, epoll_ctl ADD, getpeername, epoll_ctl DEL
 *   opts   conn + 5 setsockopt(TCP_NODELAY)
 *   peer   conn + 5 getpeername
 *   epoll  conn + 5 epoll_ctl ADD/DEL pairs
 *   epclose  conn + epoll_ctl ADD, then the close drops the registration
 *   fcntl  conn + 5 F_GETFL/F_SETFL(O_NONBLOCK) pairs (a server's
 *          set-up without accept4's flags)
 *   io     one connection: the client writes 500 bytes, the server reads
 *          them into 16 KiB and writes 100 bytes back, the client reads
 *   unix   a 1-byte write + read over a Unix stream socketpair
 * Addresses come back into a length followed by its buffer, as redis's
 * locals lie (accept4's and getpeername's length 4 bytes below the
 * address). Prints "ok". Run as benchmarks/README.md's callgrind notes say (systrap,
 * KVMSENTRY_SYSTRAP_SPIN_US=0, `do --unsafe-no-confine --network=host`,
 * os.pidfd_open replaced by an eventfd for valgrind 3.19), N 1200 and
 * N0 200. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *s) { perror(s); exit(1); }

int main(int argc, char **argv) {
    const char *mode = argv[1];
    int n = atoi(argv[2]);
    static char buf[16384], msg[500], reply[100];
    if (!strcmp(mode, "unix")) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) die("socketpair");
        for (int i = 0; i < n; i++) {
            if (write(sv[0], "x", 1) != 1) die("write");
            if (read(sv[1], buf, sizeof buf) != 1) die("read");
        }
        printf("ok\n");
        return 0;
    }
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(l, (void *)&a, sizeof a) || listen(l, 64) || getsockname(l, (void *)&a, &al)) die("listen");
    int ep = epoll_create1(0);
    int one = 1, idle = 300, intvl = 100, cnt = 3;
    int setup = !strcmp(mode, "setup"), io = !strcmp(mode, "io");
    int opts = !strcmp(mode, "opts"), peer = !strcmp(mode, "peer"), epo = !strcmp(mode, "epoll");
    int epclose = !strcmp(mode, "epclose"), fcn = !strcmp(mode, "fcntl");
    int c = -1, s = -1;
    for (int i = 0; i < n; i++) {
        if (c < 0 || !io) {
            c = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(c, (void *)&a, sizeof a)) die("connect");
            struct { socklen_t len; struct sockaddr_in a; } p = {.len = sizeof p.a};
            s = accept4(l, (void *)&p.a, &p.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (s < 0) die("accept4");
        }
        if (setup) {
            struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
            if (setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) ||
                setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) ||
                setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) ||
                setsockopt(s, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl) ||
                setsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt)) die("setsockopt");
            if (epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev)) die("epoll add");
            struct { socklen_t len; char a[128]; } name = {.len = sizeof name.a};
            if (getpeername(s, (void *)&name.a, &name.len)) die("getpeername");
            if (epoll_ctl(ep, EPOLL_CTL_DEL, s, &ev)) die("epoll del");
        }
        if (opts) for (int k = 0; k < 5; k++)
            if (setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)) die("setsockopt");
        if (peer) for (int k = 0; k < 5; k++) {
            struct { socklen_t len; char a[128]; } name = {.len = sizeof name.a};
            if (getpeername(s, (void *)&name.a, &name.len)) die("getpeername");
        }
        if (epo) for (int k = 0; k < 5; k++) {
            struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
            if (epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev)) die("epoll add");
            if (epoll_ctl(ep, EPOLL_CTL_DEL, s, &ev)) die("epoll del");
        }
        if (epclose) {
            struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
            if (epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev)) die("epoll add");
        }
        if (fcn) for (int k = 0; k < 5; k++) {
            int fl = fcntl(s, F_GETFL);
            if (fl < 0 || fcntl(s, F_SETFL, fl | O_NONBLOCK)) die("fcntl");
        }
        if (io) {
            if (write(c, msg, sizeof msg) != sizeof msg) die("cwrite");
            int got = 0;
            while (got < (int)sizeof msg) {
                int r = read(s, buf, sizeof buf);
                if (r <= 0) die("sread");
                got += r;
            }
            if (write(s, reply, sizeof reply) != sizeof reply) die("swrite");
            got = 0;
            while (got < (int)sizeof reply) {
                int r = read(c, buf, sizeof reply - got);
                if (r <= 0) die("cread");
                got += r;
            }
        } else {
            close(s); close(c);
        }
    }
    printf("ok\n");
    return 0;
}
