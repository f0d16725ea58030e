/* Unix domain sockets, one behaviour per mode (argv[1]). Prints only what
 * must be identical natively and in the sandbox. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(x) do { if ((x) < 0) { printf("FAIL %s: %s\n", #x, strerror(errno)); exit(1); } } while (0)
#define ERR(x) do { errno = 0; long r_ = (long)(x); printf("%s = %ld %s\n", #x, r_, r_ < 0 ? strerrorname_np(errno) : ""); } while (0)

static char dir[64];

static void mkdir_tmp(void) {
    strcpy(dir, "/tmp/unixsockXXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); exit(1); }
}

static socklen_t path_addr(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof a->sun_path, "%s/%s", dir, name);
    return offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1;
}

static void cleanup(const char *name) {
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    unlink(p);
}

static void stream_basic(void) {
    int sv[2]; char buf[64];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    ERR(write(sv[0], "hello", 5));
    ERR(write(sv[0], " world", 6));
    ssize_t n = read(sv[1], buf, sizeof buf);
    printf("read %zd '%.*s'\n", n, (int)n, buf);
    ERR(read(sv[1], buf, 0));                       /* an empty read returns at once */
    ERR(shutdown(sv[0], SHUT_WR));
    ERR(read(sv[1], buf, sizeof buf));              /* EOF after half-close */
    ERR(write(sv[1], "back", 4));                   /* the other direction still works */
    n = read(sv[0], buf, sizeof buf);
    printf("read back %zd '%.*s'\n", n, (int)n, buf);
    ERR(write(sv[0], "x", 1));                      /* EPIPE (SIGPIPE ignored) */
    ERR(shutdown(sv[1], 7));
    struct pollfd p = { sv[1], POLLIN | POLLOUT | POLLRDHUP, 0 };
    ERR(poll(&p, 1, 0));
    printf("revents %#x\n", p.revents);
    close(sv[0]);
    p.events = POLLIN | POLLOUT;
    ERR(poll(&p, 1, 0));
    printf("revents after close %#x\n", p.revents);
}

static void peek_waitall(void) {
    int sv[2]; char buf[64];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    ERR(send(sv[0], "abcdef", 6, 0));
    ssize_t n = recv(sv[1], buf, 3, MSG_PEEK);
    printf("peek %zd '%.*s'\n", n, (int)n, buf);
    n = recv(sv[1], buf, sizeof buf, 0);
    printf("recv %zd '%.*s'\n", n, (int)n, buf);
    ERR(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 4; i++) { usleep(20000); write(sv[0], "0123456789", 10); }
        _exit(0);
    }
    n = recv(sv[1], buf, 40, MSG_WAITALL);
    printf("waitall %zd '%.*s'\n", n, (int)n, buf);
    waitpid(pid, NULL, 0);
    int avail = -1;
    send(sv[0], "xyz", 3, 0);
    ERR(ioctl(sv[1], FIONREAD, &avail));
    printf("fionread %d\n", avail);
}

