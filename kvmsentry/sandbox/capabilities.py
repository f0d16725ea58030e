"""The capabilities the confined sentry keeps, and dropping the rest.

All of them count only inside the sentry's own user namespace. Kept, for
hostfs to serve a guest whose root may touch any file of the --root and
volumes whatever its owner and mode (the sentry checks the guest's
permissions itself, as Linux would, before it asks the host):
"""
from kvmsentry._sandbox import ffi, lib

CAP_CHOWN = 0            # chown of volume files to the guest's uid/gid
CAP_DAC_OVERRIDE = 1     # read/write files whatever their mode
CAP_DAC_READ_SEARCH = 2  # walk directories whatever their mode
CAP_FOWNER = 3           # chmod/utimes/xattrs on files the sentry does not own
CAP_FSETID = 4           # keep set-id bits on chmod for the guest's root

KEEP = {"CAP_CHOWN": CAP_CHOWN, "CAP_DAC_OVERRIDE": CAP_DAC_OVERRIDE,
        "CAP_DAC_READ_SEARCH": CAP_DAC_READ_SEARCH, "CAP_FOWNER": CAP_FOWNER,
        "CAP_FSETID": CAP_FSETID}


def drop_all_but_kept():
    """Bounding set, then effective/permitted/inheritable/ambient: only
    KEEP remains. Returns the names kept."""
    mask = 0
    for bit in KEEP.values():
        mask |= 1 << bit
    if lib.kvmsentry_drop_bounding(mask) != 0:
        raise OSError(ffi.errno, "dropping the capability bounding set")
    if lib.kvmsentry_set_caps(mask) != 0:
        raise OSError(ffi.errno, "capset")
    return sorted(KEEP, key=KEEP.get)
