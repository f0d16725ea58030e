/* stdio basics: printf and puts to stdout, fprintf to stderr. */
#include <stdio.h>

int main(void)
{
    printf("hello, %s! %d %x %s\n", "world", 42, 0xbeef, "printf");
    puts("hello from puts");
    fprintf(stderr, "hello on stderr: %d\n", -7);
    printf("%-8s|%8s|%05d\n", "left", "right", 123);
    return 0;
}