static void dgram_boundaries(void) {
    int sv[2]; char buf[64];
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    ERR(send(sv[0], "one", 3, 0));
    ERR(send(sv[0], "three", 5, 0));
    ERR(send(sv[0], "twentysix-letters-long-msg", 26, 0));
    ERR(send(sv[0], "", 0, 0));
    int avail = -1;
    ERR(ioctl(sv[1], FIONREAD, &avail));
    printf("fionread %d\n", avail);
    ssize_t n = recv(sv[1], buf, sizeof buf, 0);
    printf("recv %zd '%.*s'\n", n, (int)n, buf);
    n = recv(sv[1], buf, 2, 0);
    printf("short recv %zd '%.*s'\n", n, (int)n, buf);
    struct iovec iov = { buf, 4 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    n = recvmsg(sv[1], &m, MSG_TRUNC);
    printf("trunc recvmsg %zd flags %#x '%.*s'\n", n, m.msg_flags, 4, buf);
    ERR(recv(sv[1], buf, sizeof buf, 0));
    ERR(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
}

static void seqpacket(void) {
    int sv[2]; char buf[64];
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
    ERR(send(sv[0], "first", 5, 0));
    ERR(send(sv[0], "second-message", 14, 0));
    struct iovec iov = { buf, 6 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t n = recvmsg(sv[1], &m, 0);
    printf("recvmsg %zd flags %#x '%.*s'\n", n, m.msg_flags, (int)n, buf);
    n = recvmsg(sv[1], &m, 0);
    printf("recvmsg %zd flags %#x '%.*s'\n", n, m.msg_flags, (int)n, buf);
    close(sv[0]);
    ERR(recv(sv[1], buf, sizeof buf, 0));
    ERR(send(sv[1], "x", 1, MSG_NOSIGNAL));
}

static void print_stat(const char *path) {
    struct stat s;
    if (stat(path, &s) < 0) { printf("stat: %s\n", strerrorname_np(errno)); return; }
    printf("S_ISSOCK %d mode %o\n", S_ISSOCK(s.st_mode), s.st_mode & 07777);
}

static void path_names(void) {
    struct sockaddr_un a, got; socklen_t len;
    mkdir_tmp();
    umask(022);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    socklen_t alen = path_addr(&a, "srv");
    ERR(bind(l, (struct sockaddr *)&a, alen));
    print_stat(a.sun_path);
    ERR(bind(l, (struct sockaddr *)&a, alen));                 /* EINVAL: bound */
    int l2 = socket(AF_UNIX, SOCK_STREAM, 0);
    ERR(bind(l2, (struct sockaddr *)&a, alen));                /* EADDRINUSE */
    ERR(listen(l, 5));
    len = sizeof got;
    ERR(getsockname(l, (struct sockaddr *)&got, &len));
    printf("getsockname len ok %d same %d\n", len == alen, strcmp(got.sun_path, a.sun_path) == 0);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    ERR(connect(c, (struct sockaddr *)&a, alen));
    len = sizeof got;
    ERR(getpeername(c, (struct sockaddr *)&got, &len));
    printf("getpeername same %d\n", strcmp(got.sun_path, a.sun_path) == 0);
    len = sizeof got;
    int s = accept4(l, (struct sockaddr *)&got, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    printf("accept4 ok %d addrlen %d\n", s >= 0, len);
    printf("cloexec %d nonblock %d\n", (fcntl(s, F_GETFD) & FD_CLOEXEC) != 0,
           (fcntl(s, F_GETFL) & O_NONBLOCK) != 0);
    len = sizeof got;
    ERR(getsockname(s, (struct sockaddr *)&got, &len));
    printf("accepted name is listener's %d\n", strcmp(got.sun_path, a.sun_path) == 0);
    char buf[8];
    ERR(read(s, buf, sizeof buf));                           /* EAGAIN: nonblocking */
    ERR(write(c, "ping", 4));
    ERR(read(s, buf, sizeof buf));
    int opt = -1; socklen_t ol = sizeof opt;
    ERR(getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &opt, &ol));
    printf("acceptconn %d\n", opt);
    ERR(unlink(a.sun_path));
    int c2 = socket(AF_UNIX, SOCK_STREAM, 0);
    ERR(connect(c2, (struct sockaddr *)&a, alen));           /* ENOENT */
    int f = open(a.sun_path, O_CREAT | O_WRONLY, 0644);
    close(f);
    ERR(connect(c2, (struct sockaddr *)&a, alen));           /* ECONNREFUSED: no socket */
    unlink(a.sun_path);
    struct sockaddr_un b;
    socklen_t blen = path_addr(&b, "dg");
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    ERR(bind(d, (struct sockaddr *)&b, blen));
    ERR(connect(c2, (struct sockaddr *)&b, blen));           /* EPROTOTYPE */
    close(d);
    ERR(connect(c2, (struct sockaddr *)&b, blen));           /* ECONNREFUSED: closed */
    cleanup("dg");
    rmdir(dir);
}

static void nonblocking_accept(void) {
    struct sockaddr_un a;
    mkdir_tmp();
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    socklen_t alen = path_addr(&a, "nb");
    ERR(bind(l, (struct sockaddr *)&a, alen));
    ERR(listen(l, 1));
    ERR(accept(l, NULL, NULL));                             /* EAGAIN */
    struct pollfd p = { l, POLLIN, 0 };
    ERR(poll(&p, 1, 0));
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    ERR(connect(c, (struct sockaddr *)&a, alen));
    ERR(poll(&p, 1, 1000));
    printf("listener revents %#x\n", p.revents);
    int c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ERR(connect(c2, (struct sockaddr *)&a, alen));           /* backlog 1 allows 2 */
    int c3 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ERR(connect(c3, (struct sockaddr *)&a, alen));           /* EAGAIN: backlog full */
    int s = accept(l, NULL, NULL);
    printf("accepted %d\n", s >= 0);
    close(s);
    char b;
    ERR(read(c, &b, 1));                                    /* peer closed: EOF */
    cleanup("nb");
    rmdir(dir);
}

static void abstract_names(void) {
    struct sockaddr_un a = { .sun_family = AF_UNIX }, got;
    int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "kvmsentry-test-%d", getpid());
    socklen_t alen = offsetof(struct sockaddr_un, sun_path) + 1 + n;
    int l = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    ERR(bind(l, (struct sockaddr *)&a, alen));
    int l2 = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    ERR(bind(l2, (struct sockaddr *)&a, alen));               /* EADDRINUSE */
    ERR(listen(l, 4));
    socklen_t len = sizeof got;
    ERR(getsockname(l, (struct sockaddr *)&got, &len));
    printf("abstract len same %d bytes same %d\n", len == alen, memcmp(&got, &a, alen) == 0);
    int c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    ERR(connect(c, (struct sockaddr *)&a, alen));
    int s = accept(l, NULL, NULL);
    ERR(send(c, "msg", 3, 0));
    char buf[8];
    ERR(recv(s, buf, sizeof buf, 0));
    int u = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un any = { .sun_family = AF_UNIX };
    ERR(bind(u, (struct sockaddr *)&any, sizeof(sa_family_t)));   /* autobind */
    len = sizeof got;
    ERR(getsockname(u, (struct sockaddr *)&got, &len));
    printf("autobind len %d abstract %d\n", len, got.sun_path[0] == 0);
    int wrong = socket(AF_UNIX, SOCK_STREAM, 0);
    ERR(connect(wrong, (struct sockaddr *)&a, alen));        /* another type: ECONNREFUSED */
    /* A stream receiver sees the sender's name as it is when it reads. */
    struct sockaddr_un b = a;
    b.sun_path[1] = 'K';
    int sl = socket(AF_UNIX, SOCK_STREAM, 0), sc = socket(AF_UNIX, SOCK_STREAM, 0);
    ERR(bind(sl, (struct sockaddr *)&b, alen));
    ERR(listen(sl, 1));
    ERR(connect(sc, (struct sockaddr *)&b, alen));
    int ss = accept(sl, NULL, NULL);
    ERR(send(sc, "a", 1, 0));
    b.sun_path[1] = 'L';
    ERR(bind(sc, (struct sockaddr *)&b, alen));
    ERR(send(sc, "b", 1, 0));
    len = sizeof got;
    ERR(recvfrom(ss, buf, 2, MSG_WAITALL, (struct sockaddr *)&got, &len));
    printf("sender name len same %d bytes same %d\n", len == alen, memcmp(&got, &b, alen) == 0);
    /* A socket's own inode: fchmod and fstat, fstatfs says sockfs. */
    struct stat st;
    ERR(fchmod(u, 0701));
    ERR(fstat(u, &st));
    printf("socket mode %o\n", (unsigned)st.st_mode);
    struct statfs sf;
    ERR(fstatfs(u, &sf));
    printf("fstatfs type %lx\n", (unsigned long)sf.f_type);
    close(l);
    int c2 = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    ERR(connect(c2, (struct sockaddr *)&a, alen));           /* ECONNREFUSED */
}

static int send_fds(int sock, int *fds, int n, const char *data) {
    char cbuf[CMSG_SPACE(sizeof(int) * 8)];
    struct iovec iov = { (void *)data, strlen(data) };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = CMSG_SPACE(sizeof(int) * n) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    return sendmsg(sock, &m, 0);
}

static void scm_rights(int type) {
    int sv[2];
    mkdir_tmp();
    char path[128];
    snprintf(path, sizeof path, "%s/file", dir);
    int f = open(path, O_CREAT | O_RDWR, 0600);
    write(f, "contents of the file", 20);
    lseek(f, 0, SEEK_SET);
    CHECK(socketpair(AF_UNIX, type, 0, sv));
    int pair[2]; pipe(pair);
    int fds[2] = { f, pair[1] };
    ERR(send_fds(sv[0], fds, 2, "fds"));
    close(f); close(pair[1]);
    char buf[64], cbuf[CMSG_SPACE(sizeof(int) * 8)];
    struct iovec iov = { buf, sizeof buf };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof cbuf };
    ssize_t n = recvmsg(sv[1], &m, MSG_CMSG_CLOEXEC);
    printf("recvmsg %zd '%.*s' flags %#x\n", n, (int)n, buf, m.msg_flags);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    printf("cmsg level %d type %d nfds %zu\n", c->cmsg_level, c->cmsg_type,
           (c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    int got[2];
    memcpy(got, CMSG_DATA(c), sizeof got);
    printf("cloexec %d\n", (fcntl(got[0], F_GETFD) & FD_CLOEXEC) != 0);
    n = read(got[0], buf, sizeof buf);
    printf("passed file reads '%.*s'\n", (int)n, buf);
    write(got[1], "via passed pipe", 15);
    close(got[1]);
    n = read(pair[0], buf, sizeof buf);
    printf("pipe reads '%.*s'\n", (int)n, buf);
    ERR(read(pair[0], buf, sizeof buf));               /* EOF: every write end closed */
    /* a control buffer too small for the fds: MSG_CTRUNC, extra fds closed */
    int f2 = open(path, O_RDONLY);
    int three[3] = { f2, f2, f2 };
    ERR(send_fds(sv[0], three, 3, "three"));
    char small[CMSG_SPACE(sizeof(int))];
    m.msg_control = small; m.msg_controllen = sizeof small;
    iov.iov_len = sizeof buf;
    n = recvmsg(sv[1], &m, 0);
    c = CMSG_FIRSTHDR(&m);
    printf("recvmsg %zd ctrunc %d nfds %zu\n", n, (m.msg_flags & MSG_CTRUNC) != 0,
           c ? (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) : 0);
    /* plain recv drops the fds */
    ERR(send_fds(sv[0], three, 1, "dropped"));
    ERR(recv(sv[1], buf, sizeof buf, 0));
    ERR(send_fds(sv[0], (int[]){ 999 }, 1, "badfd"));   /* EBADF */
    unlink(path);
    rmdir(dir);
}

static void scm_credentials(void) {
    int sv[2], on = 1;
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    ERR(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
    int opt = 0; socklen_t ol = sizeof opt;
    ERR(getsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &opt, &ol));
    printf("passcred %d\n", opt);
    ERR(send(sv[0], "c", 1, 0));
    char buf[8], cbuf[CMSG_SPACE(sizeof(struct ucred))];
    struct iovec iov = { buf, sizeof buf };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof cbuf };
    ERR(recvmsg(sv[1], &m, 0));
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    struct ucred cr;
    memcpy(&cr, CMSG_DATA(c), sizeof cr);
    printf("type %d pid is mine %d uid %d gid %d\n", c->cmsg_type, cr.pid == getpid(),
           cr.uid, cr.gid);
    /* explicit credentials: our own are allowed, another pid is not (unless privileged) */
    struct ucred mine = { getpid(), getuid(), getgid() };
    char sbuf[CMSG_SPACE(sizeof mine)];
    struct iovec siov = { "e", 1 };
    struct msghdr sm = { .msg_iov = &siov, .msg_iovlen = 1, .msg_control = sbuf,
                         .msg_controllen = sizeof sbuf };
    c = CMSG_FIRSTHDR(&sm);
    c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof mine);
    memcpy(CMSG_DATA(c), &mine, sizeof mine);
    ERR(sendmsg(sv[0], &sm, 0));
    m.msg_controllen = sizeof cbuf;
    ERR(recvmsg(sv[1], &m, 0));
    memcpy(&cr, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof cr);
    printf("explicit pid is mine %d\n", cr.pid == getpid());
    /* Sent before either end asked for credentials: none (no pid, the
     * overflow ids) once the reader asks. */
    int p2[2];
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, p2));
    ERR(send(p2[0], "n", 1, 0));
    ERR(setsockopt(p2[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    ERR(recvmsg(p2[1], &m, 0));
    memcpy(&cr, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof cr);
    printf("sent before SO_PASSCRED: pid %d uid %d gid %d\n", cr.pid, cr.uid, cr.gid);
    /* Room for a header only: the header says how much was kept. */
    ERR(send(p2[0], "t", 1, 0));
    char small[CMSG_SPACE(0) + sizeof(pid_t)];
    m.msg_control = small;
    m.msg_controllen = sizeof small;
    ERR(recvmsg(p2[1], &m, 0));
    printf("truncated: flags %#x controllen %zu cmsg_len %zu\n", m.msg_flags,
           (size_t)m.msg_controllen, (size_t)CMSG_FIRSTHDR(&m)->cmsg_len);
    /* Credentials naming a pid that does not exist. */
    struct ucred ghost = { 4194303, getuid(), getgid() };
    c = CMSG_FIRSTHDR(&sm);
    c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof ghost);
    memcpy(CMSG_DATA(c), &ghost, sizeof ghost);
    errno = 0;
    long r = sendmsg(sv[0], &sm, 0);
    printf("nonexistent pid: %ld %s\n", r, r < 0 ? strerrorname_np(errno) : "-");
    /* A socket cannot be opened again through /proc/self/fd. */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", p2[0]);
    errno = 0;
    r = open(path, O_WRONLY);
    printf("reopen through /proc: %ld %s\n", r, r < 0 ? strerrorname_np(errno) : "-");
}

static void peercred(void) {
    struct sockaddr_un a;
    mkdir_tmp();
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    socklen_t alen = path_addr(&a, "pc");
    ERR(bind(l, (struct sockaddr *)&a, alen));
    ERR(listen(l, 1));
    pid_t pid = fork();
    if (pid == 0) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        connect(c, (struct sockaddr *)&a, alen);
        struct ucred cr; socklen_t len = sizeof cr;
        getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &len);
        char ok = cr.pid == getppid() ? 'y' : 'n';
        write(c, &ok, 1);
        _exit(0);
    }
    int s = accept(l, NULL, NULL);
    struct ucred cr; socklen_t len = sizeof cr;
    ERR(getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &len));
    printf("peer is child %d uid %d gid %d len %d\n", cr.pid == pid, cr.uid, cr.gid, len);
    char ok = 0;
    ERR(read(s, &ok, 1));
    printf("child saw parent %c\n", ok);
    waitpid(pid, NULL, 0);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    len = sizeof cr;
    ERR(getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cr, &len));
    printf("socketpair peer is me %d\n", cr.pid == getpid());
    cleanup("pc");
    rmdir(dir);
}

