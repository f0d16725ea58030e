"""Build the SVM test guest from Debian packages: a kernel and an initramfs.

    python tools/svm/image.py [--cache DIR]     # prints the kernel and initrd paths

The guest runs Debian's stock kernel (the version `linux-image-amd64`
depends on, fetched with `apt-get download` and unpacked with `dpkg-deb -x`
into the cache; the host's kernel and /boot are never touched) and a small
initramfs: static busybox as /init's shell, the kernel modules for virtio
9p and for KVM on AMD SVM (kvm_amd), and tools/svm/init.sh. Everything is
cached by kernel version; a second run only checks the cache.
"""
import argparse
import fcntl
import io
import os
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "kvmsentry-svm")
BUSYBOX = "/bin/busybox"          # Debian's busybox-static
META_PACKAGE = "linux-image-amd64"

# What the guest needs from the kernel package, in the order init loads it;
# their dependencies come first (read from each module's .modinfo).
# virtio_pci + 9pnet_virtio + 9p: the host's / over virtfs.
# kvm_amd: /dev/kvm with hardware SVM semantics (TCG emulates SVM).
# tun: /dev/net/tun for slirp4netns (--network=sandbox, the default).
BOOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "tun")
KVM_MODULES = ("kvm_amd",)


class ImageError(Exception):
    """The guest image could not be built."""


def _run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise ImageError("%s failed (%d): %s" % (" ".join(cmd), proc.returncode,
                                                 proc.stderr.strip()))
    return proc.stdout


def kernel_package():
    """The linux-image-<ver>-amd64 package Debian's metapackage points at."""
    out = _run(["apt-cache", "depends", META_PACKAGE])
    for line in out.splitlines():
        name = line.strip().partition("Depends: ")[2]
        if name.startswith("linux-image-") and name.endswith("-amd64"):
            return name
    raise ImageError("cannot tell which kernel %s depends on:\n%s" % (META_PACKAGE, out))


def unpack_kernel(cache, package):
    """Download and unpack `package` into cache/<package>/ (once)."""
    root = os.path.join(cache, package)
    if os.path.isdir(os.path.join(root, "lib", "modules")):
        return root
    dl = os.path.join(cache, "download")
    shutil.rmtree(dl, ignore_errors=True)
    os.makedirs(dl)
    # apt's sandbox user cannot write to root's cache; it then downloads
    # as root, with a warning only.
    _run(["apt-get", "download", package], cwd=dl)
    debs = [n for n in os.listdir(dl) if n.endswith(".deb")]
    if len(debs) != 1:
        raise ImageError("apt-get download %s left %r" % (package, debs))
    tmp = root + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    _run(["dpkg-deb", "-x", os.path.join(dl, debs[0]), tmp])
    os.rename(tmp, root)
    shutil.rmtree(dl)
    return root


