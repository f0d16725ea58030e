/* Internet sockets on loopback, one behaviour per mode (argv[1]). Prints
 * only what must be identical natively and in the sandbox (no ports). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(x) do { if ((x) < 0) { printf("FAIL %s: %s\n", #x, strerror(errno)); exit(1); } } while (0)
#define ERR(x) do { errno = 0; long r_ = (long)(x); printf("%s = %ld %s\n", #x, r_, r_ < 0 ? strerrorname_np(errno) : ""); } while (0)

static int listener(int family, struct sockaddr_storage *a, socklen_t *alen, int type) {
    int l = socket(family, type, 0);
    CHECK(l);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(a, 0, sizeof *a);
    if (family == AF_INET) {
        struct sockaddr_in *s = (void *)a;
        s->sin_family = AF_INET; s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        *alen = sizeof *s;
    } else {
        struct sockaddr_in6 *s = (void *)a;
        s->sin6_family = AF_INET6; s->sin6_addr = in6addr_loopback;
        *alen = sizeof *s;
    }
    CHECK(bind(l, (struct sockaddr *)a, *alen));
    CHECK(getsockname(l, (struct sockaddr *)a, alen));
    if (type == SOCK_STREAM) CHECK(listen(l, 8));
    return l;
}

static void tcp(int family) {
    struct sockaddr_storage a, got; socklen_t alen, len;
    int l = listener(family, &a, &alen, SOCK_STREAM);
    printf("bound port nonzero %d\n", ntohs(((struct sockaddr_in *)&a)->sin_port) != 0);
    pid_t pid = fork();
    if (pid == 0) {
        int c = socket(family, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, alen) < 0) _exit(1);
        char buf[64];
        ssize_t n = read(c, buf, sizeof buf);            /* "hello" */
        write(c, buf, n);                                /* echo */
        usleep(50000);
        write(c, "0123456789", 10);
        usleep(50000);
        write(c, "abcdefghij", 10);
        shutdown(c, SHUT_WR);                            /* half-close */
        n = read(c, buf, sizeof buf);
        _exit(n == 10 ? 0 : 3);                          /* "still open" */
    }
    len = sizeof got;
    int s = accept4(l, (struct sockaddr *)&got, &len, SOCK_CLOEXEC);
    printf("accept4 ok %d family %d len ok %d cloexec %d nonblock %d\n", s >= 0,
           got.ss_family, len == alen, (fcntl(s, F_GETFD) & FD_CLOEXEC) != 0,
           (fcntl(s, F_GETFL) & O_NONBLOCK) != 0);
    ERR(write(s, "hello", 5));
    char buf[64];
    ssize_t n = recv(s, buf, 2, MSG_PEEK | MSG_WAITALL);
    printf("peek %zd '%.*s'\n", n, (int)n, buf);
    n = recv(s, buf, 5, MSG_WAITALL);
    printf("echo %zd '%.*s'\n", n, (int)n, buf);
    n = recv(s, buf, 20, MSG_WAITALL);
    printf("waitall %zd '%.*s'\n", n, (int)n, buf);
    ERR(read(s, buf, sizeof buf));                       /* EOF: client shut its side */
    ERR(write(s, "still open", 10));                     /* our side still writes */
    close(s);
    int status;
    waitpid(pid, &status, 0);
    printf("child status %d\n", WEXITSTATUS(status));
    struct sockaddr_storage peer; len = sizeof peer;
    int c = socket(family, SOCK_STREAM, 0);
    CHECK(connect(c, (struct sockaddr *)&a, alen));
    ERR(getpeername(c, (struct sockaddr *)&peer, &len));
    printf("peer is listener %d\n", memcmp(&peer, &a, alen) == 0);
    s = accept(l, NULL, NULL);
    write(c, "12345", 5);
    usleep(50000);
    int avail = -1;
    ERR(ioctl(s, FIONREAD, &avail));
    printf("fionread %d\n", avail);
    ERR(connect(c, (struct sockaddr *)&a, alen));        /* EISCONN */
    ERR(listen(c, 1));                                   /* EINVAL: connected */
}

