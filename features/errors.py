"""The error a user can act on: its message says what went wrong and what to do."""


class LoopbaanError(Exception):
    """Raised for bad input or missing prerequisites; the CLI prints it as one line, no traceback."""
