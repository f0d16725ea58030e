/* Every way to create or move a mapping, aimed below mmap_min_addr
 * (65536), into the kernel half, at non-canonical addresses and across
 * the user top; prints each result (issue 13's crash input 3). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TOP 0x7ffffffff000UL

static void show(const char *what, void *r)
{
    printf("%-40s %s\n", what, r == MAP_FAILED ? strerror(errno) : "ok");
}

static void *page(void)
{
    void *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(p, 1, 8192);
    return p;
}

static void *remap_to(unsigned long to, size_t len)
{
    return mremap(page(), 4096, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)to);
}

int main(void)
{
    int anon = MAP_PRIVATE | MAP_ANONYMOUS;
    show("mmap fixed 0", mmap((void *)0, 4096, PROT_READ, anon | MAP_FIXED, -1, 0));
    show("mmap fixed 0x2000", mmap((void *)0x2000, 4096, PROT_READ, anon | MAP_FIXED, -1, 0));
    show("mmap noreplace 0xf000", mmap((void *)0xf000, 4096, PROT_READ, anon | MAP_FIXED_NOREPLACE, -1, 0));
    show("mmap fixed top", mmap((void *)TOP, 4096, PROT_READ, anon | MAP_FIXED, -1, 0));
    show("mmap fixed across top", mmap((void *)(TOP - 4096), 8192, PROT_READ, anon | MAP_FIXED, -1, 0));
    show("mmap fixed kernel half", mmap((void *)0xffffff8000000000UL, 4096, PROT_READ, anon | MAP_FIXED, -1, 0));
    void *hinted = mmap((void *)0x1000, 4096, PROT_READ, anon, -1, 0);
    printf("%-40s %s\n", "mmap hint 0x1000 lands >= 65536",
           hinted != MAP_FAILED && (unsigned long)hinted >= 65536 ? "yes" : "no");
    show("mremap fixed 0", remap_to(0, 4096));
    show("mremap fixed 0x2000", remap_to(0x2000, 4096));
    show("mremap fixed kernel half", remap_to(0xffffff8000002000UL, 4096));
    show("mremap fixed non-canonical", remap_to(0x0000800000000000UL, 4096));
    show("mremap fixed 1<<63", remap_to(1UL << 63, 4096));
    show("mremap fixed at top", remap_to(TOP, 4096));
    show("mremap fixed across top", remap_to(TOP - 4096, 8192));
    long cur = syscall(SYS_brk, 0);
    long r = syscall(SYS_brk, 0xffffff8000000000UL);
    printf("%-40s %s\n", "brk kernel half", r == cur ? "unchanged" : "moved");
    r = syscall(SYS_brk, 1UL << 63);
    printf("%-40s %s\n", "brk 1<<63", r == cur ? "unchanged" : "moved");
    r = syscall(SYS_brk, 0x1000);
    printf("%-40s %s\n", "brk 0x1000", r == cur ? "unchanged" : "moved");
    /* An LDT would be another way to a 32-bit code segment. */
    struct { unsigned entry, base, limit, flags; } ldt = {0, 0, 0xfffff, 0x51};
    r = syscall(SYS_modify_ldt, 1, &ldt, sizeof ldt);
    printf("%-40s %s\n", "modify_ldt 32-bit code", r < 0 ? strerror(errno) : "ok");
    return 0;
}
