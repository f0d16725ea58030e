"""The initial process stack, laid out as Linux's binfmt_elf does on x86-64.

From the top of the stack down:

    stack_top - 8        8 zero bytes (Linux leaves the top word unused)
                         execfn string, NUL-terminated
                         envp strings, last variable highest
                         argv strings, argv[0] lowest
                         padding down to a 16-byte boundary
                         platform string ("x86_64"), NUL-terminated
                         16 random bytes (AT_RANDOM)
                         padding so that rsp ends 16-byte aligned
                         auxv pairs, ending with AT_NULL, 0
                         envp pointers, NULL
                         argv pointers, NULL
    rsp ->               argc

Programs and their libc read this with fixed arithmetic from rsp (argc,
then argv, then envp, then auxv), so the order matters more than the
exact addresses; Linux's 16-byte alignment points are kept anyway, minus
its random offset, so a program sees the same shape as on a real kernel.

The image is built in Python and copied into guest memory by the caller
in one go, which keeps this module pure and testable.
"""

import os
import struct
from itertools import accumulate, chain, repeat
from operator import add

AT_NULL = 0
AT_PHDR = 3
AT_PHENT = 4
AT_PHNUM = 5
AT_PAGESZ = 6
AT_BASE = 7
AT_FLAGS = 8
AT_ENTRY = 9
AT_UID = 11
AT_EUID = 12
AT_GID = 13
AT_EGID = 14
AT_PLATFORM = 15
AT_HWCAP = 16
AT_CLKTCK = 17
AT_SECURE = 23
AT_RANDOM = 25
AT_HWCAP2 = 26
AT_EXECFN = 31
AT_SYSINFO_EHDR = 33
AT_MINSIGSTKSZ = 51

# Entries the builder writes itself, because only it knows the addresses.
BUILDER_AUX_KEYS = (AT_NULL, AT_PLATFORM, AT_RANDOM, AT_EXECFN)

DEFAULT_MAX_BYTES = 2 << 20         # roughly Linux's ARG_MAX with an 8 MiB stack
MAX_ARG_STRLEN = 32 * 4096          # Linux's per-string limit (E2BIG beyond)
RANDOM_BYTES = 16
WORD = 8


def build_initial_stack(stack_top, argv, envp, auxv, execfn,
                        platform=b"x86_64", random16=None,
                        max_bytes=DEFAULT_MAX_BYTES):
    """Build the initial stack image that ends at stack_top.

    argv, envp: lists of bytes without NUL. auxv: (key, value) pairs the
    loader computed (AT_PHDR, AT_ENTRY, ...); the builder appends
    AT_PLATFORM, AT_RANDOM, AT_EXECFN and AT_NULL. random16 defaults to
    16 fresh bytes from os.urandom.

    Returns (rsp, image_base, image): copy `image` to guest address
    image_base (image_base + len(image) == stack_top) and start the
    program with rsp, which points at argc and is 16-byte aligned.
    Raises ValueError if a string holds a NUL, the arguments are too big
    (the caller reports E2BIG), or auxv names a key the builder owns.
    """
    if random16 is None:
        random16 = os.urandom(RANDOM_BYTES)
    _check_inputs(stack_top, argv, envp, auxv, execfn, platform, random16)

    # The strings lie in ascending order argv, envp, execfn, then the top
    # word: one join, their addresses by running sums (a push per string
    # was most of an exec's stack building).
    strings = argv + envp if type(argv) is list and type(envp) is list \
        else list(argv) + list(envp)
    strings.append(execfn)
    area = b"\0".join(strings) + bytes(1 + WORD)
    addr = stack_top - len(area)
    _check_size(len(area), max_bytes)
    starts = list(accumulate(map(add, map(len, strings), repeat(1)), initial=addr))
    argv_addrs, envp_addrs = starts[:len(argv)], starts[len(argv):len(strings) - 1]
    execfn_addr = starts[len(strings) - 1]
    # Below the strings: arch_align_stack's padding (without the jitter),
    # the platform string, the random bytes.
    align = bytes(addr % 16)
    platform_addr = addr - len(align) - len(platform) - 1
    random_addr = platform_addr - RANDOM_BYTES
    words = [len(argv), *argv_addrs, 0, *envp_addrs, 0, *chain.from_iterable(auxv),
             AT_PLATFORM, platform_addr, AT_RANDOM, random_addr, AT_EXECFN, execfn_addr,
             AT_NULL, 0]
    table = struct.pack("<%dQ" % len(words), *words)
    # Linux's STACK_ROUND: pad between the table and the random bytes so
    # that the table's start (argc) lands 16-byte aligned.
    rsp = (random_addr - len(table)) & ~15
    _check_size(stack_top - rsp, max_bytes)
    return rsp, rsp, b"".join((table, bytes(random_addr - len(table) - rsp), bytes(random16),
                               platform, b"\0", align, area))


