"""Compile gVisor's syscall tests (test/syscalls/linux) without Bazel.

Reads the rules from the tree's BUILD files, compiles test/util once into
an archive, then each test program against Debian's gtest, gmock, abseil
and benchmark static libraries, linked -static. Programs whose rules need
something outside those (other gVisor packages, generated headers) or
that fail to compile are listed in build.json as not built, with why.
"""

import glob
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import buildfile
import compat

HERE = os.path.dirname(os.path.abspath(__file__))
LIBDIR = "/usr/lib/x86_64-linux-gnu"
CXX = ["nice", "g++", "-std=c++17", "-O0", "-g0", "-w"]
KNOWN_DEPS = ("//test/util:", "@com_google_absl//", "gbenchmark",
              "//test/syscalls/linux/rseq:lib")
# Bazel genrules tests need as data: the runfile each makes and the command
# (run in the tree's root) that makes it, after the genrule's own cmd.
GENRULES = {
    "//test/syscalls/linux/rseq": ("test/syscalls/linux/rseq/rseq", [
        "nice", "g++", "-I.", "-O2", "-std=c++17", "-static", "-nostdlib",
        "-ffreestanding", "-fno-exceptions", "-no-pie", "-o", "{out}",
        "test/syscalls/linux/rseq/critical_amd64.S",
        "test/syscalls/linux/rseq/start_amd64.S",
        "test/syscalls/linux/rseq/rseq.cc"]),
}
# Headers nearly every test includes, compiled once into a precompiled
# header: parsing gtest/gmock/abseil is most of each compile.
PCH_HEADERS = ("gmock/gmock.h", "gtest/gtest.h", "test/util/test_util.h",
               "test/util/file_descriptor.h", "test/util/posix_error.h",
               "absl/strings/str_cat.h")
# util sources not for Linux, replaced by runfiles.cc, or linked explicitly.
# test_support.cc stands in for test_util_impl.cc and test_util_runfiles.cc.
UTIL_SKIP = {"fuchsia_capability_util.cc", "save_util_other.cc",
             "test_util_runfiles.cc", "test_util_impl.cc", "test_main.cc",
             "errno_safe_allocator.cc"}


def _run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, (p.stderr or p.stdout)


def _first_error(log):
    for line in log.splitlines():
        if any(k in line for k in ("error:", "undefined reference", "multiple definition")):
            return line.strip()[:300]
    return log.strip().splitlines()[-1][:300] if log.strip() else "failed"


def _fresh(out, srcs):
    if not os.path.exists(out):
        return False
    t = os.path.getmtime(out)
    return all(os.path.getmtime(s) <= t for s in srcs)