/* A zero-length recvmsg on a stream takes the first message's fds and
 * leaves its data; a datagram's goes whole (MSG_TRUNC). SO_PEERCRED of a
 * socket without a peer is pid 0 and ids -1. */
static void zero_length(void) {
    int types[] = { SOCK_STREAM, SOCK_DGRAM };
    for (int i = 0; i < 2; i++) {
        int sv[2];
        CHECK(socketpair(AF_UNIX, types[i], 0, sv));
        char control[CMSG_SPACE(sizeof(int))] = {0};
        struct iovec iov = { "a", 1 };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                            .msg_controllen = sizeof control };
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS; c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &sv[1], sizeof(int));
        ERR(sendmsg(sv[1], &m, 0));
        char rc[CMSG_SPACE(sizeof(int))] = {0};
        struct msghdr r = { .msg_control = rc, .msg_controllen = sizeof rc };
        long n = recvmsg(sv[0], &r, 0);
        c = CMSG_FIRSTHDR(&r);
        printf("type %d: zero-length recvmsg %ld flags %#x fd passed %d\n", types[i], n,
               r.msg_flags, c != NULL && c->cmsg_type == SCM_RIGHTS);
        fcntl(sv[0], F_SETFL, O_NONBLOCK);
        char b = 0;
        struct iovec iov2 = { &b, 1 };
        char rc2[CMSG_SPACE(sizeof(int))] = {0};
        struct msghdr r2 = { .msg_iov = &iov2, .msg_iovlen = 1, .msg_control = rc2,
                             .msg_controllen = sizeof rc2 };
        errno = 0;
        n = recvmsg(sv[0], &r2, 0);
        printf("  then %ld %s byte %c fd again %d\n", n, n < 0 ? strerrorname_np(errno) : "-",
               b ? b : '-', CMSG_FIRSTHDR(&r2) != NULL);
    }
    /* A stream send of no bytes sends nothing: its fds are dropped. */
    int st[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, st));
    char control[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec none = { "", 0 };
    struct msghdr zm = { .msg_iov = &none, .msg_iovlen = 1, .msg_control = control,
                         .msg_controllen = sizeof control };
    struct cmsghdr *zc = CMSG_FIRSTHDR(&zm);
    zc->cmsg_level = SOL_SOCKET; zc->cmsg_type = SCM_RIGHTS; zc->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(zc), &st[1], sizeof(int));
    printf("zero-length stream send: %zd\n", sendmsg(st[0], &zm, 0));
    ERR(write(st[0], "xy", 2));
    char got[4], rc[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec gi = { got, sizeof got };
    struct msghdr gm = { .msg_iov = &gi, .msg_iovlen = 1, .msg_control = rc,
                         .msg_controllen = sizeof rc };
    long got_n = recvmsg(st[1], &gm, 0);
    printf("then read %ld, control length %zu\n", got_n, (size_t)gm.msg_controllen);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct ucred cr; socklen_t len = sizeof cr;
    ERR(getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &len));
    printf("no peer: pid %d uid %d gid %d\n", cr.pid, (int)cr.uid, (int)cr.gid);
}

