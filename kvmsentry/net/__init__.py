"""Sockets: Unix sockets served by the sentry (unix.py), internet sockets
as host sockets the sentry owns and mediates (hostinet.py), NETLINK_ROUTE
answered from the sandbox's network namespace (netlink.py), and the
network namespace the sandbox runs in (netns.py)."""
