"""Debian's own dynamically linked programs on a prepared tree, sandbox
against Linux: same stdout, stderr and exit status.

The programs and their libraries come from the host root, which the
sandbox sees read-only beneath its overlay. Read-only commands run on one
tree, natively and in the sandbox. Commands that change the tree run on
two identical copies: natively on one, and in the sandbox on the other,
mounted with --volume at the first one's path (so every path printed is
the same), and then the two trees are compared entry by entry: names,
types, modes, link counts, sizes, contents, link targets and mtimes.

Native runs only ever write inside tmp_path.
"""
import difflib
import hashlib
import os
import stat
import time

import pytest

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "TZ": "UTC"}
T0 = 1_600_000_000                   # mtimes of the tree: September 2020


def _data(n, seed):
    """n deterministic pseudo-random bytes."""
    out, block = bytearray(), seed.encode()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


WORDS = ["delta", "alpha", "Echo", "bravo", "charlie", "zulu", "10", "9", "-3",
         "mike", "alpha", "", "x-ray", "\u00fcber", "Zeta"]


def make_tree(root, link_base=None):
    """The test tree at root (which must not exist). Absolute symlinks point
    into link_base (default: root), so a copy can name the same targets.
    Every entry gets a fixed mtime (with nanoseconds), directories last."""
    link_base = str(link_base or root)
    r = str(root)
    files = {
        "empty.txt": (b"", 0o644),
        "one.txt": (b"x", 0o644),
        "hello.txt": (b"hello world\nsecond line\n", 0o644),
        "no_newline.txt": (b"first\nlast line without newline", 0o644),
        "lines.txt": ("".join("%s %d %s\n" % (WORDS[i % len(WORDS)], i * 7919 % 1000,
                                               WORDS[i * 3 % len(WORDS)])
                              for i in range(1000)).encode(), 0o644),
        "page.bin": (_data(4096, "page"), 0o644),
        "page_plus.bin": (_data(4097, "page+"), 0o640),
        "big.bin": (_data((1 << 20) + 3, "big"), 0o644),
        "secret.txt": (b"top secret\n", 0o600),
        "noperm.txt": (b"nobody may read this (but root)\n", 0o000),
        "readonly.txt": (b"read only\n", 0o444),
        "script.sh": (b"#!/bin/sh\necho hi\n", 0o755),
        "setuid.bin": (b"not really a program\n", 0o4755),
        "name with spaces.txt": (b"spaces\n", 0o644),
        "\u00fcn\u00efc\u00f8d\u00e9.txt": (b"unicode name\n", 0o644),
        "sub/a.txt": (b"a\n" * 100, 0o644),
        "sub/b.dat": (_data(10000, "b"), 0o664),
        "sub/deeper/deep.txt": (b"deep\n", 0o644),
        "sub/deeper/.hidden": (b"hidden\n", 0o600),
        "sub/deeper/deepest/leaf.txt": (b"leaf\n", 0o644),
    }
    dirs = {"sub": 0o755, "sub/deeper": 0o700, "sub/deeper/deepest": 0o750,
            "empty_dir": 0o755, "sticky": 0o1777, "setgid": 0o2775, "links": 0o755,
            "special": 0o755}
    links = {
        "links/rel": "../hello.txt",
        "links/abs": link_base + "/lines.txt",
        "links/dangling": "nowhere/at/all",
        "links/chain1": "chain2",
        "links/chain2": "../sub/deeper",
        "links/dirlink": "../sub",
        "links/loop": "loop",
        "links/to_root_escape": "../../../../../../../../etc/hostname",
        "sub/up": "..",
    }
    os.mkdir(r)
    for d in sorted(dirs):
        os.mkdir(os.path.join(r, d))
    for name, (data, mode) in files.items():
        p = os.path.join(r, name)
        with open(p, "wb") as f:
            f.write(data)
    for name, target in links.items():
        os.symlink(target, os.path.join(r, name))
    os.link(os.path.join(r, "hello.txt"), os.path.join(r, "sub/hello_hardlink.txt"))
    os.mkfifo(os.path.join(r, "special/fifo"), 0o644)
    # Modes after contents (0o000 and 0o444 files were written above).
    for name, (_, mode) in files.items():
        os.chmod(os.path.join(r, name), mode)
    for d, mode in dirs.items():
        os.chmod(os.path.join(r, d), mode)
    os.chmod(os.path.join(r, "special/fifo"), 0o644)
    # Fixed times, deepest first so that parents keep theirs.
    entries = sorted([*files, *links, *dirs, "sub/hello_hardlink.txt", "special/fifo", "."],
                     key=lambda n: (-n.count("/"), n))
    for i, name in enumerate(entries):
        t = (T0 + 3600 * i) * 10**9 + 123456789 * (i % 3)
        os.utime(os.path.join(r, name), ns=(t, t), follow_symlinks=False)
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """One prepared tree for the read-only commands."""
    return make_tree(tmp_path_factory.mktemp("ro") / "tree")


