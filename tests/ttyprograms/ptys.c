/* Pseudo-terminals from a program's side, one mode per case; prints only
 * what must be identical natively and in the sandbox. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* what: the call's result and errno name, evaluated in that order */
#define RC(what, call) do { errno = 0; long r_ = (call); int e_ = errno; \
    printf("%s %ld %s\n", what, r_, r_ < 0 ? strerrorname_np(e_) : "-"); } while (0)

static void show(const char *what, const char *buf, ssize_t n)
{
    printf("%s %zd [", what, n);
    for (ssize_t i = 0; i < n; i++) {
        unsigned char c = buf[i];
        if (c >= 0x20 && c < 0x7f) putchar(c); else printf("\\x%02x", c);
    }
    printf("]\n");
    fflush(stdout);
}

/* Everything the master can read right now (after a short settle). */
static void drain(int master, const char *what)
{
    char buf[512];
    ssize_t total = 0, n;
    struct pollfd p = {master, POLLIN, 0};
    while (total < (ssize_t)sizeof buf && poll(&p, 1, 200) == 1 && (p.revents & POLLIN)) {
        n = read(master, buf + total, sizeof buf - total);
        if (n <= 0) break;
        total += n;
    }
    show(what, buf, total);
}

static int open_pair(int *slave, int flags)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) || unlockpt(m)) { perror("openpt"); exit(1); }
    *slave = open(ptsname(m), O_RDWR | flags);
    if (*slave < 0) { perror("open slave"); exit(1); }
    return m;
}

static void rd(int fd, const char *what, size_t len)
{
    char buf[256];
    ssize_t n = read(fd, buf, len);
    if (n < 0) printf("%s errno %s\n", what, strerrorname_np(errno));
    else show(what, buf, n);
    fflush(stdout);
}

/* struct termios2 and its requests, spelled out (asm/termbits.h and
 * glibc's termios.h cannot both be included). */
struct k_termios2 {
    unsigned iflag, oflag, cflag, lflag;
    unsigned char line, cc[19];
    unsigned ispeed, ospeed;
};
#define K_TCGETS2 0x802C542Au
#define K_TCSETS2 0x402C542Bu
#define K_TIOCGPTPEER 0x5441u