/* SOL_SOCKET options a Unix socket keeps without using: flags read back
 * as 0/1, SO_RCVLOWAT 0 means 1 (and makes a stream read wait for that
 * much), SO_REUSEPORT is for inet sockets, SO_SNDLOWAT is read-only. */
static void option_values(void) {
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    int opts[] = { SO_REUSEADDR, SO_DONTROUTE, SO_BROADCAST, SO_KEEPALIVE, SO_OOBINLINE,
                   SO_NO_CHECK, SO_PRIORITY, SO_REUSEPORT, SO_RCVLOWAT, SO_SNDLOWAT };
    for (unsigned i = 0; i < sizeof opts / sizeof *opts; i++) {
        int v = -7, five = 5, zero = 0, neg = -3;
        socklen_t l = sizeof v;
        getsockopt(sv[0], SOL_SOCKET, opts[i], &v, &l);
        printf("opt %d: default %d;", opts[i], v);
        errno = 0;
        int r = setsockopt(sv[0], SOL_SOCKET, opts[i], &five, sizeof five);
        l = sizeof v;
        getsockopt(sv[0], SOL_SOCKET, opts[i], &v, &l);
        printf(" set 5: %d %s -> %d;", r, r < 0 ? strerrorname_np(errno) : "-", v);
        setsockopt(sv[0], SOL_SOCKET, opts[i], &zero, sizeof zero);
        l = sizeof v;
        getsockopt(sv[0], SOL_SOCKET, opts[i], &v, &l);
        printf(" set 0 -> %d;", v);
        setsockopt(sv[0], SOL_SOCKET, opts[i], &neg, sizeof neg);
        l = sizeof v;
        getsockopt(sv[0], SOL_SOCKET, opts[i], &v, &l);
        printf(" set -3 -> %d\n", v);
    }
    int three = 3;
    ERR(setsockopt(sv[0], SOL_SOCKET, SO_RCVLOWAT, &three, sizeof three));
    ERR(write(sv[1], "a", 1));
    char buf[8];
    printf("nonblocking read below the mark: %zd\n", recv(sv[0], buf, sizeof buf, MSG_DONTWAIT));
    ERR(write(sv[1], "b", 1));
    pid_t pid = fork();
    if (pid == 0) {
        usleep(100000);
        write(sv[1], "cd", 2);
        _exit(0);
    }
    printf("blocking read waits for the mark: %zd\n", read(sv[0], buf, sizeof buf));
    waitpid(pid, NULL, 0);
}

