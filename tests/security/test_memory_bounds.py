"""The sentry's peak memory stays bounded by what the guest is allowed
(issue 13): a 1-byte pwrite at offset 4 GiB in /tmp, one 1 GiB pipe write
(with a reader) and one 2 GiB write to /dev/null each keep the whole
sandbox under 100 MB of peak RSS. The measuring is benchmarks/
memory_bounds.py's; the bound is on memory, never on time."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import memory_bounds  # noqa: E402


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return memory_bounds.run_cases(str(tmp_path_factory.mktemp("membounds")))


@pytest.mark.parametrize("case", memory_bounds.CASES)
def test_peak_rss_under_limit(results, case):
    sandbox_mb, _, report = results[case]["sandbox"]
    native_report = results[case]["native"][2]
    assert report == native_report                   # the guest saw what Linux gives
    assert sandbox_mb < memory_bounds.LIMIT_MB, (case, sandbox_mb)