def _diff(what, native, sandbox):
    lines = difflib.unified_diff(native.decode(errors="replace").splitlines(True),
                                 sandbox.decode(errors="replace").splitlines(True),
                                 what + " (native)", what + " (sandbox)")
    return "%s differs:\n%s" % (what, "".join(list(lines)[:80]))


def assert_same(native, sandbox, sort_lines=False):
    n_status, n_out, n_err = native
    s_status, s_out, s_err = sandbox
    if sort_lines:                     # readdir order is the file system's business
        n_out, s_out = (b"".join(sorted(o.splitlines(True))) for o in (n_out, s_out))
    assert s_out == n_out, _diff("stdout", n_out, s_out)
    assert s_err == n_err, _diff("stderr", n_err, s_err)
    assert s_status == n_status, "exit status differs: native %d, sandbox %d" % (
        n_status, s_status)


def compare(run_native, run_sandbox, argv, cwd, sort_lines=False, extra=()):
    native = run_native(argv[0], argv[1:], env=ENV, cwd=cwd)
    sandbox = run_sandbox(argv[0], argv[1:], env=ENV, cwd=cwd, extra=extra)
    assert_same(native, sandbox, sort_lines)
    return native


# --- read-only commands on one tree --------------------------------------
# name -> (argv with {T} for the tree, sort stdout lines?)
READ_ONLY = {
    "ls_la": (["/bin/ls", "-la", "{T}"], False),
    "ls_la_full_iso": (["/bin/ls", "-la", "--time-style=full-iso", "{T}", "{T}/sub"], False),
    "ls_laR": (["/bin/ls", "-laR", "{T}"], False),
    "ls_lL_links": (["/bin/ls", "-lL", "{T}/links/rel", "{T}/links/chain1", "{T}/links/dirlink",
                     "{T}/links/dangling", "{T}/links/loop"], False),
    "ls_missing": (["/bin/ls", "-l", "{T}/nonexistent", "{T}/hello.txt"], False),
    "ls_1_sorted": (["/bin/ls", "-1AS", "{T}"], False),
    "cat": (["/bin/cat", "{T}/hello.txt", "{T}/empty.txt", "{T}/no_newline.txt",
             "{T}/links/rel", "{T}/sub/deeper/.hidden", "{T}/noperm.txt"], False),
    "cat_big": (["/bin/cat", "{T}/big.bin", "{T}/page_plus.bin"], False),
    "cat_errors": (["/bin/cat", "{T}/sub", "{T}/links/dangling", "{T}/links/loop",
                    "{T}/hello.txt/x", "{T}/one.txt"], False),
    "head_n": (["/usr/bin/head", "-n", "7", "{T}/lines.txt", "{T}/hello.txt"], False),
    "head_c": (["/usr/bin/head", "-c", "5000", "{T}/page_plus.bin"], False),
    "tail_n": (["/usr/bin/tail", "-n", "3", "{T}/lines.txt", "{T}/no_newline.txt"], False),
    "wc": (["/usr/bin/wc", "{T}/lines.txt", "{T}/hello.txt", "{T}/big.bin", "{T}/empty.txt",
            "{T}/\u00fcn\u00efc\u00f8d\u00e9.txt"], False),
    "sort": (["/usr/bin/sort", "{T}/lines.txt"], False),
    "sort_rnk": (["/usr/bin/sort", "-r", "-n", "-k", "2", "{T}/lines.txt"], False),
    "sort_u_f": (["/usr/bin/sort", "-u", "-f", "{T}/lines.txt", "{T}/hello.txt"], False),
    "sha256sum": (["/usr/bin/sha256sum", "{T}/big.bin", "{T}/page.bin", "{T}/page_plus.bin",
                   "{T}/empty.txt", "{T}/sub/b.dat", "{T}/links/rel"], False),
    "md5sum_missing": (["/usr/bin/md5sum", "{T}/one.txt", "{T}/nonexistent"], False),
    "find_name_f": (["/usr/bin/find", "{T}", "-name", "*.txt", "-type", "f"], True),
    "find_type_d": (["/usr/bin/find", "{T}", "-type", "d"], True),
    "find_type_l": (["/usr/bin/find", "{T}", "-type", "l"], True),
    "find_printf": (["/usr/bin/find", "{T}", "-printf", "%p %s %m %y %n %TY-%Tm-%Td %TT\\n"], True),
    "find_follow": (["/usr/bin/find", "-L", "{T}/links", "-maxdepth", "1", "-type", "f"], True),
    "find_empty_perm": (["/usr/bin/find", "{T}", "-empty", "-o", "-perm", "-4000"], True),
    "stat": (["/usr/bin/stat", "-c", "%n %s %a %A %F %h %U %G %Y", "{T}/hello.txt", "{T}/sub",
              "{T}/links/rel", "{T}/sticky", "{T}/setgid", "{T}/setuid.bin", "{T}/noperm.txt",
              "{T}/special/fifo", "{T}/sub/hello_hardlink.txt", "{T}/empty_dir"], False),
    "stat_L": (["/usr/bin/stat", "-L", "-c", "%n %s %a %F %h", "{T}/links/rel",
                "{T}/links/chain1", "{T}/links/dangling"], False),
    "stat_times": (["/usr/bin/stat", "-c", "%n %y %Y", "{T}/big.bin", "{T}/links/abs", "{T}"],
                   False),
    "readlink_f": (["/usr/bin/readlink", "-f", "{T}/links/rel", "{T}/links/chain1",
                    "{T}/sub/up/sub/up/links/dirlink/deeper", "{T}/links/dangling",
                    "{T}/links/abs", "{T}/links/to_root_escape"], False),
    "readlink_e_loop": (["/usr/bin/readlink", "-e", "{T}/links/loop"], False),
    "readlink_plain": (["/usr/bin/readlink", "{T}/links/chain2", "{T}/hello.txt"], False),
    "realpath": (["/usr/bin/realpath", "{T}/sub/../links/../sub/deeper/./deep.txt",
                  "{T}/links/dirlink"], False),
    "du_sb": (["/usr/bin/du", "-ab", "{T}/sub"], True),
    "grep_r": (["/bin/grep", "-rn", "--exclude-dir=special", "line", "{T}"], True),
    "cmp": (["/usr/bin/cmp", "{T}/page.bin", "{T}/page_plus.bin"], False),
    "diff_r": (["/usr/bin/diff", "-r", "{T}/sub/deeper", "{T}/sub"], False),
    "tar_c": (["/bin/tar", "--sort=name", "-cf", "-", "-C", "{T}", "sub", "links", "hello.txt",
               "setuid.bin", "sticky", "special"], False),
}