static void nonblocking_connect(void) {
    struct sockaddr_storage a; socklen_t alen;
    int l = listener(AF_INET, &a, &alen, SOCK_STREAM);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int r = connect(c, (struct sockaddr *)&a, alen);
    printf("connect started %d\n", r == 0 || errno == EINPROGRESS);
    struct pollfd p = { c, POLLOUT, 0 };
    ERR(poll(&p, 1, 5000));
    printf("revents %#x\n", p.revents);
    int err = -1; socklen_t el = sizeof err;
    ERR(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &el));
    printf("so_error %d\n", err);
    int s = accept(l, NULL, NULL);
    char b;
    ERR(read(c, &b, 1));                                 /* EAGAIN */
    fcntl(l, F_SETFL, O_NONBLOCK);
    ERR(accept(l, NULL, NULL));                          /* EAGAIN */
    close(s);
    /* a closed port: refused, blocking and non-blocking */
    close(l);
    int c2 = socket(AF_INET, SOCK_STREAM, 0);
    ERR(connect(c2, (struct sockaddr *)&a, alen));
    int c3 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    r = connect(c3, (struct sockaddr *)&a, alen);
    printf("refused connect started %d\n", r == 0 || errno == EINPROGRESS || errno == ECONNREFUSED);
    struct pollfd p3 = { c3, POLLOUT, 0 };
    ERR(poll(&p3, 1, 5000));
    el = sizeof err;
    ERR(getsockopt(c3, SOL_SOCKET, SO_ERROR, &err, &el));
    printf("so_error %s\n", strerrorname_np(err) ? strerrorname_np(err) : "0");
}

static void udp(int family) {
    struct sockaddr_storage a, from, mine; socklen_t alen, flen, mlen;
    int s = listener(family, &a, &alen, SOCK_DGRAM);
    int c = socket(family, SOCK_DGRAM, 0);
    ERR(sendto(c, "one", 3, 0, (struct sockaddr *)&a, alen));
    ERR(sendto(c, "twentysix-letters-long-msg", 26, 0, (struct sockaddr *)&a, alen));
    ERR(sendto(c, "", 0, 0, (struct sockaddr *)&a, alen));
    char buf[64];
    flen = sizeof from;
    ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
    mlen = sizeof mine;
    getsockname(c, (struct sockaddr *)&mine, &mlen);
    printf("recvfrom %zd '%.*s' from sender %d\n", n, (int)n, buf,
           flen == mlen && ((struct sockaddr_in *)&from)->sin_port ==
           ((struct sockaddr_in *)&mine)->sin_port);
    struct iovec iov = { buf, 4 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    n = recvmsg(s, &m, MSG_TRUNC);
    printf("trunc %zd flags %#x\n", n, m.msg_flags);
    ERR(recv(s, buf, sizeof buf, 0));
    ERR(recv(s, buf, sizeof buf, MSG_DONTWAIT));
    ERR(connect(c, (struct sockaddr *)&a, alen));
    ERR(send(c, "connected", 9, 0));
    ERR(recv(s, buf, sizeof buf, 0));
    ERR(listen(s, 1));                                   /* EOPNOTSUPP */
    ERR(accept(s, NULL, NULL));
    struct sockaddr unspec = { .sa_family = AF_UNSPEC };
    ERR(connect(c, &unspec, sizeof unspec));             /* dissolve the association */
    ERR(send(c, "x", 1, 0));                             /* EDESTADDRREQ */
    socklen_t pl = sizeof from;
    ERR(getpeername(c, (struct sockaddr *)&from, &pl));  /* ENOTCONN */
}

static volatile int sigpipes;
static void on_pipe(int s) { (void)s; sigpipes++; }

static void epipe(void) {
    struct sockaddr_storage a; socklen_t alen;
    int l = listener(AF_INET, &a, &alen, SOCK_STREAM);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(c, (struct sockaddr *)&a, alen));
    signal(SIGPIPE, on_pipe);
    ERR(shutdown(c, SHUT_WR));
    ERR(write(c, "x", 1));
    printf("sigpipes %d\n", sigpipes);
    ERR(send(c, "x", 1, MSG_NOSIGNAL));
    printf("sigpipes %d\n", sigpipes);
    close(l);
}