/* shutdown(SHUT_RD) makes the peer's sends EPIPE for every type; only a
 * stream socket's EPIPE raises SIGPIPE. */
static volatile int shut_sigpipes;
static void on_shut_sigpipe(int sig) { (void)sig; shut_sigpipes++; }

static void shutdown_types(void) {
    signal(SIGPIPE, on_shut_sigpipe);
    int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
    for (int i = 0; i < 3; i++) {
        int sv[2], s2[2];
        char b[3];
        CHECK(socketpair(AF_UNIX, types[i], 0, sv));
        shutdown(sv[0], SHUT_RD);
        shut_sigpipes = 0;
        errno = 0;
        long r = write(sv[1], "abc", 3);
        int e = errno;
        long own = write(sv[0], "abc", 3);
        long back = read(sv[1], b, 3);
        printf("type %d: peer write %ld %s sigpipe %d, own write %ld, peer read %ld\n", types[i],
               r, r < 0 ? strerrorname_np(e) : "-", shut_sigpipes, own, back);
        CHECK(socketpair(AF_UNIX, types[i], 0, s2));
        shutdown(s2[0], SHUT_WR);
        shut_sigpipes = 0;
        errno = 0;
        r = write(s2[0], "x", 1);
        printf("  after its own SHUT_WR %ld %s sigpipe %d\n", r,
               r < 0 ? strerrorname_np(errno) : "-", shut_sigpipes);
    }
}

static volatile int sigpipes;
static void on_pipe(int s) { (void)s; sigpipes++; }

static void epipe(void) {
    int sv[2];
    signal(SIGPIPE, on_pipe);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    close(sv[1]);
    ERR(write(sv[0], "x", 1));
    printf("sigpipes %d\n", sigpipes);
    ERR(send(sv[0], "x", 1, MSG_NOSIGNAL));
    printf("sigpipes %d\n", sigpipes);
    signal(SIGPIPE, SIG_DFL);
    pid_t pid = fork();
    if (pid == 0) { write(sv[0], "x", 1); _exit(0); }
    int status;
    waitpid(pid, &status, 0);
    printf("child killed by %d\n", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    /* unread data when the peer closes: ECONNRESET, then EOF */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    write(sv[0], "unread", 6);
    close(sv[1]);
    ERR(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ? -1 : 0);
    write(sv[1], "unread", 6);
    close(sv[0]);
    char b[8];
    ERR(read(sv[1], b, sizeof b));
}

static void sndbuf(void) {
    int sv[2], size = 10000;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
    int opt; socklen_t ol = sizeof opt;
    ERR(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &opt, &ol));
    printf("default sndbuf %d\n", opt);
    ERR(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size));
    ERR(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &opt, &ol));
    printf("sndbuf %d\n", opt);
    size = 1;
    ERR(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size));
    ERR(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &opt, &ol));
    printf("min sndbuf %d\n", opt);
    size = 10000;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    char chunk[1000] = { 0 };
    long total = 0; ssize_t n;
    while ((n = write(sv[0], chunk, sizeof chunk)) > 0) total += n;
    printf("stopped with %s after some bytes %d, below 64K %d\n", strerrorname_np(errno),
           total > 0, total < 65536);
    struct pollfd p = { sv[0], POLLOUT, 0 };
    ERR(poll(&p, 1, 0));
    char sink[100000];
    ERR(read(sv[1], sink, sizeof sink) == total ? 0 : -1);
    ERR(poll(&p, 1, 0));
    int dg[2];
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, dg));
    static char big[300000];
    ERR(send(dg[0], big, sizeof big, 0));               /* EMSGSIZE */
}

static void sockopts(void) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0), d = socket(AF_UNIX, SOCK_DGRAM, 0);
    int opt; socklen_t ol = sizeof opt;
    ERR(getsockopt(s, SOL_SOCKET, SO_TYPE, &opt, &ol)); printf("type %d\n", opt);
    ERR(getsockopt(d, SOL_SOCKET, SO_TYPE, &opt, &ol)); printf("type %d\n", opt);
    ERR(getsockopt(s, SOL_SOCKET, SO_DOMAIN, &opt, &ol)); printf("domain %d\n", opt);
    ERR(getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &opt, &ol)); printf("protocol %d\n", opt);
    ERR(getsockopt(s, SOL_SOCKET, SO_ERROR, &opt, &ol)); printf("error %d\n", opt);
    ERR(getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &opt, &ol)); printf("acceptconn %d\n", opt);
    ERR(getsockopt(s, SOL_SOCKET, 9999, &opt, &ol));
    ERR(getsockopt(s, 9999, 1, &opt, &ol));
    short small; ol = sizeof small;
    ERR(getsockopt(s, SOL_SOCKET, SO_TYPE, &small, &ol)); printf("short len %d\n", ol);
    ol = -1;
    ERR(getsockopt(s, SOL_SOCKET, SO_TYPE, &opt, &ol));
    int one = 1;
    ERR(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    ol = sizeof opt;
    ERR(getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &opt, &ol)); printf("reuseaddr %d\n", opt);
    ERR(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, 2));
    struct stat st;
    ERR(fstat(s, &st));
    printf("fstat S_ISSOCK %d\n", S_ISSOCK(st.st_mode));
    ERR(lseek(s, 0, SEEK_SET));
    ERR(socket(AF_UNIX, 99, 0));
    ERR(socket(AF_UNIX, SOCK_STREAM, 5));
    ERR(socket(12345, SOCK_STREAM, 0));
    ERR(socket(AF_UNIX, SOCK_STREAM | 0x100000, 0));
    ERR(socketpair(AF_INET, SOCK_STREAM, 0, (int[2]){0}));
    ERR(listen(d, 1));
    ERR(accept(s, NULL, NULL));
    ERR(send(s, "x", 1, MSG_NOSIGNAL));
    ERR(send(d, "x", 1, 0));
    ERR(getpeername(s, NULL, NULL));
    ERR(listen(s, 1));                                   /* EINVAL: not bound */
    ERR(shutdown(s, SHUT_RD));
    ERR(connect(s, (struct sockaddr *)&(struct sockaddr_un){ .sun_family = AF_UNIX,
                .sun_path = "/nonexistent/sock" }, sizeof(struct sockaddr_un)));
    ERR(bind(0, (struct sockaddr *)&(struct sockaddr_un){ .sun_family = AF_UNIX }, 2));
    ERR(bind(s, (struct sockaddr *)&(struct sockaddr_un){ .sun_family = AF_INET }, 2));
    ERR(bind(s, NULL, 200));
    ERR(recv(s, NULL, 0, MSG_DONTWAIT));
}

