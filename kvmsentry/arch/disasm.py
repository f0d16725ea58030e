"""Decoding one x86-64 instruction, with the capstone library.

A few lines of ctypes over the libcapstone that the `capstone` package
ships (or the system's): that package's Python layer sets up every
architecture it knows when imported, ~55 ms of CPU, a quarter of
`kvmsentry do`'s whole start-up, where loading the library takes ~2 ms.
The sentry decodes a single x86-64 instruction now and then (an unusual
exit, a fault report), which needs only cs_open/cs_disasm/cs_free.
"""
import importlib.util
import os
import threading

import _ctypes

CS_ARCH_X86 = 3
CS_MODE_64 = 1 << 3
# Sonames tried when the capstone package's own copy is not there.
SONAMES = ("libcapstone.so.5", "libcapstone.so.4", "libcapstone.so")


class Insn:
    """One decoded instruction."""
    __slots__ = ("address", "size", "bytes", "mnemonic", "op_str")

    def __init__(self, address, size, raw, mnemonic, op_str):
        self.address, self.size, self.bytes = address, size, raw
        self.mnemonic, self.op_str = mnemonic, op_str

    def __str__(self):
        return ("%s %s" % (self.mnemonic, self.op_str)).strip()


def _struct(nbytes):
    """capstone's cs_insn; `bytes` grew from 16 (v4) to 24 (v5)."""
    import ctypes

    class CsInsn(ctypes.Structure):
        _fields_ = (("id", ctypes.c_uint), ("address", ctypes.c_uint64),
                    ("size", ctypes.c_uint16), ("bytes", ctypes.c_ubyte * nbytes),
                    ("mnemonic", ctypes.c_char * 32), ("op_str", ctypes.c_char * 160),
                    ("detail", ctypes.c_void_p))
    return CsInsn


def _library_paths():
    # find_spec locates the package without running its __init__.
    spec = importlib.util.find_spec("capstone")
    for where in (spec.submodule_search_locations or []) if spec else []:
        yield os.path.join(where, "lib", "libcapstone.so")
    yield from SONAMES


def _load():
    """(path, dlopen handle) of libcapstone, loaded now (without ctypes's
    Python layer: most runs never decode; the first decoding wraps it)."""
    errors = []
    for path in _library_paths():
        try:
            return path, _ctypes.dlopen(path, os.RTLD_NOW)
        except OSError as e:
            errors.append(str(e))
    raise ImportError("libcapstone not found: %s" % "; ".join(errors))


class Disassembler:
    """x86-64 decoding of the first instruction of a byte string. The
    library is loaded now (a confined sentry maps no code later); the
    capstone handle is made at the first decoding, which most runs never
    ask for."""

    def __init__(self):
        self._path, self._dl_handle = _load()
        self._lib = None
        self._handle = None
        self._lock = threading.Lock()      # a capstone handle is not thread-safe

    def _open(self):
        import ctypes
        # The library loaded at start-up (no new mapping: the confined
        # sentry may not map code).
        lib = self._lib = ctypes.CDLL(self._path, handle=self._dl_handle)
        lib.cs_version.restype = ctypes.c_int
        major, minor = ctypes.c_int(), ctypes.c_int()
        lib.cs_version(ctypes.byref(major), ctypes.byref(minor))
        self._insn = _struct(24 if major.value >= 5 else 16)
        lib.cs_open.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_size_t))
        lib.cs_open.restype = ctypes.c_int
        lib.cs_disasm.argtypes = (ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
                                  ctypes.c_uint64, ctypes.c_size_t,
                                  ctypes.POINTER(ctypes.POINTER(self._insn)))
        lib.cs_disasm.restype = ctypes.c_size_t
        lib.cs_free.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
        lib.cs_free.restype = None
        handle = ctypes.c_size_t()
        if lib.cs_open(CS_ARCH_X86, CS_MODE_64, ctypes.byref(handle)) != 0:
            raise RuntimeError("libcapstone: cs_open(x86, 64-bit) failed")
        self._handle = handle

    def first(self, code, address=0):
        """The instruction at the start of `code` (bytes) as an Insn, or
        None if none decodes there."""
        import ctypes
        with self._lock:
            if self._handle is None:
                self._open()
            out = ctypes.POINTER(self._insn)()
            count = self._lib.cs_disasm(self._handle.value, bytes(code), len(code),
                                        address, 1, ctypes.byref(out))
            if count == 0:
                return None
            try:
                i = out[0]
                return Insn(i.address, i.size, bytes(i.bytes[:i.size]),
                            i.mnemonic.decode(), i.op_str.decode())
            finally:
                self._lib.cs_free(out, count)


_disassembler = Disassembler()
first = _disassembler.first
