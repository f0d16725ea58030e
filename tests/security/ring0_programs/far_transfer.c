/* Far transfers into other code segments: far ret/jmp/call and iretq to a
 * selector given on the command line (hex).  If the CPU lands in the
 * 32-bit target it jumps straight back to 64-bit code that prints
 * ESCAPED: in the sandbox every such transfer must fault instead.
 * With "demo" last, first try to move a page of ring-0 code to 0x2000,
 * where kvm_pvm enters CSTAR's low 32 bits (the compat-mode demo).
 * Usage: far_transfer {lret|ljmp|lcall|iret|iret_ss} SELECTOR [syscall|sysenter|plain] [demo] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <sys/mman.h>

void compat32(void);
void compat32_syscall(void);
void compat32_sysenter(void);
void back64(void);

__asm__(
    ".text\n"
    ".code32\n"
    ".globl compat32\n"
    "compat32:\n"
    "    ljmp $0x33, $back64\n"
    ".globl compat32_syscall\n"
    "compat32_syscall:\n"
    "    movl $20, %eax\n"          /* getpid in the i386 table */
    "    syscall\n"
    "    ljmp $0x33, $back64\n"
    ".globl compat32_sysenter\n"
    "compat32_sysenter:\n"
    "    movl $20, %eax\n"
    "    movl %esp, %ebp\n"
    "    sysenter\n"
    "    ljmp $0x33, $back64\n"
    ".code64\n"
    ".globl back64\n"
    "back64:\n"
    "    lea escape_stack_top(%rip), %rsp\n"
    "    call escaped\n"
);

char escape_stack[65536] __attribute__((aligned(16)));
__asm__(".globl escape_stack_top\n.set escape_stack_top, escape_stack + 65536\n");

void escaped(void)
{
    static const char msg[] = "ESCAPED into the target segment\n";
    /* raw syscalls: libc state may be unusable after a mode switch */
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(1), "D"(1), "S"(msg), "d"(sizeof msg - 1)
                     : "rcx", "r11", "memory");
    __asm__ volatile("syscall" : : "a"(231), "D"(99) : "rcx", "r11", "memory");
    for (;;)
        ;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage\n");
        return 2;
    }
    unsigned long sel = strtoul(argv[2], NULL, 16);
    void (*target)(void) = compat32;
    if (argc > 3 && strcmp(argv[3], "syscall") == 0)
        target = compat32_syscall;
    if (argc > 3 && strcmp(argv[3], "sysenter") == 0)
        target = compat32_sysenter;
    if (argc > 4 && strcmp(argv[4], "demo") == 0) {
        unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        memset(page, 0xf4, 4096);                  /* hlt: ring 0 would stop here */
        void *moved = mremap(page, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)0x2000);
        printf("mremap to 0x2000: %s\n", moved == MAP_FAILED ? strerror(errno) : "moved");
        void *fixed = mmap((void *)0x2000, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        printf("mmap at 0x2000: %s\n", fixed == MAP_FAILED ? strerror(errno) : "mapped");
    }
    unsigned long t = (unsigned long)target;
    printf("transfer %s to %#lx\n", argv[1], sel);
    fflush(stdout);
    struct __attribute__((packed)) { unsigned int off; unsigned short sel; } ptr = { (unsigned)t, (unsigned short)sel };
    if (strcmp(argv[1], "lret") == 0) {
        __asm__ volatile("pushq %0\n pushq %1\n lretq" : : "r"(sel), "r"(t) : "memory");
    } else if (strcmp(argv[1], "ljmp") == 0) {
        __asm__ volatile("ljmpl *%0" : : "m"(ptr) : "memory");
    } else if (strcmp(argv[1], "lcall") == 0) {
        __asm__ volatile("lcalll *%0" : : "m"(ptr) : "memory");
    } else if (strcmp(argv[1], "iret") == 0 || strcmp(argv[1], "iret_ss") == 0) {
        /* iret: CS = SELECTOR, SS = 0x2b;  iret_ss: CS = 0x33, SS = SELECTOR */
        unsigned long cs = sel, ss = 0x2b;
        if (strcmp(argv[1], "iret_ss") == 0) {
            cs = 0x33;
            ss = sel;
            t = (unsigned long)back64;
        }
        __asm__ volatile("mov %%rsp, %%rax\n"
                         "pushq %0\n pushq %%rax\n pushfq\n pushq %1\n pushq %2\n iretq"
                         : : "r"(ss), "r"(cs), "r"(t) : "rax", "memory");
    } else if (strcmp(argv[1], "movss") == 0) {
        unsigned short s = sel;
        __asm__ volatile("mov %0, %%ss" : : "r"(s));
        printf("mov ss ok\n");
        return 0;
    } else if (strcmp(argv[1], "movds") == 0) {
        unsigned short s = sel;
        __asm__ volatile("mov %0, %%ds\n mov %%ds, %0" : "+r"(s));
        printf("mov ds ok %#x\n", s);
        return 0;
    }
    printf("not reached\n");
    return 1;
}
