#!/usr/bin/env python3
"""gVisor's syscall test suite as kvmsentry's yardstick.

    gvtests.py build GVISOR_TREE [--out DIR] [-j N] [--filter NAME ...]
    gvtests.py run [--out DIR] [--filter NAME ...] [-j N] [--timeout S] [--mode binary|case]
    gvtests.py report [--out DIR] [--readme]
    gvtests.py merge [--out DIR] OTHER_DIR...   (results of runs made elsewhere)

`build` compiles the tests from a gVisor source tree into DIR (default
~/.cache/kvmsentry-gvisor-tests); `run` runs every case natively (confined
by bwrap) and under `kvmsentry do`, writing DIR/results.json and printing
the summary; `report` prints it again (--readme: the README's table).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

DEFAULT_OUT = os.path.expanduser("~/.cache/kvmsentry-gvisor-tests")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("tree")
    r = sub.add_parser("run")
    r.add_argument("--timeout", type=float, default=60.0, help="seconds per case")
    r.add_argument("--budget", type=float, default=300.0,
                   help="seconds of one-case reruns per program and side")
    r.add_argument("--mode", choices=("binary", "case"), default="binary")
    r.add_argument("--sides", default="native,sandbox")
    r.add_argument("--new", action="store_true",
                   help="only programs not in the results file yet")
    rep = sub.add_parser("report")
    rep.add_argument("--readme", action="store_true")
    rep.add_argument("--by-program", action="store_true")
    m = sub.add_parser("merge")
    m.add_argument("others", nargs="+")
    for p in (b, r, rep, m):
        p.add_argument("--out", default=DEFAULT_OUT)
        p.add_argument("--filter", nargs="*", default=None)
        p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    if args.cmd == "build":
        import build
        rep = build.Builder(args.tree, args.out, args.jobs).build(args.filter)
        print(f"built {len(rep['built'])} test programs, "
              f"{len(rep['not_built'])} not built (see {args.out}/build.json)")
        return 0
    import results
    if args.cmd == "merge":
        data = results.load(args.out)
        for other in args.others:
            data["binaries"].update(results.load(other)["binaries"])
        results.save(args.out, data)
    elif args.cmd == "run":
        import runner
        runner.run_all(args.out, args.filter, args.jobs, args.timeout,
                       args.mode, args.sides.split(","), args.new, args.budget)
    data = results.load(args.out)
    if getattr(args, "readme", False):
        print(f"gVisor {data.get('commit', '?')[:12]}, {data.get('date', '?')}:\n")
        print(results.readme_table(data, args.by_program))
    else:
        print(results.summary(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
