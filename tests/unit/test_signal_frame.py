"""The x86-64 signal frame without a guest: every field at the offset the
uapi headers give, build -> parse round trips, placement and alignment over
random stacks, and a native cross-check where Linux itself builds frames
that this module must reproduce byte for byte."""
import errno
import shutil
import struct
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from kvmsentry.arch import layout
from kvmsentry.arch import signal_frame as F
from kvmsentry.arch.signal_frame import (
    build_rt_frame, frame_addresses, initial_xsave, parse_rt_frame, xsave_for_frame)
from kvmsentry.errors import SyscallError
from kvmsentry.kernel import signals as S
from kvmsentry.kernel.signals import SigInfo, SignalStack

# --- offsets, written down from the uapi headers ------------------------------
# asm-generic/ucontext.h: struct ucontext { unsigned long uc_flags;
# struct ucontext *uc_link; stack_t uc_stack; struct sigcontext uc_mcontext;
# sigset_t uc_sigmask; }  with stack_t { void *ss_sp; int ss_flags; size_t ss_size; }
UC = {"uc_flags": 0, "uc_link": 8, "ss_sp": 16, "ss_flags": 24, "ss_size": 32,
      "uc_mcontext": 40, "uc_sigmask": 296}
UC_SIZE = 304
# asm/sigcontext.h: struct sigcontext_64
SC_REGS = ["r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi",
           "rbp", "rbx", "rdx", "rax", "rcx", "rsp", "rip"]
SC = {name: 8 * i for i, name in enumerate(SC_REGS)}
SC.update(eflags=136, cs=144, gs=146, fs=148, ss=150, err=152, trapno=160,
          oldmask=168, cr2=176, fpstate=184, reserved1=192)
SC_SIZE = 256
# struct rt_sigframe { char *pretcode; struct ucontext uc; struct siginfo info; }
PRETCODE, UC_AT, INFO_AT, FRAME = 0, 8, 8 + UC_SIZE, 8 + UC_SIZE + 128
# struct _fpx_sw_bytes at fxsave offset 464; the xsave header at 512
SW = {"magic1": 464, "extended_size": 468, "xfeatures": 472, "xstate_size": 480}
XSTATE_BV = 512

UAPI_C = r"""
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>
#include <linux/signal.h>
#include <asm/sigcontext.h>
#include <asm-generic/ucontext.h>
#define P(name, expr) printf("%s %zu\n", name, (size_t)(expr))
#define U(m) P(#m, offsetof(struct ucontext, m))
#define S(m) P(#m, offsetof(struct sigcontext, m))
int main(void) {
  U(uc_flags); U(uc_link); U(uc_stack); U(uc_mcontext); U(uc_sigmask);
  P("ss_flags", offsetof(stack_t, ss_flags)); P("ss_size", offsetof(stack_t, ss_size));
  S(r8); S(r9); S(r10); S(r11); S(r12); S(r13); S(r14); S(r15); S(rdi); S(rsi);
  S(rbp); S(rbx); S(rdx); S(rax); S(rcx); S(rsp); S(rip); S(eflags); S(cs); S(gs);
  S(fs); S(ss); S(err); S(trapno); S(oldmask); S(cr2); S(fpstate); S(reserved1);
  P("sizeof_ucontext", sizeof(struct ucontext));
  P("sizeof_sigcontext", sizeof(struct sigcontext));
  P("magic1", offsetof(struct _fpstate_64, sw_reserved.magic1));
  P("extended_size", offsetof(struct _fpstate_64, sw_reserved.extended_size));
  P("xfeatures", offsetof(struct _fpstate_64, sw_reserved.xfeatures));
  P("xstate_size", offsetof(struct _fpstate_64, sw_reserved.xstate_size));
  P("sizeof_fpstate", sizeof(struct _fpstate_64));
  P("xstate_hdr", offsetof(struct _xstate, xstate_hdr));
  P("FP_XSTATE_MAGIC1", FP_XSTATE_MAGIC1); P("FP_XSTATE_MAGIC2", FP_XSTATE_MAGIC2);
  return 0;
}
"""

