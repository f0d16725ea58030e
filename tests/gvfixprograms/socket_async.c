/* O_ASYNC on Unix sockets (gVisor ioctl_test FIOASYNCSelfTarget*): SIGIO
 * to the owner when data arrives, armed by FIOASYNC or F_SETFL in either
 * order with the owner, none after the armed socket is closed; and
 * SIOCGIFCONF on sockets of every family (ioctl_test IoctlTestSIOCGIFCONF):
 * it lists the IPv4 interfaces whatever the family. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile int sigios;
static void on_sigio(int sig) { (void)sig; sigios++; }

static void round_of(int type, int setown_first, int use_fcntl, int peer_first)
{
    int s[2], on = 1, pid = getpid();
    socketpair(AF_UNIX, type, 0, s);
    sigios = 0;
    if (setown_first)
        ioctl(s[1], FIOSETOWN, &pid);
    if (use_fcntl)
        fcntl(s[1], F_SETFL, fcntl(s[1], F_GETFL) | O_ASYNC);
    else
        ioctl(s[1], FIOASYNC, &on);
    if (!setown_first)
        fcntl(s[1], F_SETOWN, pid);
    write(s[0], "abc", 3);
    int after_write = sigios;
    char buf[8];
    read(s[1], buf, sizeof(buf));
    int after_read = sigios;
    close(s[peer_first ? 0 : 1]);
    int after_one_close = sigios;
    close(s[peer_first ? 1 : 0]);
    printf("type %d setown first %d fcntl %d: SIGIOs after write %d, after read %d, "
           "after %s close %d, after both %d\n", type, setown_first, use_fcntl, after_write,
           after_read, peer_first ? "the peer's" : "its own", after_one_close, sigios);
}

static void ifconf(int family, int type)
{
    int fd = socket(family, type, 0);
    struct ifreq ifr[16];
    struct ifconf ic = {0};
    int r = ioctl(fd, SIOCGIFCONF, &ic);
    printf("family %d type %d: length query %d, some %d;", family, type, r, ic.ifc_len > 0);
    memset(ifr, 0, sizeof(ifr));
    ic.ifc_len = sizeof(ifr[0]) - 1;
    ic.ifc_req = ifr;
    ioctl(fd, SIOCGIFCONF, &ic);
    printf(" too small %d;", ic.ifc_len);
    ic.ifc_len = sizeof(ifr);
    ioctl(fd, SIOCGIFCONF, &ic);
    int lo = 0;
    for (int i = 0; i < ic.ifc_len / (int)sizeof(ifr[0]); i++)
        lo |= strcmp(ifr[i].ifr_name, "lo") == 0;
    printf(" lo listed %d;", lo);
    ic.ifc_len = sizeof(ifr[0]);
    ic.ifc_req = (void *)0x3f9000d51000;
    r = ioctl(fd, SIOCGIFCONF, &ic);
    printf(" bad buffer %d %s\n", r, r < 0 ? strerror(errno) : "");
    close(fd);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGIO, on_sigio);
    int types[2] = {SOCK_STREAM, SOCK_SEQPACKET};
    for (int t = 0; t < 2; t++)
        for (int order = 0; order < 2; order++)
            round_of(types[t], order, order, order);
    round_of(SOCK_DGRAM, 1, 0, 0);
    int families[3] = {AF_UNIX, AF_INET, AF_INET6};
    for (int f = 0; f < 3; f++) {
        ifconf(families[f], SOCK_STREAM);
        ifconf(families[f], SOCK_DGRAM);
    }
    return 0;
}