static void mmsg(void) {
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    struct mmsghdr out[3]; struct iovec oiov[3];
    const char *words[3] = { "alpha", "be", "gamma-delta" };
    for (int i = 0; i < 3; i++) {
        oiov[i].iov_base = (void *)words[i]; oiov[i].iov_len = strlen(words[i]);
        memset(&out[i], 0, sizeof out[i]);
        out[i].msg_hdr.msg_iov = &oiov[i]; out[i].msg_hdr.msg_iovlen = 1;
    }
    ERR(sendmmsg(sv[0], out, 3, 0));
    printf("lens %u %u %u\n", out[0].msg_len, out[1].msg_len, out[2].msg_len);
    struct mmsghdr in[4]; struct iovec iiov[4]; char bufs[4][16];
    for (int i = 0; i < 4; i++) {
        iiov[i].iov_base = bufs[i]; iiov[i].iov_len = sizeof bufs[i];
        memset(&in[i], 0, sizeof in[i]);
        in[i].msg_hdr.msg_iov = &iiov[i]; in[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(sv[1], in, 4, MSG_WAITFORONE, NULL);
    printf("recvmmsg %d:", n);
    for (int i = 0; i < n; i++) printf(" '%.*s'", in[i].msg_len, bufs[i]);
    printf("\n");
    /* The timeout: EINVAL when not a timespec (before the fd is looked
     * at), checked only after a message, and what is left written back. */
    struct timespec bad = {0, 1000000000}, neg = {-1, 0}, zero = {0, 0}, ample = {100, 0};
    ERR(recvmmsg(sv[1], in, 4, 0, &bad));
    ERR(recvmmsg(sv[1], in, 4, 0, &neg));
    ERR(recvmmsg(-1, in, 4, 0, &bad));
    ERR(sendmmsg(sv[0], out, 3, 0));
    ERR(recvmmsg(sv[1], in, 4, 0, &zero));
    printf("zero timeout left %ld %ld\n", (long)zero.tv_sec, zero.tv_nsec);
    ERR(recvmmsg(sv[1], in, 2, MSG_DONTWAIT, &ample));
    printf("ample timeout left kept under 100 s: %d\n", ample.tv_sec <= 100 && ample.tv_sec >= 90);
    ERR(recvmmsg(sv[1], in, 2, MSG_DONTWAIT, &ample));
}

static void dgram_names(void) {
    struct sockaddr_un a, b, from;
    mkdir_tmp();
    int s1 = socket(AF_UNIX, SOCK_DGRAM, 0), s2 = socket(AF_UNIX, SOCK_DGRAM, 0);
    socklen_t al = path_addr(&a, "a"), bl = path_addr(&b, "b");
    ERR(bind(s1, (struct sockaddr *)&a, al));
    ERR(bind(s2, (struct sockaddr *)&b, bl));
    ERR(sendto(s1, "to b", 4, 0, (struct sockaddr *)&b, bl));
    char buf[16]; socklen_t fl = sizeof from;
    ssize_t n = recvfrom(s2, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    printf("recvfrom %zd from a %d\n", n, strcmp(from.sun_path, a.sun_path) == 0);
    int s3 = socket(AF_UNIX, SOCK_DGRAM, 0);
    ERR(sendto(s3, "anon", 4, 0, (struct sockaddr *)&b, bl));
    fl = sizeof from;
    n = recvfrom(s2, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    printf("recvfrom %zd fromlen %d\n", n, fl);
    ERR(connect(s2, (struct sockaddr *)&a, al));
    ERR(sendto(s3, "refused", 7, 0, (struct sockaddr *)&b, bl));   /* EPERM: b talks to a only */
    ERR(send(s3, "x", 1, 0));                                     /* ENOTCONN */
    for (int i = 0; i < 12; i++) sendto(s1, "q", 1, MSG_DONTWAIT, (struct sockaddr *)&b, bl);
    ERR(sendto(s1, "q", 1, MSG_DONTWAIT, (struct sockaddr *)&b, bl) < 0 ? -1 : 0);
    close(s2);
    ERR(connect(s1, (struct sockaddr *)&b, bl));                  /* ECONNREFUSED */
    cleanup("a"); cleanup("b");
    rmdir(dir);
}

/* read/write/readv/writev (the guest's buffers handed to the socket
   whole): vectors on a stream, a datagram cut by a short read, and one
   write far larger than the send buffer drained by a child. */
static void read_write_buffers(void) {
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    ERR(writev(sv[0], (struct iovec[]){{"abc", 3}, {"defghij", 7}}, 2));
    char a[3], b[4], c[100];
    struct iovec in[] = {{a, 3}, {b, 4}, {c, sizeof c}};
    ERR(readv(sv[1], in, 3));
    printf("readv '%.3s' '%.4s' '%.3s'\n", a, b, c);
    int dg[2];
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, dg));
    ERR(write(dg[0], "message1", 8));
    ERR(write(dg[0], "message2", 8));
    ERR(read(dg[1], c, 3));                        /* the rest of message1 is dropped */
    printf("cut '%.3s'\n", c);
    ERR(read(dg[1], c, sizeof c));
    printf("next '%.8s'\n", c);
    size_t big = 3 << 20;
    unsigned char *out = malloc(big);
    for (size_t i = 0; i < big; i++) out[i] = (unsigned char)(i * 7 + i / 4096);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        unsigned long sum = 0, total = 0;
        unsigned char buf[65536];
        ssize_t n;
        while ((n = read(sv[1], buf, sizeof buf)) > 0) {
            for (ssize_t i = 0; i < n; i++) sum = sum * 31 + buf[i];
            total += n;
        }
        printf("child read %lu sum %lx\n", total, sum);
        _exit(0);
    }
    close(sv[1]);
    ERR(write(sv[0], out, big));
    close(sv[0]);
    int st;
    waitpid(pid, &st, 0);
    unsigned long sum = 0;
    for (size_t i = 0; i < big; i++) sum = sum * 31 + out[i];
    printf("sent sum %lx\n", sum);
}

/* A read blocked in one thread while another forks: the read's bytes
   land in the parent's buffer only, the child keeps its copy of the
   buffer as it was at the fork (a read must not hold the guest's frames
   while it waits). */
static char fork_buf[4096] __attribute__((aligned(4096)));
static int fork_rfd;
static volatile pid_t fork_reader;
static ssize_t fork_got;
static int fork_errno;
static int fork_by_recv;              /* recv(2), not read(2); 2: recvmsg(2) */
static int fork_by_readv;             /* readv(2) of one iovec, not read(2) */
static char *fork_dst = fork_buf;     /* where the blocked read reads to */

static void *blocked_reader(void *arg) {
    (void)arg;
    fork_reader = syscall(SYS_gettid);
    struct iovec iov = {fork_dst, 64};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    fork_got = fork_by_recv == 2 ? recvmsg(fork_rfd, &mh, 0) :
        fork_by_recv ? recv(fork_rfd, fork_dst, 64, 0) :
        fork_by_readv ? readv(fork_rfd, &iov, 1) : read(fork_rfd, fork_dst, 64);
    fork_errno = errno;
    return NULL;
}

static int sleeping(pid_t tid) {
    char path[64], st[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(st, 1, sizeof st - 1, f);
    fclose(f);
    st[n] = 0;
    char *p = strrchr(st, ')');
    return p && p[2] == 'S';
}

/* The reading end in sv[1], the writing one in sv[0]: a Unix socket
   pair of `type`, or (type 0) a pipe, or (type -1) a TCP connection over
   loopback. */
static void read_pair(int type, int sv[2]) {
    if (type == 0) {
        int p[2];
        CHECK(pipe(p));
        sv[0] = p[1], sv[1] = p[0];
    } else if (type == -1) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t al = sizeof a;
        int l = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(l);
        CHECK(bind(l, (struct sockaddr *)&a, sizeof a));
        CHECK(listen(l, 1));
        CHECK(getsockname(l, (struct sockaddr *)&a, &al));
        sv[0] = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(connect(sv[0], (struct sockaddr *)&a, sizeof a));
        sv[1] = accept(l, NULL, NULL);
        CHECK(sv[1]);
        close(l);
    } else {
        CHECK(socketpair(AF_UNIX, type, 0, sv));
    }
}

static void fork_during_read(int type) {
    int sv[2], go[2];
    read_pair(type, sv);
    CHECK(pipe(go));
    fork_rfd = sv[1];
    memset(fork_buf, 'z', 64);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, blocked_reader, NULL));
    while (!fork_reader || !sleeping(fork_reader)) usleep(1000);
    pid_t pid = fork();
    if (pid == 0) {
        char x;
        CHECK(read(go[0], &x, 1));
        printf("child's buffer '%.5s'\n", fork_buf);
        _exit(0);
    }
    CHECK(write(sv[0], "hello", 5));
    pthread_join(t, NULL);
    printf("read %zd, parent's buffer '%.5s'\n", fork_got, fork_buf);
    CHECK(write(go[1], "x", 1));
    int st;
    waitpid(pid, &st, 0);
}

