"""The syscall table's handlers load with their family at a syscall's
first call (syscalls/family.py, dispatch._load): importing the dispatcher
imports no family and makes nothing per syscall."""
import subprocess
import sys

PROBE = r"""
import sys
from kvmsentry.syscalls import dispatch
from kvmsentry.syscalls.names import NAMES
nr = {name: n for n, name in NAMES.items()}
family = "kvmsentry.syscalls.sys_time"
print(family in sys.modules, sum(h is not None for h in dispatch._HANDLERS))
handler = dispatch._load(nr["clock_getres"])
print(family in sys.modules, handler is sys.modules[family].clock_getres,
      dispatch._HANDLERS[nr["clock_getres"]] is handler)
print(dispatch._load(nr["tuxcall"]), dispatch._HANDLERS[nr["tuxcall"]])
"""


def test_the_first_call_of_a_syscall_loads_its_family_and_keeps_its_handler():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["False 0", "True True True", "None None"]


def test_a_family_names_its_handlers_without_importing_them():
    from kvmsentry.syscalls.family import Family, Handler
    h = Family("sys_no_such_family").anything
    assert isinstance(h, Handler)
    assert (h.module, h.name) == ("kvmsentry.syscalls.sys_no_such_family", "anything")
    assert repr(h) == "<handler kvmsentry.syscalls.sys_no_such_family.anything>"
