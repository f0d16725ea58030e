/* Writing to a pipe nobody reads any more raises SIGPIPE, whose default
 * action kills the writer (status 141 in a shell). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    static char buf[4096];
    memset(buf, 'p', sizeof(buf));
    for (int i = 0; i < 100000; i++) {
        if (write(1, buf, sizeof(buf)) < 0) {
            fprintf(stderr, "write failed: %s\n", strerror(errno));
            return 3;
        }
    }
    fprintf(stderr, "nobody closed the pipe\n");
    return 4;
}