/* A read blocked in one thread while another unmaps its buffer and then
   forks a child that fills fresh pages: the read fails with EFAULT once
   the bytes come, and they stay in the pipe or socket for the next read
   (Linux consumes only what it copied); the child's pages never change
   (no frame taken before the wait is written after it). */
static void unmap_during_read(int type) {
    int sv[2], go[2], ready[2];
    read_pair(type, sv);
    CHECK(pipe(go));
    CHECK(pipe(ready));
    fork_rfd = sv[1];
    fork_dst = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fork_dst[0] = 'z';
    pthread_t t;
    CHECK(pthread_create(&t, NULL, blocked_reader, NULL));
    while (!fork_reader || !sleeping(fork_reader)) usleep(1000);
    CHECK(munmap(fork_dst, 4096));
    pid_t pid = fork();
    if (pid == 0) {
        char *pages[64], x;
        int changed = 0;
        for (int i = 0; i < 64; i++) {
            pages[i] = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
            memset(pages[i], 'C', 4096);
        }
        CHECK(write(ready[1], "r", 1));
        CHECK(read(go[0], &x, 1));
        for (int i = 0; i < 64; i++)
            for (int j = 0; j < 4096; j++)
                if (pages[i][j] != 'C') { changed++; break; }
        printf("child's pages changed: %d\n", changed);
        _exit(0);
    }
    char x, left[16] = "";
    CHECK(read(ready[0], &x, 1));
    CHECK(write(sv[0], "hello", 5));
    pthread_join(t, NULL);
    printf("read %zd %s\n", fork_got, fork_got < 0 ? strerrorname_np(fork_errno) : "");
    CHECK(fcntl(sv[1], F_SETFL, O_NONBLOCK));
    ERR(read(sv[1], left, sizeof left - 1));
    printf("left '%s'\n", left);
    CHECK(write(go[1], "x", 1));
    int st;
    waitpid(pid, &st, 0);
}

