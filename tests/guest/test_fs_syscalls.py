"""File system calls at their edges, sandbox against Linux.

Each tests/programs/fs_*.c program works in an empty scratch directory
(argv[1]) and prints one line per check, in groups (see
tests/programs/fs_common.h): every group runs in its own subdirectory, so
one wrong answer does not spill into the next group. A program runs once
natively and once in the sandbox per build flavour and mount, and each
group is compared on its own: one test per group.

Two mounts for the sandboxed run:
  overlay  the scratch directory is a fresh host directory seen through the
           sandbox root (host / read-only beneath the in-memory overlay):
           the run must leave it empty on the host;
  volume   the scratch directory is a fresh host directory mounted with
           --volume DIR:/vol: afterwards it must hold what the native run
           left in its own scratch directory.

Checks the sandbox is known to get wrong live in groups of their own,
marked xfail(strict) with the reason in XFAIL below. Groups that kill the
sandbox (SOLO) run in an invocation of their own, so that the others
still run.
"""
import difflib
import os
import re
import stat
from pathlib import Path

import pytest

PROGRAMS_DIR = Path(__file__).parent.parent / "programs"
PROGRAMS = ["fs_paths", "fs_io", "fs_meta", "fs_mmap", "fs_xattr", "fs_buffers", "fs_lookup"]
# (flavour, mount) pairs: every flavour through the overlay, one on a volume.
RUNS = [("musl-static", "overlay"), ("gcc-static", "overlay"),
        ("gcc-static-pie", "overlay"), ("gcc-static", "volume")]
VOLUME_DST = "/vol"

# (program, group) -> reason; (program, group, mount) for one mount only.
XFAIL = {
    ("fs_io", "seek_overflow"):
        "differs by filesystem: the sandbox's files are tmpfs-like (s_maxbytes "
        "LLONG_MAX, so lseek(LLONG_MAX, SEEK_END) of an empty file succeeds); the "
        "native run's directory is on a disk filesystem with a smaller limit (EINVAL)",
    ("fs_meta", "noatime", "volume"):
        "sentry bug: a host file on a volume is read through the sentry's own host fd, "
        "so O_NOATIME does not reach the host, whose atime changes",
    ("fs_xattr", "trusted", "volume"):
        "sentry differs from Linux by design: of a host file on a volume only the user.* "
        "attributes are the sandbox's (trusted.* and security.* stay the host's: EOPNOTSUPP)",
    ("fs_mmap", "private_untouched"):
        "sentry differs from Linux (POSIX leaves it unspecified): a MAP_PRIVATE "
        "page not yet written does not see later write()s to the file; Linux "
        "shares the page-cache page until the first store",
    ("fs_io", "etxtbsy_mmap"):
        "sentry bug: a MAP_SHARED writable mapping does not keep its file's write "
        "access once the fd is closed (Linux's vma holds the open file), so exec of "
        "the file is not ETXTBSY until munmap",
}


# Groups run in a separate invocation, whose exit status and stderr are
# part of the group's comparison.
SOLO = {("fs_io", "record_locks")}


def groups_of(program):
    """The group names in the GROUPS table of tests/programs/<program>.c."""
    source = (PROGRAMS_DIR / (program + ".c")).read_text()
    table = source[source.index("GROUPS[] = {"):]
    return re.findall(r'\{"(\w+)", g_\w+\}', table)


def _xfail(program, group, mount):
    return XFAIL.get((program, group, mount)) or XFAIL.get((program, group))


def _cases():
    for program in PROGRAMS:
        for group in groups_of(program):
            for flavour, mount in RUNS:
                reason = _xfail(program, group, mount)
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                yield pytest.param(program, group, flavour, mount, marks=marks,
                                   id="%s-%s-%s-%s" % (program, group, flavour, mount))


def sections(output):
    """Split a program's stdout into {group: text} at its '== NAME' lines."""
    out, name = {}, None
    for line in output.decode(errors="replace").splitlines(keepends=True):
        if line.startswith("== "):
            name = line[3:].strip()
            out[name] = ""
        elif name is not None:
            out[name] += line
    return out


