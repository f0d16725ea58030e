"""The OCI runtime: runc/runsc-compatible commands over bundles and a
state directory (state.py), config.json (bundle.py), and the long-lived
sandbox process a container is (sandbox.py)."""
