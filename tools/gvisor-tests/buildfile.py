"""Read the cc_binary/cc_library rules out of a Bazel BUILD file.

gVisor's BUILD files are Starlark, which parses as Python; the rules are
read from the syntax tree, never executed. Macros the file loads
(select_gtest(), select_arch(...), select_system(...)) are reduced to what
they mean on x86-64 Linux: the amd64 branch of select_arch, the linux
branch of select_system, nothing for the rest
(their gtest/benchmark deps are linked anyway).
"""

import ast
from dataclasses import dataclass, field

RULE_KINDS = ("cc_binary", "cc_library", "sh_binary")


@dataclass
class Rule:
    kind: str
    name: str
    srcs: list = field(default_factory=list)
    hdrs: list = field(default_factory=list)
    deps: list = field(default_factory=list)
    data: list = field(default_factory=list)
    malloc: str = ""
    linkstatic: bool = False

    @property
    def is_test(self):
        """A gtest program: it links gVisor's test_main."""
        return self.kind == "cc_binary" and "//test/util:test_main" in self.deps

    def cc_sources(self):
        return [s for s in self.srcs if s.endswith(".cc")]


def _value(node):
    """The list/string/bool a rule argument denotes ([] for the unknown)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        out = []
        for elt in node.elts:
            v = _value(elt)
            out.extend(v if isinstance(v, list) else [v])
        return out
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _value(node.left), _value(node.right)
        if isinstance(left, list) or isinstance(right, list):
            return _as_list(left) + _as_list(right)
        return (left or "") + (right or "")
    if isinstance(node, ast.Call):
        for kw in node.keywords:
            if kw.arg in ("amd64", "linux"):
                return _value(kw.value)
        return []
    if isinstance(node, ast.Name):
        # A loaded symbol used as a dep (e.g. gbenchmark).
        return [node.id]
    return []


def _as_list(v):
    if isinstance(v, list):
        return v
    return [] if v in (None, "") else [v]


def parse(text):
    """Rules of a BUILD file, by name."""
    rules = {}
    for stmt in ast.parse(text).body:
        call = getattr(stmt, "value", None)
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
            continue
        if call.func.id not in RULE_KINDS:
            continue
        args = {kw.arg: _value(kw.value) for kw in call.keywords if kw.arg}
        name = args.get("name")
        if not isinstance(name, str):
            continue
        rules[name] = Rule(
            kind=call.func.id, name=name,
            srcs=_as_list(args.get("srcs")), hdrs=_as_list(args.get("hdrs")),
            deps=_as_list(args.get("deps")), data=_as_list(args.get("data")),
            malloc=args.get("malloc") or "",
            linkstatic=bool(args.get("linkstatic")))
    return rules


def local_closure(rules, rule):
    """The same-package cc_library rules `rule` needs, transitively, in order."""
    seen, order = set(), []

    def visit(r):
        for dep in r.deps:
            if dep.startswith(":") and dep[1:] in rules and dep[1:] not in seen:
                seen.add(dep[1:])
                visit(rules[dep[1:]])
                order.append(rules[dep[1:]])
    visit(rule)
    return order


def foreign_deps(rules, rule, known_prefixes):
    """Deps of `rule` (or its local libraries) that no known prefix covers."""
    out = []
    for r in [rule] + local_closure(rules, rule):
        for dep in r.deps:
            if dep.startswith(":") or any(dep.startswith(p) for p in known_prefixes):
                continue
            if dep not in out:
                out.append(dep)
    return out