def _modinfo(path):
    """The key=value strings of a module's .modinfo section (ELF64)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise ImageError("%s is not an ELF64 module" % path)
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
                for i in range(shnum)]
    strtab_off = sections[shstrndx][4]
    info = {}
    for name_off, _type, _flags, _addr, offset, size in sections:
        name = data[strtab_off + name_off:data.index(b"\0", strtab_off + name_off)]
        if name == b".modinfo":
            for item in data[offset:offset + size].split(b"\0"):
                key, sep, value = item.decode("latin-1").partition("=")
                if sep:
                    info.setdefault(key, value)
    return info


def module_order(modules_dir, wanted):
    """Paths of `wanted` modules and all they depend on, dependencies first."""
    by_name = {}
    for dirpath, _dirs, files in os.walk(modules_dir):
        for f in files:
            if f.endswith(".ko"):
                by_name[f[:-3].replace("-", "_")] = os.path.join(dirpath, f)
    builtin = set()
    with open(os.path.join(modules_dir, "modules.builtin")) as f:
        for line in f:
            builtin.add(os.path.basename(line.strip())[:-3].replace("-", "_"))
    order, seen = [], set()

    def visit(name):
        if name in seen or name in builtin:
            return
        seen.add(name)
        if name not in by_name:
            raise ImageError("module %s is neither in the package nor built in" % name)
        for dep in filter(None, _modinfo(by_name[name]).get("depends", "").split(",")):
            visit(dep.replace("-", "_"))
        order.append(by_name[name])

    for name in wanted:
        visit(name)
    return order


def _cpio_newc(entries):
    """An uncompressed initramfs: entries are (path, mode, bytes or None for
    a directory). The kernel unpacks the `newc` format directly."""
    out = io.BytesIO()

    def record(name, mode, data, ino):
        name_b = name.encode() + b"\0"
        header = "070701" + "".join("%08X" % v for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
        out.write(header.encode() + name_b)
        out.write(b"\0" * (-out.tell() % 4))
        out.write(data)
        out.write(b"\0" * (-out.tell() % 4))

    for ino, (name, mode, data) in enumerate(entries, 1):
        record(name, mode, data if data is not None else b"", ino)
    record("TRAILER!!!", 0, b"", 0)
    return out.getvalue()


def build_initrd(kernel_root, out_path):
    """Write the initramfs for kernel_root to out_path."""
    (version,) = os.listdir(os.path.join(kernel_root, "lib", "modules"))
    modules_dir = os.path.join(kernel_root, "lib", "modules", version)
    entries = [(d, 0o40755, None) for d in ("bin", "dev", "proc", "sys", "host", "mod")]
    with open(BUSYBOX, "rb") as f:
        entries.append(("bin/busybox", 0o100755, f.read()))
    with open(os.path.join(HERE, "init.sh"), "rb") as f:
        entries.append(("init", 0o100755, f.read()))
    lists = {}
    for group, wanted in (("boot", BOOT_MODULES), ("kvm", KVM_MODULES)):
        names = []
        for path in module_order(modules_dir, wanted):
            name = os.path.basename(path)
            if any(name == n for n in sum(lists.values(), [])):
                continue
            with open(path, "rb") as f:
                entries.append(("mod/" + name, 0o100644, f.read()))
            names.append(name)
        lists[group] = names
        entries.append(("mod/%s.list" % group, 0o100644,
                        "".join(n + "\n" for n in names).encode()))
    tmp = out_path + ".partial"
    with open(tmp, "wb") as f:
        f.write(_cpio_newc(entries))
    os.rename(tmp, out_path)


def _stamp():
    """Changes to what goes into the initramfs rebuild it."""
    parts = []
    for path in (os.path.join(HERE, "init.sh"), __file__, BUSYBOX):
        st = os.stat(path)
        parts.append("%s:%d:%d" % (os.path.basename(path), st.st_size, st.st_mtime_ns))
    return ",".join(parts)


def prepare(cache=DEFAULT_CACHE):
    """(vmlinuz path, initrd path, kernel package), building what is missing.
    Concurrent callers (one guest per NPT mode) take turns on the cache."""
    if not os.access(BUSYBOX, os.X_OK):
        raise ImageError("%s missing: apt-get install busybox-static" % BUSYBOX)
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _prepare_locked(cache)


def _prepare_locked(cache):
    package = kernel_package()
    root = unpack_kernel(cache, package)
    boot = os.path.join(root, "boot")
    kernels = [n for n in os.listdir(boot) if n.startswith("vmlinuz-")]
    if len(kernels) != 1:
        raise ImageError("%s: expected one vmlinuz, found %r" % (boot, kernels))
    initrd = os.path.join(cache, package + ".initrd")
    stamp_file = initrd + ".stamp"
    stamp = _stamp()
    current = open(stamp_file).read() if os.path.exists(stamp_file) else None
    if current != stamp or not os.path.exists(initrd):
        build_initrd(root, initrd)
        with open(stamp_file, "w") as f:
            f.write(stamp)
    return os.path.join(boot, kernels[0]), initrd, package


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=DEFAULT_CACHE)
    args = ap.parse_args(argv)
    try:
        kernel, initrd, package = prepare(args.cache)
    except ImageError as e:
        print("svm image: %s" % e, file=sys.stderr)
        return 1
    print("%s\n%s\n%s" % (package, kernel, initrd))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
