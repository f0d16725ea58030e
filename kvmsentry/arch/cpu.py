"""Control-register, MSR and CPUID facts the guest is built from."""

# CR0: PE, MP, ET, NE, WP, AM, PG (Linux's value for a 64-bit CPU)
CR0 = 0x80050033
CR4_PAE = 1 << 5
CR4_PGE = 1 << 7
CR4_OSFXSR = 1 << 9
CR4_OSXMMEXCPT = 1 << 10
CR4_UMIP = 1 << 11
CR4_OSXSAVE = 1 << 18
CR4_SMEP = 1 << 20
CR4_SMAP = 1 << 21
EFER = 0xD01                # SCE | LME | LMA | NXE

MSR_SYSENTER_CS = 0x174
MSR_SYSENTER_ESP = 0x175
MSR_SYSENTER_EIP = 0x176
MSR_STAR = 0xC0000081
MSR_LSTAR = 0xC0000082
MSR_CSTAR = 0xC0000083
MSR_SFMASK = 0xC0000084
MSR_FS_BASE = 0xC0000100
MSR_GS_BASE = 0xC0000101
MSR_KERNEL_GS_BASE = 0xC0000102
MSR_PVM_SIGNATURE = 0x4B564D11   # reads "PVM" on kvm_pvm hosts
PVM_SIGNATURE = 0x4D5650

# TF, DF, IF, IOPL, NT, AC cleared on SYSCALL, as Linux does.
SFMASK = 0x47700
RFLAGS_USER_INIT = 0x202    # IF and the always-one bit
RFLAGS_USER_MASK = (1 << 0) | (1 << 2) | (1 << 4) | (1 << 6) | (1 << 7) \
    | (1 << 8) | (1 << 10) | (1 << 11) | (1 << 18) | (1 << 21)

# XCR0 bits the guest may enable: x87, SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM.
# MPX, PKRU and AMX (which needs host permission) are left out.
XCR0_ALLOWED = 0x1 | 0x2 | 0x4 | 0x20 | 0x40 | 0x80
