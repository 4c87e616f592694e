"""User-facing errors: anything a user can fix (a path, a name, a file's content, a full disk).

The CLI prints these as one ``error:`` line and exits with the error's ``exit_code``; anything else is a bug
and keeps its traceback. Exit codes are binding and the same for every command (README, "When something goes
wrong"): 2 a problem found before any work starts, 1 a failure after work started, 130 interrupted.
"""

import difflib

#: Exit codes of every fer-bench command.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class FerBenchError(Exception):
    """A mistake in the user's input, explained in one line that names the file, row or option.

    Raised before any work starts, so the exit code is 2 (subclasses for later failures override it).
    """

    exit_code = EXIT_USAGE


class DataError(FerBenchError):
    """A dataset on disk is missing, malformed or does not match the expected layout."""


class WorkFailedError(FerBenchError):
    """A failure after work started: a disk that filled up, a suite with a failed experiment, no usable runs."""

    exit_code = EXIT_FAILED


def did_you_mean(name: str, choices) -> str:
    """`` (did you mean X?)`` where one of ``choices`` is close to a misspelt ``name``, case aside (difflib's ratio
    of at least 0.6; papers write FER2013, CK+, HOG), else nothing: for the error line that lists the choices."""
    by_lower = {str(choice).lower(): choice for choice in choices}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
    return f" (did you mean {by_lower[close[0]]}?)" if close else ""


def not_one_of(flag: str, value, choices) -> str:
    """The error line for an option ``flag`` given a ``value`` outside its ``choices``: the choices, the value and
    :func:`did_you_mean`'s suggestion."""
    return f"{flag} must be one of {', '.join(choices)}, got {value!r}{did_you_mean(str(value), choices)}"


def one_line(text) -> str:
    """``text`` (or an exception's message) on one line: an error or warning line never wraps into several."""
    return " ".join(str(text).split())


def exception_text(exc: BaseException, limit: int = 80) -> str:
    """``<Type>: <message>`` of an unexpected exception, on one line and at most ``limit`` characters of message."""
    return f"{type(exc).__name__}: {one_line(exc)[:limit]}"


def os_error_text(exc: OSError) -> str:
    """``<path>: <reason>`` for an OSError, the way a user reads it (no errno tuple, no traceback)."""
    reason = exc.strerror or one_line(exc) or type(exc).__name__
    return f"{exc.filename}: {reason}" if exc.filename else reason
