"""A container's kernel from its spec: machine, mounts, credentials, limits."""
import os


from kvmsentry.fsimpl.tmpfs import TmpfsFilesystem
from kvmsentry.kernel.creds import Credentials
from kvmsentry.kernel.rootfs import Volume, add_mount, build_mounts, ensure_dir, write_file
from kvmsentry.syscalls.sys_identity import initial_rlimits


def build_mounts_for(spec):
    """The container's mount table: its rootfs read-only beneath an
    in-memory overlay (runsc's default), directory binds as volumes, tmpfs
    mounts, and file binds copied in at create time (a snapshot: later
    changes on either side do not propagate; the debug log says so)."""
    dir_binds, file_binds, tmpfs, mountpoints = [], [], [], []
    for m in spec.mounts:
        if m.kind == "bind" and os.path.isdir(m.source):
            dir_binds.append(Volume(m.source, m.destination, m.readonly))
        elif m.kind == "bind":
            file_binds.append(m)
        elif m.kind == "tmpfs":
            tmpfs.append(m)
        elif m.kind == "mountpoint":
            mountpoints.append(m.destination)
    tty = 0 if spec.terminal and os.isatty(0) else None
    where = {m.kind: m.destination for m in spec.mounts if m.kind in ("proc", "sysfs")}
    mounts = build_mounts(spec.root_path, dir_binds, tty_host_fd=tty,
                          proc=where.get("proc"), sys=where.get("sysfs"))
    for dest in mountpoints:               # proc, sysfs...: at least their directory
        ensure_dir(mounts, dest)
    for m in tmpfs:
        add_mount(mounts, lambda dev, m=m: TmpfsFilesystem(dev, mode=m.mode,
                                                           size=m.size or None),
                  m.destination, readonly=m.readonly, source="tmpfs")
    for m in file_binds:
        with open(m.source, "rb") as f:
            write_file(mounts, m.destination, f.read(), 0o444 if m.readonly else 0o644)
        spec.ignored.append("mount %s: file bind of %s copied in (changes do not propagate)"
                            % (m.destination, m.source))
    # runc makes a missing process.cwd in the rootfs; here it is made in
    # the overlay (through links, inside the sandbox, as mount points are).
    ensure_dir(mounts, spec.cwd)
    if spec.root_readonly:
        mounts.root.readonly = True
    return mounts


def guest_creds(spec):
    groups = tuple(spec.additional_gids)
    return Credentials(spec.uid, spec.uid, spec.gid, spec.gid, groups=groups,
                       no_new_privs=spec.no_new_privileges)


def guest_rlimits(spec):
    limits = initial_rlimits()
    limits.update(spec.rlimits)
    return limits


def build_kernel(spec, options, debug_log):
    """(Kernel, Machine) ready to run the spec's init."""
    from kvmsentry.kernel.kernel import Kernel
    from kvmsentry.platform import choice
    mounts = build_mounts_for(spec)
    machine = choice.make_machine(choice.requested(getattr(options, "platform", None)),
                                  options.memory << 20, options.max_vcpus)
    kernel = Kernel(machine, mounts, strace=options.strace, debug_log=debug_log,
                    patch_syscalls=options.patch_syscalls, cwd="/")
    if spec.hostname:
        kernel.system.hostname = spec.hostname.encode()
    return kernel, machine



