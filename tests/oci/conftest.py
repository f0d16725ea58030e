"""OCI runtime tests: the same bundle under Debian's runc (the reference)
and under kvmsentry, driven through the same command line."""
import os
import shutil

import pytest

from ocihelpers import KVMSENTRY, Runtime


@pytest.fixture
def runtimes(tmp_path):
    if shutil.which("runc") is None:
        pytest.fail("runc missing (install Debian's runc)", pytrace=False)
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.fail("/dev/kvm is not usable", pytrace=False)
    made = [Runtime("runc", ["runc"], str(tmp_path / "runc-state")),
            Runtime("kvmsentry", KVMSENTRY, str(tmp_path / "ks-state"))]
    yield made
    for rt in made:                 # leave nothing running behind a failed test
        for cid in os.listdir(rt.state_root) if os.path.isdir(rt.state_root) else ():
            if not cid.endswith(".lock"):
                rt.run("delete", "--force", cid, timeout=30)