static void termios2_and_peer(void)
{
    int s, m = open_pair(&s, O_NOCTTY);
    struct termios t;
    struct k_termios2 t2;
    tcgetattr(s, &t);
    printf("default iflag %o oflag %o cflag %o lflag %o\n", t.c_iflag, t.c_oflag, t.c_cflag,
           t.c_lflag);
    RC("TCGETS2", ioctl(s, K_TCGETS2, &t2));
    printf("termios2 same flags %d speeds %u %u\n",
           t2.iflag == t.c_iflag && t2.oflag == t.c_oflag && t2.cflag == t.c_cflag &&
           t2.lflag == t.c_lflag && !memcmp(t2.cc, t.c_cc, 19), t2.ispeed, t2.ospeed);
    t2.cflag = (t2.cflag & ~0010017) | 0000015;          /* B9600 */
    RC("TCSETS2 B9600", ioctl(s, K_TCSETS2, &t2));
    tcgetattr(s, &t);
    ioctl(m, K_TCGETS2, &t2);
    printf("after TCSETS2 cflag %o ospeed %u master sees it %d\n", t.c_cflag, t2.ospeed,
           t2.cflag == t.c_cflag);
    int peer = ioctl(m, K_TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    printf("TIOCGPTPEER %d cloexec %d\n", peer >= 0, peer >= 0 && (fcntl(peer, F_GETFD) & FD_CLOEXEC));
    write(m, "hi\n", 3);
    char buf[8];
    printf("peer reads %zd\n", read(peer, buf, sizeof buf));
    RC("TIOCGPTPEER of a slave", ioctl(s, K_TIOCGPTPEER, O_RDWR));
    close(peer);
    close(s);
    close(m);
    m = posix_openpt(O_RDWR | O_NOCTTY);
    RC("TIOCGPTPEER while locked", ioctl(m, K_TIOCGPTPEER, O_RDWR | O_NOCTTY));
    close(m);
}

static void basic(void)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    printf("openpt %d\n", m >= 0);
    printf("grantpt %d\n", grantpt(m));
    char *name = ptsname(m);
    printf("ptsname prefix %d\n", strncmp(name, "/dev/pts/", 9) == 0);
    unsigned n; ioctl(m, TIOCGPTN, &n);
    printf("ptn matches %d\n", (unsigned)atoi(name + 9) == n);
    int s = open(name, O_RDWR | O_NOCTTY);
    printf("locked open %d %s\n", s, s < 0 ? strerrorname_np(errno) : "");
    printf("unlockpt %d\n", unlockpt(m));
    s = open(name, O_RDWR | O_NOCTTY);
    printf("open %d\n", s >= 0);
    struct stat st;
    stat(name, &st);
    printf("slave chr %d user-rw %d major %u minor-ok %d\n", S_ISCHR(st.st_mode),
           (st.st_mode & 0600) == 0600, major(st.st_rdev), minor(st.st_rdev) == n);
    fstat(m, &st);
    printf("master chr %d major %u minor %u\n", S_ISCHR(st.st_mode), major(st.st_rdev),
           minor(st.st_rdev));
    printf("isatty %d %d\n", isatty(m), isatty(s));
    RC("slave TIOCGPTN", ioctl(s, TIOCGPTN, &n));
    int in;
    write(m, "ab", 2);
    ioctl(s, FIONREAD, &in);
    printf("slave FIONREAD canon partial %d\n", in);
    close(s);
    close(m);
    s = open(name, O_RDWR | O_NOCTTY);
    printf("after close %d\n", s >= 0 ? 0 : -1);
    termios2_and_peer();
    /* A pty whose sides are both closed frees its index for the next
     * master; the new slave node is the new pty's, not the old one's. */
    for (int round = 0; round < 3; round++) {
        m = open_pair(&s, O_NOCTTY);
        char buf[8];
        write(m, "x\n", 2);
        printf("reuse round %d read %zd\n", round, read(s, buf, sizeof buf));
        close(s);
        close(m);
    }
    /* A slave kept open past its master's close keeps the index taken. */
    m = open_pair(&s, O_NOCTTY);
    ioctl(m, TIOCGPTN, &n);
    close(m);
    int s2, m2 = open_pair(&s2, O_NOCTTY);
    unsigned n2;
    ioctl(m2, TIOCGPTN, &n2);
    printf("held index taken %d\n", n2 != n);
    close(s);
    close(s2);
    close(m2);
}

/* Type input on the master: what the slave reads, then the echo. */
static void typed(int m, int s, const char *input, size_t n, const char *what)
{
    char echo_what[64];
    write(m, input, n);
    rd(s, what, 100);
    snprintf(echo_what, sizeof echo_what, "%s-echo", what);
    drain(m, echo_what);
}

static void canon(void)
{
    int s, m = open_pair(&s, O_NOCTTY);
    write(m, "hello\rwor\x7fld\n", 13);
    rd(s, "line1", 100);
    write(m, "abc\x15" "def\n", 8);
    rd(s, "kill", 100);
    write(m, "one two\x17three\n", 14);
    rd(s, "werase", 100);
    write(m, "xy\x04", 3);
    rd(s, "eof-partial", 100);
    write(m, "\x04", 1);
    rd(s, "eof", 100);
    write(m, "long line\n", 10);
    rd(s, "short1", 4);
    rd(s, "short2", 100);
    drain(m, "echo");
    write(s, "out\nput\n", 8);
    drain(m, "onlcr");
    struct termios t;
    tcgetattr(s, &t);
    printf("iflag %o oflag %o lflag %o cc %d %d %d %d %d\n", t.c_iflag, t.c_oflag, t.c_lflag,
           t.c_cc[VINTR], t.c_cc[VERASE], t.c_cc[VKILL], t.c_cc[VEOF], t.c_cc[VMIN]);
    t.c_oflag &= ~OPOST;
    tcsetattr(s, TCSANOW, &t);
    write(s, "raw\nout\n", 8);
    drain(m, "no-opost");
    /* Erase under IUTF8 takes a whole character and never part of one;
     * word erase stops at punctuation after a word (ALTWERASE). */
    t.c_oflag |= OPOST;
    t.c_iflag |= IUTF8;
    tcsetattr(s, TCSANOW, &t);
    typed(m, s, "gviso\xc6\xa9\x7f\n", 9, "utf8-erase");
    typed(m, s, "\x80\x7f\n", 3, "utf8-partial");
    t.c_iflag &= ~IUTF8;
    tcsetattr(s, TCSANOW, &t);
    typed(m, s, "gviso\xc6\xa9\x7f\n", 9, "bytes-erase");
    typed(m, s, "foo.bar\x17x\n", 10, "werase-punct");
}

