"""tools/svm/run.py refuses a checkout the guest cannot see: its init
mounts fresh tmpfs on /tmp, /var/tmp and /run, so a clone there would
fail inside the guest with "python: not found" after minutes of boot."""
import importlib.util
import io
import os

import pytest

RUN_PY = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "svm", "run.py")


@pytest.fixture
def svm_run():
    spec = importlib.util.spec_from_file_location("svm_run", RUN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paths_under_the_guests_tmpfs_are_hidden(svm_run):
    assert svm_run.hidden_in_guest("/tmp/cc") == "/tmp"
    assert svm_run.hidden_in_guest("/var/tmp/x/y") == "/var/tmp"
    assert svm_run.hidden_in_guest("/run") == "/run"
    assert svm_run.hidden_in_guest("/tmpfoo/repo") is None
    assert svm_run.hidden_in_guest("/work/main") is None


def test_a_checkout_under_tmp_is_refused_before_booting(svm_run, monkeypatch):
    monkeypatch.setattr(svm_run, "REPO", "/tmp/some-clone")
    monkeypatch.setattr(svm_run.shutil, "which", lambda name: "/usr/bin/" + name)

    def no_image(cache):
        raise AssertionError("the image was built for a checkout the guest cannot see")
    monkeypatch.setattr(svm_run.image, "prepare", no_image)
    out = io.StringIO()
    status, _ = svm_run.run(["-q"], stream=out)
    assert status == svm_run.HARNESS_FAILED
    assert "/tmp/some-clone is under /tmp" in out.getvalue()
