"""The SVM guest run (test_svm_guest.py, minutes of QEMU TCG) goes last, so
`pytest tests` runs it after the main suite as issue 15 asks."""


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: item.get_closest_marker("svm_guest") is not None)