static void raw(void)
{
    int s, m = open_pair(&s, O_NOCTTY);
    struct termios t;
    write(m, "partial", 7);
    drain(m, "canon-echo");          /* natively, echo happens after a delay */
    tcgetattr(s, &t);
    cfmakeraw(&t);
    t.c_cc[VMIN] = 1; t.c_cc[VTIME] = 0;
    tcsetattr(s, TCSANOW, &t);
    rd(s, "from-canon", 100);
    write(m, "a\rb\x03", 4);
    rd(s, "raw", 100);
    t.c_cc[VMIN] = 0; t.c_cc[VTIME] = 0;
    tcsetattr(s, TCSANOW, &t);
    rd(s, "min0time0", 100);
    t.c_cc[VMIN] = 0; t.c_cc[VTIME] = 2;
    tcsetattr(s, TCSANOW, &t);
    rd(s, "min0time2", 100);
    t.c_cc[VMIN] = 3; t.c_cc[VTIME] = 0;
    tcsetattr(s, TCSANOW, &t);
    if (fork() == 0) {
        usleep(100000); write(m, "x", 1);
        usleep(100000); write(m, "yz", 2);
        _exit(0);
    }
    rd(s, "min3", 100);
    wait(NULL);
    t.c_cc[VMIN] = 5; t.c_cc[VTIME] = 2;
    tcsetattr(s, TCSANOW, &t);
    write(m, "pq", 2);
    rd(s, "min5time2", 100);
    drain(m, "echo");
    fcntl(s, F_SETFL, O_NONBLOCK);
    t.c_cc[VMIN] = 1; t.c_cc[VTIME] = 0;
    tcsetattr(s, TCSANOW, &t);
    rd(s, "nonblock", 100);
    /* Output processing keeps the column: ONOCR drops a CR at column 0,
     * ONLRET makes NL return the column, XTABS expands tabs, OLCUC. */
    t.c_oflag = OPOST | ONOCR;
    tcsetattr(s, TCSANOW, &t);
    write(s, "\r", 1);
    write(s, "ab\r\r", 4);
    drain(m, "onocr");
    t.c_oflag = OPOST | ONOCR | ONLRET;
    tcsetattr(s, TCSANOW, &t);
    write(s, "x\n\r", 3);
    drain(m, "onlret");
    t.c_oflag = OPOST | XTABS | OLCUC;
    tcsetattr(s, TCSANOW, &t);
    write(s, "ab\tc\bd\t|\n", 10);
    drain(m, "xtabs-olcuc");
}

static void echo(void)
{
    int s, m = open_pair(&s, O_NOCTTY);
    struct termios t;
    tcgetattr(s, &t);
    t.c_lflag &= ~ECHO;
    tcsetattr(s, TCSANOW, &t);
    write(m, "secret\n", 7);
    rd(s, "noecho", 100);
    drain(m, "noecho-echo");
    t.c_lflag |= ECHO | ECHOCTL;
    tcsetattr(s, TCSANOW, &t);
    write(m, "a\x01\x7f\x7f" "b\tc\n", 8);
    rd(s, "ctl", 100);
    drain(m, "ctl-echo");
    t.c_lflag &= ~ECHO;
    t.c_lflag |= ECHONL;
    tcsetattr(s, TCSANOW, &t);
    write(m, "nl\n", 3);
    rd(s, "echonl", 100);
    drain(m, "echonl-echo");
}

static volatile sig_atomic_t got;
static void on_sig(int sig) { got = sig; }