PROBE_C = r"""
#define _GNU_SOURCE
#include <setjmp.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif

/* The handler's first instruction records rsp exactly as the kernel left it. */
uint64_t entry_rsp;
void entry(int, siginfo_t *, void *);
__asm__(".text\n.globl entry\nentry:\n\tmov %rsp, entry_rsp(%rip)\n\tjmp handler\n");

static const char *volatile tag = "";
static volatile sig_atomic_t got;
static sigjmp_buf jb;
static char alt[1 << 16] __attribute__((aligned(64)));

void handler(int sig, siginfo_t *info, void *ucv) {
  ucontext_t *uc = ucv;
  char *fp = (char *)uc->uc_mcontext.fpregs;
  uint32_t ext = *(uint32_t *)(fp + 464 + 4);
  printf("frame %s %d %lx %lx %lx %lx %u ", tag, sig, (unsigned long)entry_rsp,
         (unsigned long)uc, (unsigned long)info, (unsigned long)fp, ext);
  for (unsigned char *p = (unsigned char *)entry_rsp; p < (unsigned char *)fp + ext; p++)
    printf("%02x", *p);
  printf("\n");
  got = sig;
  if (sig == SIGSEGV) siglongjmp(jb, 1);
}

/* No libc call here: a lazily bound PLT entry would run the dynamic
   linker's resolver, which saves the whole XSAVE state on this stack. */
static void child_handler(int sig) {
  __asm__ volatile("syscall" : : "a"(SYS_exit_group), "D"(0) : "rcx", "r11", "memory");
}

static void install(int sig, void (*fn)(int, siginfo_t *, void *), int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = fn;
  sa.sa_flags = SA_SIGINFO | flags;
  sigaddset(&sa.sa_mask, SIGUSR2);
  sigaction(sig, &sa, NULL);
}

/* Does a handler fit on an alternate stack of this size? (Linux forces
   SIGSEGV when the frame would overflow it.) */
static int fits(char *sp, size_t size) {
  pid_t c = fork();
  if (c == 0) {
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore);
    stack_t ss = {.ss_sp = sp, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&ss, NULL)) _exit(2);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = child_handler;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    _exit(3);
  }
  int status;
  waitpid(c, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 1;
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) return 0;
  return -1;
}

int main(void) {
  setvbuf(stdout, NULL, _IOFBF, 1 << 20);
  printf("ids %d %d\n", getpid(), getuid());
  printf("offsets %zu %zu %zu %zu %zu %zu\n", offsetof(ucontext_t, uc_stack),
         offsetof(ucontext_t, uc_mcontext), offsetof(ucontext_t, uc_mcontext.fpregs),
         offsetof(ucontext_t, uc_sigmask), sizeof(siginfo_t), (size_t)REG_CR2);
  for (int off = 0; off <= 40; off += 40) {   /* smallest alternate stack that works */
    size_t lo = 2048, hi = 32768;             /* fits(lo) fails, fits(hi) works */
    if (fits(alt + off, lo) != 0 || fits(alt + off, hi) != 1) {
      printf("fits? broken\n");
      return 1;
    }
    while (hi - lo > 1) {
      size_t mid = (lo + hi) / 2;
      int r = fits(alt + off, mid);
      if (r < 0) { printf("fits? broken\n"); return 1; }
      *(r ? &hi : &lo) = mid;
    }
    printf("minalt %lx %zu\n", (unsigned long)(alt + off), hi);
  }

  install(SIGUSR1, entry, 0);
  struct sigaction cur;
  sigaction(SIGUSR1, NULL, &cur);
  printf("restorer %lx\n", (unsigned long)cur.sa_restorer);
  tag = "kill";
  syscall(SYS_kill, getpid(), SIGUSR1);

  stack_t ss = {.ss_sp = alt + 8, .ss_size = 40000, .ss_flags = 0};
  sigaltstack(&ss, NULL);
  install(SIGUSR2, entry, SA_ONSTACK);
  tag = "alt";
  syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2);
  ss.ss_flags = SS_AUTODISARM;
  sigaltstack(&ss, NULL);
  tag = "autodisarm";
  syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2);

  install(SIGRTMIN, entry, 0);
  tag = "queue";
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGRTMIN);
  sigaddset(&block, SIGURG);                /* stays blocked: saved in every frame */
  sigprocmask(SIG_BLOCK, &block, NULL);
  sigqueue(getpid(), SIGRTMIN, (union sigval){.sival_int = 0x12345678});
  sigdelset(&block, SIGURG);
  sigprocmask(SIG_UNBLOCK, &block, NULL);

  install(SIGSEGV, entry, 0);               /* with SS_AUTODISARM still set */
  tag = "segv";
  if (!sigsetjmp(jb, 1)) *(volatile int *)0x10 = 1;

  install(SIGCHLD, entry, 0);
  tag = "chld";
  pid_t c = fork();
  if (c == 0) _exit(3);
  while (got != SIGCHLD)
    ;
  printf("child %d\n", c);
  waitpid(c, NULL, 0);

  install(SIGALRM, entry, 0);
  timer_t t;
  struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGALRM,
                         .sigev_value.sival_ptr = (void *)0xabcdef};
  timer_create(CLOCK_MONOTONIC, &sev, &t);
  printf("timer %ld\n", (long)(intptr_t)t);
  tag = "timer";
  struct itimerspec its = {.it_value.tv_nsec = 1000};
  timer_settime(t, 0, &its, NULL);
  while (got != SIGALRM)
    ;
  return 0;
}
"""