def parse_initial_stack(image_base, image, rsp):
    """Read back (argv, envp, auxv, strings) from a built stack image.

    auxv is a dict of every entry before AT_NULL. strings maps "execfn",
    "platform" and "random" to the bytes their aux entries point at.
    This is the reading a libc does at _start; tests use it to check the
    builder, and it raises ValueError on pointers outside the image.
    """
    reader = _ImageReader(image_base, image)
    pos = rsp
    argc = reader.word(pos)
    pos += WORD
    argv = []
    for _ in range(argc):
        argv.append(reader.cstring(reader.word(pos)))
        pos += WORD
    if reader.word(pos) != 0:
        raise ValueError("argv is not NULL-terminated")
    pos += WORD
    envp = []
    while (ptr := reader.word(pos)) != 0:
        envp.append(reader.cstring(ptr))
        pos += WORD
    pos += WORD
    auxv = {}
    while (key := reader.word(pos)) != AT_NULL:
        auxv[key] = reader.word(pos + WORD)
        pos += 2 * WORD
    strings = {}
    if AT_EXECFN in auxv:
        strings["execfn"] = reader.cstring(auxv[AT_EXECFN])
    if AT_PLATFORM in auxv:
        strings["platform"] = reader.cstring(auxv[AT_PLATFORM])
    if AT_RANDOM in auxv:
        strings["random"] = reader.read(auxv[AT_RANDOM], RANDOM_BYTES)
    return argv, envp, auxv, strings


def _check_inputs(stack_top, argv, envp, auxv, execfn, platform, random16):
    """Reject what Linux could never have put on a stack."""
    if stack_top % WORD:
        raise ValueError(f"stack top {stack_top:#x} is not 8-byte aligned")
    if len(random16) != RANDOM_BYTES:
        raise ValueError(f"random16 must be {RANDOM_BYTES} bytes, "
                         f"got {len(random16)}")
    # The usual case in C-level steps (a spawn's environment is dozens of
    # strings, its auxv 16 pairs); a failure is named by the slow path.
    strings = [*argv, *envp, execfn, platform]
    if set(map(type, strings)) <= {bytes} and \
            b"\0".join(strings).count(0) == len(strings) - 1 and \
            max(map(len, strings)) < MAX_ARG_STRLEN:
        aux = dict(auxv)
        words = [*aux, *aux.values()]
        if len(aux) == len(auxv) and aux.keys().isdisjoint(BUILDER_AUX_KEYS) and \
                set(map(type, words)) <= {int} and \
                min(words, default=0) >= 0 and max(words, default=0) < 1 << 64:
            return
    for what, strings in (("argv", argv), ("envp", envp)):
        for index, s in enumerate(strings):
            _check_string(f"{what}[{index}]", s)
    _check_string("execfn", execfn)
    _check_string("platform", platform)
    seen = set()
    for key, value in auxv:
        if key in BUILDER_AUX_KEYS:
            raise ValueError(f"auxv key {key} is written by the stack "
                             "builder itself")
        if key in seen:
            raise ValueError(f"auxv key {key} given twice")
        if not (0 <= key < 1 << 64 and 0 <= value < 1 << 64):
            raise ValueError(f"auxv entry ({key}, {value}) is not two u64s")
        seen.add(key)


def _check_string(what, s):
    if not isinstance(s, bytes):
        raise ValueError(f"{what} must be bytes, not {type(s).__name__}")
    if b"\0" in s:
        raise ValueError(f"{what} contains a NUL byte")
    if len(s) + 1 > MAX_ARG_STRLEN:
        raise ValueError(f"{what} is longer than {MAX_ARG_STRLEN - 1} bytes")


def _check_size(size, max_bytes):
    if size > max_bytes:
        raise ValueError(f"argument list too long: initial stack needs more "
                         f"than {max_bytes} bytes")


class _ImageReader:
    """Bounds-checked reads of guest addresses inside a stack image."""

    def __init__(self, base, image):
        self.base = base
        self.image = image

    def read(self, addr, size):
        start = addr - self.base
        if start < 0 or start + size > len(self.image):
            raise ValueError(f"address {addr:#x} is outside the stack image")
        return self.image[start:start + size]

    def word(self, addr):
        return struct.unpack("<Q", self.read(addr, WORD))[0]

    def cstring(self, addr):
        start = addr - self.base
        if start < 0 or start >= len(self.image):
            raise ValueError(f"address {addr:#x} is outside the stack image")
        end = self.image.find(b"\0", start)
        if end < 0:
            raise ValueError(f"string at {addr:#x} is not NUL-terminated")
        return self.image[start:end]
