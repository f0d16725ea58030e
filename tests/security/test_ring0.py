"""The ring-0 escape suite: programs that try to reach guest ring 0, touch
the machine's own memory, or feed the platform exits it must not trust
(issue 13). Each must end in the signal or errno Linux gives, never in a
sentry internal error (exit 134); the sentry checks, as every sandbox
ends, that the stub, IDT, GDTs, TSSs and kernel page tables are unchanged
(Machine.check_integrity), so a plain exit status proves that too.

Programs are compared with a native run where that is harmless (a
privileged instruction at CPL 3 natively is a #GP too). The far transfers
to 0x23 really enter 32-bit mode natively, so there the expected signal
is asserted. Written for kvm_pvm and for hardware VMX/SVM alike.
"""
import os
import struct
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = os.path.join(HERE, "ring0_programs")
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
TIMEOUT = 120
SIGILL, SIGTRAP, SIGBUS, SIGSEGV = 4, 5, 7, 11
PT_LOAD, PT_NOTE = 1, 4


@pytest.fixture(scope="module")
def progs(tmp_path_factory):
    """Every ring0_programs/*.c, gcc -static (non-PIE: far_transfer's
    32-bit code must sit below 4 GiB), plus two crafted images."""
    out = tmp_path_factory.mktemp("ring0")
    built = {}
    for name in sorted(os.listdir(SOURCES)):
        if name.endswith(".c"):
            exe = str(out / name[:-2])
            proc = subprocess.run(["gcc", "-static", "-O2", "-Wall", "-o", exe,
                                   os.path.join(SOURCES, name)],
                                  capture_output=True, text=True, timeout=TIMEOUT)
            assert proc.returncode == 0, proc.stderr
            built[name[:-2]] = exe
    # An image linked at 0x8000, below the sandbox's mmap_min_addr.
    low = str(out / "low_image")
    subprocess.run(["gcc", "-static", "-O2", "-Wl,-Ttext-segment=0x8000", "-o", low,
                    os.path.join(SOURCES, "do_exec.c")], check=True, timeout=TIMEOUT)
    built["low_image"] = low
    built["no_load"] = _without_pt_load(low, str(out / "no_load"))
    return built


def _without_pt_load(src, dst):
    """A copy of an ELF whose PT_LOAD headers are turned into PT_NOTE."""
    data = bytearray(open(src, "rb").read())
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        if struct.unpack_from("<I", data, phoff + i * phentsize)[0] == PT_LOAD:
            struct.pack_into("<I", data, phoff + i * phentsize, PT_NOTE)
    with open(dst, "wb") as f:
        f.write(data)
    os.chmod(dst, 0o755)
    return dst


def run(argv, sandbox, cwd):
    # Pinned: guest ring 0 is KVM's (auto is systrap on kvm_pvm).
    cmd = [sys.executable, "-m", "kvmsentry", "--platform", "kvm", "do", "--", *argv] \
        if sandbox else argv
    p = subprocess.run(cmd, capture_output=True, env=ENV, timeout=TIMEOUT, cwd=cwd,
                       stdin=subprocess.DEVNULL)
    code = p.returncode if p.returncode >= 0 else 128 - p.returncode
    return code, p.stdout, p.stderr


def sandboxed(argv, tmp_path):
    code, out, err = run(argv, True, tmp_path)
    assert b"internal error" not in err and code != 134, err.decode(errors="replace")
    return code, out, err


def same_as_native(argv, tmp_path):
    native = run(argv, False, tmp_path)
    boxed = sandboxed(argv, tmp_path)
    assert boxed[:2] == native[:2], boxed[2].decode(errors="replace")
    return boxed


# --- far transfers and compatibility mode --------------------------------------
@pytest.mark.parametrize("how", ["lret", "ljmp", "lcall", "iret"])
@pytest.mark.parametrize("selector", ["23", "8", "10", "18", "38", "40", "48", "4", "50"])
def test_far_transfer_to_other_segments_is_sigsegv(progs, tmp_path, how, selector):
    """No selector but the two user ones leads anywhere: 0x23 holds no
    32-bit code (natively it does: Linux runs 32-bit code there)."""
    code, out, _ = sandboxed([progs["far_transfer"], how, selector], tmp_path)
    assert b"ESCAPED" not in out
    assert code == 128 + SIGSEGV


def test_iret_with_data_segment_as_cs(progs, tmp_path):
    """A CPU refuses a data descriptor as CS (#GP); kvm_pvm's iretq loads
    it, with L=1 so the code runs 64-bit, never 32-bit: the program gets
    SIGSEGV at its next exception instead of at the iretq."""
    code, out, _ = sandboxed([progs["far_transfer"], "iret", "2b"], tmp_path)
    assert b"ESCAPED" not in out and code == 128 + SIGSEGV


