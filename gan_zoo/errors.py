"""The one exception type that means "the user asked for something we cannot do"."""


class UserError(Exception):
    """A mistake in the user's command or data.

    Entry points catch it and print its message as one line, with no
    traceback, so the message itself must say what is wrong and what to do.
    """


class Interrupted(Exception):
    """Training stopped on a signal after checkpointing; entry points print the
    message and exit with 128 + the signal number, as a killed process would."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
