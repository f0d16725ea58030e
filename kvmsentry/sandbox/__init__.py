"""The sentry's own confinement: namespaces, pivot_root, capabilities,
no_new_privs and a seccomp allowlist (see confine.py for the order)."""
