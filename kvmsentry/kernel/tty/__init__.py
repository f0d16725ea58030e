"""Terminals the sentry implements: the line discipline and pty pairs."""
