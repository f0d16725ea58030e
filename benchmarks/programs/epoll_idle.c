/* Blocks in epoll_wait on a pipe nobody writes, for argv[1] milliseconds. */
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int p[2], ep = epoll_create1(0);
    if (pipe(p) || ep < 0) return 1;
    struct epoll_event ev = {.events = EPOLLIN};
    epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
    return epoll_wait(ep, &ev, 1, argc > 1 ? atoi(argv[1]) : 10000) == 0 ? 0 : 1;
}