static void jobs(void)
{
    int s, m = open_pair(&s, O_NOCTTY);
    const char *name = ptsname(m);
    pid_t pid = fork();
    if (pid == 0) {
        int pg;
        setsid();
        int fd = open(name, O_RDWR | O_NOCTTY);
        RC("noctty pgrp", ioctl(fd, TIOCGPGRP, &pg));
        RC("noctty sid", ioctl(fd, TIOCGSID, &pg));
        RC("noctty notty", ioctl(fd, TIOCNOTTY));
        printf("sctty %d\n", ioctl(fd, TIOCSCTTY, 0));
        printf("sctty again %d\n", ioctl(fd, TIOCSCTTY, 0));
        ioctl(fd, TIOCGPGRP, &pg);
        printf("pgrp is mine %d\n", pg == getpgrp());
        ioctl(fd, TIOCGSID, &pg);
        printf("sid is mine %d\n", pg == getsid(0));
        printf("tcgetsid %d\n", tcgetsid(fd) == getpid());
        int bad = 999999;
        RC("spgrp missing", ioctl(fd, TIOCSPGRP, &bad));
        bad = -1;
        RC("spgrp negative", ioctl(fd, TIOCSPGRP, &bad));
        pid_t c = fork();
        if (c == 0) {
            RC("child sctty", ioctl(fd, TIOCSCTTY, 0));
            setpgid(0, 0);
            fflush(stdout);
            _exit(0);
        }
        waitpid(c, NULL, 0);
        fflush(stdout);
        int fd2 = open(name, O_RDWR);     /* another open, ctty already set */
        printf("reopen %d\n", fd2 >= 0);
        close(fd2);
        signal(SIGINT, on_sig);
        signal(SIGWINCH, on_sig);
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGWINCH);
        sigprocmask(SIG_BLOCK, &block, &old);
        write(fd, "R\n", 2);
        while (got != SIGINT) sigsuspend(&old);
        printf("child got SIGINT\n");
        fflush(stdout);
        got = 0;
        write(fd, "S\n", 2);
        while (got != SIGWINCH) sigsuspend(&old);
        struct winsize ws;
        ioctl(fd, TIOCGWINSZ, &ws);
        printf("child got SIGWINCH %d %d\n", ws.ws_row, ws.ws_col);
        fflush(stdout);
        _exit(7);
    }
    char buf[16];
    int n = 0;
    while (n < 3 && (n += read(m, buf + n, 3 - n)) > 0) ;
    show("ready", buf, n);
    int pg;
    ioctl(m, TIOCGPGRP, &pg);
    printf("master sees child's pgrp %d\n", pg == pid);
    write(m, "typed\x03", 6);
    char out[64];
    n = 0;
    while (n < 60 && !(n >= 3 && !memcmp(out + n - 3, "S\r\n", 3))) {
        ssize_t k = read(m, out + n, 60 - n);
        if (k <= 0) break;
        n += k;
    }
    show("after ^C", out, n);
    struct winsize ws = {24, 80, 0, 0};
    ioctl(m, TIOCSWINSZ, &ws);
    int st;
    waitpid(pid, &st, 0);
    printf("child exit %d\n", WEXITSTATUS(st));
    close(s);
    RC("master read after hangup", read(m, buf, 16));
    close(m);
    /* A session leader's exit frees its terminal for another session; the
     * master is not the terminal a session holds. */
    m = open_pair(&s, O_NOCTTY);
    for (int round = 0; round < 2; round++) {
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            setsid();
            RC("  TIOCSCTTY in a new session", ioctl(s, TIOCSCTTY, 0));
            RC("  TIOCNOTTY on the master", ioctl(m, TIOCNOTTY));
            int tty = open("/dev/tty", O_RDWR | O_NONBLOCK);
            printf("  /dev/tty is the terminal: %d\n", tty >= 0 && isatty(tty) &&
                   write(tty, "via tty\n", 8) == 8);
            _exit(0);
        }
        waitpid(pid, &st, 0);
        drain(m, "  master after the session");
    }
    close(s);
    close(m);
}

