"""gtest output parsing, the results file, and the summaries printed from it.

A case's status is one of pass, fail, skip, timeout, crash (the sentry's
internal-error report), or missing (the program died before reporting it).
"""

import collections
import json
import os
import re

RUN = re.compile(r"^\[ RUN      \] (\S+)")
# A parameterized case's FAILED line goes on: ", where GetParam() = ...".
END = re.compile(r"^\[ +(OK|FAILED|SKIPPED) +\] ([^\s,]+)(?:,| \(\d+ ms\)|$)")
FAILURE_AT = re.compile(r"^(\S+?):(\d+): (Failure|Skipped|error:.*)$")
SENTRY_BUG = "kvmsentry: internal error"


def parse_list(text):
    """Full case names from --gtest_list_tests output, in order."""
    cases, suite = [], None
    for line in text.splitlines():
        if not line.strip() or line.startswith("Running main()"):
            continue
        name = line.split("#")[0].rstrip()
        if not line.startswith(" "):
            suite = name.strip()
        elif suite:
            cases.append(suite + name.strip())
    return cases


def _first_failure(lines):
    """The line that names a failure (or a skip's reason):
    'file.cc:N: <first message line>'."""
    for i, line in enumerate(lines):
        m = FAILURE_AT.match(line.strip())
        if m:
            where = f"{os.path.basename(m.group(1))}:{m.group(2)}"
            detail = m.group(3)
            if detail in ("Failure", "Skipped"):
                detail = next((l.strip() for l in lines[i + 1:] if l.strip()), "")
            return f"{where}: {detail}"[:200]
    for line in lines:
        if line.strip():
            return line.strip()[:200]
    return ""


def parse_run(output):
    """{case: (status, first failure line)} for the cases a run reported."""
    out, current, body = {}, None, []
    for line in output.splitlines():
        m = RUN.match(line)
        if m:
            current, body = m.group(1), []
            continue
        m = END.match(line)
        if m and m.group(2) == current:
            status = {"OK": "pass", "FAILED": "fail", "SKIPPED": "skip"}[m.group(1)]
            out[current] = (status, _first_failure(body) if status != "pass" else "")
            current = None
            continue
        if current is not None:
            body.append(line)
    return out


def unfinished(output):
    """The case a run was inside when it ended, and what it printed there."""
    current, body = None, []
    for line in output.splitlines():
        m = RUN.match(line)
        if m:
            current, body = m.group(1), []
        elif END.match(line):
            current = None
        elif current is not None:
            body.append(line)
    return current, _first_failure(body)


def load(outdir):
    with open(os.path.join(outdir, "results.json")) as f:
        return json.load(f)


def save(outdir, data):
    tmp = os.path.join(outdir, "results.json.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, os.path.join(outdir, "results.json"))


def counts(data):
    """Per binary: cases, native passes, and sandbox passes among those."""
    table = {}
    for binary, cases in sorted(data["binaries"].items()):
        n = len(cases)
        native = [c for c, r in cases.items() if r.get("native", {}).get("status") == "pass"]
        sandbox = [c for c in native if cases[c].get("sandbox", {}).get("status") == "pass"]
        table[binary] = (n, len(native), len(sandbox))
    return table


def sandbox_failures(data):
    """(binary, case, status, first line) for every native pass the sandbox lost."""
    out = []
    for binary, cases in sorted(data["binaries"].items()):
        for case, r in sorted(cases.items()):
            if r.get("native", {}).get("status") != "pass":
                continue
            s = r.get("sandbox", {})
            if s.get("status") not in ("pass", None):
                out.append((binary, case, s["status"], s.get("line", "")))
    return out


def crashes(data):
    return [(b, c, r["sandbox"].get("line", ""))
            for b, cases in sorted(data["binaries"].items())
            for c, r in sorted(cases.items())
            if r.get("sandbox", {}).get("status") == "crash"]


def summary(data):
    t = counts(data)
    cases = sum(v[0] for v in t.values())
    native = sum(v[1] for v in t.values())
    sandbox = sum(v[2] for v in t.values())
    pct = 100.0 * sandbox / native if native else 0.0
    lines = [f"gVisor {data.get('commit', '?')[:12]}, run {data.get('date', '?')}",
             f"{len(t)} programs, {cases} cases: {native} pass natively, "
             f"{sandbox} of those pass in the sandbox ({pct:.1f}%)", ""]
    crash = crashes(data)
    lines.append(f"SANDBOX CRASHES (internal errors): {len(crash)}")
    for b, c, line in crash:
        lines.append(f"  {b} {c}: {line}")
    fails = sandbox_failures(data)
    lines += ["", "Failing in the sandbox, by first failure line across programs (cases, programs):"]
    across = collections.Counter((s, l) for _, _, s, l in fails)
    progs = collections.defaultdict(set)
    for b, _, s, l in fails:
        progs[(s, l)].add(b)
    for (s, l), n in across.most_common():
        if n > 1 and len(progs[(s, l)]) > 1:
            lines.append(f"  {n:4d} {len(progs[(s, l)]):3d}  [{s}] {l}")
    lines += ["", "Failing in the sandbox, by program and first failure line:"]
    by_line = collections.Counter((b, s, l) for b, _, s, l in fails)
    for (b, s, l), n in by_line.most_common():
        lines.append(f"  {n:4d}  {b}  [{s}] {l}")
    lines += ["", "Failing in the sandbox, by program (lost/native):"]
    for b, (n, nat, sb) in sorted(t.items(), key=lambda kv: kv[1][2] - kv[1][1]):
        if nat != sb:
            lines.append(f"  {nat - sb:4d}/{nat:<4d} {b}")
    return "\n".join(lines)


def family(binary):
    """A program's syscall family: its name's first word (socket_ip_tcp_test -> socket)."""
    return binary[:-len("_test")].split("_")[0] if binary.endswith("_test") else binary


def readme_table(data, by_program=False):
    """Markdown rows: programs, cases, native passes, sandbox passes."""
    groups = collections.OrderedDict()
    for b, v in counts(data).items():
        key = b if by_program else family(b)
        g = groups.setdefault(key, [0, 0, 0, 0])
        g[0] += 1
        for i in range(3):
            g[i + 1] += v[i]
    head = "test program" if by_program else "family (programs)"
    rows = [f"| {head} | cases | pass natively | pass in sandbox |",
            "|---|---:|---:|---:|"]
    for key, (progs, n, nat, sb) in groups.items():
        label = key if by_program else f"{key} ({progs})"
        rows.append(f"| {label} | {n} | {nat} | {sb} |")
    tot = [sum(g[i] for g in groups.values()) for i in range(4)]
    pct = 100.0 * tot[3] / tot[2] if tot[2] else 0.0
    rows.append(f"| **all {tot[0]} programs** | {tot[1]} | {tot[2]} | {tot[3]} ({pct:.1f}%) |")
    return "\n".join(rows)
