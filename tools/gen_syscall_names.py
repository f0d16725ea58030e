"""Regenerate kvmsentry/syscalls/names.py from the installed kernel headers."""
import os
import re

HEADER = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
OUT = os.path.join(os.path.dirname(__file__), "..", "kvmsentry", "syscalls", "names.py")


def main():
    names = {}
    with open(HEADER) as f:
        for line in f:
            m = re.match(r"#define __NR_(\w+) (\d+)", line)
            if m:
                names[int(m.group(2))] = m.group(1)
    lines = ['"""Linux x86-64 syscall numbers -> names.', "",
             "Generated from <asm/unistd_64.h> (Debian 12 linux-libc-dev); regenerate with",
             "    python tools/gen_syscall_names.py -- do not edit by hand.", '"""', "",
             "NAMES = {"]
    lines += ['    %d: "%s",' % (n, names[n]) for n in sorted(names)]
    lines += ["}", "NUMBERS = {name: nr for nr, name in NAMES.items()}"]
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