GPRS = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9",
        "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags"]
XCR0 = 0x7                  # x87, SSE, AVX
XSIZE = 832                 # standard XSAVE size for XCR0 = 7


def compile_c(tmp, name, source):
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed for the native cross-checks", pytrace=False)
    (tmp / (name + ".c")).write_text(source)
    subprocess.run(["gcc", "-O1", "-Wall", "-o", str(tmp / name), str(tmp / (name + ".c"))],
                   check=True, capture_output=True)
    return subprocess.run([str(tmp / name)], check=True, capture_output=True,
                          text=True, timeout=30).stdout


class Memory:
    """Guest memory holding data at base; anything else faults."""

    def __init__(self, base, data):
        self.base, self.data = base, bytearray(data)

    def read(self, addr, n):
        off = addr - self.base
        if off < 0 or off + n > len(self.data):
            raise SyscallError(errno.EFAULT)
        return bytes(self.data[off:off + n])

    def write(self, addr, data):
        off = addr - self.base
        self.data[off:off + len(data)] = data


def u(data, fmt, off):
    return struct.unpack_from("<" + fmt, data, off)[0]


def sample_regs(rsp=0x7FFF_FFFF_E000):
    regs = {name: 0x1111_0000_0000_0000 + i * 0x0101 for i, name in enumerate(GPRS)}
    regs.update(rsp=rsp, rip=0x401234, rflags=0x202 | F.DF | F.TF | F.RF | F.CF | F.ZF)
    return regs


def sample_xsave(size=XSIZE, xstate_bv=0x7):
    area = bytearray((i * 7 + 3) & 0xFF for i in range(size))
    struct.pack_into("<HI", area, 0, 0x037F, 0)
    struct.pack_into("<II", area, 24, 0x1F80, 0xFFFF)          # mxcsr, mxcsr_mask
    area[512:576] = bytes(64)
    struct.pack_into("<Q", area, 512, xstate_bv)
    return bytes(area)


INFO = SigInfo.user(S.SIGUSR1, pid=77, uid=1000).to_bytes()


def build(regs=None, **kw):
    args = dict(sig=S.SIGUSR1, handler=0x402000, restorer=0x403000, sigmask=0xA5,
                info=INFO, onstack=False, altstack=None, xsave=sample_xsave(),
                xsave_size=XSIZE, xfeatures=XCR0, trapno=14, err=6, cr2=0xDEAD)
    args.update(kw)
    return build_rt_frame(regs or sample_regs(), **args)


# --- layout against the headers ---------------------------------------------------
def test_layout_matches_uapi(tmp_path):
    out = compile_c(tmp_path, "uapi", UAPI_C)
    got = {k: int(v) for k, v in (line.split() for line in out.splitlines())}
    for name in ("uc_flags", "uc_link", "uc_mcontext", "uc_sigmask"):
        assert got[name] == UC[name], name
    assert got["uc_stack"] == UC["ss_sp"]
    assert got["ss_flags"] == UC["ss_flags"] - UC["ss_sp"]
    assert got["ss_size"] == UC["ss_size"] - UC["ss_sp"]
    assert got["sizeof_ucontext"] == UC_SIZE == F.UC_SIZE
    for name, off in SC.items():
        assert got[name] == off, name
    assert got["sizeof_sigcontext"] == SC_SIZE == F.SC_SIZE
    for name, off in SW.items():
        assert got[name] == off, name
    assert got["sizeof_fpstate"] == got["xstate_hdr"] == XSTATE_BV
    assert (got["FP_XSTATE_MAGIC1"], got["FP_XSTATE_MAGIC2"]) == (
        F.FP_XSTATE_MAGIC1, F.FP_XSTATE_MAGIC2)
    # and the module's own constants say the same
    assert (F.UC_OFFSET, F.INFO_OFFSET, F.FRAME_SIZE) == (UC_AT, INFO_AT, FRAME)
    assert (F.UC_STACK, F.UC_MCONTEXT, F.UC_SIGMASK) == (16, 40, 296)
    assert (F.SC_CS, F.SC_ERR, F.SC_TRAPNO, F.SC_OLDMASK, F.SC_CR2, F.SC_FPSTATE,
            F.SC_RESERVED1) == (144, 152, 160, 168, 176, 184, 192)


