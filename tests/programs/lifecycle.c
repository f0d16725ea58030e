/* Constructors, atexit handlers and destructors run in Linux's order, and
 * exit() from deep inside flushes stdio. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void ctor(void)
{
    printf("constructor\n");
}

__attribute__((destructor)) static void dtor(void)
{
    printf("destructor\n");
}

static void first(void)
{
    printf("atexit registered first, runs last\n");
}

static void second(void)
{
    printf("atexit registered second, runs first\n");
}

__attribute__((noinline)) static void leave(void)
{
    printf("exit(7) from a nested call, unflushed");
    exit(7);
}

__attribute__((noinline)) static void nested(void)
{
    leave();
    printf("not reached\n");
}

int main(void)
{
    atexit(first);
    atexit(second);
    printf("main\n");
    nested();
    return 0;
}
