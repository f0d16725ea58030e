"""Build vdso/vdso.c into kvmsentry/mm/vdso.elf, the image every sandboxed
process gets as its vDSO.

    python vdso/build.py            # rebuild the shipped bytes
    python vdso/build.py --check    # exit 1 if they differ

Like the ring-0 stub, the image is shipped and checked rather than built
at install: the same gcc and binutils give the same bytes (no build id,
symbols stripped), which tests/unit/test_vdso_build.py checks.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHIPPED = os.path.join(ROOT, "kvmsentry", "mm", "vdso.elf")
CFLAGS = ["-O2", "-fPIC", "-fno-stack-protector", "-fno-asynchronous-unwind-tables",
          "-fno-builtin", "-ffile-prefix-map=%s=." % HERE]
LDFLAGS = ["-nostdlib", "-shared", "-Wl,-T," + os.path.join(HERE, "vdso.lds"),
           "-Wl,--hash-style=both", "-Wl,-soname=linux-vdso.so.1", "-Wl,--build-id=none",
           "-Wl,-z,max-page-size=4096", "-Wl,--no-undefined"]


def build():
    """Return the vDSO image bytes built from source."""
    with tempfile.TemporaryDirectory() as tmp:
        linked = os.path.join(tmp, "vdso.elf")
        out = os.path.join(tmp, "vdso.stripped")
        subprocess.run(["gcc", *CFLAGS, *LDFLAGS, "-o", linked,
                        os.path.join(HERE, "vdso.c")], check=True)
        subprocess.run(["objcopy", "--strip-all", linked, out], check=True)
        with open(out, "rb") as f:
            image = f.read()
    if len(image) > 4096:
        raise RuntimeError("vDSO image is %d bytes; the loader maps one page" % len(image))
    return image


def main(argv):
    sys.path.insert(0, ROOT)
    from kvmsentry.shipped_image import check_or_write
    return check_or_write(argv, build(), SHIPPED)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
