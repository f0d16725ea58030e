/* What the loader hands to a new program: argv, envp and the aux vector. */
#define _GNU_SOURCE
#include <elf.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>

extern char **environ;
extern char _start[];

int main(int argc, char **argv)
{
    printf("argc=%d\n", argc);
    for (int i = 1; i < argc; i++)
        printf("argv[%d]=\"%s\" (%zu)\n", i, argv[i], strlen(argv[i]));
    printf("argv[argc]=%s\n", argv[argc] ? "non-null" : "NULL");
    for (char **e = environ; *e; e++)
        printf("env: %s\n", *e);
    printf("AT_PAGESZ=%lu\n", getauxval(AT_PAGESZ));
    printf("AT_PHENT=%lu\n", getauxval(AT_PHENT));
    printf("AT_PHNUM=%lu\n", getauxval(AT_PHNUM));
    printf("AT_UID=%lu AT_EUID=%lu AT_GID=%lu AT_EGID=%lu\n", getauxval(AT_UID),
           getauxval(AT_EUID), getauxval(AT_GID), getauxval(AT_EGID));
    printf("AT_SECURE=%lu\n", getauxval(AT_SECURE));
    printf("AT_CLKTCK=%lu\n", getauxval(AT_CLKTCK));
    printf("AT_RANDOM nonzero=%d\n", getauxval(AT_RANDOM) != 0);
    printf("AT_EXECFN nonzero=%d\n", getauxval(AT_EXECFN) != 0);
    printf("AT_PLATFORM nonzero=%d\n", getauxval(AT_PLATFORM) != 0);
    printf("AT_PHDR nonzero=%d\n", getauxval(AT_PHDR) != 0);
    printf("AT_ENTRY nonzero=%d\n", getauxval(AT_ENTRY) != 0);
    if (getauxval(AT_EXECFN))
        printf("AT_EXECFN=%s\n", (char *)getauxval(AT_EXECFN));
    if (getauxval(AT_PLATFORM))
        printf("AT_PLATFORM=%s\n", (char *)getauxval(AT_PLATFORM));
    printf("AT_ENTRY==_start: %d\n", getauxval(AT_ENTRY) == (unsigned long)_start);
    /* AT_PHDR must point at this program's own program headers. */
    const Elf64_Phdr *ph = (const Elf64_Phdr *)getauxval(AT_PHDR);
    int loads = 0;
    for (unsigned long i = 0; ph && i < getauxval(AT_PHNUM); i++)
        loads += ph[i].p_type == PT_LOAD;
    printf("PT_LOAD count=%d\n", loads);
    /* 16 random bytes at AT_RANDOM: must be readable, rarely all zero. */
    const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
    int zeros = 0;
    for (int i = 0; r && i < 16; i++)
        zeros += r[i] == 0;
    printf("AT_RANDOM mostly nonzero=%d\n", zeros < 8);
    return 0;
}
