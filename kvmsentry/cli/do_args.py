"""`kvmsentry do`'s command line, read without argparse when it can be.

Building the argparse parser costs more of each start than anything it
does for `do` (every add_argument formats its help, the help formatter
imports shutil, gettext looks for translations): ~8 ms with the import.
read() knows exactly the options main._parser() gives `do` and the
global ones before it; for anything else (help, an abbreviation, a value
that looks like an option, a bad number or choice) it returns None and
the caller parses with argparse, which also reports the errors.
tests/unit/test_cli_startup.py compares the two on every option.
"""
from types import SimpleNamespace

PLATFORMS = ("kvm", "systrap", "auto")
NETWORKS = ("sandbox", "host", "none")

# option -> (destination, kind, values): kind "flag" stores True, "value"
# stores the value (converted by int, or checked against a tuple of
# choices, or kept when values is None), "append" appends it.
GLOBAL = {
    "--platform": ("platform", "value", PLATFORMS),
    "--debug-log": ("debug_log", "value", None),
    "--strace": ("strace", "flag", None),
    "--root": ("state_root", "value", None),
    "--log": ("log", "value", None),
    "--log-format": ("log_format", "value", ("text", "json")),
    "--debug": ("debug", "flag", None),
    "--systemd-cgroup": ("systemd_cgroup", "flag", None),
    "--memory": ("memory", "value", int),
    "--network": ("oci_network", "value", NETWORKS),
    "--unsafe-no-confine": ("unsafe_no_confine", "flag", None),
}
DO = {
    "--strace": ("strace", "flag", None),
    "--debug-log": ("debug_log", "value", None),
    "--platform": ("platform", "value", PLATFORMS),
    "--no-patch-syscalls": ("no_patch_syscalls", "flag", None),
    "--memory": ("memory", "value", int),
    "--max-vcpus": ("max_vcpus", "value", int),
    "--tmpfs-size": ("tmpfs_size", "value", int),
    "--root": ("root", "value", None),
    "--volume": ("volume", "append", None),
    "-v": ("volume", "append", None),
    "--unsafe-no-confine": ("unsafe_no_confine", "flag", None),
    "--confinement-probe": ("confinement_probe", "flag", None),
    "--network": ("network", "value", NETWORKS),
    "--publish": ("publish", "append", None),
    "-p": ("publish", "append", None),
    "--host-uds": ("host_uds", "value", ("none", "open", "create", "all")),
}


def _defaults():
    return dict(platform=None, debug_log=None, strace=False, state_root=None, log=None,
                log_format="text", debug=False, systemd_cgroup=False, memory=4096,
                oci_network="sandbox", unsafe_no_confine=False, command="do",
                no_patch_syscalls=False, max_vcpus=None, tmpfs_size=None, root="/",
                volume=[], confinement_probe=False, network="sandbox", publish=[],
                host_uds="none")


def read(argv):
    """The namespace argparse would make of `argv` (a `do` command line),
    or None when this reader cannot be sure."""
    values = _defaults()
    options = GLOBAL
    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if options is GLOBAL and word == "do":
            options = DO
            continue
        if options is DO and (word == "--" or not word.startswith("-")):
            values["argv"] = words[i - 1:]
            return SimpleNamespace(**values)
        name, eq, value = word.partition("=")
        spec = options.get(name)
        if spec is None:
            return None
        dest, kind, allowed = spec
        if kind == "flag":
            if eq:
                return None
            values[dest] = True
            continue
        if not eq:
            if i == len(words):
                return None
            value = words[i]
            i += 1
        if value.startswith("-"):
            return None
        if allowed is int:
            try:
                value = int(value)
            except ValueError:
                return None
        elif allowed is not None and value not in allowed:
            return None
        if kind == "append":
            values[dest] = values[dest] + [value]
        else:
            values[dest] = value
    if options is DO:
        values["argv"] = []
        return SimpleNamespace(**values)
    return None