# --- building ---------------------------------------------------------------------------
def test_every_field_at_linux_offsets():
    regs = sample_regs()
    frame = build(regs, altstack=(0x10000, S.SS_AUTODISARM, 0x4000))
    d, base = frame.data, frame.base
    assert u(d, "Q", PRETCODE) == 0x403000
    uc = UC_AT
    assert u(d, "Q", uc + UC["uc_flags"]) == 7      # FP_XSTATE|SIGCONTEXT_SS|STRICT_RESTORE_SS
    assert u(d, "Q", uc + UC["uc_link"]) == 0
    assert u(d, "Q", uc + UC["ss_sp"]) == 0x10000
    assert u(d, "I", uc + UC["ss_flags"]) == S.SS_AUTODISARM
    assert u(d, "Q", uc + UC["ss_size"]) == 0x4000
    sc = uc + UC["uc_mcontext"]
    for name in SC_REGS:
        assert u(d, "Q", sc + SC[name]) == regs[name], name
    assert u(d, "Q", sc + SC["eflags"]) == regs["rflags"]      # as interrupted
    assert u(d, "H", sc + SC["cs"]) == layout.USER_CS == 0x33
    assert u(d, "H", sc + SC["ss"]) == layout.USER_DS == 0x2B
    assert u(d, "H", sc + SC["gs"]) == u(d, "H", sc + SC["fs"]) == 0
    assert (u(d, "Q", sc + SC["err"]), u(d, "Q", sc + SC["trapno"]),
            u(d, "Q", sc + SC["cr2"])) == (6, 14, 0xDEAD)
    assert u(d, "Q", sc + SC["oldmask"]) == 0xA5
    assert u(d, "Q", sc + SC["fpstate"]) == frame.fpstate
    assert not any(d[sc + SC["reserved1"]:sc + SC_SIZE])
    assert u(d, "Q", uc + UC["uc_sigmask"]) == 0xA5
    assert d[INFO_AT:INFO_AT + 128] == INFO
    assert len(d) == frame.fpstate + XSIZE + 4 - base
    assert (frame.uc, frame.info) == (base + UC_AT, base + INFO_AT)


def test_handler_registers():
    regs = sample_regs()
    frame = build(regs)
    new = frame.regs
    assert new["rip"] == 0x402000 and new["rsp"] == frame.base
    assert (new["rdi"], new["rsi"], new["rdx"], new["rax"]) == (
        S.SIGUSR1, frame.base + INFO_AT, frame.base + UC_AT, 0)
    assert new["rflags"] == regs["rflags"] & ~(F.DF | F.TF | F.RF)
    assert new["rflags"] & (F.CF | F.ZF | 0x200)
    for name in ("rbx", "rcx", "rbp", "r8", "r11", "r15"):
        assert new[name] == regs[name]
    assert regs == sample_regs()                  # the input is left alone


def test_fpstate_area():
    xsave = sample_xsave(xstate_bv=0x4 | (1 << 9))     # no FP/SSE bits, junk bit 9
    xsave = bytearray(xsave)
    xsave[520:576] = b"\xff" * 56                       # header junk
    frame = build(xsave=bytes(xsave), xfeatures=XCR0)
    area = frame.data[frame.fpstate - frame.base:]
    assert frame.fpstate % 64 == 0 and len(area) == XSIZE + 4
    assert (u(area, "I", SW["magic1"]), u(area, "I", SW["extended_size"]),
            u(area, "Q", SW["xfeatures"]), u(area, "I", SW["xstate_size"])) == (
        0x46505853, XSIZE + 4, XCR0, XSIZE)
    assert not any(area[484:512])                       # _fpx_sw_bytes padding
    assert u(area, "Q", XSTATE_BV) == 0x7               # masked to XCR0, FP|SSE forced
    assert not any(area[520:576])
    assert u(area, "I", XSIZE) == 0x46505845
    assert area[:464] == xsave[:464] and area[576:XSIZE] == xsave[576:XSIZE]


def test_frame_sizes():
    with pytest.raises(ValueError):
        build(xsave_size=512)
    with pytest.raises(ValueError):
        build(info=b"short")


# --- placement --------------------------------------------------------------------------
def test_main_stack_skips_the_red_zone():
    rsp = 0x7FFF_FFFF_E000
    base, fp = frame_addresses(rsp, XSIZE, False, None)
    assert fp == (rsp - 128 - XSIZE - 4) & ~63
    assert base == ((fp - 440) & ~15) - 8 and base % 16 == 8


