/* One privileged or port instruction, chosen by name, executed at CPL 3.
 * Linux answers each with a signal (SIGSEGV for #GP, SIGILL for #UD);
 * the sandbox must give the same one, never ring 0 and never an internal
 * error.  Usage: privileged NAME */
#include <stdio.h>
#include <string.h>

static unsigned char gdtr[10], idtr[10];

int main(int argc, char **argv)
{
    const char *n = argc > 1 ? argv[1] : "";
    unsigned long v = 0;
    unsigned int lo = 0, hi = 0;
    unsigned short port = 0x4a;
    printf("executing %s\n", n);
    fflush(stdout);
    if (!strcmp(n, "mov_cr3"))        __asm__ volatile("mov %0, %%cr3" : : "r"(v));
    else if (!strcmp(n, "read_cr3"))  __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    else if (!strcmp(n, "mov_cr0"))   __asm__ volatile("mov %0, %%cr0" : : "r"(v));
    else if (!strcmp(n, "mov_cr4"))   __asm__ volatile("mov %0, %%cr4" : : "r"(v));
    else if (!strcmp(n, "lgdt"))      __asm__ volatile("lgdt %0" : : "m"(gdtr));
    else if (!strcmp(n, "lidt"))      __asm__ volatile("lidt %0" : : "m"(idtr));
    else if (!strcmp(n, "ltr"))       __asm__ volatile("ltr %0" : : "r"((unsigned short)0x40));
    else if (!strcmp(n, "lldt"))      __asm__ volatile("lldt %0" : : "r"((unsigned short)0));
    else if (!strcmp(n, "wrmsr"))     __asm__ volatile("wrmsr" : : "c"(0xC0000083), "a"(lo), "d"(hi));
    else if (!strcmp(n, "rdmsr"))     __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xC0000082));
    else if (!strcmp(n, "hlt"))       __asm__ volatile("hlt");
    else if (!strcmp(n, "cli"))       __asm__ volatile("cli");
    else if (!strcmp(n, "sti"))       __asm__ volatile("sti");
    else if (!strcmp(n, "invlpg"))    __asm__ volatile("invlpg (%0)" : : "r"(&v));
    else if (!strcmp(n, "wbinvd"))    __asm__ volatile("wbinvd");
    else if (!strcmp(n, "swapgs"))    __asm__ volatile("swapgs");
    else if (!strcmp(n, "sysretq"))   __asm__ volatile("sysretq");
    else if (!strcmp(n, "clts"))      __asm__ volatile("clts");
    else if (!strcmp(n, "xsetbv"))    __asm__ volatile("xsetbv" : : "c"(0), "a"(3), "d"(0));
    else if (!strcmp(n, "mov_dr7"))   __asm__ volatile("mov %0, %%dr7" : : "r"(v));
    else if (!strcmp(n, "int80"))     __asm__ volatile("int $0x80" : : "a"(20));
    else if (!strcmp(n, "int3"))      __asm__ volatile("int3");
    else if (!strcmp(n, "int1"))      __asm__ volatile(".byte 0xf1");
    else if (!strcmp(n, "int_0e"))    __asm__ volatile("int $0x0e");
    else if (!strcmp(n, "int_ff"))    __asm__ volatile("int $0xff");
    else if (!strcmp(n, "into"))      __asm__ volatile(".byte 0xce");
    else if (!strcmp(n, "sysenter"))  __asm__ volatile("sysenter");
    else if (!strcmp(n, "in_4a"))     __asm__ volatile("inb $0x4a, %%al" : "=a"(lo));
    else if (!strcmp(n, "in_dx_4a"))  __asm__ volatile("inb %%dx, %%al" : "=a"(lo) : "d"(port));
    else if (!strcmp(n, "inl_4a"))    __asm__ volatile("inl $0x4a, %%eax" : "=a"(lo));
    else if (!strcmp(n, "insb_4a"))   __asm__ volatile("insb" : : "d"(port), "D"(&v) : "memory");
    else if (!strcmp(n, "out_4a"))    __asm__ volatile("outb %%al, $0x4a" : : "a"(39));
    else if (!strcmp(n, "out_dx_4a")) __asm__ volatile("outb %%al, %%dx" : : "a"(39), "d"(port));
    else if (!strcmp(n, "outl_4a"))   __asm__ volatile("outl %%eax, $0x4a" : : "a"(39));
    else if (!strcmp(n, "outw_4a"))   __asm__ volatile("outw %%ax, $0x4a" : : "a"(39));
    else if (!strcmp(n, "outl_48"))   __asm__ volatile("outl %%eax, $0x48" : : "a"(39));
    else if (!strcmp(n, "outsb_4a"))  __asm__ volatile("outsb" : : "d"(port), "S"(&v) : "memory");
    else if (!strcmp(n, "out_4b"))    __asm__ volatile("outb %%al, $0x4b" : : "a"(39));
    else if (!strcmp(n, "out_4c"))    __asm__ volatile("outb %%al, $0x4c" : : "a"(39));
    else if (!strcmp(n, "out_80"))    __asm__ volatile("outb %%al, $0x80" : : "a"(0));
    else if (!strcmp(n, "out_3f8"))   __asm__ volatile("outb %%al, %%dx" : : "a"(65), "d"((unsigned short)0x3f8));
    else if (!strcmp(n, "out_cf8"))   __asm__ volatile("outl %%eax, %%dx" : : "a"(0x80000000u), "d"((unsigned short)0xcf8));
    else if (!strcmp(n, "out_ffff"))  __asm__ volatile("outb %%al, %%dx" : : "a"(0), "d"((unsigned short)0xffff));
    else if (!strcmp(n, "in_ffff"))   __asm__ volatile("inb %%dx, %%al" : "=a"(lo) : "d"((unsigned short)0xffff));
    else if (!strcmp(n, "vmcall"))    __asm__ volatile("vmcall");
    else if (!strcmp(n, "vmmcall"))   __asm__ volatile("vmmcall");
    else if (!strcmp(n, "ud2"))       __asm__ volatile("ud2");
    else if (!strcmp(n, "fake_syscall_iopl"))
        /* jump to the sandbox's LSTAR as if SYSCALL had, with IOPL 3 in
         * r11 for the return, then try cli (needs IOPL 3) */
        __asm__ volatile("lea 1f(%%rip), %%rcx\n"
                         "mov $0x3202, %%r11\n"
                         "mov $39, %%eax\n"
                         "movabs $0xffffff8000002000, %%rdx\n"
                         "jmp *%%rdx\n"
                         "syscall\n"
                         "1: cli\n"
                         : : : "rax", "rcx", "rdx", "r11", "memory");
    else {
        printf("unknown %s\n", n);
        return 2;
    }
    printf("survived %s\n", n);
    return 0;
}