@pytest.mark.parametrize("name", sorted(READ_ONLY))
def test_read_only_command(run_native, run_sandbox, tree, name):
    argv, sort_lines = READ_ONLY[name]
    argv = [a.replace("{T}", str(tree)) for a in argv]
    compare(run_native, run_sandbox, argv, cwd=tree.parent, sort_lines=sort_lines)


def test_relative_paths_from_cwd(run_native, run_sandbox, tree):
    """The host cwd is the sandbox's cwd: relative names work the same."""
    compare(run_native, run_sandbox, ["/bin/ls", "-la", "sub", "links", "../tree/sub/deeper"],
            cwd=tree)


# --- commands that change a tree -----------------------------------------
def snapshot(root):
    """Everything under root, path-sorted: type and mode, links, owner,
    size, contents (hashed), link target, mtime (recent ones blurred)."""
    now = time.time()
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            s = os.lstat(path)
            mtime = "recent" if abs(s.st_mtime - now) < 600 else s.st_mtime_ns
            desc = [stat.filemode(s.st_mode), "nlink=%d" % s.st_nlink,
                    "%d:%d" % (s.st_uid, s.st_gid), "mtime=%s" % mtime]
            if stat.S_ISLNK(s.st_mode):
                desc.append("-> " + os.readlink(path))
            elif stat.S_ISREG(s.st_mode):
                with open(path, "rb") as f:
                    desc.append("%d bytes sha256:%s" % (s.st_size,
                                                        hashlib.sha256(f.read()).hexdigest()[:16]))
            out.append("%s %s" % (os.path.relpath(path, root), " ".join(desc)))
    return out


@pytest.fixture
def twin_trees(tmp_path):
    """(native tree, sandbox tree, volume option): two identical trees; the
    sandbox sees its own at the native one's path."""
    native = make_tree(tmp_path / "native")
    boxed = make_tree(tmp_path / "boxed", link_base=native)
    assert snapshot(native) == snapshot(boxed)
    return native, boxed, ["--volume", "%s:%s" % (boxed, native)]