def test_altstack_switch_nesting_and_overflow():
    alt = (0x10000, 0, 0x4000)
    top = 0x14000
    # not on it: start at its top, no red zone
    base, fp = frame_addresses(0x7FFF0000, XSIZE, True, alt)
    assert fp == (top - XSIZE - 4) & ~63
    # SA_ONSTACK unset: stay put
    assert frame_addresses(0x7FFF0000, XSIZE, False, alt)[1] < 0x7FFF0000 - 128
    # already on it: nest below the current rsp
    base, fp = frame_addresses(0x13000, XSIZE, True, alt)
    assert fp + XSIZE + 4 <= 0x13000 - 128
    # nested too deep: Linux forces SIGSEGV
    assert frame_addresses(0x10400, XSIZE, True, alt) is None
    assert frame_addresses(0x10400, XSIZE, False, alt) is None     # nesting is by rsp
    # too small to begin with
    assert frame_addresses(0x7FFF0000, XSIZE, True, (0x10000, 0, 1000)) is None
    # SS_AUTODISARM: never "on" it, always start afresh at the top
    disarming = (0x10000, S.SS_AUTODISARM, 0x4000)
    assert frame_addresses(0x13000, XSIZE, True, disarming)[1] == fp_top(top)
    # within 128 bytes above the top: rsp - 128 is on it, so no switch, and
    # no overflow check either (rsp itself is not on it)
    base, fp = frame_addresses(top + 64, XSIZE, True, alt)
    assert fp + XSIZE + 4 <= top + 64 - 128
    # below address zero
    assert frame_addresses(0x200, XSIZE, False, None) is None


def fp_top(top):
    return (top - XSIZE - 4) & ~63


XSIZES = [576, 832, 1088, 2432, 2696, 11008]


@st.composite
def placements(draw):
    xsave_size = draw(st.sampled_from(XSIZES))
    onstack = draw(st.booleans())
    if draw(st.booleans()):
        ss_sp = draw(st.integers(0x1000, 1 << 46))
        ss_size = draw(st.integers(0, 1 << 16))
        ss_flags = draw(st.sampled_from([0, S.SS_ONSTACK, S.SS_AUTODISARM]))
        altstack = (ss_sp, ss_flags, ss_size)
        if draw(st.booleans()):         # somewhere on or just above it
            rsp = ss_sp + draw(st.integers(0, ss_size + 300))
        else:
            rsp = draw(st.integers(0x1000, 1 << 47))
    else:
        altstack, rsp = None, draw(st.integers(0x1000, 1 << 47))
    return rsp, xsave_size, onstack, altstack


@given(placements())
@settings(max_examples=500, deadline=None)
def test_placement_properties(case):
    rsp, xsave_size, onstack, altstack = case
    ss_sp, ss_flags, ss_size = altstack or (0, 0, 0)
    on = lambda sp: ss_sp < sp <= ss_sp + ss_size             # noqa: E731
    autodisarm = bool(ss_flags & S.SS_AUTODISARM)
    entering = onstack and ss_size > 0 and (autodisarm or not on(rsp - 128))
    nested = not autodisarm and on(rsp)
    top = ss_sp + ss_size if entering else rsp - 128
    where = frame_addresses(rsp, xsave_size, onstack, altstack)
    fp_expected = (top - xsave_size - 4) // 64 * 64
    base_expected = ((fp_expected - 440) & ~15) - 8
    if ((nested or entering) and not on(base_expected)) or base_expected < 0:
        assert where is None
        return
    base, fp = where
    assert fp % 64 == 0 and fp + xsave_size + 4 <= top < fp + xsave_size + 4 + 64
    assert base % 16 == 8 and (base + 8) % 16 == 0          # as after a call
    assert 8 <= fp - (base + 440) < 24
    if nested or entering:
        assert on(base) and fp + xsave_size + 4 <= ss_sp + ss_size
    frame = build(sample_regs(rsp), onstack=onstack, altstack=altstack,
                  xsave=sample_xsave(xsave_size), xsave_size=xsave_size)
    assert (frame.base, frame.fpstate) == (base, fp)
    assert frame.regs["rsp"] == base and len(frame.data) == fp + xsave_size + 4 - base


# --- rt_sigreturn -------------------------------------------------------------------------
def written(frame):
    return Memory(frame.base, frame.data)


def test_round_trip():
    regs = sample_regs()
    alt = (0x10000, S.SS_AUTODISARM, 0x4000)
    frame = build(regs, altstack=alt, sigmask=(1 << 63) | 5)
    ctx = parse_rt_frame(written(frame).read, frame.base + 8, rflags=frame.regs["rflags"],
                         xsave_size=XSIZE, xfeatures=XCR0)
    assert ctx.regs == regs
    assert ctx.sigmask == (1 << 63) | 5
    assert ctx.altstack == alt
    assert ctx.uc_flags == 7 and (ctx.cs, ctx.ss) == (0x33, 0x2B)
    assert ctx.fpstate == frame.fpstate and not ctx.fpu_fault
    expected = bytearray(xsave_for_frame(sample_xsave(), XSIZE, XCR0)[:XSIZE])
    assert ctx.xsave == bytes(expected)