def test_iret_to_user_selectors_still_works(progs, tmp_path):
    """The legitimate iretq (CS 0x33, SS 0x2b) is not broken by any of it."""
    code, out, _ = same_as_native([progs["far_transfer"], "iret_ss", "2b"], tmp_path)
    assert code == 99 and b"ESCAPED" in out


@pytest.mark.parametrize("entry", ["syscall", "sysenter"])
def test_compat_mode_demo(progs, tmp_path, entry):
    """Issue 13's demo: put code at 0x2000 (CSTAR's low half), enter
    compatibility mode through 0x23, SYSCALL/SYSENTER into ring 0."""
    code, out, _ = sandboxed([progs["far_transfer"], "lret", "23", entry, "demo"], tmp_path)
    assert b"mremap to 0x2000: Operation not permitted" in out
    assert b"mmap at 0x2000: Operation not permitted" in out
    assert b"ESCAPED" not in out and code == 128 + SIGSEGV


@pytest.mark.parametrize("mode", ["noncanonical", "kernel", "cs23", "iopl"])
def test_sigreturn_to_crafted_context(progs, tmp_path, mode):
    """rt_sigreturn with a non-canonical or kernel-half rip (the latter
    exactly at LSTAR, where a fault could pass for a syscall), CS 0x23, or
    IOPL 3: the program dies of SIGSEGV as on Linux, never runs 32-bit
    code or gains I/O privilege.

    CS 0x23 is compared with no native run: Linux runs the 32-bit target,
    whose SYSCALL is #UD on Intel (SIGILL) and a 32-bit getpid on AMD
    (then SIGSEGV at its hlt). The sandbox keeps 64-bit mode (as gVisor),
    so the same bytes make a 64-bit call and die at the hlt on both."""
    if mode == "cs23":
        code, out, err = sandboxed([progs["bad_sigreturn"], mode], tmp_path)
        assert b"hlt" in err, err
    else:
        code, out, _ = same_as_native([progs["bad_sigreturn"], mode], tmp_path)
    assert code == 128 + SIGSEGV and out == b"mode %s\n" % mode.encode()


# --- privileged instructions, interrupts, ports ---------------------------------
PRIVILEGED = ["mov_cr3", "read_cr3", "mov_cr0", "mov_cr4", "lgdt", "lidt", "ltr", "lldt",
              "wrmsr", "rdmsr", "hlt", "cli", "sti", "invlpg", "wbinvd", "swapgs",
              "sysretq", "clts", "xsetbv", "mov_dr7", "int3", "int1", "int_0e", "int_ff",
              "into", "ud2", "fake_syscall_iopl",
              # ports: only 0x4a is open in the I/O bitmap, and only for patched sites
              "in_4a", "in_dx_4a", "inl_4a", "insb_4a", "out_4a", "out_dx_4a", "outl_4a",
              "outw_4a", "outl_48", "outsb_4a", "out_4b", "out_4c", "out_80", "out_3f8",
              "out_cf8", "out_ffff", "in_ffff"]


@pytest.mark.parametrize("name", PRIVILEGED)
def test_privileged_instruction_as_on_linux(progs, tmp_path, name):
    code, _, _ = same_as_native([progs["privileged"], name], tmp_path)
    assert code in (128 + SIGSEGV, 128 + SIGILL, 128 + SIGTRAP)


@pytest.mark.parametrize("name", ["vmcall", "vmmcall"])
def test_hypercalls_stay_harmless(progs, tmp_path, name):
    """A hypercall from CPL 3 is the host KVM's to answer (hardware KVM
    returns -KVM_EPERM in rax and the program goes on; natively it is
    #UD or #GP): whatever the answer, never a sentry error."""
    code, out, _ = sandboxed([progs["privileged"], name], tmp_path)
    assert code in (0, 128 + SIGSEGV, 128 + SIGILL)
    assert out.startswith(b"executing %s\n" % name.encode())


def test_sysenter_and_int80(progs, tmp_path):
    """Natively `int $0x80` is a 32-bit syscall; in the sandbox (as in
    gVisor) its gate is closed: #GP. SYSENTER is #UD on AMD and #GP with
    SYSENTER_CS = 0 elsewhere; both are the program's death."""
    code, _, _ = sandboxed([progs["privileged"], "int80"], tmp_path)
    assert code == 128 + SIGSEGV
    code, _, _ = sandboxed([progs["privileged"], "sysenter"], tmp_path)
    assert code in (128 + SIGSEGV, 128 + SIGILL)