static void options(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1, v; socklen_t l = sizeof v;
    ERR(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
    ERR(getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &l)); printf("nodelay %d\n", v);
    ERR(setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one));
    ERR(getsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &v, &l)); printf("keepalive %d\n", v);
    ERR(getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l)); printf("type %d\n", v);
    ERR(getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &v, &l)); printf("protocol %d\n", v);
    ERR(getsockopt(s, SOL_SOCKET, SO_DOMAIN, &v, &l)); printf("domain %d\n", v);
    ERR(getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &v, &l)); printf("acceptconn %d\n", v);
    ERR(getsockopt(s, IPPROTO_IP, IP_TTL, &v, &l)); printf("ttl %d\n", v);
    /* Option values of every length the sentry may pass on: an int, a
       negative one, a long (Linux reads its first 4 bytes), too short,
       a struct. */
    int idle = 77, minus = -1; long wide = 33; short narrow = 5;
    ERR(setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle));
    ERR(getsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &v, &l)); printf("keepidle %d\n", v);
    ERR(setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &minus, sizeof minus));
    ERR(setsockopt(s, IPPROTO_TCP, TCP_KEEPINTVL, &wide, sizeof wide));
    ERR(getsockopt(s, IPPROTO_TCP, TCP_KEEPINTVL, &v, &l)); printf("keepintvl %d\n", v);
    ERR(setsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, &narrow, sizeof narrow));
    ERR(setsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, &idle, -1));
    ERR(setsockopt(s, 12345, 1, &idle, sizeof idle));
    ERR(setsockopt(s, SOL_SOCKET, 9999, &idle, sizeof idle));
    /* An int option with a long optlen whose bytes past the int are not
       mapped: Linux reads only the int. */
    char *edge = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(edge + 4096, 4096);
    memcpy(edge + 4092, &idle, sizeof idle);
    ERR(setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, edge + 4092, 64));
    ERR(getsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &v, &l)); printf("keepidle %d\n", v);
    ERR(setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, edge + 4094, 64));
    munmap(edge, 4096);
    struct linger lg = { 1, 9 }, lgback; socklen_t lgl = sizeof lgback;
    ERR(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    ERR(getsockopt(s, SOL_SOCKET, SO_LINGER, &lgback, &lgl));
    printf("linger %d %d\n", lgback.l_onoff, lgback.l_linger);
    struct timeval tv = { 0, 200000 };
    ERR(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    struct timeval back; l = sizeof back;
    ERR(getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &back, &l));
    printf("rcvtimeo %ld.%06ld\n", (long)back.tv_sec, (long)back.tv_usec);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in any = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(u, (struct sockaddr *)&any, sizeof any);
    ERR(setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    char b;
    ERR(recv(u, &b, 1, 0));                               /* EAGAIN after the timeout */
    ERR(read(u, &b, 1));                                  /* read(2)'s wait: the same */
    int s6 = socket(AF_INET6, SOCK_STREAM, 0);
    ERR(setsockopt(s6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
    l = sizeof v;
    ERR(getsockopt(s6, IPPROTO_IPV6, IPV6_V6ONLY, &v, &l)); printf("v6only %d\n", v);
    ERR(socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
    ERR(socket(AF_INET, SOCK_SEQPACKET, 0));
    ERR(bind(s, (struct sockaddr *)&(struct sockaddr_in){ .sin_family = AF_INET }, 4));
}

static void ifaddrs(void) {
    struct ifaddrs *ifa, *i;
    CHECK(getifaddrs(&ifa));
    int packet = 0;
    for (i = ifa; i; i = i->ifa_next) {
        if (strcmp(i->ifa_name, "lo") || !i->ifa_addr) continue;
        char host[INET6_ADDRSTRLEN] = "";
        int fam = i->ifa_addr->sa_family;
        if (fam == AF_INET)
            inet_ntop(fam, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, host, sizeof host);
        else if (fam == AF_INET6)
            inet_ntop(fam, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, host, sizeof host);
        else if (fam == AF_PACKET) { packet++; continue; }
        printf("lo family %d addr %s up %d loopback %d\n", fam, host,
               !!(i->ifa_flags & IFF_UP), !!(i->ifa_flags & IFF_LOOPBACK));
    }
    printf("lo packet entries %d\n", packet);
    freeifaddrs(ifa);
    printf("if_nametoindex(lo) %u\n", if_nametoindex("lo"));
    char name[IF_NAMESIZE];
    printf("if_indextoname(1) %s\n", if_indextoname(1, name));
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq r = { 0 };
    strcpy(r.ifr_name, "lo");
    ERR(ioctl(s, SIOCGIFINDEX, &r)); printf("index %d\n", r.ifr_ifindex);
    ERR(ioctl(s, SIOCGIFFLAGS, &r)); printf("up %d\n", !!(r.ifr_flags & IFF_UP));
    ERR(ioctl(s, SIOCGIFADDR, &r));
    printf("addr %s\n", inet_ntoa(((struct sockaddr_in *)&r.ifr_addr)->sin_addr));
}

/* A connected TCP pair on loopback: *c the client, *s the accepted end. */
static void tcp_pair(int *c, int *s) {
    struct sockaddr_storage a; socklen_t alen;
    int l = listener(AF_INET, &a, &alen, SOCK_STREAM);
    *c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(*c, (struct sockaddr *)&a, alen));
    *s = accept(l, NULL, NULL);
    CHECK(*s);
    close(l);
}

static void ep_add(int ep, int fd, unsigned events, int data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
}

/* epoll_wait's answer as "n [data:events]...", sorted by data. */
static void ep_show(const char *what, int ep, int max, int timeout) {
    struct epoll_event ev[8];
    int n = epoll_wait(ep, ev, max, timeout);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (ev[j].data.u64 < ev[i].data.u64) { struct epoll_event t = ev[i]; ev[i] = ev[j]; ev[j] = t; }
    printf("%s: %d", what, n);
    for (int i = 0; i < n; i++) printf(" [%d:%#x]", (int)ev[i].data.u64, ev[i].events);
    printf("\n");
}

static void drain(int fd) {
    char buf[256];
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {}
}

/* epoll on internet sockets: level, edge, one-shot, EPOLLOUT, maxevents
 * round-robin, nesting, a file that outlives its fd, dup'ed fds, UDP,
 * EPOLLRDHUP. */
static void epoll_modes(void) {
    int c, s, c2, s2;
    tcp_pair(&c, &s);
    tcp_pair(&c2, &s2);
    int lt = epoll_create1(0), et = epoll_create1(0), one = epoll_create1(0);
    ep_add(lt, s, EPOLLIN, 1);
    ep_add(et, s, EPOLLIN | EPOLLET, 2);
    ep_add(one, s, EPOLLIN | EPOLLONESHOT, 3);
    ep_show("lt idle", lt, 8, 0);
    write(c, "abc", 3);
    ep_show("lt data", lt, 8, 1000);
    ep_show("lt again", lt, 8, 0);
    ep_show("et data", et, 8, 1000);
    ep_show("et again", et, 8, 0);
    ep_show("oneshot", one, 8, 1000);
    ep_show("oneshot disarmed", one, 8, 0);
    struct epoll_event mod = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 4};
    ERR(epoll_ctl(one, EPOLL_CTL_MOD, s, &mod));
    ep_show("oneshot re-armed", one, 8, 0);
    write(c, "d", 1);
    ep_show("et new data", et, 8, 1000);
    drain(s);
    ep_show("lt drained", lt, 8, 0);
    ep_show("et drained", et, 8, 0);

    int nest = epoll_create1(0);
    ep_add(nest, lt, EPOLLIN, 5);
    struct pollfd pfd = {.fd = lt, .events = POLLIN};
    ep_show("nested idle", nest, 8, 0);
    printf("poll lt idle %d\n", poll(&pfd, 1, 0));
    write(c, "e", 1);
    ep_show("nested data", nest, 8, 1000);
    int polled = poll(&pfd, 1, 1000);
    printf("poll lt data %d revents %#x\n", polled, pfd.revents);
    drain(s);
    ep_show("nested drained", nest, 8, 0);

    int out = epoll_create1(0);
    ep_add(out, c, EPOLLOUT, 6);
    ep_add(out, c2, EPOLLOUT, 7);
    struct epoll_event e1, e2;
    int n1 = epoll_wait(out, &e1, 1, 1000), n2 = epoll_wait(out, &e2, 1, 1000);
    printf("maxevents 1: %d %d events %#x distinct %d\n", n1, n2, e1.events,
           e1.data.u64 != e2.data.u64);
    ep_show("both writable", out, 8, 0);

    int life = epoll_create1(0);
    ep_add(life, s2, EPOLLIN, 8);
    int d = dup(s2);
    close(s2);
    write(c2, "z", 1);
    ep_show("closed fd, file open", life, 8, 1000);
    ep_add(life, d, EPOLLIN, 9);
    ep_show("dup added", life, 8, 1000);
    ERR(epoll_ctl(life, EPOLL_CTL_DEL, s2, NULL));
    close(d);
    ep_show("file released", life, 8, 0);

    ERR(epoll_ctl(lt, EPOLL_CTL_DEL, s, NULL));
    ERR(epoll_ctl(lt, EPOLL_CTL_DEL, s, NULL));
    write(c, "f", 1);
    ep_show("lt deleted", lt, 8, 100);
    drain(s);

    struct sockaddr_storage ua; socklen_t ualen;
    int u = listener(AF_INET, &ua, &ualen, SOCK_DGRAM), us = socket(AF_INET, SOCK_DGRAM, 0);
    int ue = epoll_create1(0);
    ep_add(ue, u, EPOLLIN | EPOLLET, 10);
    sendto(us, "1", 1, 0, (struct sockaddr *)&ua, ualen);
    ep_show("udp first", ue, 8, 1000);
    ep_show("udp again", ue, 8, 0);
    sendto(us, "2", 1, 0, (struct sockaddr *)&ua, ualen);
    ep_show("udp second", ue, 8, 1000);

    int hup = epoll_create1(0);
    ep_add(hup, s, EPOLLIN | EPOLLRDHUP, 11);
    shutdown(c, SHUT_WR);
    ep_show("peer shut down", hup, 8, 1000);
    close(c);
    close(s);
    printf("done\n");
}

/* writev of a header and a body (a web server's reply) and accept's
 * waiting and non-waiting paths. */
static void writev_accept(void) {
    int c, s;
    tcp_pair(&c, &s);
    static char head[250], body[1 << 20];
    for (size_t i = 0; i < sizeof head; i++) head[i] = 'h';
    for (size_t i = 0; i < sizeof body; i++) body[i] = (char)(i * 7 + i / 4096);
    struct iovec iov[2] = {{head, sizeof head}, {body, sizeof body}};
    size_t total = sizeof head + sizeof body;
    /* Blocking: more than the socket buffers hold (made small), read by a
     * child meanwhile. */
    int small = 65536;
    CHECK(setsockopt(s, SOL_SOCKET, SO_SNDBUF, &small, sizeof small));
    CHECK(setsockopt(c, SOL_SOCKET, SO_RCVBUF, &small, sizeof small));
    pid_t pid = fork();
    if (pid == 0) {
        close(s);
        static char in[sizeof head + sizeof body + 1];     /* (room to see EOF) */
        size_t got = 0;
        ssize_t n;
        while ((n = read(c, in + got, sizeof in - got)) > 0) got += n;
        int same = got == total && !memcmp(in, head, sizeof head) &&
                   !memcmp(in + sizeof head, body, sizeof body);
        printf("child read %zu identical %d\n", got, same);
        _exit(0);
    }
    printf("blocking writev = %zd of %zu\n", writev(s, iov, 2), total);
    shutdown(s, SHUT_WR);
    int status;
    waitpid(pid, &status, 0);
    printf("child status %d\n", status);
    close(c);
    close(s);
    /* Non-blocking with nobody reading: part of it, then EAGAIN. */
    tcp_pair(&c, &s);
    fcntl(s, F_SETFL, O_NONBLOCK);
    ssize_t n;
    int partial = 0, rounds = 0;
    while ((n = writev(s, iov, 2)) > 0 && rounds++ < 100)
        partial |= (size_t)n < total;
    printf("nonblocking writev partial %d then %zd %s\n", partial, n, strerrorname_np(errno));
    /* After shutdown: EPIPE (SIGPIPE is ignored here). */
    shutdown(s, SHUT_WR);
    ERR(writev(s, iov, 2));
    close(c);
    close(s);
    /* accept: nothing waiting on a non-blocking listener, a blocking one
     * that waits for its connection, a receive timeout that expires. */
    struct sockaddr_storage a; socklen_t alen;
    int l = listener(AF_INET, &a, &alen, SOCK_STREAM);
    fcntl(l, F_SETFL, O_NONBLOCK);
    ERR(accept4(l, NULL, NULL, 0));
    fcntl(l, F_SETFL, 0);
    pid = fork();
    if (pid == 0) {
        usleep(100000);
        int k = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(connect(k, (struct sockaddr *)&a, alen));
        _exit(write(k, "late", 4) == 4 ? 0 : 1);
    }
    s = accept4(l, NULL, NULL, SOCK_NONBLOCK);
    char buf[8] = {0};
    struct pollfd p = {s, POLLIN, 0};
    poll(&p, 1, 5000);
    printf("waited accept %d nonblock %d read %zd '%s'\n", s >= 0,
           !!(fcntl(s, F_GETFL) & O_NONBLOCK), read(s, buf, sizeof buf - 1), buf);
    waitpid(pid, &status, 0);
    close(s);
    struct timeval tv = {0, 50000};
    CHECK(setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    ERR(accept(l, NULL, NULL));
    close(l);
    printf("done\n");
}

/* Addresses written back by accept4/getpeername/getsockname where the
 * length sits just before the address (a struct, or locals side by side):
 * whole, cut to a small room, and faulting on the page after the length
 * (the length then unchanged, as Linux writes it after the address).
 * Then getpeername of a connection its peer reset: ENOTCONN. */
struct addr_out { socklen_t len; struct sockaddr_in a; };      /* a at offset 4 */

static void show_addr(const char *what, long r, struct addr_out *o, struct sockaddr_in *want) {
    int e = errno;
    printf("%s = %ld %s len %u family %d same %d\n", what, r, r < 0 ? strerrorname_np(e) : "",
           (unsigned)o->len, o->a.sin_family,
           want ? !memcmp(&o->a, want, sizeof *want) : -1);
}

static void addr_out(void) {
    struct sockaddr_storage ls; socklen_t ll;
    int l = listener(AF_INET, &ls, &ll, SOCK_STREAM);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(c, (void *)&ls, ll));
    struct sockaddr_in cname; socklen_t cl = sizeof cname;
    CHECK(getsockname(c, (void *)&cname, &cl));
    struct addr_out o = {.len = sizeof o.a};
    int s = accept4(l, (void *)&o.a, &o.len, 0);
    show_addr("accept4 adjacent", s < 0 ? s : 0, &o, &cname);
    memset(&o, 0, sizeof o); o.len = sizeof o.a;
    show_addr("getpeername adjacent", getpeername(s, (void *)&o.a, &o.len), &o, &cname);
    memset(&o, 0, sizeof o); o.len = sizeof o.a;
    show_addr("getsockname adjacent", getsockname(c, (void *)&o.a, &o.len), &o, &cname);
    memset(&o, 0, sizeof o); o.len = 4;
    show_addr("getpeername room 4", getpeername(s, (void *)&o.a, &o.len), &o, NULL);
    printf("room 4: port written %d, address left 0 %d\n", o.a.sin_port != 0, o.a.sin_addr.s_addr == 0);
    /* The length in the last 4 bytes of a page, the address on the next. */
    char *pg = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(pg == MAP_FAILED ? -1 : 0);
    struct addr_out *edge = (void *)(pg + 4096 - 4);
    CHECK(mprotect(pg + 4096, 4096, PROT_NONE));
    edge->len = sizeof edge->a;
    long r = getpeername(s, (void *)&edge->a, &edge->len);
    printf("getpeername address faults = %ld %s len %u\n", r, r < 0 ? strerrorname_np(errno) : "",
           (unsigned)edge->len);
    CHECK(mprotect(pg + 4096, 4096, PROT_READ | PROT_WRITE));
    CHECK(mprotect(pg, 4096, PROT_READ));
    r = getpeername(s, (void *)&edge->a, &edge->len);
    printf("getpeername length read-only = %ld %s len %u\n", r, r < 0 ? strerrorname_np(errno) : "",
           (unsigned)edge->len);
    /* The peer resets the connection: no peer to name any more. */
    struct linger lg = {1, 0};
    CHECK(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    close(c);
    usleep(50000);
    char b;
    ERR(read(s, &b, 1));
    memset(&o, 0, sizeof o); o.len = sizeof o.a;
    show_addr("getpeername after reset", getpeername(s, (void *)&o.a, &o.len), &o, NULL);
    close(s); close(l);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    const char *m = argc > 1 ? argv[1] : "";
    if (!strcmp(m, "tcp")) tcp(AF_INET);
    else if (!strcmp(m, "tcp6")) tcp(AF_INET6);
    else if (!strcmp(m, "nonblocking_connect")) nonblocking_connect();
    else if (!strcmp(m, "udp")) udp(AF_INET);
    else if (!strcmp(m, "udp6")) udp(AF_INET6);
    else if (!strcmp(m, "epipe")) epipe();
    else if (!strcmp(m, "options")) options();
    else if (!strcmp(m, "ifaddrs")) ifaddrs();
    else if (!strcmp(m, "epoll")) epoll_modes();
    else if (!strcmp(m, "writev_accept")) writev_accept();
    else if (!strcmp(m, "addr_out")) addr_out();
    else { printf("unknown mode\n"); return 2; }
    return 0;
}