@given(st.sampled_from(XSIZES), st.integers(0x100000, 1 << 47),
       st.dictionaries(st.sampled_from(GPRS), st.integers(0, (1 << 64) - 1)),
       st.integers(0, (1 << 64) - 1))
@settings(max_examples=200, deadline=None)
def test_round_trip_random(xsave_size, rsp, changes, sigmask):
    regs = sample_regs(rsp)
    regs.update(changes)
    regs["rsp"] = rsp
    regs["rflags"] = (regs["rflags"] & F.FIX_EFLAGS) | 0x202
    frame = build(regs, sigmask=sigmask, xsave=sample_xsave(xsave_size), xsave_size=xsave_size)
    ctx = parse_rt_frame(written(frame).read, frame.base + 8, rflags=0x202,
                         xsave_size=xsave_size, xfeatures=XCR0)
    assert ctx.regs == regs and ctx.sigmask == sigmask and not ctx.fpu_fault


def parse(mem, frame, **kw):
    args = dict(rflags=0x202, xsave_size=XSIZE, xfeatures=XCR0)
    args.update(kw)
    return parse_rt_frame(mem.read, frame.base + 8, **args)


def test_only_fix_eflags_come_from_the_frame():
    frame = build()
    mem = written(frame)
    mem.write(frame.uc + 40 + SC["eflags"], struct.pack("<Q", (1 << 64) - 1))
    current = 0x202 | (1 << 21) | (3 << 12)          # IF, ID, IOPL
    assert parse(mem, frame, rflags=current).regs["rflags"] == current | F.FIX_EFLAGS
    assert F.FIX_EFLAGS == 0x50DD5


def test_no_fpstate_means_reset():
    frame = build()
    mem = written(frame)
    mem.write(frame.uc + 40 + SC["fpstate"], bytes(8))
    ctx = parse(mem, frame)
    assert ctx.fpstate == 0 and ctx.xsave is None and not ctx.fpu_fault


@pytest.mark.parametrize("damage", [
    (SW["magic1"], "<I", 0x12345678),
    (SW["xstate_size"], "<I", XSIZE + 64),             # bigger than the CPU's
    (SW["xstate_size"], "<I", 575),                    # below fxsave + header
    (SW["extended_size"], "<I", XSIZE - 1),            # smaller than xstate_size
    (XSIZE, "<I", 0),                                  # MAGIC2 gone
])
def test_bad_magic_restores_only_the_fxsave_part(damage):
    frame = build()
    mem = written(frame)
    off, fmt, value = damage
    mem.write(frame.fpstate + off, struct.pack(fmt, value))
    ctx = parse(mem, frame)
    assert not ctx.fpu_fault
    legacy = mem.read(frame.fpstate, 512)
    assert ctx.xsave[:512] == legacy
    assert u(ctx.xsave, "Q", XSTATE_BV) == 0x3 and not any(ctx.xsave[520:])


def test_frame_features_pick_what_is_restored():
    frame = build()
    mem = written(frame)
    mem.write(frame.fpstate + SW["xfeatures"], struct.pack("<Q", 0x3))
    assert u(parse(mem, frame).xsave, "Q", XSTATE_BV) == 0x3      # AVX reset
    mem.write(frame.fpstate + SW["xfeatures"], struct.pack("<Q", 0x1))
    mem.write(frame.fpstate + 24, struct.pack("<I", 0xFFFF_FFFF))   # not loaded
    ctx = parse(mem, frame)
    assert u(ctx.xsave, "Q", XSTATE_BV) == 0x1
    assert u(ctx.xsave, "I", 24) == 0x1F80


@pytest.mark.parametrize("damage", [
    (XSTATE_BV, "<Q", 0x7 | (1 << 5)),                 # feature not in XCR0
    (XSTATE_BV + 8, "<Q", 1 << 63),                    # xcomp_bv: compacted form
    (XSTATE_BV + 16, "<Q", 1),                         # reserved header bytes
    (24, "<I", 0x10000),                               # MXCSR reserved bit
])
def test_xrstor_faults_fail_the_sigreturn(damage):
    frame = build()
    mem = written(frame)
    off, fmt, value = damage
    mem.write(frame.fpstate + off, struct.pack(fmt, value))
    ctx = parse(mem, frame)
    assert ctx.fpu_fault and ctx.xsave is None
    assert ctx.regs == sample_regs() and ctx.sigmask == 0xA5   # restored anyway


def test_header_tail_is_cleaned_not_fatal():
    frame = build()
    mem = written(frame)
    mem.write(frame.fpstate + XSTATE_BV + 32, b"\xff" * 8)
    ctx = parse(mem, frame)
    assert not ctx.fpu_fault and not any(ctx.xsave[520:576])


