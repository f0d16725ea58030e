"""Credentials of a task, and Linux's rules for changing them.

A Credentials object is treated as immutable once a task uses it (like
Linux's struct cred): every change makes a new one with
record.replace and installs it on the calling task only, so tasks
made by fork or clone may share one object safely. The set*id rules are
kernel/sys.c's; "privileged" means CAP_SETUID / CAP_SETGID in the
effective set (root has every capability).
"""
import errno
import os

from kvmsentry.errors import SyscallError
from kvmsentry.record import record, replace

CAP_CHOWN, CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_SETPCAP = 0, 5, 6, 7, 8
CAP_DAC_READ_SEARCH, CAP_FOWNER = 2, 3
CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_SYS_NICE, CAP_SYS_RESOURCE, CAP_MKNOD = 19, 21, 23, 24, 27
CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_NET_RAW = 10, 12, 13
CAP_LAST_CAP = 40                     # CAP_CHECKPOINT_RESTORE (Linux 5.9+)
CAP_FULL = (1 << (CAP_LAST_CAP + 1)) - 1
NO_ID = 0xFFFFFFFF                    # (uid_t)-1: "unchanged", never a valid id
NGROUPS_MAX = 65536


def cap_bit(cap):
    return 1 << cap


@record
class Credentials:
    uid: int
    euid: int
    gid: int
    egid: int
    suid: int = None                  # saved ids; default: the effective ones
    sgid: int = None
    fsuid: int = None                 # filesystem ids; default: the effective ones
    fsgid: int = None
    groups: tuple = ()                # supplementary groups, sorted
    cap_permitted: int = None         # default: all for euid 0, none otherwise
    cap_effective: int = None
    cap_inheritable: int = 0
    cap_bounding: int = CAP_FULL
    cap_ambient: int = 0
    keep_caps: bool = False           # PR_SET_KEEPCAPS (SECBIT_KEEP_CAPS)
    no_new_privs: bool = False        # PR_SET_NO_NEW_PRIVS

    def __post_init__(self):
        if self.suid is None:
            self.suid = self.euid
        if self.sgid is None:
            self.sgid = self.egid
        if self.fsuid is None:
            self.fsuid = self.euid
        if self.fsgid is None:
            self.fsgid = self.egid
        if self.cap_permitted is None:
            self.cap_permitted = CAP_FULL if self.euid == 0 else 0
        if self.cap_effective is None:
            self.cap_effective = self.cap_permitted
        self.groups = tuple(sorted(set(self.groups)))

    @classmethod
    def of_host(cls):
        """The caller's identity, as `runsc do` runs the program."""
        uid, euid, suid = os.getresuid()
        gid, egid, sgid = os.getresgid()
        return cls(uid, euid, gid, egid, suid=suid, sgid=sgid, groups=tuple(os.getgroups()))

    def capable(self, cap):
        return bool(self.cap_effective & cap_bit(cap))

    # --- set*uid ---------------------------------------------------------------
    def setuid(self, uid):
        _check_valid(uid)
        if self.capable(CAP_SETUID):
            return self._uids(uid, uid, uid)
        if uid not in (self.uid, self.suid):
            raise SyscallError(errno.EPERM)
        return self._uids(self.uid, uid, self.suid)

    def setreuid(self, ruid, euid):
        privileged = self.capable(CAP_SETUID)
        new_r, new_e = self.uid, self.euid
        if ruid != NO_ID:
            if ruid not in (self.uid, self.euid) and not privileged:
                raise SyscallError(errno.EPERM)
            new_r = ruid
        if euid != NO_ID:
            if euid not in (self.uid, self.euid, self.suid) and not privileged:
                raise SyscallError(errno.EPERM)
            new_e = euid
        new_s = self.suid
        if ruid != NO_ID or (euid != NO_ID and euid != self.uid):
            new_s = new_e
        return self._uids(new_r, new_e, new_s)

    def setresuid(self, ruid, euid, suid):
        old = (self.uid, self.euid, self.suid)
        if all(new == NO_ID or new == cur for new, cur in zip((ruid, euid, suid), old)):
            return self
        if not self.capable(CAP_SETUID) and \
                any(new != NO_ID and new not in old for new in (ruid, euid, suid)):
            raise SyscallError(errno.EPERM)
        r, e, s = (cur if new == NO_ID else new for new, cur in zip((ruid, euid, suid), old))
        return self._uids(r, e, s)

    def setfsuid(self, fsuid):
        """(new credentials, old fsuid): setfsuid(2) never fails, it just
        leaves the id alone when the caller may not set it."""
        allowed = fsuid in (self.uid, self.euid, self.suid, self.fsuid) or \
            self.capable(CAP_SETUID)
        if fsuid == NO_ID or not allowed or fsuid == self.fsuid:
            return self, self.fsuid
        caps = self.cap_effective
        fs_caps = _CAP_FS_MASK
        if self.fsuid == 0 and fsuid != 0:
            caps &= ~fs_caps
        elif self.fsuid != 0 and fsuid == 0:
            caps |= self.cap_permitted & fs_caps
        return replace(self, fsuid=fsuid, cap_effective=caps), self.fsuid

    def _uids(self, ruid, euid, suid):
        """The new uids with Linux's capability fix-up (cap_emulate_setxuid)."""
        old_any_root = 0 in (self.uid, self.euid, self.suid)
        permitted, effective = self.cap_permitted, self.cap_effective
        ambient = self.cap_ambient
        if old_any_root and 0 not in (ruid, euid, suid):
            ambient = 0
            if not self.keep_caps:
                permitted = effective = 0
        if self.euid == 0 and euid != 0:
            effective = 0
        if self.euid != 0 and euid == 0:
            effective = permitted
        return replace(self, uid=ruid, euid=euid, suid=suid, fsuid=euid,
                       cap_permitted=permitted, cap_effective=effective,
                       cap_ambient=ambient)

    # --- set*gid ---------------------------------------------------------------
    def setgid(self, gid):
        _check_valid(gid)
        if self.capable(CAP_SETGID):
            return replace(self, gid=gid, egid=gid, sgid=gid, fsgid=gid)
        if gid not in (self.gid, self.sgid):
            raise SyscallError(errno.EPERM)
        return replace(self, egid=gid, fsgid=gid)

    def setregid(self, rgid, egid):
        privileged = self.capable(CAP_SETGID)
        new_r, new_e = self.gid, self.egid
        if rgid != NO_ID:
            if rgid not in (self.gid, self.egid) and not privileged:
                raise SyscallError(errno.EPERM)
            new_r = rgid
        if egid != NO_ID:
            if egid not in (self.gid, self.egid, self.sgid) and not privileged:
                raise SyscallError(errno.EPERM)
            new_e = egid
        new_s = self.sgid
        if rgid != NO_ID or (egid != NO_ID and egid != self.gid):
            new_s = new_e
        return replace(self, gid=new_r, egid=new_e, sgid=new_s, fsgid=new_e)

    def setresgid(self, rgid, egid, sgid):
        old = (self.gid, self.egid, self.sgid)
        if all(new == NO_ID or new == cur for new, cur in zip((rgid, egid, sgid), old)):
            return self
        if not self.capable(CAP_SETGID) and \
                any(new != NO_ID and new not in old for new in (rgid, egid, sgid)):
            raise SyscallError(errno.EPERM)
        r, e, s = (cur if new == NO_ID else new for new, cur in zip((rgid, egid, sgid), old))
        return replace(self, gid=r, egid=e, sgid=s, fsgid=e)

    def setfsgid(self, fsgid):
        """(new credentials, old fsgid), as setfsuid."""
        allowed = fsgid in (self.gid, self.egid, self.sgid, self.fsgid) or \
            self.capable(CAP_SETGID)
        if fsgid == NO_ID or not allowed:
            return self, self.fsgid
        return replace(self, fsgid=fsgid), self.fsgid

    def setgroups(self, groups):
        if not self.capable(CAP_SETGID):
            raise SyscallError(errno.EPERM)
        return replace(self, groups=tuple(groups))

    # --- capabilities ----------------------------------------------------------
    def capset(self, effective, permitted, inheritable):
        """capset(2)'s rules (cap_capset): no new permitted capabilities,
        effective within permitted, inheritable within what the caller
        could pass on."""
        if inheritable & ~(self.cap_inheritable | self.cap_permitted) and \
                not self.capable(CAP_SETPCAP):
            raise SyscallError(errno.EPERM)
        if inheritable & ~(self.cap_inheritable | self.cap_bounding):
            raise SyscallError(errno.EPERM)
        if permitted & ~self.cap_permitted or effective & ~permitted:
            raise SyscallError(errno.EPERM)
        return replace(self, cap_effective=effective, cap_permitted=permitted,
                       cap_inheritable=inheritable,
                       cap_ambient=self.cap_ambient & permitted & inheritable)

    def raise_ambient(self, cap):
        """PR_CAP_AMBIENT_RAISE: only a capability both permitted and inheritable."""
        bit = cap_bit(cap)
        if not self.cap_permitted & bit or not self.cap_inheritable & bit:
            raise SyscallError(errno.EPERM)
        return replace(self, cap_ambient=self.cap_ambient | bit)

    def for_exec(self):
        """The credentials after execve of a file without file capabilities
        or set-id bits (cap_bprm_creds_from_file): root gets its bounding and
        inheritable sets, everyone keeps the ambient set, and only a root
        euid makes them effective."""
        permitted = (self.cap_bounding | self.cap_inheritable) if 0 in (self.uid, self.euid) else 0
        permitted |= self.cap_ambient
        effective = permitted if self.euid == 0 else self.cap_ambient
        if (permitted, effective, self.keep_caps) == (self.cap_permitted, self.cap_effective,
                                                      False):
            return self                 # (most execs: nothing changes)
        return replace(self, cap_permitted=permitted, cap_effective=effective,
                       keep_caps=False)

    def drop_bounding(self, cap):
        if not self.capable(CAP_SETPCAP):
            raise SyscallError(errno.EPERM)
        return replace(self, cap_bounding=self.cap_bounding & ~cap_bit(cap))


# CAP_FS_MASK: chown, dac_override, dac_read_search, fowner, fsetid,
# linux_immutable, mknod, mac_override.
_CAP_FS_MASK = sum(cap_bit(c) for c in (0, 1, 2, 3, 4, 9, 27, 32))


def _check_valid(value):
    """EINVAL for (uid_t)-1 where an id is required (every other id is
    valid: the sandbox has one user namespace)."""
    if value == NO_ID:
        raise SyscallError(errno.EINVAL)
