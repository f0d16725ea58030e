"""/proc/cpuinfo from the CPUID the guest is given (machine.cpuid), one
entry per sandbox CPU, with Linux's flag names (arch/x86 cpufeatures.h)
for the bits the guest sees."""
import struct

# (leaf, subleaf, register) -> {bit: Linux flag name}, in Linux's print order.
FLAG_BITS = (
    ((1, 0, "edx"), {0: "fpu", 1: "vme", 2: "de", 3: "pse", 4: "tsc", 5: "msr", 6: "pae",
                     7: "mce", 8: "cx8", 9: "apic", 11: "sep", 12: "mtrr", 13: "pge",
                     14: "mca", 15: "cmov", 16: "pat", 17: "pse36", 18: "pn",
                     19: "clflush", 21: "dts", 22: "acpi", 23: "mmx", 24: "fxsr",
                     25: "sse", 26: "sse2", 27: "ss", 28: "ht", 29: "tm", 31: "pbe"}),
    ((0x80000001, 0, "edx"), {11: "syscall", 19: "mp", 20: "nx", 22: "mmxext",
                              25: "fxsr_opt", 26: "pdpe1gb", 27: "rdtscp", 29: "lm",
                              30: "3dnowext", 31: "3dnow"}),
    ((1, 0, "ecx"), {0: "pni", 1: "pclmulqdq", 2: "dtes64", 3: "monitor", 4: "ds_cpl",
                     5: "vmx", 6: "smx", 7: "est", 8: "tm2", 9: "ssse3", 10: "cid",
                     11: "sdbg", 12: "fma", 13: "cx16", 14: "xtpr", 15: "pdcm",
                     17: "pcid", 18: "dca", 19: "sse4_1", 20: "sse4_2", 21: "x2apic",
                     22: "movbe", 23: "popcnt", 24: "tsc_deadline_timer", 25: "aes",
                     26: "xsave", 28: "avx", 29: "f16c", 30: "rdrand", 31: "hypervisor"}),
    ((0x80000001, 0, "ecx"), {0: "lahf_lm", 1: "cmp_legacy", 2: "svm", 3: "extapic",
                              4: "cr8_legacy", 5: "abm", 6: "sse4a", 7: "misalignsse",
                              8: "3dnowprefetch", 9: "osvw", 10: "ibs", 11: "xop",
                              12: "skinit", 13: "wdt", 15: "lwp", 16: "fma4", 17: "tce",
                              19: "nodeid_msr", 21: "tbm", 22: "topoext",
                              23: "perfctr_core", 24: "perfctr_nb", 26: "bpext",
                              27: "ptsc", 28: "perfctr_llc", 29: "mwaitx"}),
    ((7, 0, "ebx"), {0: "fsgsbase", 1: "tsc_adjust", 2: "sgx", 3: "bmi1", 4: "hle",
                     5: "avx2", 7: "smep", 8: "bmi2", 9: "erms", 10: "invpcid", 11: "rtm",
                     12: "cqm", 14: "mpx", 15: "rdt_a", 16: "avx512f", 17: "avx512dq",
                     18: "rdseed", 19: "adx", 20: "smap", 21: "avx512ifma",
                     23: "clflushopt", 24: "clwb", 25: "intel_pt", 26: "avx512pf",
                     27: "avx512er", 28: "avx512cd", 29: "sha_ni", 30: "avx512bw",
                     31: "avx512vl"}),
    ((0xD, 1, "eax"), {0: "xsaveopt", 1: "xsavec", 2: "xgetbv1", 3: "xsaves"}),
    ((7, 1, "eax"), {4: "avx_vnni", 5: "avx512_bf16"}),
    ((7, 0, "ecx"), {1: "avx512vbmi", 2: "umip", 3: "pku", 4: "ospke", 5: "waitpkg",
                     6: "avx512_vbmi2", 8: "gfni", 9: "vaes", 10: "vpclmulqdq",
                     11: "avx512_vnni", 12: "avx512_bitalg", 13: "tme",
                     14: "avx512_vpopcntdq", 16: "la57", 22: "rdpid", 25: "cldemote",
                     27: "movdiri", 28: "movdir64b"}),
    ((7, 0, "edx"), {2: "avx512_4vnniw", 3: "avx512_4fmaps", 4: "fsrm",
                     8: "avx512_vp2intersect", 10: "md_clear", 14: "serialize",
                     16: "tsxldtrk", 18: "pconfig", 19: "arch_lbr", 22: "amx_bf16",
                     23: "avx512_fp16", 24: "amx_tile", 25: "amx_int8",
                     28: "flush_l1d", 29: "arch_capabilities"}),
)