def test_misaligned_or_unreadable_fpstate():
    frame = build()
    mem = written(frame)
    lower = frame.fpstate - 32                              # 32-byte aligned copy
    area = mem.read(frame.fpstate, XSIZE + 4)
    mem.write(lower, area)
    mem.write(frame.uc + 40 + SC["fpstate"], struct.pack("<Q", lower))
    assert parse(mem, frame).fpu_fault                     # XRSTOR wants 64
    mem.write(lower + SW["magic1"], bytes(4))              # FXRSTOR wants 16: fine
    assert not parse(mem, frame).fpu_fault
    mem.write(frame.uc + 40 + SC["fpstate"], struct.pack("<Q", lower + 8))
    assert parse(mem, frame).fpu_fault
    mem.write(frame.uc + 40 + SC["fpstate"], struct.pack("<Q", 0x1000))
    assert parse(mem, frame).fpu_fault                     # unreadable
    with pytest.raises(SyscallError):                      # no ucontext at all
        parse_rt_frame(mem.read, 0x5000, rflags=0x202, xsave_size=XSIZE, xfeatures=XCR0)


def test_initial_xsave():
    image = initial_xsave(XSIZE)
    assert len(image) == XSIZE
    assert u(image, "H", 0) == 0x37F and u(image, "I", 24) == 0x1F80
    assert u(image, "Q", XSTATE_BV) == 0


# --- native cross-check -------------------------------------------------------------------
@pytest.fixture(scope="module")
def native(tmp_path_factory):
    out = compile_c(tmp_path_factory.mktemp("probe"), "probe", PROBE_C)
    result = {"frames": {}, "minalt": []}
    for line in out.splitlines():
        kind, *rest = line.split()
        if kind == "frame":
            tag, sig, base, uc, info, fp, ext, dump = rest
            result["frames"][tag] = dict(
                sig=int(sig), base=int(base, 16), uc=int(uc, 16), info=int(info, 16),
                fp=int(fp, 16), ext=int(ext), mem=bytes.fromhex(dump))
        elif kind == "minalt":
            result["minalt"].append((int(rest[0], 16), int(rest[1])))
        else:
            result[kind] = [int(x, 16) if kind == "restorer" else int(x) for x in rest]
    assert len(result["frames"]) == 7, out[-2000:]
    return result


def test_native_glibc_offsets(native):
    uc_stack, mcontext, fpregs, sigmask, siginfo, reg_cr2 = native["offsets"]
    assert (uc_stack, mcontext, sigmask, siginfo) == (16, 40, 296, 128)
    assert fpregs == F.UC_MCONTEXT + F.SC_FPSTATE
    assert (reg_cr2 + 1) * 8 == F.SC_FPSTATE          # gregs[23] end at fpstate


def test_native_frame_geometry(native):
    for tag, fr in native["frames"].items():
        base, mem = fr["base"], fr["mem"]
        assert base % 16 == 8, tag                    # rsp + 8 16-byte aligned
        assert fr["uc"] == base + 8 and fr["info"] == fr["uc"] + 304, tag
        assert fr["fp"] % 64 == 0 and 8 <= fr["fp"] - (base + 440) < 24, tag
        assert u(mem, "Q", 0) == native["restorer"][0], tag
        assert u(mem, "Q", UC_AT) == 7, tag
        assert u(mem, "Q", UC_AT + 40 + SC["fpstate"]) == fr["fp"], tag
        assert u(mem, "I", fr["fp"] - base + SW["magic1"]) == F.FP_XSTATE_MAGIC1


def test_native_frames_rebuilt_byte_for_byte(native):
    """Take each frame Linux built, read it back with parse_rt_frame, build
    it again from the same inputs: same place, same bytes (except what
    Linux leaves as stack garbage)."""
    for tag, fr in native["frames"].items():
        base, mem = fr["base"], fr["mem"]
        fpoff = fr["fp"] - base
        xsave_size = fr["ext"] - 4
        xfeatures = u(mem, "Q", fpoff + SW["xfeatures"])
        assert u(mem, "I", fpoff + SW["xstate_size"]) == xsave_size
        sc = UC_AT + 40
        ctx = parse_rt_frame(Memory(base, mem).read, base + 8, rflags=0x202,
                             xsave_size=xsave_size, xfeatures=xfeatures)
        assert not ctx.fpu_fault
        regs = dict(ctx.regs, rflags=u(mem, "Q", sc + SC["eflags"]))
        frame = build_rt_frame(
            regs, sig=fr["sig"], handler=0x1000, restorer=u(mem, "Q", 0),
            sigmask=ctx.sigmask, info=mem[INFO_AT:FRAME],
            onstack=tag in ("alt", "autodisarm"), altstack=ctx.altstack,
            xsave=mem[fpoff:fpoff + xsave_size], xsave_size=xsave_size,
            xfeatures=xfeatures, trapno=u(mem, "Q", sc + SC["trapno"]),
            err=u(mem, "Q", sc + SC["err"]), cr2=u(mem, "Q", sc + SC["cr2"]))
        assert (frame.base, frame.fpstate) == (base, fr["fp"]), tag
        assert len(frame.data) == len(mem), tag
        garbage = [(UC_AT + 28, UC_AT + 32),                 # stack_t padding
                   (sc + SC["reserved1"], sc + SC_SIZE),     # reserved1[8]
                   (FRAME, fpoff)]                           # gap above siginfo
        ours, theirs = bytearray(frame.data), bytearray(mem)
        for lo, hi in garbage:
            ours[lo:hi] = theirs[lo:hi] = bytes(hi - lo)
        assert ours == theirs, tag
        if tag in ("kill", "queue", "segv", "chld", "timer"):
            assert fr["fp"] + fr["ext"] <= regs["rsp"] - 128, tag