def assert_same_trees(native, boxed):
    n, b = snapshot(native), snapshot(boxed)
    assert b == n, "trees differ:\n" + "".join(
        difflib.unified_diff([l + "\n" for l in n], [l + "\n" for l in b], "native", "sandbox"))


# name -> list of argv run one after another ({T} = the tree)
MUTATIONS = {
    "cp_a": [["/bin/cp", "-a", "{T}/sub", "{T}/sub_copy"],
             ["/bin/cp", "-a", "{T}/links", "{T}/special", "{T}/sticky", "{T}/setgid",
              "{T}/empty_dir"]],
    # Most of the tree, not "{T}/." into a directory of its own: what cp
    # copies before it meets the destination inside its source depends on
    # readdir order, which differs between two directories of one host fs.
    "cp_a_whole_tree": [["/bin/cp", "-a", "{T}/sub", "{T}/links", "{T}/special", "{T}/sticky",
                         "{T}/hello.txt", "{T}/big.bin", "{T}/noperm.txt", "{T}/empty_dir/"]],
    "cp_plain_and_r": [["/bin/cp", "{T}/hello.txt", "{T}/big.bin", "{T}/empty_dir"],
                       ["/bin/cp", "-r", "{T}/sub", "{T}/sub2"],
                       ["/bin/cp", "{T}/links/dangling", "{T}/x"]],
    "mv": [["/bin/mv", "{T}/hello.txt", "{T}/sub/deeper/moved.txt"],
           ["/bin/mv", "{T}/sub", "{T}/empty_dir/sub_moved"],
           ["/bin/mv", "{T}/links/rel", "{T}/links/rel_renamed"],
           ["/bin/mv", "{T}/one.txt", "{T}/readonly.txt"],
           ["/bin/mv", "{T}/nonexistent", "{T}/x"],
           ["/bin/mv", "-T", "{T}/sticky", "{T}/setgid"]],
    "rm_r": [["/bin/rm", "-r", "{T}/sub"],
             ["/bin/rm", "-f", "{T}/big.bin", "{T}/links/dangling", "{T}/nonexistent"],
             ["/bin/rm", "{T}/empty_dir"],
             ["/bin/rm", "-rf", "{T}/links", "{T}/special"],
             ["/bin/rmdir", "{T}/sticky", "{T}/setgid"]],
    "mkdir_ln_touch_chmod": [
        ["/bin/mkdir", "-p", "-m", "0711", "{T}/new/a/b/c"],
        ["/bin/mkdir", "{T}/sub"],
        ["/bin/ln", "-s", "../../hello.txt", "{T}/new/a/link"],
        ["/bin/ln", "{T}/big.bin", "{T}/new/hard"],
        ["/bin/ln", "-sf", "replaced", "{T}/links/rel"],
        ["/usr/bin/touch", "-d", "2001-02-03 04:05:06.789", "{T}/new/a/b/c", "{T}/created"],
        ["/usr/bin/touch", "-h", "-d", "@1000000000", "{T}/links/abs"],
        ["/bin/chmod", "-R", "go-rwx", "{T}/sub"],
        ["/bin/chmod", "4711", "{T}/script.sh"],
        ["/usr/bin/truncate", "-s", "10000", "{T}/hello.txt"],
        ["/usr/bin/truncate", "-s", "3", "{T}/page.bin"],
        ["/bin/dd", "if={T}/big.bin", "of={T}/dd.out", "bs=4096", "count=3", "skip=1",
         "status=none"],
        ["/usr/bin/install", "-m", "0600", "{T}/hello.txt", "{T}/installed"],
        ["/usr/bin/touch", "-d", "2001-02-03 04:05:06", "{T}/new/a/b", "{T}/new/a",
         "{T}/new", "{T}/sub/deeper", "{T}/sub", "{T}/links"]],
    "tar_roundtrip": [["/bin/tar", "--sort=name", "-cf", "{T}/sub.tar", "-C", "{T}", "sub",
                       "links", "special"],
                      ["/bin/tar", "-xpf", "{T}/sub.tar", "-C", "{T}/empty_dir"],
                      ["/bin/tar", "-tvf", "{T}/sub.tar"]],
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutating_command(run_native, run_sandbox, twin_trees, name):
    native, boxed, volume = twin_trees
    for argv in MUTATIONS[name]:
        argv = [a.replace("{T}", str(native)) for a in argv]
        compare(run_native, run_sandbox, argv, cwd=native.parent, extra=volume)
    assert_same_trees(native, boxed)


# --- python3 with json, sqlite3 and hashlib ------------------------------
PYTHON_SCRIPT = r"""
import hashlib, json, os, sqlite3, sys
db = sys.argv[1]
conn = sqlite3.connect(db)
conn.execute("create table t (id integer primary key, name text, data blob)")
rows = [(i, "name%03d" % i, hashlib.sha256(str(i).encode()).digest()) for i in range(500)]
conn.executemany("insert into t values (?, ?, ?)", rows)
conn.commit()
conn.close()
conn = sqlite3.connect(db)
n, = conn.execute("select count(*) from t").fetchone()
h = hashlib.sha256()
for name, data in conn.execute("select name, data from t order by id desc"):
    h.update(name.encode() + data)
conn.execute("update t set name = 'changed' where id % 7 = 0")
conn.commit()
changed, = conn.execute("select count(*) from t where name = 'changed'").fetchone()
conn.execute("vacuum")
conn.close()
print(json.dumps({"rows": n, "digest": h.hexdigest(), "changed": changed,
                  "size_positive": os.path.getsize(db) > 0,
                  "journal_gone": not os.path.exists(db + "-journal")}, sort_keys=True))
print(json.loads('{"a": [1, 2, {"b": null}]}'))
print(sqlite3.sqlite_version_info >= (3, 0, 0))
"""


def test_python_sqlite(run_native, run_sandbox, tmp_path):
    """The database lives in the sandbox's /tmp (the overlay: it must not
    reach the host's /tmp), natively in tmp_path."""
    name = "kvmsentry-test-%d-%s.db" % (os.getpid(), tmp_path.name)
    native = run_native("/usr/bin/python3", ["-c", PYTHON_SCRIPT, str(tmp_path / name)],
                        env=ENV, cwd=tmp_path)
    sandbox = run_sandbox("/usr/bin/python3", ["-c", PYTHON_SCRIPT, "/tmp/" + name],
                          env=ENV, cwd=tmp_path)
    assert native[0] == 0, native[2]
    assert_same(native, sandbox)
    assert b'"rows": 500' in native[1]
    assert not os.path.exists("/tmp/" + name), "the sandbox's /tmp reached the host"


JSON_SCRIPT = r"""
import hashlib, json, os, sys
path = sys.argv[1]
doc = {"items": [{"n": i, "sha": hashlib.sha256(str(i).encode()).hexdigest()[:12]}
                 for i in range(2000)], "text": "\u00fcn\u00efc\u00f8d\u00e9"}
with open(path, "w") as f:
    json.dump(doc, f, indent=1)
os.rename(path, path + ".renamed")
with open(path + ".renamed") as f:
    back = json.load(f)
with open(path + ".renamed", "ab") as f:
    f.write(b"\n")
st = os.stat(path + ".renamed")
print(back == doc, st.st_size, oct(st.st_mode & 0o777), hashlib.md5(open(path + ".renamed",
      "rb").read()).hexdigest())
os.unlink(path + ".renamed")
print(os.path.exists(path + ".renamed"))
"""


def test_python_json_in_tmp(run_native, run_sandbox, tmp_path):
    """A file written, renamed, appended to and removed in the sandbox's
    /tmp (the overlay), natively in tmp_path."""
    name = "kvmsentry-test-%d-%s.json" % (os.getpid(), tmp_path.name)
    native = run_native("/usr/bin/python3", ["-c", JSON_SCRIPT, str(tmp_path / name)],
                        env=ENV, cwd=tmp_path)
    sandbox = run_sandbox("/usr/bin/python3", ["-c", JSON_SCRIPT, "/tmp/" + name],
                          env=ENV, cwd=tmp_path)
    assert native[0] == 0, native[2]
    assert_same(native, sandbox)
    assert native[1].startswith(b"True ")


def test_python_imports_many_modules(run_native, run_sandbox, tmp_path):
    script = ("import json, sqlite3, hashlib, csv, decimal, email.parser, xml.dom.minidom, "
              "zipfile, tarfile, pathlib, tempfile, shutil\n"
              "import sys; print(sorted(m for m in sys.modules if m in "
              "('json', 'sqlite3', 'zipfile', '_sqlite3', '_hashlib')))\n"
              "print(hashlib.sha256(b'x').hexdigest())\n"
              "print(sorted(p.name for p in pathlib.Path(sys.argv[1]).iterdir()))\n")
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").mkdir()
    compare(run_native, run_sandbox, ["/usr/bin/python3", "-c", script, str(tmp_path)],
            cwd=tmp_path)
