/* Put the terminal on stdin in a raw-ish mode (no echo, no canonical
 * input, no signal keys), say so, then: exit (no argument), wait for a
 * signal ("wait"), or make a getpid call ("getpid"). */
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct termios t;
    if (tcgetattr(0, &t) < 0) {
        perror("tcgetattr");
        return 1;
    }
    t.c_lflag &= ~(ECHO | ICANON | ISIG);
    t.c_cc[VMIN] = 0;
    if (tcsetattr(0, TCSANOW, &t) < 0) {
        perror("tcsetattr");
        return 1;
    }
    write(1, "changed\n", 8);
    if (argc > 1 && !strcmp(argv[1], "wait"))
        pause();
    if (argc > 1 && !strcmp(argv[1], "getpid"))
        syscall(SYS_getpid);
    return 0;
}
