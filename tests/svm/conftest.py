"""The long runs go last, so `pytest tests` runs them after the main
suite: tests/guest again on the platform auto did not pick (issue 12), then the SVM guests
(test_svm_guest.py, minutes of QEMU TCG; issue 15)."""


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        if item.get_closest_marker("svm_guest") is not None:
            return 2
        return 1 if item.get_closest_marker("platform_suite") is not None else 0
    items.sort(key=rank)
