/* The loader maps a large .bss (zero), initialized .data and .rodata. */
#include <stdint.h>
#include <stdio.h>

#define BSS (64u << 20)

static char bss[BSS];
static uint32_t data[65536] = {[0] = 0xdeadbeef, [1000] = 42, [65535] = 0xcafef00d};
static const char rodata[] = "read-only data in the image";
static uint64_t small_data = 0x0123456789abcdefull;

int main(void)
{
    size_t nonzero = 0;
    for (size_t i = 0; i < BSS; i += 1024)
        nonzero += bss[i] != 0;
    nonzero += bss[BSS - 1] != 0;
    for (size_t i = 0; i < BSS; i += 4096)
        bss[i] = (char)(i >> 12);
    uint64_t sum = 0;
    for (size_t i = 0; i < BSS; i += 4096)
        sum += (unsigned char)bss[i];
    uint64_t dsum = 0;
    for (size_t i = 0; i < 65536; i++)
        dsum += data[i];
    data[5] = 5;
    printf("bss nonzero=%zu sum=%llu\n", nonzero, (unsigned long long)sum);
    printf("data sum=%llu small=%llx\n", (unsigned long long)dsum,
           (unsigned long long)small_data);
    printf("rodata: %s\n", rodata);
    return 0;
}
