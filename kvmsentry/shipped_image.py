"""What the three image builders (guest_stub/, vdso/, systrap_stub/
build.py) share: the images are shipped in the package and checked
against their source, not built at install (the same gcc and binutils
give the same bytes), so each builder either checks or rewrites.
"""
import os


def check_or_write(argv, image, shipped):
    """`--check` in argv: exit status 1 if the shipped file differs from
    `image`; otherwise write it (renamed into place: a process running
    the old one keeps it). Returns the exit status."""
    name = os.path.basename(shipped)
    if "--check" in argv:
        with open(shipped, "rb") as f:
            same = f.read() == image
        print("%s matches source" % name if same else "%s is stale" % name)
        return 0 if same else 1
    tmp = shipped + ".new"
    with open(tmp, "wb") as f:
        f.write(image)
    os.chmod(tmp, os.stat(shipped).st_mode if os.path.exists(shipped) else 0o644)
    os.replace(tmp, shipped)
    print("wrote %s (%d bytes)" % (shipped, len(image)))
    return 0
