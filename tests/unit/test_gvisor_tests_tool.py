"""tools/gvisor-tests: reading Bazel rules, gtest listings and outputs, and
the figures computed from a results file (no gVisor tree needed)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "gvisor-tests"))

import buildfile  # noqa: E402
import compat     # noqa: E402
import results    # noqa: E402
import runner     # noqa: E402

BUILD = '''
load("//tools:defs.bzl", "cc_binary", "cc_library", "select_gtest")

cc_library(
    name = "helper",
    srcs = ["helper.cc"],
    hdrs = ["helper.h"],
    deps = [":base", "//test/util:logging"],
)

cc_library(name = "base", srcs = ["base.cc"], deps = ["@foo//bar"])

cc_binary(
    name = "thing_test",
    srcs = ["thing.cc"] + select_arch(amd64 = ["thing_amd64.cc"], arm64 = ["thing_arm64.cc"]),
    linkstatic = 1,
    malloc = "//test/util:errno_safe_allocator",
    data = [":workload"],
    deps = select_gtest() + [":helper", "//test/util:test_main"],
)

cc_binary(name = "workload", srcs = ["workload.cc"])

cc_binary(name = "sem_test", srcs = select_system(linux = ["sem.cc"]), defines = select_system())
'''


def test_build_rules_read_from_starlark():
    rules = buildfile.parse(BUILD)
    t = rules["thing_test"]
    assert t.srcs == ["thing.cc", "thing_amd64.cc"]
    assert t.is_test and not rules["workload"].is_test
    assert t.malloc.endswith(":errno_safe_allocator") and t.linkstatic
    assert t.data == [":workload"]
    assert rules["sem_test"].srcs == ["sem.cc"]
    assert [r.name for r in buildfile.local_closure(rules, t)] == ["base", "helper"]
    assert buildfile.foreign_deps(rules, t, ("//test/util:",)) == ["@foo//bar"]


LISTING = """Running main() from gmock_main.cc
PipeTest.
  Basic
  DISABLED_Slow
AllInetTests/TcpSocketTest.
  ConnectOnEstablishedConnection/0  # GetParam() = (2, 1)
  ConnectOnEstablishedConnection/1  # GetParam() = (10, 1)
"""


def test_case_listing():
    assert results.parse_list(LISTING) == [
        "PipeTest.Basic", "PipeTest.DISABLED_Slow",
        "AllInetTests/TcpSocketTest.ConnectOnEstablishedConnection/0",
        "AllInetTests/TcpSocketTest.ConnectOnEstablishedConnection/1"]


RUN = """[==========] Running 4 tests from 1 test suite.
[ RUN      ] A.Pass
[       OK ] A.Pass (0 ms)
[ RUN      ] A.Fail
test/syscalls/linux/a.cc:42: Failure
Value of: read(fd, buf, 1)
Expected: 1
[  FAILED  ] A.Fail, where GetParam() = (2, 1) (3 ms)
[ RUN      ] A.Skip
test/syscalls/linux/a.cc:7: Skipped
no io_uring
[  SKIPPED ] A.Skip (0 ms)
[ RUN      ] A.Dies
kvmsentry: internal error in task 1, sandbox killed: KeyError: 7
"""


def test_run_output_statuses_and_first_lines():
    got = results.parse_run(RUN)
    assert got == {"A.Pass": ("pass", ""),
                   "A.Fail": ("fail", "a.cc:42: Value of: read(fd, buf, 1)"),
                   "A.Skip": ("skip", "a.cc:7: no io_uring")}
    assert runner.outcome("A.Dies", 134, RUN)["status"] == "crash"
    assert runner.outcome("A.Pass", 134, RUN)["status"] == "pass"
    hung = RUN.replace("kvmsentry: internal error", "still going")
    assert runner.outcome("A.Dies", None, hung) == {"status": "timeout", "line": "still going in task 1, sandbox killed: KeyError: 7"}
    assert runner.outcome("A.Other", 1, hung)["status"] == "missing"


def test_figures_count_only_native_passes():
    p, f = {"status": "pass"}, {"status": "fail", "line": "x.cc:1: boom"}
    data = {"commit": "abc", "date": "2026-01-01", "binaries": {
        "x_test": {"X.a": {"native": p, "sandbox": p},
                   "X.b": {"native": p, "sandbox": f},
                   "X.c": {"native": f, "sandbox": f},
                   "X.d": {"native": p, "sandbox": {"status": "crash", "line": "bug"}}},
        "y_test": {"Y.a": {"native": p, "sandbox": p}}}}
    assert results.counts(data) == {"x_test": (4, 3, 1), "y_test": (1, 1, 1)}
    assert results.crashes(data) == [("x_test", "X.d", "bug")]
    text = results.summary(data)
    assert "5 cases: 4 pass natively, 2 of those pass in the sandbox (50.0%)" in text
    assert text.index("CRASHES") < text.index("x.cc:1: boom")
    assert "| **all 2 programs** | 5 | 4 | 2 (50.0%) |" in results.readme_table(data, True)
    assert "| x (1) | 4 | 3 | 1 |" in results.readme_table(data)


# A stand-in for a gtest program: both A.hang cases print nothing more once
# started, A.die kills the program mid-case.
FAKE_GTEST = """import sys, time
cases = ["A.ok", "S/A.hang/0", "A.after", "S/A.hang/1", "A.die", "A.last"]
for arg in sys.argv[1:]:
    if arg.startswith("--gtest_filter="):
        cases = [c for c in cases if c in arg.split("=", 1)[1].split(":")]
for c in cases:
    print("[ RUN      ] " + c, flush=True)
    if "hang" in c:
        time.sleep(60)
    if c == "A.die":
        sys.exit(3)
    print("[       OK ] " + c + " (0 ms)", flush=True)
"""


def test_whole_program_run_resumes_after_a_hang_and_a_death(tmp_path):
    prog = tmp_path / "fake_test.py"
    prog.write_text(FAKE_GTEST)
    r = runner.Runner.__new__(runner.Runner)
    r.timeout, r.budget = 2.0, 60.0
    cases = ["A.ok", "S/A.hang/0", "A.after", "S/A.hang/1", "A.die", "A.last"]
    found = {}
    r.run_through(str(prog), [sys.executable], cases, found)
    assert {c: found[c]["status"] for c in cases} == {
        "A.ok": "pass", "S/A.hang/0": "timeout", "A.after": "pass",
        "S/A.hang/1": "timeout", "A.die": "missing", "A.last": "pass"}


def test_abseil_header_additions_land_at_their_anchors():
    text = "class Mutex {\n public:\n  Mutex();\n  void Lock();\n};\n"
    got = compat.patched(text, [("Mutex();", "after", ["  void lock() { Lock(); }"]),
                                ("void Lock();", "before", ["  // x"])], "m.h")
    assert got.splitlines()[2:5] == ["  Mutex();", "  void lock() { Lock(); }", "  // x"]
    try:
        compat.patched(text, [("Mutex(int);", "after", [])], "m.h")
    except RuntimeError as e:
        assert "found 0 times" in str(e)
    else:
        raise AssertionError("a missing anchor must fail the build")