# --- the machine's own memory --------------------------------------------------
KERNEL_HALF = {
    "stub": "ffffff8000002000",
    "idt": "ffffff8000001000",
    "gdt": "ffffff8000010000",
    "tss": "ffffff8000010800",
    "stack": "ffffff8000015ff8",
    "kernel_base": "ffffff8000000000",
    "kernel_tables": "ffffff8000400000",
    "linux_kernel_half": "ffff800000000000",
    "non_canonical": "800000000000",
    "non_canonical_high": "8000000000000000",
    "null": "0",
}


@pytest.mark.parametrize("access", ["read", "write", "exec"])
@pytest.mark.parametrize("where", sorted(KERNEL_HALF))
def test_machine_memory_is_out_of_reach(progs, tmp_path, access, where):
    code, out, _ = same_as_native([progs["kernel_access"], access, KERNEL_HALF[where]],
                                  tmp_path)
    assert b"survived" not in out and code in (128 + SIGSEGV, 128 + SIGBUS)


# --- the crash inputs -----------------------------------------------------------
def test_mappings_stay_in_user_range(progs, tmp_path):
    """Crash input 3 and mmap_min_addr on every path (the sandbox's is
    65536 for everyone, as Linux's default for an unprivileged program)."""
    code, out, _ = sandboxed([progs["mem_edges"]], tmp_path)
    assert code == 0
    expect = {
        "mmap fixed 0": "Operation not permitted",
        "mmap fixed 0x2000": "Operation not permitted",
        "mmap noreplace 0xf000": "Operation not permitted",
        "mmap fixed top": "Cannot allocate memory",
        "mmap fixed across top": "Cannot allocate memory",
        "mmap fixed kernel half": "Cannot allocate memory",
        "mmap hint 0x1000 lands >= 65536": "yes",
        "mremap fixed 0": "Operation not permitted",
        "mremap fixed 0x2000": "Operation not permitted",
        "mremap fixed kernel half": "Invalid argument",
        "mremap fixed non-canonical": "Invalid argument",
        "mremap fixed 1<<63": "Invalid argument",
        "mremap fixed at top": "Invalid argument",
        "mremap fixed across top": "Invalid argument",
        "brk kernel half": "unchanged",
        "brk 1<<63": "unchanged",
        "brk 0x1000": "unchanged",
        "modify_ldt 32-bit code": "Function not implemented",
    }
    got = {line[:40].strip(): line[40:].strip() for line in out.decode().splitlines()}
    assert got == expect


def test_mapping_errors_above_user_space_as_on_linux(progs, tmp_path):
    """The lines that do not depend on mmap_min_addr (which differs
    between this host and the sandbox) match native Linux."""
    native = run([progs["mem_edges"]], False, tmp_path)
    boxed = sandboxed([progs["mem_edges"]], tmp_path)
    pick = lambda out: [l for l in out.decode().splitlines()    # noqa: E731
                        if "top" in l or "kernel half" in l or "canonical" in l or "<<" in l]
    assert pick(boxed[1]) == pick(native[1]) and len(pick(native[1])) == 10


def test_tls_base_outside_user_space_is_eperm(progs, tmp_path):
    """Crash input 4: clone(CLONE_SETTLS) and arch_prctl, as Linux."""
    code, out, _ = same_as_native([progs["tls_edges"]], tmp_path)
    assert code == 0 and out.count(b"Operation not permitted") == 15


def test_exec_without_pt_load_is_enoexec(progs, tmp_path):
    """Crash input 11: the caller survives execve's ENOEXEC."""
    code, out, _ = sandboxed([progs["do_exec"], progs["no_load"]], tmp_path)
    assert out == b"before\nexecv: Exec format error\n" and code == 3


def test_exec_of_low_image_kills_like_linux(progs, tmp_path):
    """An ELF asking for addresses below mmap_min_addr: Linux's mmap of
    the segment fails past exec's point of no return, SIGSEGV."""
    code, out, _ = sandboxed([progs["do_exec"], progs["low_image"]], tmp_path)
    assert out == b"before\n" and code == 128 + SIGSEGV


def test_exec_loop_300(progs, tmp_path):
    """The exec-loop crash: 300 successive images, each filling a stack
    page with AVX-512 stores, on frames that once held page tables."""
    code, out, _ = sandboxed([progs["exec_loop"]], tmp_path)
    assert (code, out) == (0, b"reached 300\n")