def tree(root):
    """{relative path: description} of everything under root, without
    inode numbers or times. Directory sizes are the file system's business."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            s = os.lstat(path)
            desc = stat.filemode(s.st_mode)
            if stat.S_ISLNK(s.st_mode):
                desc += " -> " + os.readlink(path)
            elif stat.S_ISREG(s.st_mode):
                with open(path, "rb") as f:
                    desc += " %d %r" % (s.st_size, f.read(64))
            elif stat.S_ISDIR(s.st_mode):
                desc += " nlink=%d" % s.st_nlink
            out[os.path.relpath(path, root)] = desc
    return out


class Outcome:
    """One program run natively and in the sandbox (on the given groups),
    both kept for the tests of its groups."""

    def __init__(self, programs, tmp_factory, program, flavour, mount, groups):
        path = programs.path(program, flavour)
        self.native_dir = tmp_factory.mktemp("native-" + program)
        self.sandbox_dir = tmp_factory.mktemp("sandbox-" + program)
        self.native = programs.run_native(path, [str(self.native_dir), *groups],
                                          cwd=self.native_dir)
        if mount == "volume":
            self.sandbox = programs.run_sandbox(
                path, [VOLUME_DST, *groups],
                extra=["--volume", "%s:%s" % (self.sandbox_dir, VOLUME_DST)],
                cwd=self.sandbox_dir)
        else:
            self.sandbox = programs.run_sandbox(path, [str(self.sandbox_dir), *groups],
                                                cwd=self.sandbox_dir)
        self.native_groups = sections(self.native[1])
        self.sandbox_groups = sections(self.sandbox[1])


@pytest.fixture(scope="module")
def outcome(programs, tmp_path_factory):
    """outcome(program, flavour, mount[, solo group]) -> Outcome of the run
    of every group not in SOLO (or of the solo group), each run once."""
    cache = {}

    def get(program, flavour, mount, solo=None):
        key = (program, flavour, mount, solo)
        if key not in cache:
            groups = [solo] if solo else [g for g in groups_of(program)
                                          if (program, g) not in SOLO]
            cache[key] = Outcome(programs, tmp_path_factory, program, flavour, mount, groups)
        return cache[key]
    return get


def _diff(native, sandbox):
    return "".join(difflib.unified_diff(native.splitlines(True), sandbox.splitlines(True),
                                        "native", "sandbox"))


@pytest.mark.parametrize("program,group,flavour,mount", list(_cases()))
def test_group_same_as_native(outcome, program, group, flavour, mount):
    solo = (program, group) in SOLO
    o = outcome(program, flavour, mount, group if solo else None)
    assert group in o.native_groups, "native run did not reach group %s: %r" % (group, o.native)
    assert group in o.sandbox_groups, (
        "sandboxed run did not reach group %s (status %d): %s"
        % (group, o.sandbox[0], o.sandbox[2].decode(errors="replace")[-2000:]))
    native, sandbox = o.native_groups[group], o.sandbox_groups[group]
    assert sandbox == native, _diff(native, sandbox)
    if solo:
        assert (o.sandbox[0], o.sandbox[2]) == (o.native[0], o.native[2])


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("flavour,mount", RUNS, ids=["-".join(r) for r in RUNS])
def test_run_ends_like_native(outcome, program, flavour, mount):
    """Same exit status and stderr; and the writes went where they belong."""
    o = outcome(program, flavour, mount)
    assert o.native[0] == 0, o.native[2]
    assert (o.sandbox[0], o.sandbox[2]) == (o.native[0], o.native[2])
    if mount == "overlay":
        assert os.listdir(o.sandbox_dir) == [], "sandbox writes reached the host"
        return
    # The volume holds what the native run made, except in the groups of
    # known bugs (they differ by definition).
    known = {g for (p, g, *m) in XFAIL if p == program and m in ([], [mount])}
    keep = lambda t: {k: v for k, v in t.items() if k.split("/")[0] not in known}
    native, sandbox = keep(tree(o.native_dir)), keep(tree(o.sandbox_dir))
    assert sandbox == native, "\n".join(
        "%s: native %s, sandbox %s" % (k, native.get(k), sandbox.get(k))
        for k in sorted(set(native) | set(sandbox)) if native.get(k) != sandbox.get(k))


def test_xattrs_go_up_with_the_file(tmp_path):
    """A host file's user.* attributes show through the overlay and are
    copied up with the file when the sandbox first changes it (as
    overlayfs's ovl_copy_xattr); the host file keeps only its own."""
    import subprocess
    import sys
    f = tmp_path / "f"
    f.write_text("x")
    os.setxattr(f, "user.kept", b"v1")
    code = ("import os; p = %r; print(os.getxattr(p, 'user.kept')); os.chmod(p, 0o600); "
            "os.setxattr(p, 'user.new', b'v2'); "
            "print(sorted(os.listxattr(p)), os.getxattr(p, 'user.kept'))" % str(f))
    p = subprocess.run([sys.executable, "-m", "kvmsentry", "do", "--", "/usr/bin/python3", "-c",
                        code], capture_output=True, timeout=300)
    assert (p.returncode, p.stdout) == (0, b"b'v1'\n['user.kept', 'user.new'] b'v1'\n"), \
        p.stderr[-3000:]
    assert os.listxattr(f) == ["user.kept"]
    assert stat.S_IMODE(f.stat().st_mode) == 0o644
