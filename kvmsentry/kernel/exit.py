"""How a task's end travels up from a handler to the task loop."""


class ExitGroup(Exception):
    """The thread group ends with this wait status (exit code << 8, or the
    terminating signal number)."""

    def __init__(self, status):
        super().__init__(status)
        self.status = status


class ExitThread(Exception):
    """Only the calling thread ends (exit(2) in a multi-threaded process)."""

    def __init__(self, status):
        super().__init__(status)
        self.status = status
