"""User-facing errors.

A :class:`MaqError` is a problem with the user's input or files (a malformed dataset, an unknown
flag value, a missing checkpoint). The CLI prints its message as one line and exits with status 2,
without a traceback. Messages say what is wrong *and* how to fix it.
"""


class MaqError(Exception):
    """An error caused by user input; its message is shown as-is, on one line."""


class RunStopped(Exception):
    """A run reached its ``--stop_after`` step; its resume point is on disk (not an error)."""

    def __init__(self, run_dir, step: int):
        super().__init__(f"{run_dir} stopped at training step {step}")
        self.run_dir, self.step = run_dir, step


class DatasetError(MaqError):
    """A dataset file that is missing, unreadable or not in the seed's trajectory format."""
