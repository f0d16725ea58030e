"""Deterministic profile of the sentry's Python: bytecodes executed per
function, counted in every task thread of one `kvmsentry do` run.

    python tools/bytecode_profile.py [--skip 25] [--count 20] [--lines F,G]
                                     [--out FILE] -- KVMSENTRY-ARGS...

e.g. `--unsafe-no-confine --platform systrap do -- /tmp/pw-musl
fork_exec 50` (peers.py's peer_workload). Counting starts at the
(skip+1)-th wait4 and stops `count` wait4s later, so a fork_exec run
reports its steady state per spawn (start-up, imports and the record
classes' first instances, made by a slower generic __init__, left out).
Writes the inclusive and the self counts per function (per wait4, with
calls per wait4) and, for the functions --lines names, per line.

Why bytecodes: on these 2-CPU machines shared with other work, wall and
CPU time of a spawn vary by 10-30% between runs, and callgrind's
instruction counts by ~1% (its forked children and the GIL's timed
switches); a bytecode count does not vary at all, and says which Python
function a cost is in (callgrind sees only the interpreter's C). It is
a proxy: builtins' own work (a sort, a dict update, each step of a
map or zip) counts as one bytecode, so it says where the Python is, not
what a change saves: a loop over a few items rewritten as chains of
map/zip/bisect ran a fifth fewer of its bytecodes and ~2% more
instructions a spawn (callgrind decides). The tracer slows the sentry
~200x.
"""
import argparse
import collections
import os
import sys
import threading


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip", type=int, default=25)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--lines", default="")
    parser.add_argument("--out", default="bytecode_profile.txt")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    opts = parser.parse_args()
    args = opts.args[1:] if opts.args[:1] == ["--"] else opts.args
    watch = set(filter(None, opts.lines.split(",")))
    own, inclusive, calls, lines = (collections.Counter() for _ in range(4))
    counting = [False]

    def local(frame, event, arg):
        if event == "opcode" and counting[0]:
            code = frame.f_code
            own[code] += 1
            if code.co_name in watch:
                lines[code.co_name, frame.f_lineno or 0] += 1
            seen, f = set(), frame
            while f is not None:
                if f.f_code not in seen:
                    seen.add(f.f_code)
                    inclusive[f.f_code] += 1
                f = f.f_back
        return local

    def tracer(frame, event, arg):
        if not counting[0]:
            return None
        frame.f_trace_opcodes = True
        calls[frame.f_code] += 1
        return local

    import kvmsentry.cli.main as cli
    import kvmsentry.kernel.task as task_module
    import kvmsentry.syscalls.sys_process as sys_process

    host_thread_main = task_module._host_thread_main

    def traced_thread_main(task):
        sys.settrace(tracer)
        host_thread_main(task)
    task_module._host_thread_main = traced_thread_main

    wait4, waits = sys_process.wait4, [0]

    def counted_wait4(*a):
        waits[0] += 1
        if waits[0] == opts.skip + 1:
            counting[0] = True
            threading.settrace(tracer)
        elif waits[0] == opts.skip + opts.count + 1:
            counting[0] = False
        return wait4(*a)
    sys_process.wait4 = counted_wait4

    exit_now = cli._exit_now

    def report_and_exit(code):
        counting[0] = False
        _report(opts.out, opts.count, own, inclusive, calls, lines)
        exit_now(code)
    cli._exit_now = report_and_exit
    sys.argv = ["kvmsentry", *args]
    return cli.main()                  # (as a program: it ends in _exit_now)


def _report(path, per, own, inclusive, calls, lines):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + "/"

    def name(code):
        return "%s:%d(%s)" % (code.co_filename.replace(root, ""), code.co_firstlineno,
                              code.co_name)
    total = sum(own.values()) or 1
    with open(path, "w") as f:
        f.write("bytecodes per wait4: %.0f\n" % (total / per))
        for title, table in (("inclusive", inclusive), ("self", own)):
            f.write("--- %s: per wait4, share, calls per wait4, function\n" % title)
            for code, n in table.most_common(80):
                f.write("%8.0f %5.1f%% %6.1f %s\n" % (n / per, 100 * n / total,
                                                      calls[code] / per, name(code)))
        if lines:
            f.write("--- lines: per wait4, function:line\n")
            for (fn, line), n in sorted(lines.items()):
                f.write("%8.1f %s:%d\n" % (n / per, fn, line))


if __name__ == "__main__":
    sys.exit(main())
