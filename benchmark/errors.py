"""User-facing errors: anything a user can fix (a path, a name, a file's content).

The CLI prints these as one line and exits non-zero; anything else is a bug and keeps its traceback.
"""


class FerBenchError(Exception):
    """A mistake in the user's input, explained in one line that names the file, row or option."""


class DataError(FerBenchError):
    """A dataset on disk is missing, malformed or does not match the expected layout."""