/* tee and splice between pipes keep the source's pipe buffers (a write's,
   then a file's spliced page): a read into a buffer mapped for only part
   of them counts whole buffers, as from the source. A file spliced from
   an offset inside a page, and user memory vmspliced from an address
   inside one, make buffers cut where their pages end. */
static void tee_cut(void) {
    int a[2], b[2], c[2];
    CHECK(pipe(a));
    CHECK(pipe(b));
    CHECK(pipe(c));
    char path[] = "/tmp/tee-cut-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd);
    unlink(path);
    CHECK(write(fd, "0123456789", 10));
    CHECK(write(a[1], "abcdefghij", 10));
    off_t off = 0;
    CHECK(splice(fd, &off, a[1], NULL, 10, 0));
    CHECK(tee(a[0], b[1], 20, 0));
    CHECK(splice(a[0], NULL, c[1], NULL, 20, 0));
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(munmap(m + 4096, 4096));
    int ends[] = {b[0], c[0]};
    for (int i = 0; i < 2; i++) {
        errno = 0;
        ssize_t r = read(ends[i], m + 4096 - 15, 20);
        printf("%s: read 20, 15 mapped = %zd %s '%.10s'\n", i ? "splice" : "tee", r,
               r < 0 ? strerrorname_np(errno) : "", m + 4096 - 15);
    }
    static char big[16384];
    memset(big, 'f', sizeof big);
    CHECK(pwrite(fd, big, sizeof big, 0));
    off = 100;
    CHECK(splice(fd, &off, a[1], NULL, 5000, 0));
    errno = 0;
    ssize_t r = read(a[0], m + 4096 - 4000, 5000);
    printf("file splice at 100: read 5000, 4000 mapped = %zd %s\n", r,
           r < 0 ? strerrorname_np(errno) : "");
    char *src = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(src, 'v', 8192);
    struct iovec iov = {src + 4000, 200};     /* (after the 10 file bytes b still holds) */
    CHECK(vmsplice(b[1], &iov, 1, 0));
    errno = 0;
    r = read(b[0], m + 4096 - 150, 200);
    printf("vmsplice at 4000: read 200, 150 mapped = %zd %s\n", r,
           r < 0 ? strerrorname_np(errno) : "");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    const char *m = argc > 1 ? argv[1] : "";
    if (!strcmp(m, "stream")) stream_basic();
    else if (!strcmp(m, "peek_waitall")) peek_waitall();
    else if (!strcmp(m, "dgram")) dgram_boundaries();
    else if (!strcmp(m, "seqpacket")) seqpacket();
    else if (!strcmp(m, "paths")) path_names();
    else if (!strcmp(m, "nonblocking_accept")) nonblocking_accept();
    else if (!strcmp(m, "abstract")) abstract_names();
    else if (!strcmp(m, "rights_stream")) scm_rights(SOCK_STREAM);
    else if (!strcmp(m, "rights_dgram")) scm_rights(SOCK_DGRAM);
    else if (!strcmp(m, "credentials")) scm_credentials();
    else if (!strcmp(m, "peercred")) peercred();
    else if (!strcmp(m, "epipe")) epipe();
    else if (!strcmp(m, "shutdown_types")) shutdown_types();
    else if (!strcmp(m, "zero_length")) zero_length();
    else if (!strcmp(m, "option_values")) option_values();
    else if (!strcmp(m, "sndbuf")) sndbuf();
    else if (!strcmp(m, "sockopts")) sockopts();
    else if (!strcmp(m, "mmsg")) mmsg();
    else if (!strcmp(m, "dgram_names")) dgram_names();
    else if (!strcmp(m, "read_write_buffers")) read_write_buffers();
    else if (!strcmp(m, "fork_during_read_stream")) fork_during_read(SOCK_STREAM);
    else if (!strcmp(m, "fork_during_read_dgram")) fork_during_read(SOCK_DGRAM);
    else if (!strcmp(m, "fork_during_read_pipe")) fork_during_read(0);
    else if (!strcmp(m, "fork_during_read_tcp")) fork_during_read(-1);
    else if (!strcmp(m, "fork_during_recv_tcp")) fork_by_recv = 1, fork_during_read(-1);
    else if (!strcmp(m, "tee_cut")) tee_cut();
    else if (!strcmp(m, "unmap_during_read_pipe")) unmap_during_read(0);
    else if (!strcmp(m, "unmap_during_read_tcp")) unmap_during_read(-1);
    else if (!strcmp(m, "unmap_during_readv_pipe")) fork_by_readv = 1, unmap_during_read(0);
    else if (!strcmp(m, "unmap_during_read_stream")) unmap_during_read(SOCK_STREAM);
    else if (!strcmp(m, "unmap_during_readv_stream"))
        fork_by_readv = 1, unmap_during_read(SOCK_STREAM);
    else if (!strcmp(m, "unmap_during_recv_stream")) fork_by_recv = 1, unmap_during_read(SOCK_STREAM);
    else if (!strcmp(m, "unmap_during_recvmsg_stream"))
        fork_by_recv = 2, unmap_during_read(SOCK_STREAM);
    else if (!strcmp(m, "unmap_during_recvmsg_tcp")) fork_by_recv = 2, unmap_during_read(-1);
    else if (!strcmp(m, "unmap_during_recv_tcp")) fork_by_recv = 1, unmap_during_read(-1);
    else if (!strcmp(m, "unmap_during_readv_tcp")) fork_by_readv = 1, unmap_during_read(-1);
    else { printf("unknown mode\n"); return 2; }
    return 0;
}