static void polls(void)
{
    int s, m = open_pair(&s, O_NOCTTY);
    struct pollfd p[2] = {{m, POLLIN | POLLOUT, 0}, {s, POLLIN | POLLOUT, 0}};
    poll(p, 2, 0);
    printf("idle master %x slave %x\n", p[0].revents, p[1].revents);
    struct termios t;
    tcgetattr(s, &t);
    t.c_lflag &= ~ECHO;
    tcsetattr(s, TCSANOW, &t);
    write(m, "ab", 2);
    poll(p, 2, 0);
    printf("partial line slave %x\n", p[1].revents);
    write(m, "\n", 1);
    poll(p, 2, 0);
    printf("full line slave %x\n", p[1].revents);
    write(s, "z", 1);
    poll(p, 2, 0);
    printf("output master %x\n", p[0].revents);
    int in;
    ioctl(m, FIONREAD, &in);
    printf("master FIONREAD %d\n", in);
    ioctl(s, FIONREAD, &in);
    printf("slave FIONREAD %d\n", in);
    tcflush(s, TCIFLUSH);
    ioctl(s, FIONREAD, &in);
    printf("after flush %d\n", in);
    if (fork() == 0) {
        usleep(100000);
        write(m, "late\n", 5);
        _exit(0);
    }
    p[1].events = POLLIN;
    printf("poll wait %d %x\n", poll(&p[1], 1, 5000), p[1].revents);
    rd(s, "late", 100);
    wait(NULL);
    close(s);
    p[0].events = POLLIN;
    poll(p, 1, 0);
    printf("slave closed master %x\n", p[0].revents);
    rd(m, "master-data", 100);
    rd(m, "master-hup", 100);
}

/* TIOCPKT: a status byte before each master read; flushes and flow
 * control changes on the slave arrive as status-only reads, with POLLPRI. */
static void packet(void)
{
    int s, m = open_pair(&s, O_NOCTTY);
    int on = 1, got_mode = -1;
    struct termios tio;
    struct pollfd p = {m, POLLIN | POLLPRI, 0};
    RC("tiocpkt", ioctl(m, TIOCPKT, &on));
    RC("tiocgpkt", ioctl(m, TIOCGPKT, &got_mode));
    printf("mode %d\n", got_mode);
    RC("poll idle", poll(&p, 1, 0));
    RC("write", write(s, "hi\n", 3));
    RC("poll data", poll(&p, 1, 1000));
    printf("revents %#x\n", p.revents);
    rd(m, "data", sizeof "hi\r\n" + 8);
    RC("write", write(s, "abc", 3));
    rd(m, "short", 2);
    rd(m, "rest", 64);
    RC("tcflush in", tcflush(s, TCIFLUSH));
    RC("poll status", poll(&p, 1, 1000));
    printf("revents %#x\n", p.revents);
    rd(m, "flushread", 64);
    RC("write", write(s, "lost", 4));
    RC("tcflush out", tcflush(s, TCOFLUSH));
    rd(m, "flushwrite", 64);
    RC("write", write(s, "x", 1));
    RC("tcflush both", tcflush(s, TCIOFLUSH));
    rd(m, "flushboth", 64);
    tcgetattr(s, &tio);
    tio.c_iflag &= ~IXON;
    RC("ixon off", tcsetattr(s, TCSANOW, &tio));
    rd(m, "nostop", 64);
    tio.c_iflag |= IXON;
    RC("ixon on", tcsetattr(s, TCSANOW, &tio));
    rd(m, "dostop", 64);
    RC("tcflush master", tcflush(m, TCIFLUSH));
    p.revents = 0;
    RC("poll after master flush", poll(&p, 1, 0));
    on = 0;
    RC("tiocpkt off", ioctl(m, TIOCPKT, &on));
    RC("write", write(s, "plain", 5));
    rd(m, "plain", 64);
}

/* FIONREAD of fd once it stops growing (natively the flip buffer reaches
 * the line discipline from a work queue, a moment after the write). */
static int settled_fionread(int fd)
{
    int n = -1, last = -2;
    for (int i = 0; i < 100 && n != last; i++) {
        last = n;
        usleep(20000);
        ioctl(fd, FIONREAD, &n);
    }
    return n;
}

