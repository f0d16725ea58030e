"""Namespaces for the sentry, and pivot_root into an empty root.

The sentry always gets a user namespace of its own: identity-mapped over
every uid/gid when started as root (so files keep their owners and the
sentry's remaining capabilities count only inside it), the caller's own
uid/gid otherwise. Mount, pid, ipc and uts namespaces are created in it.
The network namespace belongs to --network (net/), not to this module.
"""
import errno
import os

from kvmsentry._sandbox import ffi, lib

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2

NAMES = {CLONE_NEWUSER: "user", CLONE_NEWNS: "mnt", CLONE_NEWPID: "pid",
         CLONE_NEWIPC: "ipc", CLONE_NEWUTS: "uts"}

# Where the empty root is mounted before pivot_root: the first of these
# that exists (only in the sentry's own mount namespace).
SCRATCH_MOUNT_POINTS = ("/tmp", "/run", "/mnt", "/var/tmp")


class ConfinementError(Exception):
    """A confinement step failed; the message is one line for the user."""


def _raise(what):
    e = ffi.errno
    raise ConfinementError("%s: %s" % (what, os.strerror(e)))


def _id_maps():
    """(uid_map, gid_map, setgroups) text for the sentry's user namespace."""
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0:
        full = "0 0 4294967295\n"
        return full, full, None
    return "%d %d 1\n" % (uid, uid), "%d %d 1\n" % (gid, gid), "deny"


def _enter_user_namespace():
    """unshare(CLONE_NEWUSER) and get the id maps written (by a helper: a
    process may map more than its own uid only while it holds CAP_SETUID
    in the parent namespace, see cdefs/sandbox_helpers.c)."""
    uid_map, gid_map, setgroups = _id_maps()
    if lib.kvmsentry_unshare_user(uid_map.encode(), gid_map.encode(),
                                  setgroups.encode() if setgroups else ffi.NULL) != 0:
        if ffi.errno == errno.EPROTO:
            raise ConfinementError("writing the user namespace's uid/gid maps failed")
        _raise("unshare(CLONE_NEWUSER)")


def unshare(extra_flags=0):
    """Enter new user, mount, pid (for children), ipc and uts namespaces
    (plus extra_flags); return the names entered. Must run while the
    process has one thread."""
    _enter_user_namespace()
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | extra_flags
    if lib.kvmsentry_unshare(flags) != 0:
        _raise("unshare")
    # Nothing the sentry mounts may propagate back to the host.
    if lib.kvmsentry_mount(ffi.NULL, b"/", ffi.NULL, MS_REC | MS_PRIVATE, ffi.NULL) != 0:
        _raise("making / private")
    entered = CLONE_NEWUSER | flags
    return [name for bit, name in NAMES.items() if entered & bit] + \
        (["other:%#x" % extra_flags] if extra_flags & ~sum(NAMES) else [])


def _mount(source, target, fstype, flags, data=None):
    return lib.kvmsentry_mount(source, target, fstype, flags,
                               data if data is not None else ffi.NULL)


def pivot_to_empty_root():
    """Make an empty read-only tmpfs the root (and cwd) of this mount
    namespace, with only a read-only procfs of the sentry's own pid
    namespace in it (hostfs re-opens its O_PATH fds through
    /proc/self/fd). No host path is reachable by name afterwards."""
    scratch = next((p for p in SCRATCH_MOUNT_POINTS if os.path.isdir(p)), None)
    if scratch is None:
        raise ConfinementError("no directory to mount the empty root on (%s)"
                               % ", ".join(SCRATCH_MOUNT_POINTS))
    where = scratch.encode()
    hardening = MS_NOSUID | MS_NODEV | MS_NOEXEC
    if _mount(b"none", where, b"tmpfs", hardening, b"size=16k,nr_inodes=8,mode=0555") != 0:
        _raise("mount tmpfs on %s" % scratch)
    os.mkdir(where + b"/proc", 0o555)
    # subset=pid (Linux 5.8+) leaves out /proc/sys, /proc/meminfo & co.
    if _mount(b"proc", where + b"/proc", b"proc", hardening | MS_RDONLY, b"subset=pid") != 0:
        if ffi.errno != errno.EINVAL or \
                _mount(b"proc", where + b"/proc", b"proc", hardening | MS_RDONLY) != 0:
            _raise("mount proc")
    os.chdir(where)
    if lib.kvmsentry_pivot_root(b".", b".") != 0:
        _raise("pivot_root")
    # The old root now sits beneath the new one at "."; detach it.
    if lib.kvmsentry_umount2(b".", MNT_DETACH) != 0:
        _raise("detaching the old root")
    os.chdir("/")
    if _mount(ffi.NULL, b"/", ffi.NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | hardening) != 0:
        _raise("remounting the new root read-only")
