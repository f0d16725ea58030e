"""Credentials of a task."""
import os
from dataclasses import dataclass


@dataclass
class Credentials:
    uid: int
    euid: int
    gid: int
    egid: int

    @classmethod
    def of_host(cls):
        """The caller's identity, as `runsc do` runs the program."""
        return cls(os.getuid(), os.geteuid(), os.getgid(), os.getegid())