class Builder:
    def __init__(self, tree, outdir, jobs=2, log=print):
        """log: print-like (takes flush=)."""
        self.tree = os.path.abspath(tree)
        self.out = os.path.abspath(outdir)
        self.jobs = jobs
        self.log = log
        for sub in ("obj", "bin", "runfiles/test/syscalls/linux", "logs"):
            os.makedirs(os.path.join(self.out, sub), exist_ok=True)
        self.inc = compat.include_dirs(self.out) + ["-I", self.tree]
        self.pch = self.precompiled_header()

    def precompiled_header(self):
        """-include flags for the precompiled header ([] if it fails to build)."""
        header = os.path.join(self.out, "pch", "common.h")
        os.makedirs(os.path.dirname(header), exist_ok=True)
        text = "".join(f'#include "{h}"\n' for h in PCH_HEADERS)
        if not os.path.exists(header) or open(header).read() != text:
            with open(header, "w") as f:
                f.write(text)
        gch = header + ".gch"
        if not _fresh(gch, [header]):
            rc, err = _run(CXX + self.inc + ["-x", "c++-header", header, "-o", gch + ".tmp"])
            if rc:
                self.log(f"no precompiled header: {_first_error(err)}")
                return []
            os.replace(gch + ".tmp", gch)
        return ["-include", header]

    def compile(self, src):
        """Object file for src (relative to the tree) or raise with the error."""
        obj = os.path.join(self.out, "obj", src.replace("/", "__") + ".o")
        path = src if os.path.isabs(src) else os.path.join(self.tree, src)
        if _fresh(obj, [path]):
            return obj
        # Only sources that include gtest themselves get the precompiled
        # header (helper programs stay as they are); a source that fails
        # with it is retried without.
        rc = 1
        if self.pch and '"gtest/gtest.h"' in open(path, errors="replace").read():
            rc, err = _run(CXX + self.inc + self.pch + ["-c", path, "-o", obj + ".tmp"])
        if rc:
            rc, err = _run(CXX + self.inc + ["-c", path, "-o", obj + ".tmp"])
        if rc:
            raise RuntimeError(f"{os.path.basename(src)}: {_first_error(err)}")
        os.replace(obj + ".tmp", obj)
        return obj

    def libs(self):
        absl = sorted(glob.glob(os.path.join(LIBDIR, "libabsl_*.a")))
        return (["-lgmock", "-lgtest", "-Wl,--start-group"]
                + absl + ["-Wl,--end-group", "-lpthread"])

    def util_archive(self):
        rules = buildfile.parse(open(os.path.join(self.tree, "test/util/BUILD")).read())
        srcs = sorted({s for r in rules.values() if r.kind == "cc_library"
                       for s in r.cc_sources() if s not in UTIL_SKIP
                       and not s.endswith("_test.cc")})
        objs, skipped = [], {}
        with ThreadPoolExecutor(self.jobs) as pool:
            futs = {s: pool.submit(self.compile, "test/util/" + s) for s in srcs}
            futs["test_support.cc"] = pool.submit(self.compile, os.path.join(HERE, "test_support.cc"))
            for s, f in futs.items():
                try:
                    objs.append(f.result())
                except RuntimeError as e:
                    skipped[s] = str(e)
        archive = os.path.join(self.out, "obj", "libgvisor_test_util.a")
        if not _fresh(archive, objs):
            if os.path.exists(archive):
                os.unlink(archive)
            subprocess.run(["ar", "rcs", archive] + objs, check=True)
        self.extra = {name: self.compile(f"test/util/{name}.cc")
                      for name in ("test_main", "errno_safe_allocator")}
        self.main_archive = self.test_main_archive()
        return archive, skipped

    def test_main_archive(self):
        """test_main.o alone in an archive."""
        archive = os.path.join(self.out, "obj", "libgvisor_test_main.a")
        if not _fresh(archive, [self.extra["test_main"]]):
            if os.path.exists(archive):
                os.unlink(archive)
            subprocess.run(["ar", "rcs", archive, self.extra["test_main"]], check=True)
            # Dated as its member, so programs linked from the bare object
            # before stay up to date.
            t = os.path.getmtime(self.extra["test_main"])
            os.utime(archive, (t, t))
        return archive

    def genrule(self, label):
        """Make the runfile of a GENRULES entry; raise with the error."""
        runfile, cmd = GENRULES[label]
        out = os.path.join(self.out, "runfiles", runfile)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        p = subprocess.run([a.replace("{out}", out) for a in cmd], cwd=self.tree,
                           capture_output=True, text=True)
        if p.returncode:
            raise RuntimeError(f"{label}: {_first_error(p.stderr or p.stdout)}")

    def link_rule(self, rules, rule, archive, dest):
        """Compile and link one cc_binary rule into dest; raise on failure."""
        foreign = buildfile.foreign_deps(rules, rule, KNOWN_DEPS)
        if foreign:
            raise RuntimeError("needs " + ", ".join(foreign))
        for label in rule.data:
            if label in GENRULES:
                self.genrule(label)
        srcs = rule.cc_sources()
        for lib in buildfile.local_closure(rules, rule):
            srcs += [s for s in lib.cc_sources() if s not in srcs]
        objs = [self.compile("test/syscalls/linux/" + s) for s in srcs]
        if "//test/util:test_main" in rule.deps:
            # As a library member, as Bazel links it: a test with its own
            # main() (signalfd_test) does not pull it in.
            objs.append(self.main_archive)
        if rule.malloc.endswith(":errno_safe_allocator"):
            objs.append(self.extra["errno_safe_allocator"])
        if _fresh(dest, objs + [archive]):
            return
        # Debian ships Google Benchmark only as a shared library: the few
        # programs that define benchmarks link dynamically.
        bench = "gbenchmark" in rule.deps
        link = ["-Wl,-Bdynamic", "-lbenchmark"] if bench else ["-static"]
        rc, err = _run(CXX + ["-o", dest + ".tmp"] + objs + [archive]
                       + self.libs() + link)
        if rc:
            raise RuntimeError("link: " + _first_error(err))
        os.replace(dest + ".tmp", dest)

    def build(self, only=None):
        """Build everything (or the tests named in `only`); write build.json."""
        archive, util_skipped = self.util_archive()
        path = os.path.join(self.tree, "test/syscalls/linux/BUILD")
        rules = buildfile.parse(open(path).read())
        tests = [r for r in rules.values()
                 if r.kind == "cc_binary" and r.name.endswith("_test")]
        if only:
            tests = [r for r in tests if any(o in r.name for o in only)]
        helpers = {d[1:] for t in tests for d in t.data if d.startswith(":")}
        jobs = [(r, os.path.join(self.out, "runfiles/test/syscalls/linux", r.name))
                for r in rules.values() if r.name in helpers and r.kind == "cc_binary"]
        jobs += [(r, os.path.join(self.out, "bin", r.name)) for r in tests]
        for r in rules.values():
            if r.name in helpers and r.kind == "sh_binary":
                src = os.path.join(self.tree, "test/syscalls/linux", r.srcs[0])
                dst = os.path.join(self.out, "runfiles/test/syscalls/linux", r.name)
                subprocess.run(["cp", src, dst], check=True)
        built, failed = [], {}
        old = os.path.join(self.out, "build.json")
        if only and os.path.exists(old):
            # A partial build keeps what the last one found for the others.
            prev = json.load(open(old))
            names = {r.name for r in tests}
            built += [n for n in prev.get("built", []) if n not in names]
            failed.update({n: e for n, e in prev.get("not_built", {}).items() if n not in names})
        report = {"tree": self.tree, "commit": tree_commit(self.tree),
                  "built": built, "not_built": failed, "util_not_built": util_skipped}

        def save():
            # Written as it goes: a long build can be run from before it ends.
            tmp = os.path.join(self.out, "build.json.tmp")
            with open(tmp, "w") as f:
                json.dump(report, f, indent=1, sort_keys=True)
            os.replace(tmp, os.path.join(self.out, "build.json"))

        def one(job):
            rule, dest = job
            try:
                self.link_rule(rules, rule, archive, dest)
                return rule, None
            except RuntimeError as e:
                return rule, str(e)
        # Compiles inside one rule are serial; rules run `jobs` at a time.
        with ThreadPoolExecutor(self.jobs) as pool:
            for rule, err in pool.map(one, jobs):
                if rule not in tests:
                    if err:
                        self.log(f"helper {rule.name}: {err}")
                    continue
                if err:
                    failed[rule.name] = err
                else:
                    built.append(rule.name)
                self.log(f"{'built' if not err else 'NOT BUILT'} {rule.name}"
                         + (f": {err}" if err else ""), flush=True)
                save()
        built.sort()
        report["complete"] = True
        save()
        return report


def tree_commit(tree):
    """The gVisor commit of the tree: its git HEAD, or a COMMIT file."""
    rc, out = 1, ""
    try:
        p = subprocess.run(["git", "-C", tree, "rev-parse", "HEAD"],
                           capture_output=True, text=True)
        rc, out = p.returncode, p.stdout.strip()
    except OSError:
        pass
    if rc == 0 and out:
        return out
    marker = os.path.join(tree, "COMMIT")
    return open(marker).read().strip() if os.path.exists(marker) else "unknown"