def _leaves(cpuid):
    return {(e["function"], e["index"]): e for e in cpuid}


def flags(cpuid):
    """The Linux flag names of the bits set in the guest's CPUID."""
    leaves = _leaves(cpuid)
    out = []
    for (leaf, sub, reg), bits in FLAG_BITS:
        e = leaves.get((leaf, sub))
        if e is None:
            continue
        out += [name for bit, name in sorted(bits.items()) if e[reg] >> bit & 1]
    return out


def _vendor(leaves):
    e = leaves.get((0, 0))
    if e is None:
        return "unknown"
    return struct.pack("<III", e["ebx"], e["edx"], e["ecx"]).decode(errors="replace")


def _model_name(leaves):
    words = []
    for leaf in (0x80000002, 0x80000003, 0x80000004):
        e = leaves.get((leaf, 0))
        if e is None:
            return "Virtual CPU"
        words += [e["eax"], e["ebx"], e["ecx"], e["edx"]]
    name = struct.pack("<12I", *words).split(b"\0", 1)[0].strip()
    return name.decode(errors="replace") or "Virtual CPU"


def _signature(leaves):
    """(family, model, stepping) from leaf 1 as Linux decodes them."""
    e = leaves.get((1, 0))
    if e is None:
        return 0, 0, 0
    eax = e["eax"]
    family = (eax >> 8) & 0xF
    model = (eax >> 4) & 0xF
    if family == 0xF:
        family += (eax >> 20) & 0xFF
    if family >= 6:
        model += ((eax >> 16) & 0xF) << 4
    return family, model, eax & 0xF


def _cache_kb(leaves):
    """The L2 size leaf 0x80000006 gives (cpu_detect_cache_sizes), 0 if none."""
    e = leaves.get((0x80000006, 0))
    return e["ecx"] >> 16 if e is not None else 0


def cpuinfo(cpuid, ncpus, mhz=2000.0):
    leaves = _leaves(cpuid)
    family, model, stepping = _signature(leaves)
    flag_text = " ".join(flags(cpuid))
    max_leaf = leaves[(0, 0)]["eax"] if (0, 0) in leaves else 0
    cache_kb = _cache_kb(leaves)
    cache = [("cache size", "%d KB" % cache_kb)] if cache_kb else []
    entries = []
    for n in range(ncpus):
        rows = [("processor", n), ("vendor_id", _vendor(leaves)), ("cpu family", family),
                ("model", model), ("model name", _model_name(leaves)),
                ("stepping", stepping), ("cpu MHz", "%.3f" % mhz), *cache,
                ("physical id", 0), ("siblings", ncpus), ("core id", n),
                ("cpu cores", ncpus), ("apicid", n), ("initial apicid", n),
                ("fpu", "yes"), ("fpu_exception", "yes"), ("cpuid level", max_leaf),
                ("wp", "yes"), ("flags", flag_text), ("bogomips", "%.2f" % (mhz * 2)),
                ("clflush size", 64), ("cache_alignment", 64),
                ("address sizes", "48 bits physical, 48 bits virtual")]
        entries.append("".join("%s%s: %s\n" % (k, "\t\t" if len(k) < 8 else "\t", v)
                               for k, v in rows) + "power management:\n")
    return "\n".join(entries).encode() + b"\n"