def test_native_altstack_records(native):
    frames = native["frames"]

    def triple(tag):
        sp, flags, _, size = struct.unpack_from("<QIIQ", frames[tag]["mem"], UC_AT + 16)
        return sp, flags, size

    assert triple("kill") == SignalStack().triple()           # fresh: flags 0
    alt_sp = triple("alt")[0]
    assert triple("alt") == (alt_sp, 0, 40000)
    assert triple("autodisarm") == (alt_sp, S.SS_AUTODISARM, 40000)
    alt_top = alt_sp + 40000
    assert frames["alt"]["fp"] + frames["alt"]["ext"] <= alt_top
    assert frames["alt"]["fp"] == (alt_top - frames["alt"]["ext"]) & ~63
    # the SIGSEGV handler left by siglongjmp, so no rt_sigreturn restored
    # the stack SS_AUTODISARM had reset at its delivery
    assert triple("queue") == triple("segv") == (alt_sp, S.SS_AUTODISARM, 40000)
    assert triple("chld") == S.DISABLED_STACK.triple()


def test_native_sigcontext_extras(native):
    frames = native["frames"]
    sc = UC_AT + 40

    def extras(tag):
        mem = frames[tag]["mem"]
        return tuple(u(mem, "Q", sc + SC[k]) for k in ("trapno", "err", "cr2"))

    assert extras("segv") == (14, 6, 0x10)          # #PF, user write, not present
    assert extras("chld") == extras("timer") == (14, 6, 0x10)   # stale, as Linux
    assert extras("kill") == (0, 0, 0)
    urg = S.sigbit(S.SIGURG)
    for tag in ("queue", "segv", "chld", "timer"):
        mem = frames[tag]["mem"]
        assert u(mem, "Q", sc + SC["oldmask"]) == u(mem, "Q", UC_AT + 296) == urg


def test_native_siginfo(native):
    frames = native["frames"]
    pid, uid = native["ids"]
    (child,) = native["child"]
    (timerid,) = native["timer"]
    chld = frames["chld"]["mem"][INFO_AT:FRAME]
    expected = {
        "kill": SigInfo.user(S.SIGUSR1, pid, uid),
        "alt": SigInfo.user(S.SIGUSR2, pid, uid, code=S.SI_TKILL),
        "queue": SigInfo(frames["queue"]["sig"], S.SI_QUEUE, pid=pid, uid=uid,
                         value=0x12345678),
        "segv": SigInfo.fault(S.SIGSEGV, S.SEGV_MAPERR, 0x10),
        "chld": SigInfo.child(S.CLD_EXITED, child, uid, 3,
                              utime=u(chld, "q", 32), stime=u(chld, "q", 40)),
        "timer": SigInfo.timer(S.SIGALRM, timerid, 0, 0xABCDEF),
    }
    for tag, info in expected.items():
        assert frames[tag]["mem"][INFO_AT:FRAME] == info.to_bytes(), tag
        assert SigInfo.from_bytes(info.to_bytes()).to_bytes() == info.to_bytes()


def test_native_altstack_overflow_boundary(native):
    """The smallest alternate stack Linux could deliver on (found by
    bisection in forked children) is exactly where frame_addresses()
    stops returning None."""
    xsave_size = native["frames"]["kill"]["ext"] - 4
    assert len(native["minalt"]) == 2
    for ss_sp, size in native["minalt"]:
        outside = 0x7FFF_0000_0000
        assert frame_addresses(outside, xsave_size, True, (ss_sp, 0, size)) is not None
        assert frame_addresses(outside, xsave_size, True, (ss_sp, 0, size - 1)) is None
