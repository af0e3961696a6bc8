"""The exceptions sweeper raises on purpose.

Every one of them is a problem the user can fix; the CLI prints its message as one line and
exits with code 2 (74 for a StorageError). Anything else reaching the CLI is a bug in sweeper.
"""

from __future__ import annotations


class SweeperError(Exception):
    """Root of every error sweeper raises for bad input or an unusable environment."""


class StudyError(SweeperError):
    """A study definition is invalid: unknown field, wrong type or value out of range."""


class SearchSpaceError(StudyError):
    """A search-space primitive was given bounds or values it cannot use."""


class DataError(SweeperError):
    """A dataset is missing, unreadable or too small for the requested split."""


class ResultsError(SweeperError):
    """The results folder cannot be used: locked, unwritable, or made by a different study."""


class StorageError(ResultsError):
    """Results could not be written: the disk is full or read-only. Exit code 74 (EX_IOERR in
    sysexits.h) rather than 2: nothing is wrong with the command, and a script may retry it as
    is once there is room."""

    exit_code = 74


class RunError(SweeperError):
    """A sweep could not be carried out (for example, no worker could be started)."""


class TrialsFailed(RunError):
    """Every trial of a run failed: the study's code or data is broken, not its input (exit 1)."""

    exit_code = 1


def closest(name: str, known: object) -> str:
    """' (did you mean `x`?)' for the nearest known name, or ''."""
    import difflib

    match = difflib.get_close_matches(name, [str(k) for k in known], n=1, cutoff=0.5)  # type: ignore[attr-defined]
    return f" (did you mean `{match[0]}`?)" if match else ""


def is_int(value: object) -> bool:
    """Whether a field's value is an int (a bool, which Python counts as one, is not)."""
    return isinstance(value, int) and not isinstance(value, bool)