/* Typed input beyond what the line discipline holds waits in the pty;
 * once that is full a master write blocks (EAGAIN with O_NONBLOCK), and
 * a reader or an input flush makes room. */
static void flow(void)
{
    int s, m = open_pair(&s, O_NOCTTY);
    struct termios t;
    char buf[8192];
    tcgetattr(s, &t);
    t.c_lflag &= ~(ICANON | ECHO);
    t.c_cc[VMIN] = 1; t.c_cc[VTIME] = 0;
    tcsetattr(s, TCSANOW, &t);
    fcntl(m, F_SETFL, O_NONBLOCK);
    memset(buf, 'M', sizeof buf);
    long total = 0;
    ssize_t n;
    int rounds = 0;
    /* Natively the first EAGAIN can come before the line discipline took
     * its share: retry until a settled write still fails. */
    while (rounds < 50) {
        n = write(m, buf, 1024);
        if (n > 0) { total += n; continue; }
        if (errno != EAGAIN) { perror("write"); break; }
        usleep(20000);
        if (write(m, buf, 1) == 1) { total++; continue; }
        rounds++;
        break;
    }
    printf("filled: EAGAIN %s, more than the line buffer %d, bounded %d\n",
           strerrorname_np(errno), total > 4095, total < 1 << 20);
    printf("line discipline holds %d\n", settled_fionread(s));
    struct pollfd p = {s, POLLIN, 0};
    printf("replica readable %d\n", poll(&p, 1, 0));
    /* a blocked writer wakes when the replica flushes its input */
    pid_t pid = fork();
    if (pid == 0) {
        fcntl(m, F_SETFL, 0);
        _exit(write(m, "w", 1) == 1 ? 0 : 1);
    }
    usleep(300000);
    printf("writer blocked %d\n", waitpid(pid, NULL, WNOHANG) == 0);
    RC("tcflush", tcflush(s, TCIFLUSH));
    int status;
    waitpid(pid, &status, 0);
    printf("writer woke, status %d\n", WEXITSTATUS(status));
    printf("after flush holds %d\n", settled_fionread(s));
    read(s, buf, 10);
    /* a reader makes room */
    fcntl(m, F_SETFL, O_NONBLOCK);
    while (write(m, buf, 1024) > 0 || (usleep(20000), write(m, buf, 1) == 1))
        ;
    long got = 0;
    while (got < 8192) {
        n = read(s, buf, sizeof buf);
        if (n <= 0) break;
        got += n;
    }
    int wrote = 0;
    for (int i = 0; i < 50 && !wrote; i++) {
        wrote = write(m, "x", 1) == 1;
        if (!wrote) usleep(20000);
    }
    printf("room after reading %d\n", wrote);
    /* Noncanonical input that fills the line buffer becomes one line when
     * ICANON comes back on; the rest waits for the next line. */
    tcflush(s, TCIFLUSH);
    memset(buf, 'M', 4100);
    printf("wrote %zd\n", write(m, buf, 4100));
    printf("noncanon holds %d\n", settled_fionread(s));
    t.c_lflag |= ICANON;
    tcsetattr(s, TCSANOW, &t);
    n = read(s, buf, sizeof buf);
    printf("canonical read %zd\n", n);
    fcntl(s, F_SETFL, O_NONBLOCK);
    n = read(s, buf, sizeof buf);
    printf("then %zd %s\n", n, n < 0 ? strerrorname_np(errno) : "-");
    write(m, "\n", 1);
    fcntl(s, F_SETFL, 0);
    n = read(s, buf, sizeof buf);
    printf("next line %zd\n", n);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "basic")) basic();
    else if (!strcmp(mode, "canon")) canon();
    else if (!strcmp(mode, "raw")) raw();
    else if (!strcmp(mode, "echo")) echo();
    else if (!strcmp(mode, "jobs")) jobs();
    else if (!strcmp(mode, "poll")) polls();
    else if (!strcmp(mode, "packet")) packet();
    else if (!strcmp(mode, "flow")) flow();
    else { fprintf(stderr, "mode?\n"); return 2; }
    return 0;
}
