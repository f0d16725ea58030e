/* Thread-local storage of the main thread: initialized and zeroed TLS,
 * an over-aligned TLS variable, and the %fs:0 self pointer. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static __thread int counter = 5;
static __thread char tbss[100000];
static __thread char tdata[64] = "tls initial image";
static __thread _Alignas(64) long aligned = 7;

int main(void)
{
    size_t nonzero = 0;
    for (size_t i = 0; i < sizeof(tbss); i++)
        nonzero += tbss[i] != 0;
    counter += 10;
    memset(tbss, 1, sizeof(tbss));
    uintptr_t self;
    __asm__ volatile("mov %%fs:0, %0" : "=r"(self));
    printf("counter=%d tdata=\"%s\" tbss nonzero=%zu\n", counter, tdata, nonzero);
    printf("aligned=%ld is 64-byte aligned=%d\n", aligned, ((uintptr_t)&aligned % 64) == 0);
    printf("fs:0 is the thread pointer=%d\n", self != 0 && (uintptr_t)&counter < self);
    return 0;
}
